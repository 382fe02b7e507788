import Foundation

/// Reading the JSON files of a checkpoint folder (config.json, generation_config.json, the shard index) as
/// `Decodable` types, with errors that name the file.
enum CheckpointJSON {
    /// Why a JSON file's content is not what its type needs, thrown by a type's `init(from:)`; reported as
    /// `CheckpointError.invalidConfig` naming the file.
    struct Invalid: Error {
        let reason: String
    }

    /// The JSON file at `url` decoded as `type`. A missing or unreadable file, text that is not a JSON object, and an
    /// `Invalid` reason are `CheckpointError`s naming the file; other errors `type` throws come out unchanged.
    static func decode<Value: Decodable>(_ type: Value.Type, from url: URL, hint: String) throws -> Value {
        guard FileManager.default.fileExists(atPath: url.path) else { throw CheckpointError.missingFile(path: url.path, hint: hint) }
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw CheckpointError.unreadableFile(path: url.path, reason: error.localizedDescription)
        }
        return try decode(type, from: data, path: url.path)
    }

    /// `data`, the content of the file at `path`, decoded as `type`; errors as `decode(_:from:hint:)`.
    static func decode<Value: Decodable>(_ type: Value.Type, from data: Data, path: String) throws -> Value {
        do { return try JSONDecoder().decode(type, from: data) } catch let invalid as Invalid {
            throw CheckpointError.invalidConfig(path: path, reason: invalid.reason)
        } catch is DecodingError {
            throw CheckpointError.invalidConfig(path: path, reason: "not a JSON object")
        }
    }
}
