import ArgumentParser
import CLISupport
import Foundation
import GPT2Edge
import Hub

/// The temporary output file, removed by the signal handler if the user interrupts a conversion.
nonisolated(unsafe) var temporaryOutputPath: UnsafeMutablePointer<CChar>?

struct Convert: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Convert a Hugging Face GPT-2 checkpoint to a quantized .gqz file.",
        discussion: """
        SOURCE is a local folder with config.json, model.safetensors (or shards), vocab.json and merges.txt, or a \
        model id (gpt2, gpt2-medium, gpt2-large, gpt2-xl, distilgpt2, org/name, optionally @revision): found in the \
        Hugging Face cache (HF_HUB_CACHE, HF_HOME) or downloaded from the hub (HF_ENDPOINT; resumable, SHA-256 \
        checked; HF_HUB_OFFLINE=1 uses the cache only; HF_TOKEN for gated models).

        The output is written to a temporary file beside -o and renamed at the end: an interrupted or failed \
        conversion leaves nothing at -o, and a temporary left by a killed one (SIGKILL, the OOM killer) is removed \
        by the next conversion to the same name. -o must be a regular file or a new name (a symlink is followed \
        and its target replaced). Tensors are converted one at a time, so memory stays near one source tensor plus \
        its output.

        """ + ExitCodes.summary
    )

    @Argument(help: "A Hugging Face GPT-2 folder, or a model id such as gpt2-xl or org/name.")
    var source: String

    @Option(name: [.short, .long], help: "Output file (default: <source name>-q<bits>.gqz in the current folder); a symbolic link is written through, a folder, device or pipe is refused.")
    var output: String?

    @Option(parsing: .unconditional, help: "Bits per weight of the linear layers: 8 or 4.")
    var bits: Int = 8

    @Option(name: .long, parsing: .unconditional, help: "Bits of the token embedding / LM head: 8, 4, or 32 for float32 (default: 8, also for --bits 4: the LM head is the most sensitive matrix).")
    var embeddings: Int?

    @Option(parsing: .unconditional, help: "Weights per scale: 32, 64 or 128.")
    var groupSize: Int = 32

    @Option(parsing: .unconditional, help: "zstd compression level (1-19).")
    var level: Int32 = 3

    @Option(parsing: .unconditional, help: "Rows per frame of the token embedding and LM head, so that --low-memory can stream them (0: one frame each).")
    var frameRows: Int = ConversionOptions.defaultFrameRows

    @Flag(help: "Store the quantized matrices row by row instead of in the integer kernels' panels (with --frame-rows 0: a version-1 file that older readers load).")
    var rowMajor = false

    @Flag(help: "Plain absmax scales instead of the least-squares scale search.")
    var noScaleSearch = false

    @Flag(help: "Do not rescale the channels of the matrices that read a layer norm (activation-aware scaling, on by default).")
    var noChannelScaling = false

    @Option(help: "Calibration text (UTF-8): run the float32 model over it and scale channels by the measured activations (AWQ-style) instead of the layer-norm estimate.")
    var calibrate: String?

    @Option(parsing: .unconditional, help: "Tokens of the calibration text to use.")
    var calibrationTokens: Int = 4096

    @Option(name: [.short, .long], parsing: .unconditional, help: "Threads for quantization, 1 to 256 (default: physical cores).")
    var threads: Int?

    @Flag(name: [.short, .long], help: "No progress and no summary.")
    var quiet = false

    func validate() throws {
        guard bits == 8 || bits == 4 else { throw ValidationError("--bits must be 8 or 4, got \(bits)") }
        if let embeddings, ![8, 4, 32].contains(embeddings) { throw ValidationError("--embeddings must be 8, 4 or 32, got \(embeddings)") }
        guard [32, 64, 128].contains(groupSize) else { throw ValidationError("--group-size must be 32, 64 or 128, got \(groupSize)") }
        guard (1...19).contains(level) else { throw ValidationError("--level must be between 1 and 19, got \(level)") }
        guard calibrationTokens >= 16 else { throw ValidationError("--calibration-tokens must be at least 16, got \(calibrationTokens)") }
        guard frameRows >= 0 else { throw ValidationError("--frame-rows must be 0 or more, got \(frameRows)") }
        guard rowMajor || frameRows % 16 == 0 else {
            throw ValidationError("--frame-rows must be a multiple of 16 in the panel layout (or pass --row-major), got \(frameRows)")
        }
        if let threads, !(1...256).contains(threads) { throw ValidationError("--threads must be between 1 and 256, got \(threads)") }
        if calibrate != nil && noChannelScaling { throw ValidationError("--calibrate feeds the channel scaling; it cannot be combined with --no-channel-scaling") }
    }

    func run() throws {
        let progress = TerminalProgress(enabled: !quiet)
        let onTerminal = progress.isShown
        // A destination that cannot be written is refused before any download or calibration.
        if let output {
            do { _ = try GQZWriter.resolveDestination(URL(fileURLWithPath: output)) }
            catch GQZError.refusedDestination(let path, let reason) { throw CLIError("-o \(output): refusing to write \(path): \(reason)") }
        }
        let folder = try resolveSource(progress: progress)
        let name = FileManager.default.fileExists(atPath: source)
            ? folder.standardizedFileURL.lastPathComponent
            : String(source.split(separator: "/").last ?? "model").replacingOccurrences(of: "@", with: "-")
        let destination = URL(fileURLWithPath: output ?? "\(name)-q\(bits).gqz")
        var options = ConversionOptions(bits: bits, embeddingBits: embeddings, groupSize: groupSize, compressionLevel: level,
                                        scaleSearch: !noScaleSearch, threads: threads ?? CPUInfo.physicalCoreCount)
        options.channelScaling = !noChannelScaling
        options.vocabularyFrameRows = frameRows > 0 ? frameRows : nil
        options.layout = rowMajor ? .rows : .panels16
        if let calibrate {
            let text: String
            do { text = try InputText.read(path: calibrate).text }
            catch let failure as InputText.Failure { throw CLIError("calibration text: \(failure)") }
            // The float32 model is memory-mapped, so its pages can be dropped again under memory pressure.
            let model = try LoadedModel.load(path: folder.path, threads: threads ?? CPUInfo.physicalCoreCount)
            let tokens = Array(model.tokenizer.encode(text).prefix(calibrationTokens))
            guard tokens.count >= 16 else { throw CLIError("calibration text \(calibrate) has only \(tokens.count) tokens; give at least 16") }
            options.calibration = try ActivationStatistics.measure(model: model, tokens: tokens)
            if onTerminal { printError("calibrated on \(tokens.count) tokens of \(calibrate)") }
        }
        for signalNumber in [SIGINT, SIGTERM] {
            signal(signalNumber) { number in
                if let path = temporaryOutputPath { unlink(path) }   // async-signal-safe
                _exit(128 + number)
            }
        }
        let report = try ModelConverter.convert(folder: folder, to: destination, options: options, temporaryFile: { url in
            temporaryOutputPath = strdup(url.path)
        }, progress: { done, total, tensor in
            progress.bar(done: done, total: total, label: tensor)
        })
        temporaryOutputPath = nil
        progress.clear()
        guard !quiet else { return }
        for temporary in report.removedTemporaries { printError(temporary.description) }
        let raw = report.tensors.reduce(0) { $0 + $1.rawBytes }
        try StandardOutput.line("wrote \(destination.path): \(mebibytes(report.outputBytes)) (\(report.tensors.count) entries, "
                                + "\(mebibytes(raw)) before zstd, ratio \(String(format: "%.3f", report.compressionRatio)))\n"
                                + String(format: "%.1f s, peak RSS %@", report.seconds, ProcessMemory.format(ProcessMemory.peakResidentBytes)))
    }

    /// A local folder as given, else the model id through the Hugging Face cache and hub.
    private func resolveSource(progress: TerminalProgress) throws -> URL {
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: source, isDirectory: &isDirectory) {
            guard isDirectory.boolValue else { throw CLIError(notAFolderMessage(source)) }
            return URL(fileURLWithPath: source)
        }
        if source.hasPrefix("/") || source.hasPrefix(".") {
            throw CLIError("\(source) does not exist")
        }
        let client = HubClient.fromEnvironment()
        let folder = try client.resolve(source) { file, received, total in
            let percent = total > 0 ? Int(100 * received / total) : 0
            progress.show("downloading \(file): \(mebibytes(Int(received))) of \(total > 0 ? mebibytes(Int(total)) : "?") (\(percent)%)",
                          force: received == total)
        }
        progress.clear()
        return folder
    }
}
