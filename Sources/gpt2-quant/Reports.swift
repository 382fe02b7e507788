import CLISupport
import GPT2Edge

// The JSON objects gpt2-quant prints (`jsonText`), one type per object. The keys are a contract: README and
// Tests/CLITests read them. An optional is left out when nil.

/// `inspect --json`: the file, its metadata as written, and every index entry.
struct InspectReport: Encodable {
    var path: String
    var fileBytes: Int
    var version: Int
    /// The index's metadata as the file holds it, keys the reader does not know included.
    var metadata: JSONValue
    var tokenizerBytes: Int
    var tensors: [Tensor]

    enum CodingKeys: String, CodingKey {
        case path, version, metadata, tensors
        case fileBytes = "file_bytes"
        case tokenizerBytes = "tokenizer_bytes"
    }

    /// An index entry, with its compression ratio.
    struct Tensor: Encodable {
        var entry: GQZEntry

        enum CodingKeys: String, CodingKey {
            case compressionRatio = "compression_ratio"
        }

        /// The entry's keys as the index spells them, and `compression_ratio`.
        func encode(to encoder: any Encoder) throws {
            try entry.encode(to: encoder)
            var json = encoder.container(keyedBy: CodingKeys.self)
            try json.encode(entry.compressionRatio, forKey: .compressionRatio)
        }
    }
}

/// `info --json`: a Hugging Face folder's counts, parameters, and tensors in model order.
struct InfoReport: Encodable {
    var config: GPT2Config
    var parameters: Int
    var tensors: [Tensor]

    enum CodingKeys: String, CodingKey {
        case parameters, tensors
        case layerCount = "n_layer"
        case headCount = "n_head"
        case embeddingWidth = "n_embd"
        case contextLength = "n_positions"
        case vocabularySize = "vocab_size"
        case innerWidth = "n_inner"
        case activation = "activation_function"
    }

    func encode(to encoder: any Encoder) throws {
        var json = encoder.container(keyedBy: CodingKeys.self)
        try json.encode(config.layerCount, forKey: .layerCount)
        try json.encode(config.headCount, forKey: .headCount)
        try json.encode(config.embeddingWidth, forKey: .embeddingWidth)
        try json.encode(config.contextLength, forKey: .contextLength)
        try json.encode(config.vocabularySize, forKey: .vocabularySize)
        try json.encode(config.innerWidth, forKey: .innerWidth)
        try json.encode(config.activation.rawValue, forKey: .activation)
        try json.encode(parameters, forKey: .parameters)
        try json.encode(tensors, forKey: .tensors)
    }

    /// A tensor: its canonical name, shape, dtype and the file that holds it.
    struct Tensor: Encodable {
        var name: String
        var shape: [Int]
        var dtype: String
        var file: String
    }
}

/// `eval --json`: perplexity over the text, and with `--ref` the distance from the reference.
struct EvalReport: Encodable {
    var model: String
    /// The text file.
    var text: String
    var tokens: Int
    var scoredTokens: Int
    var windows: Int
    var perplexity: Double
    var contextLength: Int
    var stride: Int
    var seconds: Double
    var reference: String?
    var referencePerplexity: Double?
    var perplexityChange: Double?
    var meanKL: Double?
    var maxKL: Double?
    var top1Agreement: Double?
    var top5Overlap: Double?
    var maxLogitError: Double?

    enum CodingKeys: String, CodingKey {
        case model, text, tokens, windows, perplexity, stride, seconds, reference
        case scoredTokens = "scored_tokens"
        case contextLength = "ctx"
        case referencePerplexity = "reference_perplexity"
        case perplexityChange = "perplexity_change"
        case meanKL = "mean_kl"
        case maxKL = "max_kl"
        case top1Agreement = "top1_agreement"
        case top5Overlap = "top5_overlap"
        case maxLogitError = "max_logit_error"
    }
}
