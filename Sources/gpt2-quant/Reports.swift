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
