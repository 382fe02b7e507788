import Foundation
@_exported import Checkpoint
@_exported import GQZ
@_exported import Quantization
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
    /// The network: config, weights (float32 or quantized), thread pool.
    public let network: GPT2Model
    /// The byte-level BPE tokenizer shipped with the model.
    public let tokenizer: GPT2Tokenizer
    /// Where the model came from, for messages.
    public let source: String
    /// Seconds spent loading.
    public let loadSeconds: Double
    /// The same model on a GPU (`CUDAModel`); when set, `TextGenerator.generate` runs its forward passes there.
    /// Beam search and evaluation stay on the CPU.
    public var accelerator: CUDAModel?

    /// The model's shape and numeric settings.
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
            case .notFound(let path): return "model not found: \(path) (pass a .gqz file or a Hugging Face GPT-2 folder with -m)"
            case .notYetSupported(let what): return what
            }
        }
    }

    /// Loads a `.gqz` file, or a Hugging Face GPT-2 folder (config.json, model.safetensors, vocab.json, merges.txt) in float32.
    /// With `streamLayers` (a .gqz file only), the transformer blocks stay compressed in the file and are
    /// decompressed one at a time during each forward pass (`GQZLayerStreamer`): memory for one block
    /// instead of all of them, at the cost of decompressing every block for every token.
    /// `tokenizer`: this model's tokenizer when the caller already has it (`loadTokenizer`), so it is not parsed
    /// twice (a GPT-2 vocabulary takes ~0.2 s). `kernel`: how int8/int4 matrices are multiplied (`.integer` packs
    /// them at load time; streamed layers always take the float kernels).
    public static func load(path: String, threads: Int, streamLayers: Bool = false, tokenizer: GPT2Tokenizer? = nil,
                            kernel: MatrixKernel = .preferred) throws -> LoadedModel {
        let start = Date()
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else { throw LoadError.notFound(path) }
        if !isDirectory.boolValue {
            let (network, tokenizer) = try loadGQZ(try GQZFile(path: path), threads: threads, streamLayers: streamLayers, tokenizer: tokenizer,
                                                  kernel: kernel)
            return LoadedModel(network: network, tokenizer: tokenizer, source: path, loadSeconds: Date().timeIntervalSince(start))
        }
        guard !streamLayers else {
            throw LoadError.notYetSupported("layer streaming (--low-memory) needs a .gqz file; convert the folder with gpt2-quant convert first")
        }
        let checkpoint = try HFCheckpoint(folder: URL(fileURLWithPath: path))
        let config = try checkpoint.gpt2Config()
        let tokenizer = try tokenizer ?? GPT2Tokenizer(vocabulary: checkpoint.vocabularyURL, merges: checkpoint.mergesURL)
        let weights = try loadWeights(checkpoint, config: config)
        let network = GPT2Model(config: config, weights: weights, threads: threads, cachePrecision: .f32)
        return LoadedModel(network: network, tokenizer: tokenizer, source: path, loadSeconds: Date().timeIntervalSince(start))
    }

    /// Only the tokenizer of a model (a Hugging Face folder or a .gqz file): cheap, no weights are read.
    public static func loadTokenizer(path: String) throws -> GPT2Tokenizer {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else { throw LoadError.notFound(path) }
        if isDirectory.boolValue { return try GPT2Tokenizer(folder: URL(fileURLWithPath: path)) }
        return try tokenizer(of: GQZFile(path: path))
    }

    static func tokenizer(of file: GQZFile) throws -> GPT2Tokenizer {
        try GPT2Tokenizer(vocabularyJSON: Data(try file.payload("tokenizer/vocab.json")),
                          mergesText: Data(try file.payload("tokenizer/merges.txt")),
                          source: (file.path + ":tokenizer/vocab.json", file.path + ":tokenizer/merges.txt"))
    }

    /// Loads a model whose `.gqz` image is linked into the program (the gpt2-edge default model).
    public static func load(embedded bytes: UnsafeRawBufferPointer, name: String, threads: Int, streamLayers: Bool = false,
                            tokenizer: GPT2Tokenizer? = nil, kernel: MatrixKernel = .preferred) throws -> LoadedModel {
        let start = Date()
        let (network, tokenizer) = try loadGQZ(try GQZFile(staticBytes: bytes, name: name), threads: threads, streamLayers: streamLayers,
                                               tokenizer: tokenizer, kernel: kernel)
        return LoadedModel(network: network, tokenizer: tokenizer, source: name, loadSeconds: Date().timeIntervalSince(start))
    }

    /// Only the tokenizer of an embedded model.
    public static func loadTokenizer(embedded bytes: UnsafeRawBufferPointer, name: String) throws -> GPT2Tokenizer {
        try tokenizer(of: GQZFile(staticBytes: bytes, name: name))
    }

    /// Loads a `.gqz` file: config and tokenizer from the file (unless given), every tensor decompressed (and
    /// checksummed) straight into the memory the kernels read.
    static func loadGQZ(_ file: GQZFile, threads: Int, streamLayers: Bool = false, tokenizer given: GPT2Tokenizer? = nil,
                        kernel: MatrixKernel = .preferred) throws -> (GPT2Model, GPT2Tokenizer) {
        let path = file.path
        let config = try file.gpt2Config()   // its counts checked against the file's tensors before any sizes a list
        let tokenizer = try given ?? tokenizer(of: file)
        var expected: [String: [Int]] = [:]
        for (name, shape) in GPT2Weights.expectedTensors(for: config) {
            // Matrices are stored [out, in]; Conv1D shapes are [in, out] in the config's terms.
            expected[name] = GPT2Weights.isConv1DMatrix(name) ? [shape[1], shape[0]] : shape
        }
        func entry(_ name: String) throws -> GQZEntry {
            let entry = try file.entry(name)
            guard entry.shape == expected[name] else {
                throw GQZError.invalidEntry(path: path, tensor: name, reason: "shape \(entry.shape), the config needs \(expected[name]!)")
            }
            return entry
        }
        func floats(_ name: String) throws -> FloatBuffer {
            let entry = try entry(name)
            guard entry.scheme == "f32" else { throw GQZError.invalidEntry(path: path, tensor: name, reason: "scheme \(entry.scheme), expected f32") }
            let buffer = FloatBuffer(count: entry.elementCount)
            try buffer.withUnsafeMutableBytes { try file.readPayload(entry, into: $0) }
            return buffer
        }
        func matrix(_ name: String, _ inFeatures: Int, _ outFeatures: Int) throws -> WeightMatrix {
            let entry = try entry(name)
            switch entry.scheme {
            case "f32":
                return .outIn(try floats(name), inFeatures: inFeatures, outFeatures: outFeatures)
            case "q8", "q4":
                let quantized = try QuantizedMatrix(rows: outFeatures, columns: inFeatures, groupSize: entry.groupSize!,
                                                    bits: entry.scheme == "q8" ? .eight : .four) { try file.readPayload(entry, into: $0) }
                if kernel == .integer && !streamLayers { quantized.packForIntegerDot() }
                return .quantized(quantized)
            default:
                throw GQZError.invalidEntry(path: path, tensor: name, reason: "scheme \(entry.scheme) cannot hold a weight matrix")
            }
        }
        let streamer = streamLayers ? GQZLayerStreamer(file: file, config: config, entry: entry, matrix: matrix, vector: floats) : nil
        let weights = try GPT2Weights(config: config, matrix: matrix, vector: floats, streamer: streamer)
        return (GPT2Model(config: config, weights: weights, threads: threads), tokenizer)
    }

    /// Binds every tensor the config needs, checking its shape first. Aligned F32 tensors are used in
    /// place from the mapped file (no copy, pages loaded on first use); F16/BF16 are widened to F32.
    static func loadWeights(_ checkpoint: HFCheckpoint, config: GPT2Config) throws -> GPT2Weights {
        try checkpoint.validateTensors(for: config)
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
