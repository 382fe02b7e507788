import ArgumentParser
import CLISupport
import Foundation
import GPT2Edge
import ModelCommandLine

struct Generate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Continue a prompt, streaming the text to standard output.",
        discussion: """
        Sampling follows Hugging Face generate(): repetition penalty → no-repeat n-gram → min-new-tokens, then \
        temperature → top-k → top-p → min-p → typical-p.

        By default tokens are sampled (temperature 1, top-k 50) with a random seed that the timings line reports; \
        --greedy or --temperature 0 picks the most likely token every step (and no seed is reported: none is used).

        The prompt comes from -p, from -f FILE, or from standard input. Several prompts (-p repeated, or \
        --prompts-file with one per line) are generated together, one batched forward pass per step; each gives \
        exactly what it gives alone with the same seed. Timings go to standard error. SIGINT or \
        SIGTERM stops between tokens: the text so far is printed (finish reason "cancelled") and the exit code is \
        130 or 143.

        """ + ExitCodes.summary + " " + ExitCodes.sizeUnits
    )

    @OptionGroup var modelOptions: ModelOptions

    @Option(name: [.short, .long], help: "The prompt text (default: read standard input); repeat it for several prompts, generated in one batch.")
    var prompt: [String] = []

    @Option(name: [.customShort("f"), .long], help: "Read the prompt from this file.")
    var file: String?

    @Option(help: "Read several prompts from this file, one per line (empty lines skipped), generated in one batch.")
    var promptsFile: String?

    @Option(name: [.customShort("n"), .customLong("max-new-tokens"), .customLong("n-predict")], parsing: .unconditional,
            help: "Tokens to generate at most; -1: until the context is full (with --context-shift: until stopped).")
    var maxNewTokens: Int = 64

    @Option(name: [.long, .customLong("temp")], parsing: .unconditional, help: "Sampling temperature; 0 means greedy.")
    var temperature: Float = 1

    @Option(name: .long, parsing: .unconditional, help: "Keep the k most likely tokens (0 disables).")
    var topK: Int = 50

    @Option(name: .long, parsing: .unconditional, help: "Keep the most likely tokens up to this total probability (1 disables).")
    var topP: Float = 1

    @Option(name: [.long, .customLong("repeat-penalty")], parsing: .unconditional, help: "Penalize tokens already in the context (1 disables).")
    var repetitionPenalty: Float = 1

    @Option(parsing: .unconditional, help: "Keep tokens at least this fraction as likely as the top one (0 disables).")
    var minP: Float = 0

    @Option(name: [.long, .customLong("typical")], parsing: .unconditional, help: "Locally typical sampling mass (1 disables).")
    var typicalP: Float = 1

    @Option(parsing: .unconditional, help: "Never repeat an n-gram of this many tokens (0 disables).")
    var noRepeatNgramSize: Int = 0

    @Option(parsing: .unconditional, help: "Do not stop at <|endoftext|> before this many new tokens.")
    var minNewTokens: Int = 0

    @Option(name: [.short, .long], parsing: .unconditional, help: "Random seed (default: a random one, reported on standard error).")
    var seed: UInt64?

    @Flag(help: "Always pick the most likely token (same as --temperature 0).")
    var greedy = false

    @Flag(help: "Do not stop at <|endoftext|>.")
    var ignoreEos = false

    @Option(help: "What to do with a prompt longer than the context: 'error' or 'left' (drop its start).")
    var truncate: Truncation = .error

    enum Truncation: String, ExpressibleByArgument { case error, left }

    @Option(name: [.customShort("r"), .long, .customLong("reverse-prompt")],
            help: "Stop when this text appears (repeatable); it is not printed, and \"tokens\" in --json end before it.")
    var stop: [String] = []

    @Option(name: [.long, .customLong("beams")], parsing: .unconditional, help: "Beam search with this many beams (1: no beam search). Deterministic; sampling options other than the repetition penalty and no-repeat n-gram size do not apply.")
    var numBeams: Int = 1

    @Option(parsing: .unconditional, help: "Beam search: divide scores by length^this (> 0 favours longer sequences).")
    var lengthPenalty: Float = 1

    @Option(help: "Beam search stopping: 'false' (heuristic, transformers' default), 'true' (when num-beams sequences finished) or 'never'.")
    var earlyStopping: EarlyStoppingArgument = .false

    enum EarlyStoppingArgument: String, ExpressibleByArgument { case `false`, `true`, never }

    @Option(parsing: .unconditional, help: "Sequences to return: the best ones of beam search, or independent samples (seeds seed, seed+1, …).")
    var numReturnSequences: Int = 1

    @Flag(help: "When the context is full, keep its newest half and go on (instead of stopping with finish reason 'length').")
    var contextShift = false

    @Option(parsing: .unconditional, help: "Token id that ends generation (default: the model's <|endoftext|>).")
    var eosTokenId: Int?

    @Flag(help: "Print one JSON object (text, tokens, finish_reason, timings) instead of streaming text.")
    var json = false

    @Flag(name: [.customLong("jsonl"), .customLong("json-lines")], help: "Stream JSON lines: {\"sequence\",\"text\"} per piece of text, then one line with the full result (as --json).")
    var jsonLines = false

    @Flag(name: [.short, .long], help: "No timings on standard error.")
    var quiet = false

    @Flag(help: "Print the memory plan (weights, KV cache, activations, total; what the machine allows) and the verdict, and exit without loading the model: 0 if the run would start, 1 if it would refuse.")
    var dryRun = false

    @Option(parsing: .unconditional, help: "Refuse to start when the memory plan exceeds this size (a unit is required: 512M, 1.5G).",
            transform: { try ByteSize(parsing: $0) })
    var maxMemory: ByteSize?

    @Flag(help: "Print only the generated text, not the prompt before it.")
    var noDisplayPrompt = false

    func validate() throws {
        if !prompt.isEmpty && file != nil { throw ValidationError("give the prompt either with -p or with -f, not both") }
        if promptsFile != nil && (!prompt.isEmpty || file != nil) {
            throw ValidationError("give the prompts either with --prompts-file or with -p/-f, not both")
        }
        if (prompt.count > 1 || promptsFile != nil) && numBeams > 1 {
            throw ValidationError("beam search runs one prompt at a time; give a single prompt with --num-beams \(numBeams)")
        }
        if json && jsonLines { throw ValidationError("choose --json (one object at the end) or --jsonl (streamed lines), not both") }
        guard maxNewTokens >= -1 else { throw ValidationError("-n must be -1 (until the context is full) or at least 0, got \(maxNewTokens)") }
        if maxNewTokens >= 0 && minNewTokens > maxNewTokens {
            throw ValidationError("--min-new-tokens \(minNewTokens) is more than -n \(maxNewTokens); the run could never honour it")
        }
        do { try generationOptions(maxNewTokens: max(maxNewTokens, minNewTokens), seed: 0).validate() }
        catch let error as GenerationOptions.Invalid { throw ValidationError(error.description) }
    }

    /// Whether the run draws random numbers at all (greedy and beam search do not, so they report no seed).
    var samples: Bool { !greedy && temperature > 0 && numBeams == 1 }

    /// The library's options for these flags.
    func generationOptions(maxNewTokens: Int, seed: UInt64) -> GenerationOptions {
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
        return options
    }

    func run() throws {
        // First, so a Ctrl-C or SIGTERM at any point ends the run through the normal path (text so far, timings, 130/143).
        Termination.install()
        if prompt.count > 1 || promptsFile != nil { return try runBatch() }
        // The model's files are opened once; the run is sized from their headers and the tokenized prompt before
        // any weight is read, and the library decides whether the layers stay resident or are streamed.
        let source = try modelOptions.openLanguageModel()   // a classifier is refused before anything is read or printed
        let tokenizer = source.tokenizer
        let contextLength = try modelOptions.contextLength(of: source)
        let promptText = try readPrompt(contextLength: contextLength, tokenizer: tokenizer)
        let encodedPrompt = tokenizer.encode(promptText)
        let promptCount = encodedPrompt.count
        // -n -1: until the context is full, or without end when the context shifts.
        let newTokens = maxNewTokens >= 0 ? maxNewTokens : (contextShift ? Int.max / 4 : contextLength)
        // The plan clamps both to the model's context; with --context-shift the whole context is reached.
        let positions = contextShift || newTokens > Int.max / 8 ? Int.max : max(1, promptCount) + newTokens
        // Beam search holds a KV cache per beam; independent samples run one after another, so one at a time.
        let decision = try modelOptions.decide(source, contextPositions: positions, promptTokens: promptCount,
                                               sequences: numBeams > 1 ? numBeams : 1, memoryLimit: maxMemory?.bytes)
        if promptCount >= decision.plan.modelContextLength && truncate == .error {
            throw CLIError(GenerationRequestError.promptTooLong(tokens: promptCount, contextLength: decision.plan.modelContextLength).description
                           + ", or pass --truncate left to keep only its end")
        }
        guard try startsRun(decision, smaller: "--kv-cache int8, a shorter -n or -c, a 4-bit file") else { return }
        let model = try modelOptions.load(source, decision: decision, memoryLimit: maxMemory?.bytes)
        let seed = self.seed ?? UInt64.random(in: 0...UInt64(UInt32.max))
        let options = generationOptions(maxNewTokens: newTokens, seed: seed)

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
        catch GenerationRequestError.promptTooLong(let tokens, let length) {
            throw CLIError(GenerationRequestError.promptTooLong(tokens: tokens, contextLength: length).description
                           + ", or pass --truncate left to keep only its end")
        }

        // Plain text streams each sequence after its prompt; several sequences are separated by a marked line.
        // A write that fails (a full disk, a closed pipe) stops the run at the next token and is reported.
        var writeError: Error?
        func write(_ text: String) {
            guard writeError == nil else { return }
            do { try StandardOutput.write(text) } catch { writeError = error }
        }
        let count = numBeams > 1 ? min(numReturnSequences, numBeams) : numReturnSequences
        func header(_ index: Int) { if count > 1 { write(index == 0 ? "" : "\n"); write("--- sequence \(index + 1) of \(count) ---\n") } }
        var started = -1
        func piece(_ index: Int, _ text: String) {
            if jsonLines {
                if let line = try? jsonText(TextPieceReport(sequence: index, text: text)) { write(line + "\n") }
                return
            }
            guard !json else { return }
            if index != started {
                header(index)
                if !noDisplayPrompt { write(shownPrompt) }
                started = index
            }
            write(text)
        }
        if numBeams == 1 && !json && !jsonLines { piece(0, "") }   // the prompt shows at once
        let results: [GenerationResult]
        do {
            results = try generator.generateSequences(promptTokens: promptTokens, options: options, onText: piece,
                                                      shouldContinue: { Termination.shouldContinue && writeError == nil })
        } catch {
            if started >= 0 { write("\n") }   // end the streamed line, so the error does not run into it
            throw error
        }
        if let writeError { throw writeError }
        if numBeams > 1 { for (index, result) in results.enumerated() { piece(index, result.text) } }   // beams end together
        let peak = ProcessMemory.peakResidentBytes
        let first = results[0]
        let promptRate = first.promptTokensPerSecond
        let decoded = results.reduce(0) { $0 + $1.tokens.count }
        let decodeSeconds = numBeams > 1 ? first.decodeSeconds : results.reduce(0) { $0 + $1.decodeSeconds }
        let decodeRate = numBeams > 1 || results.count > 1
            ? (decodeSeconds > 0 ? Double(max(decoded - results.count, 0)) / decodeSeconds : 0) : first.decodeTokensPerSecond
        if json || jsonLines {
            let report = GenerateReport(
                first: SequenceReport(first), promptTokens: promptTokens.count, seed: samples ? seed : nil,
                timings: .init(loadMilliseconds: model.loadSeconds * 1000, promptTokensPerSecond: promptRate,
                               decodeTokensPerSecond: decodeRate, peakResidentBytes: peak ?? 0),
                sequences: count > 1 ? results.map(SequenceReport.init) : nil, done: jsonLines ? true : nil)
            write(try jsonText(report) + "\n")
        } else {
            write("\n")
        }
        if let writeError { throw writeError }
        if !quiet {
            let finishes = results.map(\.finishReason.rawValue).joined(separator: ",")
            printError(String(format: "load %.0f ms | prompt %d tok, %.1f tok/s | decode %d tok, %.1f tok/s | peak RSS %@ | finish %@%@ | threads %d",
                              model.loadSeconds * 1000, promptTokens.count, promptRate, decoded, decodeRate,
                              ProcessMemory.format(peak), finishes, samples ? " | seed \(seed)" : "", model.network.pool.threadCount))
        }
        if results.contains(where: { $0.finishReason == .cancelled }) {
            throw ExitCode(ExitCodes.interrupted(by: Termination.signal ?? SIGINT))
        }
    }

    /// Whether the run goes on to load the model: false after `--dry-run` has printed the plan (exit 1 if it would
    /// refuse); a plan over `--max-memory` is refused naming `smaller` options; a switch to layer streaming is told.
    func startsRun(_ decision: LoadDecision, smaller: String) throws -> Bool {
        if dryRun {
            try printDryRun(decision)
            if let refusal = decision.refusal { printError(refusal); throw ExitCode(ExitCodes.failure) }
            return false
        }
        if let refusal = decision.refusal {
            throw CLIError(refusal + "\n" + decision.plan.description + "\nSmaller options: \(smaller).")
        }
        if decision.switchedToStreaming && !quiet {
            printError(String(format: "the model needs %.0f MiB in memory but %.0f MiB are allowed: streaming its layers (--low-memory, slower)",
                              Double(decision.residentTotal) / 1_048_576, Double(decision.limit ?? 0) / 1_048_576))
        }
        return true
    }

    /// The plan, what the machine allows, and the verdict the run would reach.
    private func printDryRun(_ decision: LoadDecision) throws {
        let plan = decision.plan
        let verdict = decision.fits
            ? (decision.switchedToStreaming ? "fits with layer streaming: the run would start (and stream its layers)" : "fits: the run would start")
            : "does not fit: the run would refuse to start"
        if json {
            try StandardOutput.line(try jsonText(DryRunReport(plan: plan, available: decision.available, maxMemory: decision.memoryLimit,
                                                              fits: decision.fits, verdict: verdict)))
            return
        }
        var lines = [plan.description,
                     String(format: "available    %8.1f MiB  (MemAvailable or the cgroup limit, whichever is lower)", Double(decision.available ?? 0) / 1_048_576)]
        if let cap = decision.memoryLimit { lines.append(String(format: "max-memory   %8.1f MiB", Double(cap) / 1_048_576)) }
        lines.append("verdict      \(verdict)")
        try StandardOutput.line(lines.joined(separator: "\n"))
    }

    /// The prompt: from -p, -f FILE or standard input, reading no more than the context can use.
    private func readPrompt(contextLength: Int, tokenizer: GPT2Tokenizer) throws -> String {
        if let prompt = prompt.first { return prompt }
        if file == nil && isatty(STDIN_FILENO) == 1 { printError("reading the prompt from standard input (Ctrl-D to end)") }
        // No token is shorter than one byte and none longer than the longest in the vocabulary, so more than
        // context × longest bytes cannot fit, and with --truncate left only that many of the end can matter.
        let longestToken = max(1, tokenizer.tokenBytes.lazy.map(\.count).max() ?? 1)
        let limit = contextLength * longestToken
        let input: InputText
        do { input = try InputText.read(path: file, limit: limit, keepTail: truncate == .left) }
        catch InputText.Failure.interrupted(let signal) { throw ExitCode(ExitCodes.interrupted(by: signal)) }
        catch let failure as InputText.Failure { throw CLIError(failure.description) }
        let source = file ?? "standard input"
        if input.wasCut && truncate == .error {
            throw CLIError("the prompt from \(source) is longer than the model's context of \(contextLength) tokens (more than \(limit) bytes, "
                           + "and no token is longer than \(longestToken) bytes); shorten it, or pass --truncate left to keep only its end")
        }
        if input.wasCut && !quiet {
            printError("read the last \(input.text.utf8.count) of \(input.bytesRead) bytes from \(source): the rest cannot fit the context")
        }
        let text = input.text
        return file == nil && text.hasSuffix("\n") ? String(text.dropLast()) : text
    }
}
