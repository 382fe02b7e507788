import ArgumentParser
import Foundation
import GPT2Edge

struct Logits: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print the model's logits for a token sequence as JSON, to check it against another implementation.",
        discussion: """
        Output: {"positions": [{"position": i, "logsumexp": x, "top": [[id, logit], ...], "logits": [...]}]}
        "logits" (all vocabulary entries) only with --full. Without --all-positions only the last position is printed.
        """
    )

    @OptionGroup var modelOptions: ModelOptions

    @Option(help: "Comma-separated token ids, e.g. 15496,995.")
    var ids: String?

    @Option(help: "Text to tokenize instead of --ids.")
    var text: String?

    @Option(help: "How many of the largest logits to list per position.")
    var top: Int = 10

    @Flag(help: "Every position, not only the last.")
    var allPositions = false

    @Flag(help: "Include every logit of each printed position.")
    var full = false

    func run() throws {
        let model = try modelOptions.load()
        let tokens: [Int]
        switch (ids, text) {
        case (let ids?, nil):
            tokens = try ids.split(separator: ",").map { part in
                guard let id = Int(part.trimmingCharacters(in: .whitespaces)) else { throw CLIError("--ids: \(part) is not an integer") }
                return id
            }
        case (nil, let text?):
            tokens = model.tokenizer.encode(text)
        default:
            throw CLIError("give exactly one of --ids and --text")
        }
        guard !tokens.isEmpty else { throw CLIError("no tokens given") }
        guard tokens.count <= model.config.contextLength else {
            throw CLIError("\(tokens.count) tokens exceed the model's context of \(model.config.contextLength)")
        }
        let cache = model.network.makeCache()
        let logits = try model.network.forward(tokens: tokens, cache: cache, logits: allPositions ? .allPositions : .lastPosition)
        let vocabulary = model.config.vocabularySize
        let rows = logits.count / vocabulary
        var positions: [[String: Any]] = []
        for row in 0..<rows {
            let values = Array(logits[(row * vocabulary)..<((row + 1) * vocabulary)])
            let maximum = values.max()!
            let logSumExp = Double(maximum) + log(values.reduce(0.0) { $0 + exp(Double($1 - maximum)) })
            let ranked = values.indices.sorted { values[$0] > values[$1] || (values[$0] == values[$1] && $0 < $1) }.prefix(max(top, 0))
            var entry: [String: Any] = ["position": tokens.count - rows + row, "logsumexp": logSumExp,
                                        "top": ranked.map { [$0, Double(values[$0])] as [Any] }]
            if full { entry["logits"] = values.map { Double($0) } }
            positions.append(entry)
        }
        print(try jsonText(["tokens": tokens, "positions": positions]))
    }
}
