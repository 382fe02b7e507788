import ArgumentParser
import CLISupport
import Foundation
import GPT2Edge
import ModelCommandLine

/// Prompt and decode speed like llama-bench, plus decode's share of this machine's memory-bandwidth ceiling.
struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure prompt and decode speed, and decode's share of the memory-bandwidth ceiling.",
        discussion: """
        Each repetition processes a -p token prompt in one pass (prompt tok/s), then generates -n tokens one at a \
        time through the KV cache (decode tok/s), without tokenization or sampling, as llama-bench does.

        The same run measures memory read bandwidth by reading the model's weights (the bytes decode reads) on the \
        same threads, two passes before each repetition and two after the last, and takes the median: a host's \
        bandwidth drifts and spikes, so the passes sample the same minutes as decode. With --low-memory, whose \
        weights are not resident, it reads a 256 MiB buffer after the repetitions instead; with --device cuda it \
        reads nothing. Decode's share of the ceiling is (weight bytes read per token × decode tok/s) ÷ bandwidth. \
        Peak RSS is taken before any buffer is allocated, so it is the model's.

        With --low-memory, decode is bounded by decompression instead: the same run also times loading everything a \
        streamed token loads (every block, every frame of a streamed LM head) without computing, two passes before \
        each repetition and two after, on the same threads. Its median is the decompression ceiling in tok/s \
        (bytes decompressed per token ÷ the measured rate), and decode's share of it is reported beside.

        """ + ExitCodes.summary
    )

    @OptionGroup var modelOptions: ModelOptions

    @Option(name: [.customShort("p"), .customLong("n-prompt")], parsing: .unconditional, help: "Prompt tokens.")
    var prompt: Int = 128

    @Option(name: [.customShort("n"), .customLong("n-gen")], parsing: .unconditional, help: "Generated tokens.")
    var generate: Int = 128

    @Option(name: [.customShort("r"), .customLong("repetitions")], parsing: .unconditional, help: "Repetitions (mean ± sd are reported).")
    var repetitions: Int = 3

    @Flag(help: "Also time decode's matrix products alone, two passes after each probe pair, to tell the kernels' streaming from the rest of a decode step.")
    var products = false

    @Flag(help: "Print one JSON object.")
    var json = false

    func validate() throws {
        guard prompt >= 1, generate >= 1, repetitions >= 1 else {
            throw ValidationError("-p, -n and -r must be at least 1, got -p \(prompt) -n \(generate) -r \(repetitions)")
        }
    }

    func run() throws {
        let source = try modelOptions.openLanguageModel()   // a classifier is refused before anything is read or printed
        let decision = try modelOptions.decide(source, contextPositions: prompt + generate, promptTokens: prompt)
        let plan = decision.plan
        let model = try modelOptions.load(source, decision: decision)
        let config = model.config
        guard prompt + generate <= config.contextLength else {
            throw CLIError("-p \(prompt) + -n \(generate) exceeds the model's context of \(config.contextLength) positions")
        }
        // A fixed pseudo-random prompt of valid ids (the content does not change the work).
        let tokens = (0..<prompt).map { ($0 &* 7919 &+ 13) % config.vocabularySize }
        var promptRates: [Double] = [], decodeRates: [Double] = []
        let resident = model.network.weights.residentMatrices, pool = model.network.pool
        var bandwidthPasses: [Double] = [], productPasses: [Double] = [], decompressionPasses: [Double] = []
        var decompressedBytes = 0
        let streams = model.network.weights.streamer != nil && model.accelerator == nil
        /// Two passes of loading the streamed weights alone (seconds each).
        func sampleDecompression() throws {
            for _ in 0..<2 {
                let start = DispatchTime.now().uptimeNanoseconds
                decompressedBytes = try model.network.loadStreamedWeights()
                decompressionPasses.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
            }
        }
        // The probe measures the CPU's ceiling; on a GPU it would only cost seconds.
        let onCPU = model.accelerator == nil
        /// Two probe passes over the resident weights, and with --products two passes of the products alone.
        func samplePasses() {
            bandwidthPasses += MemoryBandwidth.readPasses(over: resident, passes: 2, pool: pool)
            if products { productPasses += MemoryBandwidth.productPasses(over: resident, passes: 2, pool: pool) }
        }
        for _ in 0..<repetitions {
            if onCPU && !resident.isEmpty { samplePasses() }
            if streams { try sampleDecompression() }
            let sequence = try model.makeSequence()   // on the GPU when one is attached (--device)
            var start = DispatchTime.now().uptimeNanoseconds
            var logits = try model.forward(sequence, tokens)
            promptRates.append(Double(prompt) / (Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9))
            start = DispatchTime.now().uptimeNanoseconds
            for _ in 0..<generate {
                logits = try model.forward(sequence, [LogitsProcessors.argmax(logits)])
            }
            decodeRates.append(Double(generate) / (Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9))
        }
        let peak = ProcessMemory.peakResidentBytes
        if streams { try sampleDecompression() }
        let decompressionSeconds = decompressionPasses.isEmpty ? nil : median(decompressionPasses)
        let decompressionCeiling = decompressionSeconds.map { 1 / $0 }
        if onCPU {
            if resident.isEmpty { bandwidthPasses += MemoryBandwidth.readPasses(passes: 5, pool: pool) } else { samplePasses() }
        }
        let productRate = productPasses.isEmpty ? nil : median(productPasses)
        let bandwidth = onCPU ? median(bandwidthPasses) : 0
        let probe = onCPU ? String(format: "median of %d passes over the %@; best %.1f GB/s", bandwidthPasses.count,
                                   resident.isEmpty ? "buffer of 256 MiB" : "model weights", bandwidthPasses.max()! / 1e9)
            : "not run: prompt and decode ran on the GPU"
        let dispatch = dispatchSeconds(model.network.pool)
        let bytesPerToken = model.network.weights.bytesPerToken
        let decodeMean = mean(decodeRates)
        let ceiling = bandwidth / Double(bytesPerToken)
        let scheme = schemeDescription(model)
        if json {
            try StandardOutput.line(try jsonText(BenchReport(
                model: model.source, scheme: scheme, kernel: kernel(model)?.rawValue, threads: model.network.pool.threadCount,
                device: model.accelerator?.deviceName ?? "cpu", promptTokens: prompt, generatedTokens: generate, repetitions: repetitions,
                promptTokensPerSecond: .init(mean: mean(promptRates), sd: standardDeviation(promptRates)),
                decodeTokensPerSecond: .init(mean: decodeMean, sd: standardDeviation(decodeRates)),
                loadMilliseconds: model.loadSeconds * 1000, peakResidentBytes: peak ?? 0,
                weightBytesPerToken: bytesPerToken, readBandwidth: onCPU ? bandwidth : nil,
                readBandwidthPasses: bandwidthPasses, bandwidthProbe: probe,
                matrixProductsBandwidth: productRate, matrixProductsPasses: productPasses,
                // The ceiling is the CPU's; on a GPU it says nothing about decode.
                decodeCeiling: onCPU ? ceiling : nil, decodeShareOfCeiling: onCPU ? decodeMean / ceiling : nil,
                decompressedBytesPerToken: streams ? decompressedBytes : nil,
                decompressionPassesSeconds: decompressionPasses,
                decompressionBytesPerSecond: decompressionSeconds.map { Double(decompressedBytes) / $0 },
                decompressionCeiling: decompressionCeiling, decodeShareOfDecompressionCeiling: decompressionCeiling.map { decodeMean / $0 },
                poolDispatchMicroseconds: dispatch * 1e6, poolSitOuts: pool.sitOuts, memoryPlan: plan)))
            return
        }
        var lines: [String] = []
        func line(_ text: String) { lines.append(text) }   // written at once, checked
        line("| model | scheme | threads | test | tok/s |")
        line("| --- | --- | --- | --- | --- |")
        line(String(format: "| %@ | %@ | %d | pp%d | %.2f ± %.2f |", model.source, scheme, model.network.pool.threadCount, prompt,
                     mean(promptRates), standardDeviation(promptRates)))
        line(String(format: "| %@ | %@ | %d | tg%d | %.2f ± %.2f |", model.source, scheme, model.network.pool.threadCount, generate,
                     decodeMean, standardDeviation(decodeRates)))
        if let gpu = model.accelerator {
            line(String(format: "device %@ (prompt and decode ran there; the CPU's bandwidth ceiling does not apply); load %.0f ms, peak RSS %@ on the host",
                         gpu.deviceName, model.loadSeconds * 1000, ProcessMemory.format(peak)))
        } else {
            line(String(format: "load %.0f ms, peak RSS %@; weights read per token %.1f MB; read bandwidth %.1f GB/s (%@) → decode ceiling %.1f tok/s; decode at %.0f%% of it",
                         model.loadSeconds * 1000, ProcessMemory.format(peak), Double(bytesPerToken) / 1e6, bandwidth / 1e9, probe,
                         ceiling, 100 * decodeMean / ceiling))
            if let decompressionSeconds, let decompressionCeiling {
                line(String(format: "streamed: %.1f MB decompressed per token at %.2f GB/s (loading it alone, median of %d passes, %d threads) → decompression ceiling %.1f tok/s; decode at %.0f%% of it",
                             Double(decompressedBytes) / 1e6, Double(decompressedBytes) / decompressionSeconds / 1e9, decompressionPasses.count,
                             model.network.pool.threadCount, decompressionCeiling, 100 * decodeMean / decompressionCeiling))
                line(String(format: "per decoded token: %.1f ms, of which %.1f ms loading the streamed weights (reading the file and decompressing) and %.1f ms the rest (products, attention, norms, waits)",
                             1000 / decodeMean, 1000 * decompressionSeconds, max(0, 1000 / decodeMean - 1000 * decompressionSeconds)))
            }
            if let productRate {
                line(String(format: "matrix products alone: %.1f GB/s (median of %d passes), %.0f%% of the read bandwidth",
                             productRate / 1e9, productPasses.count, 100 * productRate / bandwidth))
            }
        }
        line(String(format: "memory plan %.1f MiB (weights %.1f, KV cache %.1f, activations %.1f, tokenizer %.1f, runtime %.1f) against a measured peak of %@",
                     Double(plan.total) / 1_048_576, Double(plan.weights) / 1_048_576, Double(plan.kvCache) / 1_048_576,
                     Double(plan.activations) / 1_048_576, Double(plan.tokenizer) / 1_048_576, Double(plan.runtime) / 1_048_576,
                     ProcessMemory.format(peak)))
        line(String(format: "thread pool: %.2f µs per dispatch (an empty job of one item per thread, mean of 20000); a worker sat out %d times (another process needed its core)",
                     dispatch * 1e6, pool.sitOuts))
        try StandardOutput.line(lines.joined(separator: "\n"))
    }

    /// Seconds one `parallelFor` costs with nothing to do: the pool's fixed price per kernel call.
    private func dispatchSeconds(_ pool: ThreadPool) -> Double {
        let jobs = 20_000
        let start = DispatchTime.now().uptimeNanoseconds
        for _ in 0..<jobs { pool.parallelFor(pool.threadCount) { _ in } }
        return Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9 / Double(jobs)
    }

    private func schemeDescription(_ model: LoadedModel) -> String {
        switch (try? model.network.weights.layer(0))?.attentionWeight {
        case .quantized(let matrix)?: return "q\(matrix.bits.rawValue)/g\(matrix.groupSize) \(kernel(model)!.rawValue)"
        default: return "f32"
        }
    }

    /// Which kernels multiplied by the model's int8/int4 matrices (`nil` for a float32 model).
    private func kernel(_ model: LoadedModel) -> MatrixKernel? {
        guard case .quantized(let matrix)? = (try? model.network.weights.layer(0))?.attentionWeight else { return nil }
        return matrix.packedRows > 0 ? .integer : .float
    }

    private func mean(_ values: [Double]) -> Double { values.reduce(0, +) / Double(values.count) }

    private func median(_ values: [Double]) -> Double {
        let sorted = values.sorted(), middle = sorted.count / 2
        return sorted.count % 2 == 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2
    }

    private func standardDeviation(_ values: [Double]) -> Double {
        guard values.count > 1 else { return 0 }
        let m = mean(values)
        return (values.reduce(0) { $0 + ($1 - m) * ($1 - m) } / Double(values.count - 1)).squareRoot()
    }
}
