import Foundation

/// A Hugging Face GPT-2 checkpoint folder: `config.json`, `model.safetensors` (or shards listed in
/// `model.safetensors.index.json`), and the tokenizer files.
///
/// Tensor names are canonical: the optional `transformer.` prefix is stripped, and the causal-mask
/// buffers old checkpoints carry (`h.N.attn.bias`, `h.N.attn.masked_bias`) are dropped.
// @unchecked: every stored property is a `let` set at init ([String: Any] config values are never mutated).
public final class HFCheckpoint: @unchecked Sendable {
    public let folder: URL
    public let configURL: URL
    /// `config.json` as read, known to be a JSON object but not interpreted (the model module owns what the fields
    /// mean): `decodeConfig` reads it as a type.
    public let configData: Data
    /// The special token ids of `generation_config.json` when the folder has one, else (id by id) of `config.json`.
    public let specialTokens: SpecialTokenIDs
    /// The safetensors files, in the order the index lists them.
    public let files: [SafetensorsFile]
    private let locations: [String: (file: SafetensorsFile, name: String)]

    public var vocabularyURL: URL { folder.appendingPathComponent("vocab.json") }
    public var mergesURL: URL { folder.appendingPathComponent("merges.txt") }

    public init(folder: URL) throws {
        self.folder = folder
        let manager = FileManager.default
        var isDirectory: ObjCBool = false
        guard manager.fileExists(atPath: folder.path, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw CheckpointError.missingFile(path: folder.path, hint: "expected a folder with config.json and model.safetensors")
        }
        configURL = folder.appendingPathComponent("config.json")
        guard manager.fileExists(atPath: configURL.path) else {
            throw CheckpointError.missingFile(path: configURL.path, hint: "every Hugging Face model folder has one")
        }
        do { configData = try Data(contentsOf: configURL) } catch {
            throw CheckpointError.unreadableFile(path: configURL.path, reason: error.localizedDescription)
        }
        let configTokens = try CheckpointJSON.decode(SpecialTokenIDs.self, from: configData, path: configURL.path)   // an object
        let generationURL = folder.appendingPathComponent("generation_config.json")
        specialTokens = manager.fileExists(atPath: generationURL.path)
            ? try CheckpointJSON.decode(SpecialTokenIDs.self, from: generationURL, hint: "").filling(from: configTokens) : configTokens

        let single = folder.appendingPathComponent("model.safetensors")
        let index = folder.appendingPathComponent(SafetensorsIndex.fileName)
        var files: [SafetensorsFile] = []
        var shardForTensor: [String: String]? = nil
        if manager.fileExists(atPath: single.path) {
            files = [try SafetensorsFile(path: single.path)]
        } else if manager.fileExists(atPath: index.path) {
            let shards = try SafetensorsIndex(contentsOf: index)
            for shard in shards.shardNames {
                guard !shard.contains("/") else {
                    throw CheckpointError.invalidConfig(path: index.path, reason: "shard name \(shard) must be a file in the same folder")
                }
                files.append(try SafetensorsFile(path: folder.appendingPathComponent(shard).path))
            }
            shardForTensor = shards.weightMap
        } else if manager.fileExists(atPath: folder.appendingPathComponent("pytorch_model.bin").path) {
            throw CheckpointError.onlyPickleWeights(folder: folder.path)
        } else {
            throw CheckpointError.missingFile(path: single.path, hint: "no model.safetensors or model.safetensors.index.json in the folder")
        }
        self.files = files

        var locations: [String: (file: SafetensorsFile, name: String)] = [:]
        for file in files {
            for name in file.tensors.keys {
                if let shardForTensor, let shard = shardForTensor[name], shard != (file.path as NSString).lastPathComponent { continue }
                guard let canonical = Self.canonicalName(name) else { continue }
                if let existing = locations[canonical] {
                    throw CheckpointError.invalidSafetensors(path: file.path, reason: "tensor \(canonical) appears twice (as \(existing.name) and \(name))")
                }
                locations[canonical] = (file, name)
            }
        }
        if let shardForTensor {
            for (name, shard) in shardForTensor where Self.canonicalName(name) != nil && locations[Self.canonicalName(name)!] == nil {
                throw CheckpointError.missingTensor(name: name, path: folder.appendingPathComponent(shard).path)
            }
        }
        self.locations = locations
    }

    /// `config.json` read as `type`. A `DecodingError` is reported against the file (`CheckpointError.invalidConfig`);
    /// errors `type` throws itself (`GPT2Config.Invalid`) come out unchanged.
    public func decodeConfig<Value: Decodable>(_ type: Value.Type) throws -> Value {
        try CheckpointJSON.decode(type, from: configData, path: configURL.path)
    }

    /// Canonical tensor names present, sorted.
    public var tensorNames: [String] { locations.keys.sorted() }

    /// Header information for a canonical tensor name, with the file that holds it.
    public func info(_ name: String) throws -> (file: SafetensorsFile, info: SafetensorsFile.TensorInfo) {
        guard let location = locations[name] else {
            throw CheckpointError.missingTensor(name: name, path: files.count == 1 ? files[0].path : folder.path)
        }
        return (location.file, try location.file.info(location.name))
    }

    /// Whether the checkpoint has a tensor (canonical name).
    public func contains(_ name: String) -> Bool { locations[name] != nil }

    /// Strips `transformer.` and drops buffers that are not weights; nil for names to ignore.
    static func canonicalName(_ name: String) -> String? {
        let stripped = name.hasPrefix("transformer.") ? String(name.dropFirst("transformer.".count)) : name
        if stripped.hasSuffix(".attn.bias") || stripped.hasSuffix(".attn.masked_bias") || stripped.hasSuffix(".crossattention.bias") {
            return nil
        }
        return stripped
    }
}
