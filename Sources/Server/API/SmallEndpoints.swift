/// `POST /tokenize`, as llama-server takes it: `{"content": "text", "with_pieces": false}`.
struct TokenizeRequest: Decodable {
    var content: String
    var withPieces: Bool?
    /// Accepted for llama-server's clients; GPT-2 adds no special tokens.
    var addSpecial: Bool?
    enum CodingKeys: String, CodingKey {
        case content
        case withPieces = "with_pieces"
        case addSpecial = "add_special"
    }
}

/// `{"tokens": [15496, 995]}`, or with pieces `{"tokens": [{"id": 15496, "piece": "Hello"}, …]}`.
struct TokenizeResponse: Encodable {
    enum Token: Encodable {
        case id(Int)
        case piece(id: Int, piece: String)
        func encode(to encoder: any Encoder) throws {
            switch self {
            case .id(let id):
                var value = encoder.singleValueContainer()
                try value.encode(id)
            case .piece(let id, let piece):
                var json = encoder.container(keyedBy: CodingKeys.self)
                try json.encode(id, forKey: .id)
                try json.encode(piece, forKey: .piece)
            }
        }
        enum CodingKeys: String, CodingKey { case id, piece }
    }
    var tokens: [Token]
}

/// `POST /detokenize`: `{"tokens": [15496, 995]}` → `{"content": "Hello world"}`.
struct DetokenizeRequest: Decodable { var tokens: [Int] }
struct DetokenizeResponse: Encodable { var content: String }

/// `GET /v1/models`: the one model this server runs, in OpenAI's list shape.
struct ModelList: Encodable {
    struct Model: Encodable {
        var id: String
        var object = "model"
        var created: Int
        var ownedBy = "gpt2-edge"
        var meta: Meta
        enum CodingKeys: String, CodingKey {
            case id, object, created, meta
            case ownedBy = "owned_by"
        }
    }
    struct Meta: Encodable {
        var contextLength: Int
        var vocabularySize: Int
        var layers: Int
        var embeddingWidth: Int
        var parallel: Int
        enum CodingKeys: String, CodingKey {
            case layers, parallel
            case contextLength = "n_ctx"
            case vocabularySize = "n_vocab"
            case embeddingWidth = "n_embd"
        }
    }
    var object = "list"
    var data: [Model]
}

/// `GET /health`.
struct HealthResponse: Encodable { var status: String }
