import CLISupport
import GPT2Edge

// The JSON objects of the task commands that are more than the library's results (which are Codable with the keys
// of transformers' pipelines). The keys are a contract, like Reports.swift's: README and Tests/CLITests read them.

/// `classify --json`, one line per text: its index among the texts, then the classification's keys.
struct ClassifyReport: Encodable {
    var index: Int
    var classification: Classification

    enum CodingKeys: String, CodingKey { case index }

    func encode(to encoder: any Encoder) throws {
        try classification.encode(to: encoder)
        var json = encoder.container(keyedBy: CodingKeys.self)
        try json.encode(index, forKey: .index)
    }
}

/// `tag --json`: the pipeline's entities for the aggregation (groups for "simple", tokens for "none", without the
/// ignored labels), and every token with its label.
struct TagReport: Encodable {
    var aggregation: String
    var entities: Entities
    var tokens: [TokenTagging.Token]
    var truncated: Bool

    enum Entities: Encodable {
        case groups([TokenTagging.Group])
        case tokens([TokenTagging.Token])

        func encode(to encoder: any Encoder) throws {
            switch self {
            case .groups(let groups): try groups.encode(to: encoder)
            case .tokens(let tokens): try tokens.encode(to: encoder)
            }
        }
    }
}

/// `choose --json`: the best choice's index and every choice in the order given.
struct ChooseReport: Encodable {
    var best: Int
    var choices: [ChoiceScore]
}
