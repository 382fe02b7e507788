import Kernels

/// The weights of a GPT-2 model, by role. Each matrix is stored however its file gave it (float32 in
/// Conv1D layout from a checkpoint, int8/int4 groups from a .gqz file); vectors are always float32.
/// The token embedding is [vocab, C] and doubles as the LM head when tied.
public struct GPT2Weights: Sendable {
    public struct Layer: Sendable {
        public var norm1Gain, norm1Bias: FloatBuffer
        public var attentionWeight: WeightMatrix                 // C → 3C
        public var attentionBias: FloatBuffer
        public var attentionProjectionWeight: WeightMatrix       // C → C
        public var attentionProjectionBias: FloatBuffer
        public var norm2Gain, norm2Bias: FloatBuffer
        public var feedForwardWeight: WeightMatrix               // C → inner
        public var feedForwardBias: FloatBuffer
        public var feedForwardProjectionWeight: WeightMatrix     // inner → C
        public var feedForwardProjectionBias: FloatBuffer
    }

    /// Supplies the blocks one at a time when they are not all resident (layer streaming); nil when `layers`
    /// holds them all.
    public var streamer: (any LayerStreamer)?

    /// Block `index`: from `layers`, or loaded on demand by the streamer.
    public func layer(_ index: Int) throws -> Layer {
        if let streamer { return try streamer.layer(index) }
        return layers[index]
    }

    public var tokenEmbedding: VocabularyMatrix     // [vocab, C]: rows are entries
    public var positionEmbedding: FloatBuffer   // [n_positions, C]
    public var layers: [Layer]
    public var finalNormGain, finalNormBias: FloatBuffer
    /// C → vocab; the token embedding itself when tied; nil for a model without one (a classifier, a bare GPT2Model).
    public var languageModelHead: VocabularyMatrix?
    /// The task heads the model's file carries (`GPT2HeadKind`), each float32.
    public var heads: [GPT2HeadKind: GPT2Head] = [:]

    /// The `kind` head, or an error naming the model's architectures.
    public func head(_ kind: GPT2HeadKind, config: GPT2Config) throws -> GPT2Head {
        guard let head = heads[kind] else { throw GPT2HeadError.missing(kind, config: config) }
        return head
    }

    /// Bytes of weights a forward pass reads for one token: every matrix once (the float32 vectors, under 1%, are left out).
    public var bytesPerToken: Int {
        if let streamer { return streamer.matrixBytesPerToken + (languageModelHead?.byteCount ?? 0) }
        return residentMatrices.reduce(0) { $0 + $1.byteCount }
    }

    /// Every matrix a forward pass reads once per token, when all are resident (empty with a layer streamer).
    public var residentMatrices: [WeightMatrix] {
        guard streamer == nil else { return [] }
        return layers.flatMap { [$0.attentionWeight, $0.attentionProjectionWeight, $0.feedForwardWeight, $0.feedForwardProjectionWeight] }
            + (languageModelHead?.resident.map { [$0] } ?? [])
    }

    /// Whether a name (canonical, as in `expectedTensors`) is a matrix of a linear layer in Conv1D terms,
    /// i.e. stored `[in, out]` by Hugging Face checkpoints.
    public static func isConv1DMatrix(_ name: String) -> Bool {
        name.hasSuffix("c_attn.weight") || name.hasSuffix("c_proj.weight") || name.hasSuffix("c_fc.weight")
    }

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
        if config.task.hasLanguageModelHead && !config.tiedEmbeddings { list.append(("lm_head.weight", [config.vocabularySize, c])) }
        return list
    }

    /// Binds weights by name: `matrix(name, inFeatures, outFeatures)` and `vector(name)` return tensors
    /// already checked against their expected shapes. With a `streamer`, the blocks are left to it. `shape(name)` gives
    /// the shape of a tensor the source holds (nil when absent): the task heads present are bound too. `rowFrames(name)`
    /// streams a vocabulary matrix (wte, lm_head) a frame at a time instead of binding it resident, when it returns one.
    public init(config: GPT2Config, matrix: (String, Int, Int) throws -> WeightMatrix, vector: (String) throws -> FloatBuffer,
                streamer: (any LayerStreamer)? = nil, shape: (String) -> [Int]? = { _ in nil },
                rowFrames: (String) throws -> (any RowFrameStreamer)? = { _ in nil }) throws {
        func vocabularyMatrix(_ name: String) throws -> VocabularyMatrix {
            if let frames = try rowFrames(name) { return .streamed(frames) }
            return .resident(try matrix(name, config.embeddingWidth, config.vocabularySize))
        }
        tokenEmbedding = try vocabularyMatrix("wte.weight")
        positionEmbedding = try vector("wpe.weight")
        self.streamer = streamer
        layers = streamer != nil ? [] : try (0..<config.layerCount).map { i in
            try Self.layer(i, config: config, matrix: matrix, vector: vector)
        }
        finalNormGain = try vector("ln_f.weight")
        finalNormBias = try vector("ln_f.bias")
        if !config.task.hasLanguageModelHead {
            languageModelHead = nil
        } else {
            languageModelHead = config.tiedEmbeddings ? tokenEmbedding : try vocabularyMatrix("lm_head.weight")
        }
        for (kind, rows) in try Self.headShapes(config: config, shape: shape) {
            heads[kind] = GPT2Head(kind: kind, weight: try matrix(kind.weightName, config.embeddingWidth, rows),
                                   bias: try kind.biasName.map { try vector($0) })
        }
    }

    /// The task heads a source holds, with their rows, each checked: weight [rows, C], bias [rows], the rows the
    /// config implies (its labels; 2 for question answering, 1 for multiple choice). `shape(name)` is nil when absent.
    public static func headShapes(config: GPT2Config, shape: (String) -> [Int]?) throws -> [(kind: GPT2HeadKind, rows: Int)] {
        let c = config.embeddingWidth
        return try GPT2HeadKind.allCases.compactMap { kind in
            guard let weight = shape(kind.weightName) else {
                if let bias = kind.biasName, shape(bias) != nil { throw GPT2HeadError("\(bias) is there but \(kind.weightName) is not") }
                return nil
            }
            guard weight.count == 2, weight[1] == c, weight[0] >= 1 else {
                throw GPT2HeadError("\(kind.weightName) has shape \(weight), expected [outputs, \(c)] (n_embd \(c))")
            }
            let rows = weight[0]
            if let required = kind.requiredRows(for: config), required != rows {
                let why = config.task.labels != nil && required == config.task.labels?.count ? "id2label names \(required) labels" : "the head has \(required)"
                throw GPT2HeadError("\(kind.weightName) has \(rows) rows but \(why)")
            }
            if let bias = kind.biasName {
                guard let biasShape = shape(bias) else { throw GPT2HeadError("\(kind.weightName) is there but \(bias) is not") }
                guard biasShape == [rows] else { throw GPT2HeadError("\(bias) has shape \(biasShape), expected [\(rows)]") }
            }
            return (kind, rows)
        }
    }

    /// Block `i` bound by name, as `init` does it.
    public static func layer(_ i: Int, config: GPT2Config, matrix: (String, Int, Int) throws -> WeightMatrix,
                             vector: (String) throws -> FloatBuffer) throws -> Layer {
        let c = config.embeddingWidth, inner = config.innerWidth
        let p = "h.\(i)."
        return Layer(norm1Gain: try vector(p + "ln_1.weight"), norm1Bias: try vector(p + "ln_1.bias"),
                         attentionWeight: try matrix(p + "attn.c_attn.weight", c, 3 * c), attentionBias: try vector(p + "attn.c_attn.bias"),
                         attentionProjectionWeight: try matrix(p + "attn.c_proj.weight", c, c), attentionProjectionBias: try vector(p + "attn.c_proj.bias"),
                         norm2Gain: try vector(p + "ln_2.weight"), norm2Bias: try vector(p + "ln_2.bias"),
                         feedForwardWeight: try matrix(p + "mlp.c_fc.weight", c, inner), feedForwardBias: try vector(p + "mlp.c_fc.bias"),
                         feedForwardProjectionWeight: try matrix(p + "mlp.c_proj.weight", inner, c),
                         feedForwardProjectionBias: try vector(p + "mlp.c_proj.bias"))
    }
}

/// Loads transformer blocks on demand, for models whose blocks do not all fit in memory: `layer(i)` returns
/// block i, ready to use until another block is asked for.
public protocol LayerStreamer: AnyObject, Sendable {
    func layer(_ index: Int) throws -> GPT2Weights.Layer
    /// Bytes of the four matrices of every block together (what a token reads).
    var matrixBytesPerToken: Int { get }
}
