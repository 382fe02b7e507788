import ArgumentParser
import Foundation
import GPT2Edge

struct Tokenize: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print the token ids of a text as JSON.",
        discussion: "Output: {\"ids\": [...], \"tokens\": [...]} where tokens are each id's text (bytes that are not valid UTF-8 on their own show as U+FFFD)."
    )

    @Option(name: [.short, .long], help: "A Hugging Face GPT-2 folder (only vocab.json and merges.txt are read).")
    var model: String

    @Flag(help: "Treat <|endoftext|> as ordinary text.")
    var noSpecial = false

    @Argument(help: "The text (default: read standard input).")
    var text: String?

    func run() throws {
        let folder = URL(fileURLWithPath: model)
        if model.hasSuffix(".gqz") { throw CLIError("\(model): .gqz files are not readable yet; pass a Hugging Face GPT-2 folder") }
        let tokenizer = try GPT2Tokenizer(folder: folder)
        let input = text ?? String(decoding: FileHandle.standardInput.readDataToEndOfFile(), as: UTF8.self)
        let ids = tokenizer.encode(input, allowSpecialTokens: !noSpecial)
        let pieces = try ids.map { try tokenizer.decode([$0]) }
        print(try jsonText(["ids": ids, "tokens": pieces]))
    }
}
