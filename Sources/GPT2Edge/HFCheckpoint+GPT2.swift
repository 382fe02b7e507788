/// What the loader, the converter and `gpt2-quant info` all need from a Hugging Face folder.
extension HFCheckpoint {
    /// The folder's config.json read as a GPT-2 config; a bad field is reported against the file.
    public func gpt2Config() throws -> GPT2Config {
        do { return try GPT2Config(huggingFace: config) } catch let error as GPT2Config.Invalid {
            throw CheckpointError.invalidConfig(path: configURL.path, reason: error.description)
        }
    }

    /// Checks that every tensor `config` needs is present with the right shape and a loadable dtype, in
    /// model order (so the first problem reported is the first in the model), before any is read.
    /// Returns the tensors with their headers.
    @discardableResult
    public func validateTensors(for config: GPT2Config) throws -> [(name: String, file: SafetensorsFile, info: SafetensorsFile.TensorInfo)] {
        try GPT2Weights.expectedTensors(for: config).map { name, shape in
            let (file, info) = try info(name)
            if info.shape != shape { throw CheckpointError.wrongShape(name: name, path: file.path, expected: shape, actual: info.shape) }
            if !info.dtype.isLoadableWeight { throw CheckpointError.unsupportedDType(name: name, path: file.path, dtype: info.dtype.rawValue) }
            return (name, file, info)
        }
    }
}
