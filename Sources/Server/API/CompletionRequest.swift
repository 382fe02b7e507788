/// The body of `POST /v1/completions`: OpenAI's legacy completions request, plus the sampling extras people know
/// from Hugging Face and llama.cpp (`top_k`, `min_p`, `typical_p`, `repetition_penalty`, `no_repeat_ngram_size`,
/// `ignore_eos`). Unknown fields are ignored, as OpenAI and llama-server ignore them; known fields of the wrong type
/// are a 400 that names them.
///
/// ```json
/// {"model": "gpt2", "prompt": "The meaning of life is", "max_tokens": 32, "temperature": 0.8, "seed": 1, "stream": true}
/// ```
public struct CompletionRequest: Decodable, Sendable {
    public var model: String?
    public var prompt: Prompt?
    public var maxTokens: Int?
    public var temperature: Double?
    public var topP: Double?
    public var n: Int?
    public var stream: Bool?
    public var streamOptions: StreamOptions?
    public var logprobs: Int?
    public var echo: Bool?
    public var stop: Stop?
    public var presencePenalty: Double?
    public var frequencyPenalty: Double?
    public var logitBias: [String: Double]?
    public var seed: Int64?
    public var bestOf: Int?
    public var user: String?
    public var suffix: String?
    public var topK: Int?
    public var minP: Double?
    public var typicalP: Double?
    public var repetitionPenalty: Double?
    public var noRepeatNgramSize: Int?
    public var ignoreEos: Bool?

    public struct StreamOptions: Decodable, Sendable {
        public var includeUsage: Bool?
        enum CodingKeys: String, CodingKey { case includeUsage = "include_usage" }
    }

    enum CodingKeys: String, CodingKey {
        case model, prompt, temperature, n, stream, logprobs, echo, stop, seed, user, suffix
        case maxTokens = "max_tokens"
        case topP = "top_p"
        case streamOptions = "stream_options"
        case presencePenalty = "presence_penalty"
        case frequencyPenalty = "frequency_penalty"
        case logitBias = "logit_bias"
        case bestOf = "best_of"
        case topK = "top_k"
        case minP = "min_p"
        case typicalP = "typical_p"
        case repetitionPenalty = "repetition_penalty"
        case noRepeatNgramSize = "no_repeat_ngram_size"
        case ignoreEos = "ignore_eos"
    }

    /// What `prompt` may be: a string, a list of strings, a list of token ids, or a list of token-id lists. Each
    /// string or id list is one prompt of the batch.
    public enum Prompt: Decodable, Sendable, Equatable {
        case text(String)
        case texts([String])
        case tokens([Int])
        case tokenLists([[Int]])

        public init(from decoder: any Decoder) throws {
            let value = try decoder.singleValueContainer()
            if let text = try? value.decode(String.self) { self = .text(text); return }
            if let texts = try? value.decode([String].self) { self = .texts(texts); return }
            if let tokens = try? value.decode([Int].self) { self = .tokens(tokens); return }
            if let lists = try? value.decode([[Int]].self) { self = .tokenLists(lists); return }
            throw DecodingError.dataCorruptedError(
                in: value, debugDescription: "expected a string, a list of strings, a list of token ids or a list of token-id lists")
        }
    }

    /// `stop`: one string or a list of up to 4.
    public enum Stop: Decodable, Sendable, Equatable {
        case one(String)
        case many([String])

        public init(from decoder: any Decoder) throws {
            let value = try decoder.singleValueContainer()
            if value.decodeNil() { self = .many([]); return }
            if let one = try? value.decode(String.self) { self = .one(one); return }
            if let many = try? value.decode([String].self) { self = .many(many); return }
            throw DecodingError.dataCorruptedError(in: value, debugDescription: "expected a string or a list of strings")
        }

        var strings: [String] {
            switch self {
            case .one(let text): return [text]
            case .many(let texts): return texts
            }
        }
    }
}
