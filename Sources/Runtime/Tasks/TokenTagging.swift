import GPT2

/// A text's token classification: each token's best label with its score and where it is in the text, and the
/// tokens grouped as transformers' token-classification pipeline groups them with `aggregation_strategy="simple"`.
///
/// ```swift
/// let tagging = try model.tag("Peter went to Jerusalem and Galilee.")   // the kjv-tokcls fixture (a random head)
/// tagging.groups.map(\.word)          // ["Peter", " went to", "."]  ("O" groups left out)
/// tagging.groups.map(\.entityGroup)   // ["PER", "LOC", "LOC"]
/// ```
///
/// Offsets are Unicode scalar offsets into the text (Python `str` indices), and a token's span includes its leading
/// space, as transformers reports them for GPT-2.
public struct TokenTagging: Sendable, Equatable, Codable {
    /// Every token of the text, "O" ones too.
    public var tokens: [Token]
    /// The "simple" groups, without the ignored labels (by default "O").
    public var groups: [Group]
    /// Whether the text was cut to the context (the tokens cover its start).
    public var truncated: Bool

    /// One token: transformers' entity without aggregation (`aggregation_strategy="none"`), plus its id and text.
    public struct Token: Sendable, Equatable, Codable {
        /// The token's position in the input.
        public var index: Int
        /// The token id.
        public var id: Int
        /// As vocab.json spells it (`ĠJesus`): the pipeline's `word` without aggregation.
        public var word: String
        /// Its text (` Jesus`; a token holding part of a character shows U+FFFD).
        public var text: String
        /// The best label (`id2label`).
        public var entity: String
        /// Its softmax probability.
        public var score: Double
        /// Character offsets into the text.
        public var start: Int
        public var end: Int

        public init(index: Int, id: Int, word: String, text: String, entity: String, score: Double, start: Int, end: Int) {
            (self.index, self.id, self.word, self.text, self.entity, self.score, self.start, self.end) = (index, id, word, text, entity, score, start, end)
        }
    }

    /// Adjacent tokens with the same tag: the pipeline's `entity_group`, `score`, `word`, `start`, `end`.
    public struct Group: Sendable, Equatable, Codable {
        /// The label without its `B-`/`I-` prefix (the pipeline's `split("-", 1)[-1]`).
        public var entityGroup: String
        /// The mean of the tokens' scores.
        public var score: Double
        /// The tokens decoded together.
        public var word: String
        /// From the first token's start to the last token's end.
        public var start: Int
        public var end: Int
        /// The tokens' positions in the input, first and last.
        public var firstToken: Int
        public var lastToken: Int

        enum CodingKeys: String, CodingKey {
            case score, word, start, end
            case entityGroup = "entity_group"
            case firstToken = "first_token"
            case lastToken = "last_token"
        }
    }

    /// The tokens whose labels are not in `ignoredLabels`: the pipeline's output without aggregation.
    public func tokens(ignoring ignoredLabels: Set<String> = ["O"]) -> [Token] {
        tokens.filter { !ignoredLabels.contains($0.entity) }
    }

    /// transformers' `group_entities`: a token joins the group before it when its tag (the label without `B-`/`I-`)
    /// is the same and it is not a `B-` token; a label without either prefix counts as `I-`. Each group's word is
    /// `decode` of its tokens. Groups whose entity is in `ignoredLabels` are left out afterwards, as the pipeline
    /// filters them.
    public static func simpleGroups(of tokens: [Token], ignoring ignoredLabels: Set<String> = ["O"],
                                    decode: ([Int]) throws -> String) rethrows -> [Group] {
        func tag(_ label: String) -> (begins: Bool, tag: Substring) {
            if label.hasPrefix("B-") { return (true, label.dropFirst(2)) }
            if label.hasPrefix("I-") { return (false, label.dropFirst(2)) }
            return (false, label[...])
        }
        var runs: [[Token]] = []
        for token in tokens {
            if let last = runs.last?.last {
                let current = tag(token.entity)
                if current.tag == tag(last.entity).tag && !current.begins {
                    runs[runs.count - 1].append(token)
                    continue
                }
            }
            runs.append([token])
        }
        return try runs.compactMap { run in
            let label = run[0].entity
            let entityGroup = label.firstIndex(of: "-").map { String(label[label.index(after: $0)...]) } ?? label
            guard !ignoredLabels.contains(entityGroup) else { return nil }
            return Group(entityGroup: entityGroup, score: run.reduce(0) { $0 + $1.score } / Double(run.count),
                         word: try decode(run.map(\.id)), start: run[0].start, end: run[run.count - 1].end,
                         firstToken: run[0].index, lastToken: run[run.count - 1].index)
        }
    }
}
