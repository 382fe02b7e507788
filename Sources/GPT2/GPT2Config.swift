import Foundation
import Kernels

/// The GPT-2 hyper-parameters that change the math, read from a Hugging Face `config.json`.
///
/// Values the forward pass cannot honour are refused by name instead of being ignored. It is `Codable` as that
/// file (`GPT2Config+HuggingFace.swift`): `JSONDecoder().decode(GPT2Config.self, from: configJSON)`.
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
    /// The task fields: the classes the checkpoint was saved as, labels, padding id, the multiple-choice summary.
    public var task: GPT2TaskConfig

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
                reorderAndUpcastAttention: Bool = false, tiedEmbeddings: Bool = true, endOfTextToken: Int? = 50256,
                task: GPT2TaskConfig = GPT2TaskConfig()) {
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
        self.task = task
    }

    /// A config problem, naming the field.
    public struct Invalid: Error, CustomStringConvertible, Equatable {
        public let field: String
        public let reason: String
        public var description: String { "config field \(field): \(reason)" }
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
    ///
    /// Decoding checks them; a config made in code does not.
    public enum Limits {
        public static let layerCount = 1024
        public static let headCount = 1024
        public static let embeddingWidth = 65_536
        public static let contextLength = 1 << 20
        public static let vocabularySize = 1 << 24
        public static let innerWidth = 1 << 20
    }
}
