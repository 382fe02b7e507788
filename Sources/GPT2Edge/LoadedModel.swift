import Foundation
@_exported import Checkpoint
@_exported import GPT2
@_exported import Generation
@_exported import Kernels
@_exported import Tokenizer

/// A model ready to generate: the network, its tokenizer, and the generation defaults its files carry.
///
/// ```swift
/// let model = try LoadedModel.load(path: "models/gpt2", threads: 2)
/// let ids = model.tokenizer.encode("Hello")
/// ```
public final class LoadedModel: @unchecked Sendable {
    public let network: GPT2Model
    public let tokenizer: GPT2Tokenizer
    /// Where the model came from, for messages.
    public let source: String
    /// Seconds spent loading.
    public let loadSeconds: Double

    public var config: GPT2Config { network.config }

    init(network: GPT2Model, tokenizer: GPT2Tokenizer, source: String, loadSeconds: Double) {
        self.network = network
        self.tokenizer = tokenizer
        self.source = source
        self.loadSeconds = loadSeconds
    }

    /// Why a model could not be loaded.
    public enum LoadError: Error, CustomStringConvertible, Equatable {
        case notFound(String)
        case notYetSupported(String)

        public var description: String {
            switch self {
            case .notFound(let path): return "model not found: \(path) (pass a Hugging Face GPT-2 folder with -m)"
            case .notYetSupported(let what): return what
            }
        }
    }

    /// Loads a Hugging Face GPT-2 folder (config.json, model.safetensors, vocab.json, merges.txt).
    public static func load(path: String, threads: Int) throws -> LoadedModel {
        let start = Date()
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else { throw LoadError.notFound(path) }
        if !isDirectory.boolValue {
            if path.hasSuffix(".gqz") {
                throw LoadError.notYetSupported("\(path): .gqz files are not readable yet; the quantized format and its reader are "
                    + "being built (gpt2-quant convert). For now pass a Hugging Face GPT-2 folder with -m.")
            }
            throw LoadError.notFound("\(path) is a file; expected a Hugging Face GPT-2 folder")
        }
        let checkpoint = try HFCheckpoint(folder: URL(fileURLWithPath: path))
        let config: GPT2Config
        do { config = try GPT2Config(huggingFace: checkpoint.config) } catch let error as GPT2Config.Invalid {
            throw CheckpointError.invalidConfig(path: checkpoint.configURL.path, reason: error.description)
        }
        let tokenizer = try GPT2Tokenizer(vocabulary: checkpoint.vocabularyURL, merges: checkpoint.mergesURL)
        let weights = try loadWeights(checkpoint, config: config)
        let network = GPT2Model(config: config, weights: weights, threads: threads)
        return LoadedModel(network: network, tokenizer: tokenizer, source: path, loadSeconds: Date().timeIntervalSince(start))
    }

    /// Binds every tensor the config needs, checking its shape first. Aligned F32 tensors are used in
    /// place from the mapped file (no copy, pages loaded on first use); F16/BF16 are widened to F32.
    static func loadWeights(_ checkpoint: HFCheckpoint, config: GPT2Config) throws -> GPT2Weights {
        for (name, shape) in GPT2Weights.expectedTensors(for: config) {
            let (file, info) = try checkpoint.info(name)
            if info.shape != shape {
                throw CheckpointError.wrongShape(name: name, path: file.path, expected: shape, actual: info.shape)
            }
            if !info.dtype.isLoadableWeight {
                throw CheckpointError.unsupportedDType(name: name, path: file.path, dtype: info.dtype.rawValue)
            }
        }
        /// A float32 view of a tensor: in place from the mapping when aligned F32, else converted.
        func floats(_ name: String) throws -> FloatBuffer {
            let (file, info) = try checkpoint.info(name)
            if info.dtype == .f32 {
                let view = try file.withUnsafeBytes(of: info.name) { bytes -> FloatBuffer? in
                    guard let base = bytes.baseAddress, Int(bitPattern: base) % 4 == 0 else { return nil }
                    return FloatBuffer(borrowing: bytes, owner: file)  // the file object keeps the mapping alive
                }
                if let view { return view }
            }
            return FloatBuffer(try file.floats(info.name))
        }
        return try GPT2Weights(config: config, matrix: { name, inFeatures, outFeatures in
            GPT2Weights.isConv1DMatrix(name)
                ? .inOut(try floats(name), inFeatures: inFeatures, outFeatures: outFeatures)
                : .outIn(try floats(name), inFeatures: inFeatures, outFeatures: outFeatures)
        }, vector: floats)
    }
}
