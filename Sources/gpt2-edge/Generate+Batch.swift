import ArgumentParser
import CLISupport
import Foundation
import GPT2Edge
import ModelCommandLine

/// `generate` with several prompts (-p repeated, or --prompts-file): all of them in one batch.
extension Generate {
    /// Prompt passes are grouped up to this many tokens (a longer prompt runs alone in its own pass).
    static let batchTokensPerPass = 512

    func runBatch() throws {
        let source = try modelOptions.openLanguageModel()   // a classifier is refused before anything is read or printed
        let tokenizer = source.tokenizer
        let contextLength = try modelOptions.contextLength(of: source)
        let texts = try promptsFile.map { path in try readTextLines(file: path, what: "prompts", name: { "line \($0 + 1) of \(path)" }) } ?? prompt
        func name(_ index: Int) -> String { promptsFile.map { "line \(index + 1) of \($0)" } ?? "prompt \(index + 1) (-p)" }

        // Each prompt checked before anything is loaded: empty ones refused, long ones refused or cut on the left.
        var prompts: [[Int]] = []
        for (index, text) in texts.enumerated() {
            var tokens = tokenizer.encode(text)
            guard !tokens.isEmpty else { throw CLIError("\(name(index)) is empty (it must have at least one token)") }
            if tokens.count >= contextLength {
                guard truncate == .left else {
                    throw CLIError("\(name(index)): " + GenerationRequestError.promptTooLong(tokens: tokens.count, contextLength: contextLength).description
                                   + ", or pass --truncate left to keep only its end")
                }
                tokens = Array(tokens.suffix(max(1, contextLength - max(1, contextLength / 4))))
                if !quiet { printError("\(name(index)) truncated on the left to its last \(tokens.count) tokens") }
            }
            prompts.append(tokens)
        }

        let newTokens = maxNewTokens >= 0 ? maxNewTokens : (contextShift ? Int.max / 4 : contextLength)
        let longest = prompts.map(\.count).max()!
        let positions = contextShift || newTokens > Int.max / 8 ? Int.max : longest + newTokens
        let sequences = prompts.count * numReturnSequences
        let passTokens = LoadedModel.passes(over: prompts, tokensPerPass: Self.batchTokensPerPass)
            .map { range in prompts[range].reduce(0) { $0 + $1.count } * numReturnSequences }.max() ?? longest
        let decision = try modelOptions.decide(source, contextPositions: positions, promptTokens: passTokens, sequences: sequences,
                                               memoryLimit: maxMemory?.bytes)
        guard try startsRun(decision, smaller: "fewer prompts at a time, --kv-cache int8, a shorter -n or -c, a 4-bit file") else { return }
        let model = try modelOptions.load(source, decision: decision, memoryLimit: maxMemory?.bytes)
        if model.accelerator != nil && !quiet {
            printError("several prompts run batched on the CPU: the GPU path runs one sequence at a time")
        }
        let seed = self.seed ?? UInt64.random(in: 0...UInt64(UInt32.max))
        let options = generationOptions(maxNewTokens: newTokens, seed: seed)
        let shownPrompts = try prompts.map { try tokenizer.decode($0) }

        // Plain text: the first sequence streams as it is generated, the others follow in order when all are done.
        // --jsonl streams every piece as it comes, marked with its prompt and sequence.
        var writeError: Error?
        func write(_ text: String) {
            guard writeError == nil else { return }
            do { try StandardOutput.write(text) } catch { writeError = error }
        }
        let perPrompt = numReturnSequences
        func header(_ prompt: Int, _ sequence: Int) -> String {
            let which = perPrompt > 1 ? ", sequence \(sequence + 1) of \(perPrompt)" : ""
            return (prompt + sequence == 0 ? "" : "\n") + "--- prompt \(prompt + 1) of \(prompts.count)\(which) ---\n"
                + (noDisplayPrompt ? "" : shownPrompts[prompt])
        }
        func piece(_ prompt: Int, _ sequence: Int, _ text: String) {
            if jsonLines {
                if let line = try? jsonText(TextPieceReport(prompt: prompt, sequence: sequence, text: text)) { write(line + "\n") }
            } else if !json && prompt == 0 && sequence == 0 {
                write(text)
            }
        }
        if !json && !jsonLines { write(header(0, 0)) }
        let results: [[GenerationResult]]
        do {
            results = try TextGenerator(model: model).generateBatch(
                prompts: prompts, options: options, tokensPerPass: Self.batchTokensPerPass, onText: piece,
                shouldContinue: { Termination.shouldContinue && writeError == nil })
        } catch {
            if !json && !jsonLines { write("\n") }
            throw error
        }
        if let writeError { throw writeError }
        let peak = ProcessMemory.peakResidentBytes
        let all = results.flatMap { $0 }
        let promptSeconds = all[0].promptSeconds
        let promptRate = promptSeconds > 0 ? Double(prompts.reduce(0) { $0 + $1.count } * perPrompt) / promptSeconds : 0
        let decoded = all.reduce(0) { $0 + $1.tokens.count }
        let decodeSeconds = all.map(\.decodeSeconds).max() ?? 0
        let decodeRate = decodeSeconds > 0 ? Double(max(decoded - all.count, 0)) / decodeSeconds : 0
        if json || jsonLines {
            let report = BatchGenerateReport(
                prompts: zip(prompts, results).map { .init(promptTokens: $0.count, sequences: $1.map(SequenceReport.init)) },
                seed: samples ? seed : nil,
                timings: .init(loadMilliseconds: model.loadSeconds * 1000, promptTokensPerSecond: promptRate,
                               decodeTokensPerSecond: decodeRate, peakResidentBytes: peak ?? 0),
                done: jsonLines ? true : nil)
            write(try jsonText(report) + "\n")
        } else {
            for (prompt, sequences) in results.enumerated() {
                for (sequence, result) in sequences.enumerated() where prompt + sequence > 0 {
                    write(header(prompt, sequence) + result.text)
                }
            }
            write("\n")
        }
        if let writeError { throw writeError }
        if !quiet {
            let finishes = all.map(\.finishReason.rawValue).joined(separator: ",")
            printError(String(format: "load %.0f ms | %d prompts, %d sequences | prompt %d tok, %.1f tok/s | decode %d tok, %.1f tok/s | peak RSS %@ | finish %@%@ | threads %d",
                              model.loadSeconds * 1000, prompts.count, all.count, prompts.reduce(0) { $0 + $1.count } * perPrompt, promptRate,
                              decoded, decodeRate, ProcessMemory.format(peak), finishes, samples ? " | seed \(seed)" : "",
                              model.network.pool.threadCount))
        }
        if all.contains(where: { $0.finishReason == .cancelled }) {
            throw ExitCode(ExitCodes.interrupted(by: Termination.signal ?? SIGINT))
        }
    }
}

/// `generate --json` (and `--jsonl`'s last line) with several prompts: each prompt's sequences, in order.
struct BatchGenerateReport: Encodable {
    var prompts: [PromptReport]
    /// null when nothing was sampled (greedy decoding).
    @Nullable var seed: UInt64?
    var timings: GenerateReport.Timings
    /// true on `--jsonl`'s last line.
    var done: Bool?

    struct PromptReport: Encodable {
        var promptTokens: Int
        var sequences: [SequenceReport]
        enum CodingKeys: String, CodingKey {
            case sequences
            case promptTokens = "prompt_tokens"
        }
    }
}
