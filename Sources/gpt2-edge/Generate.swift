import ArgumentParser
import Foundation
import GPT2Edge
import Synchronization

/// Set by the SIGINT handler; the decode loop checks it between tokens.
let interrupted = Atomic<Bool>(false)

struct Generate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Continue a prompt, streaming the text to standard output.",
        discussion: """
        Sampling follows Hugging Face generate(): repetition penalty → no-repeat n-gram → min-new-tokens, then
        temperature → top-k → top-p → min-p → typical-p.
        By default tokens are sampled (temperature 1, top-k 50) with a random seed that the timings line
        reports; --greedy or --temperature 0 picks the most likely token every step.
        The prompt comes from -p, from -f FILE, or from standard input. Timings go to standard error.
        """
    )

    @OptionGroup var modelOptions: ModelOptions

    @Option(name: [.short, .long], help: "The prompt text (default: read standard input).")
    var prompt: String?

    @Option(name: [.customShort("f"), .long], help: "Read the prompt from this file.")
    var file: String?

    @Option(name: [.customShort("n"), .customLong("max-new-tokens"), .customLong("n-predict")], help: "Tokens to generate at most.")
    var maxNewTokens: Int = 64

    @Option(name: [.long, .customLong("temp")], help: "Sampling temperature; 0 means greedy.")
    var temperature: Float = 1

    @Option(name: .long, help: "Keep the k most likely tokens (0 disables).")
    var topK: Int = 50

    @Option(name: .long, help: "Keep the most likely tokens up to this total probability (1 disables).")
    var topP: Float = 1

    @Option(name: [.long, .customLong("repeat-penalty")], help: "Penalize tokens already in the context (1 disables).")
    var repetitionPenalty: Float = 1

    @Option(help: "Keep tokens at least this fraction as likely as the top one (0 disables).")
    var minP: Float = 0

    @Option(name: [.long, .customLong("typical")], help: "Locally typical sampling mass (1 disables).")
    var typicalP: Float = 1

    @Option(help: "Never repeat an n-gram of this many tokens (0 disables).")
    var noRepeatNgramSize: Int = 0

    @Option(help: "Do not stop at <|endoftext|> before this many new tokens.")
    var minNewTokens: Int = 0

    @Option(name: [.short, .long], help: "Random seed (default: a random one, reported on standard error).")
    var seed: UInt64?

    @Flag(help: "Always pick the most likely token (same as --temperature 0).")
    var greedy = false

    @Flag(help: "Do not stop at <|endoftext|>.")
    var ignoreEos = false

    @Option(help: "What to do with a prompt longer than the context: 'error' or 'left' (drop its start).")
    var truncate: Truncation = .error

    enum Truncation: String, ExpressibleByArgument { case error, left }

    @Option(name: [.long, .customLong("reverse-prompt")], help: "Stop when this text appears (repeatable); it is not printed.")
    var stop: [String] = []

    @Option(name: [.long, .customLong("beams")], help: "Beam search with this many beams (1: no beam search). Deterministic; sampling options other than the repetition penalty and no-repeat n-gram size do not apply.")
    var numBeams: Int = 1

    @Option(help: "Beam search: divide scores by length^this (> 0 favours longer sequences).")
    var lengthPenalty: Float = 1

    @Option(help: "Beam search stopping: 'false' (heuristic, transformers' default), 'true' (when num-beams sequences finished) or 'never'.")
    var earlyStopping: EarlyStoppingArgument = .false

    enum EarlyStoppingArgument: String, ExpressibleByArgument { case `false`, `true`, never }

    @Option(help: "Sequences to return: the best ones of beam search, or independent samples (seeds seed, seed+1, …).")
    var numReturnSequences: Int = 1

    @Flag(help: "When the context is full, keep its newest half and go on (instead of stopping with finish reason 'length').")
    var contextShift = false

    @Option(help: "Token id that ends generation (default: the model's <|endoftext|>).")
    var eosTokenId: Int?

    @Flag(help: "Print one JSON object (text, tokens, finish_reason, timings) instead of streaming text.")
    var json = false

    @Flag(name: [.customLong("jsonl"), .customLong("json-lines")], help: "Stream JSON lines: {\"sequence\",\"text\"} per piece of text, then one line with the full result (as --json).")
    var jsonLines = false

    @Flag(name: [.short, .long], help: "No timings on standard error.")
    var quiet = false

    @Flag(help: "Print the memory plan (weights, KV cache, activations, total; what the machine allows) and exit without loading the model.")
    var dryRun = false

    @Option(help: "Refuse to start when the memory plan exceeds this size (e.g. 512M, 1.5G).")
    var maxMemory: String?

    func run() throws {
        // First, so a Ctrl-C at any point ends the run through the normal path (text so far, timings, exit 130).
        _ = interrupted.load(ordering: .relaxed)   // initialize the global before a handler can touch it
        signal(SIGINT) { _ in interrupted.store(true, ordering: .relaxed) }
        var mask = sigset_t()
        sigemptyset(&mask)
        sigaddset(&mask, SIGINT)
        pthread_sigmask(SIG_UNBLOCK, &mask, nil)   // a parent may have left it blocked
        let promptText = try readPrompt()
        // Size the run from the headers and the tokenized prompt, before any weight is read.
        let tokenizer = try modelOptions.loadTokenizer()   // parsed once: the model load below reuses it
        let encodedPrompt = tokenizer.encode(promptText)
        let promptCount = encodedPrompt.count
        // The plan clamps both to the model's context; with --context-shift the whole context is reached.
        let positions = contextShift || maxNewTokens > Int.max / 2 ? Int.max : max(1, promptCount) + maxNewTokens
        var plan = try modelOptions.plan(contextPositions: positions, promptTokens: promptCount)
        if promptCount >= plan.modelContextLength && truncate == .error {
            throw CLIError(TextGenerator.RequestError.promptTooLong(tokens: promptCount, contextLength: plan.modelContextLength).description
                           + ", or pass --truncate left to keep only its end")
        }
        let available = MemoryPlan.availableBytes
        var cap: Int?
        if let maxMemory {
            guard let size = MemoryPlan.parseSize(maxMemory) else { throw CLIError("--max-memory \(maxMemory) is not a size (e.g. 512M, 1.5G)") }
            cap = size
        }
        let limit = min(cap ?? .max, available ?? .max)
        var streamingTotal: Int?   // the streaming plan's total, when it was worked out and did not fit
        if plan.total > limit && !plan.streamsLayers && !modelOptions.isFolder {
            // Does not fit whole: layer streaming, if that fits.
            let streaming = try modelOptions.plan(contextPositions: positions, promptTokens: promptCount, streamLayers: true)
            streamingTotal = streaming.total
            if streaming.total <= limit {
                if !quiet && !dryRun {
                    printError(String(format: "the model needs %.0f MiB in memory but %.0f MiB are allowed: streaming its layers (--low-memory, slower)",
                                      Double(plan.total) / 1_048_576, Double(limit) / 1_048_576))
                }
                plan = streaming
            }
        }
        if dryRun {
            if json {
                var object = plan.dictionary
                object["available"] = available ?? NSNull()
                object["max_memory"] = cap ?? NSNull()
                print(try jsonText(object))
            } else {
                print(plan.description)
                print(String(format: "available    %8.1f MiB  (MemAvailable or the cgroup limit, whichever is lower)", Double(available ?? 0) / 1_048_576))
                if let cap { print(String(format: "max-memory   %8.1f MiB", Double(cap) / 1_048_576)) }
            }
            return
        }
        if let cap, plan.total > cap {
            var smallest = plan.streamsLayers ? " (already with layer streaming)" : ""
            if !plan.streamsLayers, let streamingTotal {   // worked out above, since cap ≥ limit
                smallest = String(format: "; even with layer streaming it needs about %.1f MiB", Double(streamingTotal) / 1_048_576)
            }
            throw CLIError(String(format: "this run needs about %.1f MiB but --max-memory allows %.1f MiB%@; nothing was loaded.\n%@\n"
                                  + "Smaller options: --kv-cache int8, a shorter -n, a 4-bit file.",
                                  Double(plan.total) / 1_048_576, Double(cap) / 1_048_576, smallest, plan.description))
        }
        let model = try modelOptions.load(streamLayers: plan.streamsLayers, tokenizer: tokenizer)
        let seed = self.seed ?? UInt64.random(in: 0...UInt64(UInt32.max))
        var sampling = SamplingOptions(temperature: greedy ? 0 : temperature, topK: topK, topP: topP,
                                       repetitionPenalty: repetitionPenalty, seed: seed)
        sampling.minP = minP
        sampling.typicalP = typicalP
        sampling.noRepeatNGramSize = noRepeatNgramSize
        var options = GenerationOptions(maxNewTokens: maxNewTokens, sampling: sampling, ignoreEndOfText: ignoreEos, stopStrings: stop)
        options.minNewTokens = minNewTokens
        options.numBeams = numBeams
        options.lengthPenalty = lengthPenalty
        options.earlyStopping = [.false: .heuristic, .true: .whenFull, .never: .never][earlyStopping]!
        options.numReturnSequences = numReturnSequences
        options.contextShift = contextShift
        options.endOfTextToken = eosTokenId
        if json && jsonLines { throw CLIError("choose --json (one object at the end) or --jsonl (streamed lines), not both") }

        let generator = TextGenerator(model: model)
        var promptTokens = encodedPrompt
        var shownPrompt = promptText
        if truncate == .left && promptTokens.count >= model.config.contextLength {
            // Keep the most recent tokens, leaving room for at least a quarter of the context to be generated.
            let keep = max(1, model.config.contextLength - max(1, model.config.contextLength / 4))
            promptTokens = Array(promptTokens.suffix(keep))
            shownPrompt = try model.tokenizer.decode(promptTokens)
            if !quiet { printError("prompt truncated on the left to its last \(keep) tokens") }
        }
        do { try generator.validate(promptTokens: promptTokens, options: options) }   // before anything is printed
        catch TextGenerator.RequestError.promptTooLong(let tokens, let length) {
            throw CLIError(TextGenerator.RequestError.promptTooLong(tokens: tokens, contextLength: length).description
                           + ", or pass --truncate left to keep only its end")
        }

        // Plain text streams each sequence after its prompt; several sequences are separated by a marked line.
        let output = FileHandle.standardOutput
        let count = numBeams > 1 ? min(numReturnSequences, numBeams) : numReturnSequences
        func write(_ text: String) { output.write(Data(text.utf8)) }
        func header(_ index: Int) { if count > 1 { write(index == 0 ? "" : "\n"); write("--- sequence \(index + 1) of \(count) ---\n") } }
        var started = -1
        func piece(_ index: Int, _ text: String) {
            if jsonLines {
                if let line = try? jsonText(["sequence": index, "text": text] as [String: Any]) { write(line + "\n") }
                return
            }
            guard !json else { return }
            if index != started { header(index); write(shownPrompt); started = index }
            write(text)
        }
        if numBeams == 1 && !json && !jsonLines { piece(0, "") }   // the prompt shows at once
        let results = try generator.generateSequences(promptTokens: promptTokens, options: options,
                                                      onText: piece, shouldContinue: { !interrupted.load(ordering: .relaxed) })
        if numBeams > 1 { for (index, result) in results.enumerated() { piece(index, result.text) } }   // beams end together
        let peak = ProcessMemory.peakResidentBytes
        let first = results[0]
        let promptRate = first.promptTokensPerSecond
        let decoded = results.reduce(0) { $0 + $1.tokens.count }
        let decodeSeconds = numBeams > 1 ? first.decodeSeconds : results.reduce(0) { $0 + $1.decodeSeconds }
        let decodeRate = numBeams > 1 || results.count > 1
            ? (decodeSeconds > 0 ? Double(max(decoded - results.count, 0)) / decodeSeconds : 0) : first.decodeTokensPerSecond
        if json || jsonLines {
            func describe(_ result: GenerationResult) -> [String: Any] {
                var object: [String: Any] = ["text": result.text, "tokens": result.tokens, "finish_reason": result.finishReason.rawValue]
                if let score = result.score { object["score"] = score }
                return object
            }
            var object = describe(first)
            object["prompt_tokens"] = promptTokens.count
            object["seed"] = seed
            object["timings"] = ["load_ms": model.loadSeconds * 1000, "prompt_tokens_per_second": promptRate,
                                 "decode_tokens_per_second": decodeRate, "peak_rss_bytes": peak ?? 0] as [String: Any]
            if count > 1 { object["sequences"] = results.map(describe) }
            if jsonLines { object["done"] = true }
            print(try jsonText(object))
        } else {
            write("\n")
        }
        if !quiet {
            let finishes = results.map(\.finishReason.rawValue).joined(separator: ",")
            printError(String(format: "load %.0f ms | prompt %d tok, %.1f tok/s | decode %d tok, %.1f tok/s | peak RSS %@ | finish %@ | seed %llu | threads %d",
                              model.loadSeconds * 1000, promptTokens.count, promptRate, decoded, decodeRate,
                              ProcessMemory.format(peak), finishes, seed, model.network.pool.threadCount))
        }
        if results.contains(where: { $0.finishReason == .cancelled }) { throw ExitCode(130) }
    }

    private func readPrompt() throws -> String {
        if prompt != nil && file != nil { throw CLIError("give the prompt either with -p or with -f, not both") }
        if let prompt { return prompt }
        if let file {
            guard let data = FileManager.default.contents(atPath: file) else { throw CLIError("cannot read prompt file \(file)") }
            guard let text = String(data: data, encoding: .utf8) else { throw CLIError("prompt file \(file) is not UTF-8") }
            return text
        }
        let data = FileHandle.standardInput.readDataToEndOfFile()
        guard let text = String(data: data, encoding: .utf8) else { throw CLIError("standard input is not UTF-8") }
        return text.hasSuffix("\n") ? String(text.dropLast()) : text
    }
}
