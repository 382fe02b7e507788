import Checkpoint
import GPT2

/// The `metadata` object gpt2-quant writes into a `.gqz` index (formats/GQZ.md §4, "Metadata written by
/// gpt2-quant"): the model, how it was quantized, and by what.
///
/// ```swift
/// try writer.finish(metadata: GPT2FileMetadata(model: .init(config: config, generation: tokens), quantization: ..., converter: ...))
/// let config = try file.gpt2Config()   // reads metadata.model.config back, checked against the tensors
/// ```
///
/// Readers need only `model.architecture` and `model.config` (`GQZFile.gpt2Config()`); the rest is informational,
/// since each entry's own scheme is what a reader uses.
public struct GPT2FileMetadata: Codable, Sendable, Equatable {
    public var model: Model
    public var quantization: Quantization
    public var converter: Converter

    public init(model: Model, quantization: Quantization, converter: Converter) {
        self.model = model
        self.quantization = quantization
        self.converter = converter
    }

    /// `metadata.model`: what the tensors are.
    public struct Model: Codable, Sendable, Equatable {
        /// "gpt2".
        public var architecture: String
        /// The fields that change the math, spelled as in a Hugging Face `config.json`.
        public var config: GPT2Config
        /// The source's special token ids (generation_config.json's, else config.json's).
        public var generation: SpecialTokenIDs

        public init(architecture: String = "gpt2", config: GPT2Config, generation: SpecialTokenIDs) {
            self.architecture = architecture
            self.config = config
            self.generation = generation
        }
    }

    /// `metadata.quantization`: the converter's settings.
    public struct Quantization: Codable, Sendable, Equatable {
        /// 8 or 4: the linear layers' weights.
        public var bits: Int
        /// 8, 4 or 32: the token embedding (and LM head).
        public var embeddingBits: Int
        public var groupSize: Int
        /// "weighted-least-squares" or "absmax".
        public var scaleSearch: String
        /// "f32".
        public var positionEmbedding: String
        /// "f32": biases and layer norms.
        public var vectors: String
        /// A description of the activation-aware channel scaling, or "none".
        public var channelScaling: String

        enum CodingKeys: String, CodingKey {
            case bits, vectors
            case embeddingBits = "embedding_bits"
            case groupSize = "group_size"
            case scaleSearch = "scale_search"
            case positionEmbedding = "position_embedding"
            case channelScaling = "channel_scaling"
        }

        public init(bits: Int, embeddingBits: Int, groupSize: Int, scaleSearch: String, positionEmbedding: String = "f32",
                    vectors: String = "f32", channelScaling: String) {
            self.bits = bits
            self.embeddingBits = embeddingBits
            self.groupSize = groupSize
            self.scaleSearch = scaleSearch
            self.positionEmbedding = positionEmbedding
            self.vectors = vectors
            self.channelScaling = channelScaling
        }
    }

    /// `metadata.converter`: the program and its input.
    public struct Converter: Codable, Sendable, Equatable {
        /// "gpt2-quant".
        public var program: String
        /// The source folder's name.
        public var source: String
        public var zstdLevel: Int

        enum CodingKeys: String, CodingKey {
            case program, source
            case zstdLevel = "zstd_level"
        }

        public init(program: String = "gpt2-quant", source: String, zstdLevel: Int) {
            self.program = program
            self.source = source
            self.zstdLevel = zstdLevel
        }
    }
}
