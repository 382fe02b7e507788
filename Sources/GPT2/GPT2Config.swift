import Foundation
import Kernels

/// The GPT-2 hyper-parameters that change the math, read from a Hugging Face `config.json`.
///
/// Values the forward pass cannot honour are refused by name instead of being ignored.
public struct GPT2Config: Sendable, Equatable {
    /// Transformer blocks (`n_layer`).
    public var layerCount: Int
    /// Attention heads (`n_head`).
    public var headCount: Int
    /// Width of the residual stream (`n_embd`).
    public var embeddingWidth: Int
    /// Positions the model can see (`n_positions`).
    public var contextLength: Int
    /// Rows of the token embedding and LM head (`vocab_size`).
    public var vocabularySize: Int
    /// Width of the MLP's hidden layer (`n_inner`, default 4 × n_embd).
    public var innerWidth: Int
    /// Layer norm epsilon (`layer_norm_epsilon`).
    public var layerNormEpsilon: Float
    /// The MLP activation (`activation_function`).
    public var activation: Activation
    /// Divide attention scores by √head_dim (`scale_attn_weights`, default true).
    public var scaleAttentionWeights: Bool
    /// Also divide layer i's scores by i + 1 (`scale_attn_by_inverse_layer_idx`).
    public var scaleAttentionByInverseLayerIndex: Bool
    /// `reorder_and_upcast_attn`: computes in float32, which this float32 path always does.
    public var reorderAndUpcastAttention: Bool
    /// Whether the LM head is the token embedding (`tie_word_embeddings`, default true).
    public var tiedEmbeddings: Bool
    /// The token that ends a text (`eos_token_id`), when the config names one.
    public var endOfTextToken: Int?

    /// Width of one attention head.
    public var headDim: Int { embeddingWidth / headCount }

    /// The attention score multiplier for `layer` (0-based), exactly as transformers computes it.
    public func attentionScale(layer: Int) -> Float {
        var scale: Float = scaleAttentionWeights ? 1 / Float(headDim).squareRoot() : 1
        if scaleAttentionByInverseLayerIndex { scale /= Float(layer + 1) }
        return scale
    }

    public init(layerCount: Int, headCount: Int, embeddingWidth: Int, contextLength: Int, vocabularySize: Int,
                innerWidth: Int? = nil, layerNormEpsilon: Float = 1e-5, activation: Activation = .geluNew,
                scaleAttentionWeights: Bool = true, scaleAttentionByInverseLayerIndex: Bool = false,
                reorderAndUpcastAttention: Bool = false, tiedEmbeddings: Bool = true, endOfTextToken: Int? = 50256) {
        self.layerCount = layerCount
        self.headCount = headCount
        self.embeddingWidth = embeddingWidth
        self.contextLength = contextLength
        self.vocabularySize = vocabularySize
        self.innerWidth = innerWidth ?? 4 * embeddingWidth
        self.layerNormEpsilon = layerNormEpsilon
        self.activation = activation
        self.scaleAttentionWeights = scaleAttentionWeights
        self.scaleAttentionByInverseLayerIndex = scaleAttentionByInverseLayerIndex
        self.reorderAndUpcastAttention = reorderAndUpcastAttention
        self.tiedEmbeddings = tiedEmbeddings
        self.endOfTextToken = endOfTextToken
    }

    /// A config problem, naming the field.
    public struct Invalid: Error, CustomStringConvertible, Equatable {
        public let field: String
        public let reason: String
        public var description: String { "config field \(field): \(reason)" }
    }

    /// The fields that change the math, spelled as in a Hugging Face `config.json` (read back by `init(huggingFace:)`).
    public var huggingFaceJSON: [String: Any] {
        var json: [String: Any] = [
            "model_type": "gpt2", "n_layer": layerCount, "n_head": headCount, "n_embd": embeddingWidth,
            "n_positions": contextLength, "vocab_size": vocabularySize, "n_inner": innerWidth,
            "layer_norm_epsilon": Double("\(layerNormEpsilon)") ?? Double(layerNormEpsilon), "activation_function": activation.rawValue,
            "scale_attn_weights": scaleAttentionWeights, "scale_attn_by_inverse_layer_idx": scaleAttentionByInverseLayerIndex,
            "reorder_and_upcast_attn": reorderAndUpcastAttention, "tie_word_embeddings": tiedEmbeddings,
        ]
        if let endOfTextToken { json["eos_token_id"] = endOfTextToken }
        return json
    }

    /// The largest count a config file may give for each field.
    ///
    /// Per-layer, per-position and per-token structures are sized from these counts, so a config that lies
    /// (`"n_layer": 1000000000`) has to be stopped when it is read, not by running out of memory. The largest
    /// GPT-2 (gpt2-xl) has 48 layers, 25 heads, width 1600, 1024 positions, a 50257-token vocabulary and an
    /// MLP 6400 wide; each limit leaves one to three orders of magnitude above that for other GPT-2-shaped
    /// models, and keeps every product the runtime forms (layers × positions × width for the KV cache,
    /// vocabulary × width for the embedding) far inside `Int`. The tensors a file holds are checked against
    /// the counts afterwards (`validate(againstTensors:)`).
    public enum Limits {
        public static let layerCount = 1024
        public static let headCount = 1024
        public static let embeddingWidth = 65_536
        public static let contextLength = 1 << 20
        public static let vocabularySize = 1 << 24
        public static let innerWidth = 1 << 20
    }

    /// Reads the fields of a parsed Hugging Face `config.json`.
    public init(huggingFace json: [String: Any]) throws {
        /// A positive integer at most `maximum` (`largestGPT2`, gpt2-xl's value, is quoted when it is more).
        func integer(_ key: String, aliases: [String] = [], maximum: Int, largestGPT2: Int, required: Bool = true) throws -> Int? {
            for name in [key] + aliases {
                guard let value = json[name], !(value is NSNull) else { continue }
                guard let number = value as? NSNumber, !isJSONBoolean(number), number.doubleValue == number.doubleValue.rounded(),
                      number.doubleValue > 0, number.doubleValue < 0x1p62 else {
                    throw Invalid(field: name, reason: "expected a positive integer, got \(value)")
                }
                guard number.intValue <= maximum else {
                    throw Invalid(field: name, reason: "\(number.intValue) is more than this runtime accepts (at most \(maximum); "
                                  + "the largest GPT-2, gpt2-xl, has \(largestGPT2))")
                }
                return number.intValue
            }
            if required { throw Invalid(field: key, reason: "missing") }
            return nil
        }
        func flag(_ key: String, default fallback: Bool) throws -> Bool {
            guard let value = json[key], !(value is NSNull) else { return fallback }
            guard let number = value as? NSNumber, isJSONBoolean(number), let bool = value as? Bool else { throw Invalid(field: key, reason: "expected true or false, got \(value)") }
            return bool
        }
        if let type = json["model_type"] as? String, type != "gpt2" {
            throw Invalid(field: "model_type", reason: "\(type) is not supported; only gpt2 checkpoints are")
        }
        if try flag("add_cross_attention", default: false) {
            throw Invalid(field: "add_cross_attention", reason: "cross-attention (encoder-decoder GPT-2) is not supported")
        }
        let layerCount = try integer("n_layer", aliases: ["num_hidden_layers"], maximum: Limits.layerCount, largestGPT2: 48)!
        let headCount = try integer("n_head", aliases: ["num_attention_heads"], maximum: Limits.headCount, largestGPT2: 25)!
        let width = try integer("n_embd", aliases: ["hidden_size"], maximum: Limits.embeddingWidth, largestGPT2: 1600)!
        let context = try integer("n_positions", aliases: ["n_ctx", "max_position_embeddings"], maximum: Limits.contextLength,
                                  largestGPT2: 1024)!
        let vocabulary = try integer("vocab_size", maximum: Limits.vocabularySize, largestGPT2: 50257)!
        guard width % headCount == 0 else {
            throw Invalid(field: "n_head", reason: "n_embd \(width) is not divisible by n_head \(headCount)")
        }
        let inner = try integer("n_inner", maximum: Limits.innerWidth, largestGPT2: 6400, required: false)
        var epsilon: Float = 1e-5
        if let value = json["layer_norm_epsilon"], !(value is NSNull) {
            guard let number = value as? NSNumber, !isJSONBoolean(number), number.doubleValue > 0, number.doubleValue < 1 else {
                throw Invalid(field: "layer_norm_epsilon", reason: "expected a small positive number, got \(value)")
            }
            epsilon = number.floatValue
        }
        var activation = Activation.geluNew
        if let value = json["activation_function"], !(value is NSNull) {
            guard let name = value as? String, let known = Activation(rawValue: name) else {
                let supported = Activation.allCases.map(\.rawValue).joined(separator: ", ")
                throw Invalid(field: "activation_function", reason: "\(value) is not supported (supported: \(supported))")
            }
            activation = known
        }
        let eos = (json["eos_token_id"] as? NSNumber)?.intValue
        if let eos, eos < 0 {
            // It indexes the logits (min-new-tokens masks it). One past the vocabulary is tolerated, as transformers
            // does (small test models keep GPT-2's 50256) and the masking checks the upper bound.
            throw Invalid(field: "eos_token_id", reason: "expected a token id (≥ 0), got \(eos)")
        }
        self.init(layerCount: layerCount, headCount: headCount, embeddingWidth: width, contextLength: context,
                  vocabularySize: vocabulary, innerWidth: inner, layerNormEpsilon: epsilon, activation: activation,
                  scaleAttentionWeights: try flag("scale_attn_weights", default: true),
                  scaleAttentionByInverseLayerIndex: try flag("scale_attn_by_inverse_layer_idx", default: false),
                  reorderAndUpcastAttention: try flag("reorder_and_upcast_attn", default: false),
                  tiedEmbeddings: try flag("tie_word_embeddings", default: true),
                  endOfTextToken: eos)
    }
}

/// JSONSerialization gives true/false as NSNumber too; on Linux `1 as? Bool` succeeds, so look at the stored type.
private func isJSONBoolean(_ number: NSNumber) -> Bool {
    String(cString: number.objCType) == "c"
}
