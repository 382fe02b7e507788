import ArgumentParser
import CLISupport
import Foundation
import GPT2Edge
import ModelCommandLine

struct Tokenize: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print the token ids of a text as JSON.",
        discussion: """
        Output: {"ids": [...], "tokens": [...]} where tokens are each id's text (bytes that are not valid UTF-8 on \
        their own show as U+FFFD). The text comes from the argument, from -f FILE, or from standard input, and must \
        be UTF-8.

        """ + ExitCodes.summary
    )

    @Option(name: [.short, .long], help: "A .gqz file or a Hugging Face GPT-2 folder (only the tokenizer is read; default: the built-in model).")
    var model: String?

    @Flag(help: "Treat <|endoftext|> as ordinary text.")
    var noSpecial = false

    @Option(name: [.customShort("f"), .long], help: "Read the text from this file.")
    var file: String?

    @Flag(help: "Print only counts and encoding speed: {\"bytes\", \"tokens\", \"seconds\", \"megabytes_per_second\"}.")
    var countOnly = false

    @Argument(help: "The text (default: read standard input).")
    var text: String?

    func validate() throws {
        if text != nil && file != nil { throw ValidationError("give the text either as an argument or with -f, not both") }
    }

    func run() throws {
        let tokenizer = try (model.map { try ModelSource.open(path: $0) } ?? openBuiltInModel()).tokenizer
        let input: String
        if let text { input = text } else {
            do { input = try InputText.read(path: file).text }
            catch let failure as InputText.Failure { throw CLIError(failure.description) }
        }
        let start = Date()
        let ids = tokenizer.encode(input, allowSpecialTokens: !noSpecial)
        let seconds = Date().timeIntervalSince(start)
        if countOnly {
            let bytes = input.utf8.count
            try StandardOutput.line(try jsonText(TokenCountReport(bytes: bytes, tokens: ids.count, seconds: seconds,
                                                                  megabytesPerSecond: Double(bytes) / 1_000_000 / seconds)))
            return
        }
        let pieces = try ids.map { try tokenizer.decode([$0]) }
        try StandardOutput.line(try jsonText(TokenizeReport(ids: ids, tokens: pieces)))
    }
}
