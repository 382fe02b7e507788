import Checkpoint
import GPT2
/// What the loader, the converter and `gpt2-quant info` all need from a Hugging Face folder.
extension HFCheckpoint {
    /// The folder's config.json read as a GPT-2 config and checked against the tensors the folder holds
    /// (`GPT2Config.validate(againstTensors:)`), so no count from the file sizes anything before it is known
    /// to be true; a bad field is reported against the file.
    public func gpt2Config() throws -> GPT2Config {
        let config: GPT2Config
        do { config = try decodeConfig(GPT2Config.self) } catch let error as GPT2Config.Invalid {
            throw CheckpointError.invalidConfig(path: configURL.path, reason: error.description)
        }
        try checkCounts(of: config)
        return config
    }

    /// `config`'s counts against the folder's tensors, reported against config.json.
    func checkCounts(of config: GPT2Config) throws {
        var shapes: [String: [Int]] = [:]
        for name in tensorNames { shapes[name] = try info(name).info.shape }
        do { try config.validate(againstTensors: shapes) } catch let error as GPT2Config.TensorMismatch {
            throw CheckpointError.invalidConfig(path: configURL.path, reason: error.description)
        }
    }

    /// Checks that every tensor `config` needs is present with the right shape and a loadable dtype, in
    /// model order (so the first problem reported is the first in the model), before any is read; the
    /// config's counts are checked against the folder first, so a lying n_layer never sizes the list.
    /// Returns the tensors with their headers.
    @discardableResult
    public func validateTensors(for config: GPT2Config) throws -> [(name: String, file: SafetensorsFile, info: SafetensorsFile.TensorInfo)] {
        try checkCounts(of: config)
        return try GPT2Weights.expectedTensors(for: config).map { name, shape in
            let (file, info) = try info(name)
            if info.shape != shape { throw CheckpointError.wrongShape(name: name, path: file.path, expected: shape, actual: info.shape) }
            if !info.dtype.isLoadableWeight { throw CheckpointError.unsupportedDType(name: name, path: file.path, dtype: info.dtype.rawValue) }
            return (name, file, info)
        }
    }

    /// The task heads the folder holds (`score`, `classifier`, `qa_outputs`, `multiple_choice_head.summary`), each
    /// tensor checked for shape against `config` and for a loadable dtype. Returns them in `GPT2HeadKind` order.
    @discardableResult
    public func validateHeadTensors(for config: GPT2Config) throws -> [(name: String, file: SafetensorsFile, info: SafetensorsFile.TensorInfo)] {
        let kinds: [(kind: GPT2HeadKind, rows: Int)]
        do {
            kinds = try GPT2Weights.headShapes(config: config) { name in contains(name) ? try? info(name).info.shape : nil }
        } catch let error as GPT2HeadError {
            throw CheckpointError.invalidConfig(path: configURL.path, reason: error.description)
        }
        return try kinds.flatMap { kind, _ in
            try kind.tensorNames.map { name in
                let (file, info) = try info(name)
                if !info.dtype.isLoadableWeight { throw CheckpointError.unsupportedDType(name: name, path: file.path, dtype: info.dtype.rawValue) }
                return (name, file, info)
            }
        }
    }
}
