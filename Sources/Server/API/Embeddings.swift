import Foundation

/// `POST /v1/embeddings` as OpenAI takes it: `{"model": "gpt2", "input": "text" | ["a", "b"] | [ids] | [[ids]],
/// "encoding_format": "float" | "base64", "dimensions": n, "user": "…"}`, plus two fields of ours: `pooling`
/// ("mean", the default, or "last") and `normalize` (default true: unit-length vectors, as OpenAI's are).
public struct EmbeddingRequest: Decodable, Sendable {
    public var model: String?
    public var input: CompletionRequest.Prompt
    public var encodingFormat: String?
    public var dimensions: Int?
    public var user: String?
    public var pooling: String?
    public var normalize: Bool?

    enum CodingKeys: String, CodingKey {
        case model, input, dimensions, user, pooling, normalize
        case encodingFormat = "encoding_format"
    }
}

/// OpenAI's response: `{"object": "list", "data": [{"object": "embedding", "index": 0, "embedding": [...]}], "model",
/// "usage": {"prompt_tokens", "total_tokens"}}`; with `encoding_format: "base64"` each embedding is the base64 of its
/// little-endian float32 values (what the openai Python client asks for by default and decodes).
public struct EmbeddingResponse: Encodable, Sendable {
    public struct Item: Encodable, Sendable {
        public var object = "embedding"
        public var index: Int
        public var embedding: Vector
    }
    public enum Vector: Encodable, Sendable {
        case floats([Float])
        case base64(String)
        public func encode(to encoder: any Encoder) throws {
            var value = encoder.singleValueContainer()
            switch self {
            case .floats(let floats): try value.encode(floats)
            case .base64(let text): try value.encode(text)
            }
        }

        /// `values` as OpenAI's base64 form: little-endian float32 bytes.
        static func base64(of values: [Float]) -> Vector {
            var bytes: [UInt8] = []
            bytes.reserveCapacity(values.count * 4)
            for value in values { withUnsafeBytes(of: value.bitPattern.littleEndian) { bytes += $0 } }
            return .base64(Data(bytes).base64EncodedString())
        }
    }
    public struct Usage: Encodable, Sendable {
        public var promptTokens: Int
        public var totalTokens: Int
        enum CodingKeys: String, CodingKey {
            case promptTokens = "prompt_tokens"
            case totalTokens = "total_tokens"
        }
    }
    public var object = "list"
    public var data: [Item]
    public var model: String
    public var usage: Usage
}
