import ArgumentParser
import CLISupport
import Foundation
import GPT2Edge
import ModelCommandLine

struct Logits: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print the model's logits for a token sequence as JSON, to check it against another implementation.",
        discussion: """
        Output: {"tokens": [...], "positions": [{"position": i, "logsumexp": x, "top": [[id, logit], ...], "logits": [...]}]}. \
        "logits" (all vocabulary entries) only with --full. Without --all-positions only the last position is printed. \
        The input is one of --ids, --text (the text itself) or -f FILE (a UTF-8 file), as in the other commands.

        """ + ExitCodes.summary
    )

    @OptionGroup var modelOptions: ModelOptions

    @Option(help: "Comma-separated token ids, e.g. 15496,995.")
    var ids: String?

    @Option(help: "The text itself, tokenized.")
    var text: String?

    @Option(name: [.customShort("f"), .long], help: "A UTF-8 file whose text is tokenized.")
    var file: String?

    @Option(parsing: .unconditional, help: "How many of the largest logits to list per position.")
    var top: Int = 10

    @Flag(help: "Every position, not only the last.")
    var allPositions = false

    @Flag(help: "Include every logit of each printed position.")
    var full = false

    func validate() throws {
        guard [ids != nil, text != nil, file != nil].filter({ $0 }).count == 1 else {
            throw ValidationError("give exactly one of --ids, --text and -f/--file")
        }
        guard top >= 0 else { throw ValidationError("--top must be at least 0, got \(top)") }
        if let ids {
            for part in ids.split(separator: ",", omittingEmptySubsequences: false) {
                guard let id = Int(part.trimmingCharacters(in: .whitespaces)), id >= 0 else {
                    throw ValidationError("--ids: \"\(part)\" is not a token id (a non-negative integer)")
                }
            }
        }
    }

    func run() throws {
        let source = try modelOptions.openLanguageModel()   // a classifier is refused before anything is read or printed
        let model = try modelOptions.load(source, decision: try modelOptions.decide(source, contextPositions: .max, promptTokens: source.config.contextLength))
        let tokens: [Int]
        if let ids {
            tokens = ids.split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
        } else if let text {
            tokens = model.tokenizer.encode(text)
        } else {
            do { tokens = model.tokenizer.encode(try InputText.read(path: file).text) }
            catch let failure as InputText.Failure { throw CLIError(failure.description) }
        }
        guard !tokens.isEmpty else { throw CLIError("no tokens given") }
        guard tokens.count <= model.config.contextLength else {
            throw CLIError("\(tokens.count) tokens exceed the model's context of \(model.config.contextLength)")
        }
        let cache = model.network.makeCache()
        let logits = try model.network.forward(tokens: tokens, cache: cache, logits: allPositions ? .allPositions : .lastPosition)
        let vocabulary = model.config.vocabularySize
        let rows = logits.count / vocabulary
        var positions: [LogitsReport.Position] = []
        for row in 0..<rows {
            let values = Array(logits[(row * vocabulary)..<((row + 1) * vocabulary)])
            let logSumExp = LogitsProcessors.logSumExp(values[...])
            let ranked = values.indices.sorted { values[$0] > values[$1] || (values[$0] == values[$1] && $0 < $1) }.prefix(top)
            let best: [LogitsReport.RankedLogit] = ranked.map { LogitsReport.RankedLogit(token: $0, logit: Double(values[$0])) }
            let every: [Double]? = full ? values.map { Double($0) } : nil
            positions.append(LogitsReport.Position(position: tokens.count - rows + row, logsumexp: logSumExp, top: best, logits: every))
        }
        try StandardOutput.line(try jsonText(LogitsReport(tokens: tokens, positions: positions)))
    }
}
