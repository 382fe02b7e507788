import Kernels

/// A GPT-2 config as a Hugging Face `config.json`: decoding reads one (with the aliases other GPT-2-shaped
/// configs use) and refuses by name what the forward pass cannot honour; encoding writes the fields that change
/// the math, which decoding reads back to the same config.
///
/// ```swift
/// let config = try JSONDecoder().decode(GPT2Config.self, from: Data(contentsOf: folder.appendingPathComponent("config.json")))
/// ```
///
/// An absent field and a `null` one are the same: the default, or "missing" for a count without one. A value of
/// the wrong JSON type is refused, naming the field and the value: `true` is not a count and `1` is not a flag.
extension GPT2Config: Codable {
    enum CodingKeys: String, CodingKey {
        case modelType = "model_type"
        case layerCount = "n_layer"
        case headCount = "n_head"
        case embeddingWidth = "n_embd"
        case contextLength = "n_positions"
        case vocabularySize = "vocab_size"
        case innerWidth = "n_inner"
        case layerNormEpsilon = "layer_norm_epsilon"
        case activation = "activation_function"
        case scaleAttentionWeights = "scale_attn_weights"
        case scaleAttentionByInverseLayerIndex = "scale_attn_by_inverse_layer_idx"
        case reorderAndUpcastAttention = "reorder_and_upcast_attn"
        case tiedEmbeddings = "tie_word_embeddings"
        case endOfTextToken = "eos_token_id"
        case crossAttention = "add_cross_attention"
        // What other configs call the counts, read when the GPT-2 name is absent.
        case layerCountAlias = "num_hidden_layers"
        case headCountAlias = "num_attention_heads"
        case embeddingWidthAlias = "hidden_size"
        case contextLengthAlias = "n_ctx"
        case contextLengthSecondAlias = "max_position_embeddings"
    }

    public init(from decoder: any Decoder) throws {
        let json = try decoder.container(keyedBy: CodingKeys.self)
        /// The value as written; nil when absent or null.
        func value(_ key: CodingKeys) -> WrittenValue? { (try? json.decodeIfPresent(WrittenValue.self, forKey: key)) ?? nil }
        /// A positive integer at most `maximum` (`largestGPT2`, gpt2-xl's value, is quoted when it is more).
        func integer(_ keys: [CodingKeys], maximum: Int, largestGPT2: Int, required: Bool = true) throws -> Int? {
            for key in keys {
                guard let value = value(key) else { continue }
                guard let count = value.positiveInteger else {
                    throw Invalid(field: key.stringValue, reason: "expected a positive integer, got \(value)")
                }
                guard count <= maximum else {
                    throw Invalid(field: key.stringValue, reason: "\(count) is more than this runtime accepts (at most \(maximum); "
                                  + "the largest GPT-2, gpt2-xl, has \(largestGPT2))")
                }
                return count
            }
            if required { throw Invalid(field: keys[0].stringValue, reason: "missing") }
            return nil
        }
        func flag(_ key: CodingKeys, default fallback: Bool) throws -> Bool {
            guard let value = value(key) else { return fallback }
            guard case .bool(let flag) = value else { throw Invalid(field: key.stringValue, reason: "expected true or false, got \(value)") }
            return flag
        }
        if case .string(let type)? = value(.modelType), type != "gpt2" {
            throw Invalid(field: "model_type", reason: "\(type) is not supported; only gpt2 checkpoints are")
        }
        if try flag(.crossAttention, default: false) {
            throw Invalid(field: "add_cross_attention", reason: "cross-attention (encoder-decoder GPT-2) is not supported")
        }
        let layerCount = try integer([.layerCount, .layerCountAlias], maximum: Limits.layerCount, largestGPT2: 48)!
        let headCount = try integer([.headCount, .headCountAlias], maximum: Limits.headCount, largestGPT2: 25)!
        let width = try integer([.embeddingWidth, .embeddingWidthAlias], maximum: Limits.embeddingWidth, largestGPT2: 1600)!
        let context = try integer([.contextLength, .contextLengthAlias, .contextLengthSecondAlias], maximum: Limits.contextLength,
                                  largestGPT2: 1024)!
        let vocabulary = try integer([.vocabularySize], maximum: Limits.vocabularySize, largestGPT2: 50257)!
        guard width % headCount == 0 else {
            throw Invalid(field: "n_head", reason: "n_embd \(width) is not divisible by n_head \(headCount)")
        }
        let inner = try integer([.innerWidth], maximum: Limits.innerWidth, largestGPT2: 6400, required: false)
        var epsilon: Float = 1e-5
        if let value = value(.layerNormEpsilon) {
            guard let number = value.number, number > 0, number < 1 else {
                throw Invalid(field: "layer_norm_epsilon", reason: "expected a small positive number, got \(value)")
            }
            epsilon = Float(number)
        }
        var activation = Activation.geluNew
        if let value = value(.activation) {
            guard case .string(let name) = value, let known = Activation(rawValue: name) else {
                let supported = Activation.allCases.map(\.rawValue).joined(separator: ", ")
                throw Invalid(field: "activation_function", reason: "\(value) is not supported (supported: \(supported))")
            }
            activation = known
        }
        // Not a number (a list of ids, say): no end-of-text token, as before any check.
        let eos = value(.endOfTextToken)?.number.flatMap { $0.isFinite && abs($0) < 0x1p62 ? Int($0) : nil }
        if let eos, eos < 0 {
            // It indexes the logits (min-new-tokens masks it). One past the vocabulary is tolerated, as transformers
            // does (small test models keep GPT-2's 50256) and the masking checks the upper bound.
            throw Invalid(field: "eos_token_id", reason: "expected a token id (≥ 0), got \(eos)")
        }
        self.init(layerCount: layerCount, headCount: headCount, embeddingWidth: width, contextLength: context,
                  vocabularySize: vocabulary, innerWidth: inner, layerNormEpsilon: epsilon, activation: activation,
                  scaleAttentionWeights: try flag(.scaleAttentionWeights, default: true),
                  scaleAttentionByInverseLayerIndex: try flag(.scaleAttentionByInverseLayerIndex, default: false),
                  reorderAndUpcastAttention: try flag(.reorderAndUpcastAttention, default: false),
                  tiedEmbeddings: try flag(.tiedEmbeddings, default: true),
                  endOfTextToken: eos, task: try GPT2TaskConfig(from: decoder))
    }

    /// The fields that change the math, `model_type` "gpt2", and the task fields (`GPT2TaskConfig`).
    public func encode(to encoder: any Encoder) throws {
        var json = encoder.container(keyedBy: CodingKeys.self)
        try json.encode("gpt2", forKey: .modelType)
        try json.encode(layerCount, forKey: .layerCount)
        try json.encode(headCount, forKey: .headCount)
        try json.encode(embeddingWidth, forKey: .embeddingWidth)
        try json.encode(contextLength, forKey: .contextLength)
        try json.encode(vocabularySize, forKey: .vocabularySize)
        try json.encode(innerWidth, forKey: .innerWidth)
        // The Float's shortest decimal (1e-05), not the Double it widens to (9.999999747378752e-06).
        try json.encode(Double("\(layerNormEpsilon)") ?? Double(layerNormEpsilon), forKey: .layerNormEpsilon)
        try json.encode(activation.rawValue, forKey: .activation)
        try json.encode(scaleAttentionWeights, forKey: .scaleAttentionWeights)
        try json.encode(scaleAttentionByInverseLayerIndex, forKey: .scaleAttentionByInverseLayerIndex)
        try json.encode(reorderAndUpcastAttention, forKey: .reorderAndUpcastAttention)
        try json.encode(tiedEmbeddings, forKey: .tiedEmbeddings)
        try json.encodeIfPresent(endOfTextToken, forKey: .endOfTextToken)
        try task.encode(to: encoder)
    }
}

/// A config value as it was written, whatever its JSON type: decoding looks at the type itself, and a message
/// about a value of the wrong type quotes it.
private enum WrittenValue: Decodable, CustomStringConvertible {
    case bool(Bool)
    case integer(Int)
    case number(Double)
    case string(String)
    case list([WrittenValue])
    case object
    case null

    init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() { self = .null }
        else if let value = try? container.decode(Bool.self) { self = .bool(value) }
        else if let value = try? container.decode(Int.self) { self = .integer(value) }
        else if let value = try? container.decode(Double.self) { self = .number(value) }
        else if let value = try? container.decode(String.self) { self = .string(value) }
        else if let value = try? container.decode([WrittenValue].self) { self = .list(value) }
        else { self = .object }
    }

    /// A JSON number (never `true` or `false`).
    var number: Double? {
        switch self {
        case .integer(let value): return Double(value)
        case .number(let value): return value
        default: return nil
        }
    }

    /// A whole number above 0 and below 2⁶² (`12` or `12.0`), else nil.
    var positiveInteger: Int? {
        guard let number, number > 0, number < 0x1p62, number == number.rounded() else { return nil }
        if case .integer(let value) = self { return value }
        return Int(number)
    }

    var description: String {
        switch self {
        case .bool(let value): return "\(value)"
        case .integer(let value): return "\(value)"
        case .number(let value): return "\(value)"
        case .string(let value): return value
        case .list(let values): return "[" + values.map(\.description).joined(separator: ", ") + "]"
        case .object: return "an object"
        case .null: return "null"
        }
    }
}
