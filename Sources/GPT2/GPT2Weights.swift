import Kernels

/// The float32 weights of a GPT-2 model, by role. Matrices keep the checkpoint's Conv1D [in, out]
/// layout; the token embedding is [vocab, width] and doubles as the LM head when tied.
public struct GPT2Weights: Sendable {
    public struct Layer: Sendable {
        public var norm1Gain, norm1Bias: FloatBuffer
        public var attentionWeight, attentionBias: FloatBuffer          // [C, 3C], [3C]
        public var attentionProjectionWeight, attentionProjectionBias: FloatBuffer  // [C, C], [C]
        public var norm2Gain, norm2Bias: FloatBuffer
        public var feedForwardWeight, feedForwardBias: FloatBuffer      // [C, inner], [inner]
        public var feedForwardProjectionWeight, feedForwardProjectionBias: FloatBuffer  // [inner, C], [C]
    }

    public var tokenEmbedding: FloatBuffer      // [vocab, C]
    public var positionEmbedding: FloatBuffer   // [n_positions, C]
    public var layers: [Layer]
    public var finalNormGain, finalNormBias: FloatBuffer
    /// [vocab, C]; the token embedding itself when tied.
    public var languageModelHead: FloatBuffer

    /// The checkpoint name and expected shape of every tensor a config needs, in load order.
    public static func expectedTensors(for config: GPT2Config) -> [(name: String, shape: [Int])] {
        let c = config.embeddingWidth, inner = config.innerWidth
        var list: [(String, [Int])] = [("wte.weight", [config.vocabularySize, c]), ("wpe.weight", [config.contextLength, c])]
        for i in 0..<config.layerCount {
            let p = "h.\(i)."
            list += [(p + "ln_1.weight", [c]), (p + "ln_1.bias", [c]),
                     (p + "attn.c_attn.weight", [c, 3 * c]), (p + "attn.c_attn.bias", [3 * c]),
                     (p + "attn.c_proj.weight", [c, c]), (p + "attn.c_proj.bias", [c]),
                     (p + "ln_2.weight", [c]), (p + "ln_2.bias", [c]),
                     (p + "mlp.c_fc.weight", [c, inner]), (p + "mlp.c_fc.bias", [inner]),
                     (p + "mlp.c_proj.weight", [inner, c]), (p + "mlp.c_proj.bias", [c])]
        }
        list += [("ln_f.weight", [c]), ("ln_f.bias", [c])]
        if !config.tiedEmbeddings { list.append(("lm_head.weight", [config.vocabularySize, c])) }
        return list
    }

    /// Binds weights by name through `load`, which returns a tensor already checked against its expected shape.
    public init(config: GPT2Config, load: (String) throws -> FloatBuffer) throws {
        tokenEmbedding = try load("wte.weight")
        positionEmbedding = try load("wpe.weight")
        layers = try (0..<config.layerCount).map { i in
            let p = "h.\(i)."
            return Layer(norm1Gain: try load(p + "ln_1.weight"), norm1Bias: try load(p + "ln_1.bias"),
                         attentionWeight: try load(p + "attn.c_attn.weight"), attentionBias: try load(p + "attn.c_attn.bias"),
                         attentionProjectionWeight: try load(p + "attn.c_proj.weight"), attentionProjectionBias: try load(p + "attn.c_proj.bias"),
                         norm2Gain: try load(p + "ln_2.weight"), norm2Bias: try load(p + "ln_2.bias"),
                         feedForwardWeight: try load(p + "mlp.c_fc.weight"), feedForwardBias: try load(p + "mlp.c_fc.bias"),
                         feedForwardProjectionWeight: try load(p + "mlp.c_proj.weight"), feedForwardProjectionBias: try load(p + "mlp.c_proj.bias"))
        }
        finalNormGain = try load("ln_f.weight")
        finalNormBias = try load("ln_f.bias")
        languageModelHead = config.tiedEmbeddings ? tokenEmbedding : try load("lm_head.weight")
    }
}
