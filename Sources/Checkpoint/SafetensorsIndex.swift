import Foundation

/// `model.safetensors.index.json`, the index of a sharded checkpoint: which shard file holds each tensor.
///
/// ```swift
/// let index = try SafetensorsIndex(contentsOf: folder.appendingPathComponent(SafetensorsIndex.fileName))
/// for shard in index.shardNames { ... }   // "model-00001-of-00002.safetensors", ...
/// ```
public struct SafetensorsIndex: Codable, Sendable, Equatable {
    /// The file's name in a checkpoint folder.
    public static let fileName = "model.safetensors.index.json"

    /// Tensor name as the shards spell it (`transformer.h.0.attn.c_attn.weight`) → shard file name.
    public var weightMap: [String: String]

    enum CodingKeys: String, CodingKey {
        case weightMap = "weight_map"
    }

    /// The shard files, each once, sorted. Callers check the names before opening them (one could say `../x`).
    public var shardNames: [String] { Set(weightMap.values).sorted() }

    public init(weightMap: [String: String]) {
        self.weightMap = weightMap
    }

    /// Reads `url`, refusing a file that is not a JSON object or has no non-empty `weight_map` of tensor → shard
    /// file; errors are `CheckpointError`s naming the file.
    public init(contentsOf url: URL) throws {
        self = try CheckpointJSON.decode(Self.self, from: url, hint: "")
    }

    public init(from decoder: any Decoder) throws {
        let json = try decoder.container(keyedBy: CodingKeys.self)
        guard let map = try? json.decode([String: String].self, forKey: .weightMap), !map.isEmpty else {
            throw CheckpointJSON.Invalid(reason: "no weight_map object of tensor → shard file")
        }
        weightMap = map
    }
}
