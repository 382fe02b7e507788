import GPT2
import GQZ
/// What the loader, the memory plan and the GPU path need from a `.gqz` file.
extension GQZFile {
    /// The GPT-2 config in the file's metadata (`model.config`), checked against the tensors the file holds
    /// (`GPT2Config.validate(againstTensors:)`) before any count sizes anything; problems name the file.
    public func gpt2Config() throws -> GPT2Config {
        // Only what the math needs is read (GPT2FileMetadata.Model's architecture and config): the rest is informational.
        guard metadata["model"]?["architecture"] == "gpt2", let json = metadata["model"]?["config"], case .object = json else {
            throw GQZError.corruptIndex(path: path, reason: "metadata.model does not describe a gpt2 model")
        }
        let config: GPT2Config
        do { config = try json.decode(GPT2Config.self) } catch let error as GPT2Config.Invalid {
            throw GQZError.corruptIndex(path: path, reason: "metadata.model.\(error.description)")
        }
        var shapes: [String: [Int]] = [:]
        for entry in entries where !entry.name.hasPrefix("tokenizer/") { shapes[entry.name] = entry.shape }
        do { try config.validate(againstTensors: shapes) } catch let error as GPT2Config.TensorMismatch {
            throw GQZError.corruptIndex(path: path, reason: "metadata.model.config: \(error.description)")
        }
        return config
    }
}
