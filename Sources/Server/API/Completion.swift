/// The response of `POST /v1/completions`, and each chunk of a streamed one (`object` "text_completion" both ways,
/// as OpenAI sends them).
///
/// ```json
/// {"id": "cmpl-3", "object": "text_completion", "created": 1764646800, "model": "gpt2-q8",
///  "choices": [{"text": " to live", "index": 0, "finish_reason": "length", "logprobs": null}],
///  "usage": {"prompt_tokens": 6, "completion_tokens": 2, "total_tokens": 8}}
/// ```
public struct Completion: Codable, Sendable {
    public var id: String
    public var object = "text_completion"
    public var created: Int
    public var model: String
    public var choices: [Choice]
    /// Present on a whole response, and on the last chunk of a stream that asked for it (with no choices).
    public var usage: Usage?

    public struct Choice: Codable, Sendable {
        public var text: String
        public var index: Int
        /// "stop" (end of text or a stop string), "length" (max_tokens or the context), or null while streaming.
        public var finishReason: String?
        public var logprobs: Logprobs?

        enum CodingKeys: String, CodingKey {
            case text, index, logprobs
            case finishReason = "finish_reason"
        }

        public func encode(to encoder: any Encoder) throws {
            var json = encoder.container(keyedBy: CodingKeys.self)
            try json.encode(text, forKey: .text)
            try json.encode(index, forKey: .index)
            try json.encode(finishReason, forKey: .finishReason)   // null, not absent, as OpenAI sends it
            try json.encode(logprobs, forKey: .logprobs)
        }
    }

    /// Log-probabilities of each token under the model (log-softmax of its raw logits, before any sampling setting),
    /// with the most likely alternatives; the prompt's first token has none (`null`).
    public struct Logprobs: Codable, Sendable {
        public var tokens: [String] = []
        public var tokenLogprobs: [Float?] = []
        public var topLogprobs: [[String: Float]?] = []
        /// Offset of each token in the choice's text, in characters (Unicode scalars, as Python counts them).
        public var textOffset: [Int] = []

        enum CodingKeys: String, CodingKey {
            case tokens
            case tokenLogprobs = "token_logprobs"
            case topLogprobs = "top_logprobs"
            case textOffset = "text_offset"
        }

        mutating func append(_ other: Logprobs) {
            tokens += other.tokens
            tokenLogprobs += other.tokenLogprobs
            topLogprobs += other.topLogprobs
            textOffset += other.textOffset
        }
    }

    public struct Usage: Codable, Sendable, Equatable {
        public var promptTokens: Int
        public var completionTokens: Int
        public var totalTokens: Int { promptTokens + completionTokens }

        public init(promptTokens: Int, completionTokens: Int) {
            self.promptTokens = promptTokens
            self.completionTokens = completionTokens
        }

        enum CodingKeys: String, CodingKey {
            case promptTokens = "prompt_tokens"
            case completionTokens = "completion_tokens"
            case totalTokens = "total_tokens"
        }

        public init(from decoder: any Decoder) throws {
            let json = try decoder.container(keyedBy: CodingKeys.self)
            promptTokens = try json.decode(Int.self, forKey: .promptTokens)
            completionTokens = try json.decode(Int.self, forKey: .completionTokens)
        }

        public func encode(to encoder: any Encoder) throws {
            var json = encoder.container(keyedBy: CodingKeys.self)
            try json.encode(promptTokens, forKey: .promptTokens)
            try json.encode(completionTokens, forKey: .completionTokens)
            try json.encode(totalTokens, forKey: .totalTokens)
        }
    }

}
