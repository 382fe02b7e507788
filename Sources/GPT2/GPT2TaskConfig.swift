/// What a checkpoint's config.json says about the model's task, beside the numbers of the body: the classes it was
/// saved as (`architectures`), its labels (`id2label`), the padding id that sequence classification pools by
/// (`pad_token_id`), how a classifier's scores are read (`problem_type`), and the multiple-choice head's summary
/// (`summary_*`). Decoded from the same JSON object as `GPT2Config` (which holds it as `task`) and written back
/// with it, so a .gqz file keeps what its source said.
///
/// ```swift
/// config.task.architectures          // ["GPT2ForSequenceClassification"]
/// config.task.hasLanguageModelHead   // false: `generate` refuses it
/// config.task.labels                 // ["negative", "neutral", "positive"]
/// ```
public struct GPT2TaskConfig: Sendable, Equatable {
    /// `architectures`: the transformers classes the checkpoint was saved from (empty when the config names none).
    public var architectures: [String]
    /// `id2label` in id order, when the config has one.
    public var labels: [String]?
    /// `pad_token_id` of config.json (not generation_config.json's): what sequence classification pools by.
    public var padTokenID: Int?
    /// `problem_type`: how class scores are read; nil is transformers' default (softmax when more than one label).
    public var problemType: ProblemType?
    /// `summary_type`, `summary_use_proj`, `summary_proj_to_labels`, `summary_activation`: the multiple-choice head.
    public var summary: Summary

    public enum ProblemType: String, Sendable, Equatable, CaseIterable {
        case singleLabel = "single_label_classification"
        case multiLabel = "multi_label_classification"
        case regression
    }

    /// transformers' `GPT2SequenceSummary` settings, with GPT-2's defaults.
    public struct Summary: Sendable, Equatable {
        /// "cls_index" (GPT-2's default: the state at `mc_token_ids`), "last", "first" or "mean".
        public var type: String = "cls_index"
        public var useProjection = true
        public var projectionToLabels = true
        /// nil (none), or an activation applied to the projected value ("tanh", "relu", "gelu", "gelu_new", "linear").
        public var activation: String?
        public init() {}
    }

    public init(architectures: [String] = [], labels: [String]? = nil, padTokenID: Int? = nil, problemType: ProblemType? = nil,
                summary: Summary = Summary()) {
        self.architectures = architectures
        self.labels = labels
        self.padTokenID = padTokenID
        self.problemType = problemType
        self.summary = summary
    }

    /// The classes that carry transformers' language-model head (`lm_head`, tied to `wte` unless saved apart).
    public static let languageModelArchitectures = ["GPT2LMHeadModel", "GPT2DoubleHeadsModel"]

    /// Whether the model predicts tokens: a config that names no class (older files, bare configs) is taken to be a
    /// language model, as every GPT-2 file before the task heads was; one that names classes has the head only
    /// when one of them is `GPT2LMHeadModel` or `GPT2DoubleHeadsModel`.
    public var hasLanguageModelHead: Bool {
        architectures.isEmpty || architectures.contains { Self.languageModelArchitectures.contains($0) }
    }

    /// "GPT2ForSequenceClassification", or "none" for messages.
    public var architecturesDescription: String { architectures.isEmpty ? "none" : architectures.joined(separator: ", ") }

    /// Label `index`: `id2label`'s name, else transformers' default `LABEL_<index>`.
    public func label(_ index: Int) -> String {
        if let labels, index < labels.count { return labels[index] }
        return "LABEL_\(index)"
    }
}

extension GPT2TaskConfig: Codable {
    enum CodingKeys: String, CodingKey {
        case architectures
        case id2label, label2id
        case padTokenID = "pad_token_id"
        case problemType = "problem_type"
        case summaryType = "summary_type"
        case summaryUseProjection = "summary_use_proj"
        case summaryProjectionToLabels = "summary_proj_to_labels"
        case summaryActivation = "summary_activation"
    }

    /// Reads the task fields; a value of the wrong type is refused by name (`GPT2Config.Invalid`), an absent or null one
    /// takes transformers' default.
    public init(from decoder: any Decoder) throws {
        let json = try decoder.container(keyedBy: CodingKeys.self)
        func decode<T: Decodable>(_ type: T.Type, _ key: CodingKeys, expected: String) throws -> T? {
            guard json.contains(key), !((try? json.decodeNil(forKey: key)) ?? false) else { return nil }
            guard let value = try? json.decode(type, forKey: key) else {
                throw GPT2Config.Invalid(field: key.stringValue, reason: "expected \(expected)")
            }
            return value
        }
        architectures = try decode([String].self, .architectures, expected: "a list of class names") ?? []
        if let map = try decode([String: String].self, .id2label, expected: "an object from label ids to names") {
            var names = [String?](repeating: nil, count: map.count)
            for (key, name) in map {
                guard let id = Int(key), id >= 0, id < map.count else {
                    throw GPT2Config.Invalid(field: "id2label", reason: "ids must be 0 to \(map.count - 1), got \(key)")
                }
                // "0" and "+0" (or "00") are different keys for one id: refused, or another id would be missing.
                guard names[id] == nil else {
                    throw GPT2Config.Invalid(field: "id2label", reason: "id \(id) appears twice (as \(key) and another spelling)")
                }
                names[id] = name
            }
            labels = names.map { $0! }   // map.count distinct ids within 0..<count: every one is there
        } else {
            labels = nil
        }
        if let pad = try decode(Int.self, .padTokenID, expected: "a token id") {
            guard pad >= 0 else { throw GPT2Config.Invalid(field: "pad_token_id", reason: "expected a token id (≥ 0), got \(pad)") }
            padTokenID = pad
        } else {
            padTokenID = nil
        }
        if let name = try decode(String.self, .problemType, expected: "a string") {
            guard let known = ProblemType(rawValue: name) else {
                throw GPT2Config.Invalid(field: "problem_type", reason: "\(name) is not one of \(ProblemType.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            problemType = known
        } else {
            problemType = nil
        }
        var summary = Summary()
        summary.type = try decode(String.self, .summaryType, expected: "a string") ?? summary.type
        summary.useProjection = try decode(Bool.self, .summaryUseProjection, expected: "true or false") ?? true
        summary.projectionToLabels = try decode(Bool.self, .summaryProjectionToLabels, expected: "true or false") ?? true
        summary.activation = try decode(String.self, .summaryActivation, expected: "a string")
        self.summary = summary
    }

    /// Writes what the config said: `architectures` and the labels only when known, the summary always.
    public func encode(to encoder: any Encoder) throws {
        var json = encoder.container(keyedBy: CodingKeys.self)
        if !architectures.isEmpty { try json.encode(architectures, forKey: .architectures) }
        if let labels {
            try json.encode(Dictionary(uniqueKeysWithValues: labels.enumerated().map { ("\($0.offset)", $0.element) }), forKey: .id2label)
            try json.encode(Dictionary(labels.enumerated().map { ($0.element, $0.offset) }, uniquingKeysWith: { first, _ in first }), forKey: .label2id)
        }
        try json.encodeIfPresent(padTokenID, forKey: .padTokenID)
        try json.encodeIfPresent(problemType?.rawValue, forKey: .problemType)
        try json.encode(summary.type, forKey: .summaryType)
        try json.encode(summary.useProjection, forKey: .summaryUseProjection)
        try json.encode(summary.projectionToLabels, forKey: .summaryProjectionToLabels)
        try json.encodeIfPresent(summary.activation, forKey: .summaryActivation)
    }
}
