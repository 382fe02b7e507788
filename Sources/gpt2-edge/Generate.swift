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

    @Flag(help: "Print one JSON object (text, tokens, finish_reason, timings) instead of streaming text.")
    var json = false

    @Flag(name: [.short, .long], help: "No timings on standard error.")
    var quiet = false

    func run() throws {
        // First, so a Ctrl-C at any point ends the run through the normal path (text so far, timings, exit 130).
        _ = interrupted.load(ordering: .relaxed)   // initialize the global before a handler can touch it
        signal(SIGINT) { _ in interrupted.store(true, ordering: .relaxed) }
        var mask = sigset_t()
        sigemptyset(&mask)
        sigaddset(&mask, SIGINT)
        pthread_sigmask(SIG_UNBLOCK, &mask, nil)   // a parent may have left it blocked
        let promptText = try readPrompt()
        let model = try modelOptions.load()
        let seed = self.seed ?? UInt64.random(in: 0...UInt64(UInt32.max))
        var sampling = SamplingOptions(temperature: greedy ? 0 : temperature, topK: topK, topP: topP,
                                       repetitionPenalty: repetitionPenalty, seed: seed)
        sampling.minP = minP
        sampling.typicalP = typicalP
        sampling.noRepeatNGramSize = noRepeatNgramSize
        var options = GenerationOptions(maxNewTokens: maxNewTokens, sampling: sampling, ignoreEndOfText: ignoreEos, stopStrings: stop)
        options.minNewTokens = minNewTokens

        let generator = TextGenerator(model: model)
        var promptTokens = model.tokenizer.encode(promptText)
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

        let output = FileHandle.standardOutput
        if !json { output.write(Data(shownPrompt.utf8)) }
        let result = try generator.generate(
            promptTokens: promptTokens, options: options,
            onText: { piece in if !json { output.write(Data(piece.utf8)) } },
            shouldContinue: { !interrupted.load(ordering: .relaxed) })
        let peak = ProcessMemory.peakResidentBytes
        if json {
            let object: [String: Any] = [
                "text": result.text, "tokens": result.tokens, "prompt_tokens": result.promptTokens.count,
                "finish_reason": result.finishReason.rawValue, "seed": seed,
                "timings": ["load_ms": model.loadSeconds * 1000, "prompt_tokens_per_second": result.promptTokensPerSecond,
                            "decode_tokens_per_second": result.decodeTokensPerSecond, "peak_rss_bytes": peak ?? 0],
            ]
            print(try jsonText(object))
        } else {
            output.write(Data("\n".utf8))
        }
        if !quiet {
            printError(String(format: "load %.0f ms | prompt %d tok, %.1f tok/s | decode %d tok, %.1f tok/s | peak RSS %@ | finish %@ | seed %llu | threads %d",
                              model.loadSeconds * 1000, result.promptTokens.count, result.promptTokensPerSecond,
                              result.tokens.count, result.decodeTokensPerSecond, ProcessMemory.format(peak),
                              result.finishReason.rawValue, seed, model.network.pool.threadCount))
        }
        if result.finishReason == .cancelled { throw ExitCode(130) }
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
