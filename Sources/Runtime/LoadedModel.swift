import Checkpoint
import Foundation
import GPT2
import GQZ
import Kernels
import Tokenizer
import WeightFormat

/// A model ready to generate: the network, its tokenizer, and the backend its sequences run on. Immutable once
/// loaded, so any number of threads and requests may share one; each request owns its `ModelSequence`.
///
/// ```swift
/// let source = try ModelSource.open(path: "models/gpt2-q8.gqz")
/// let model = try LoadedModel.load(source, policy: LoadPolicy(threads: 2))
/// let ids = model.tokenizer.encode("Hello")
/// ```
// @unchecked: every stored property is a `let` of an immutable or internally locked type (GPT2Model runs one
// forward pass at a time; CUDAModel hands its one device sequence out under a lock).
public final class LoadedModel: @unchecked Sendable {
    /// The network: config, weights (float32 or quantized), thread pool, KV cache precision.
    public let network: GPT2Model
    /// The byte-level BPE tokenizer shipped with the model.
    public let tokenizer: GPT2Tokenizer
    /// Where the model came from, for messages.
    public let source: String
    /// Seconds spent loading.
    public let loadSeconds: Double
    /// The same model on a GPU, when the policy put it there: sequences made for one request run on it (one at a
    /// time: it has one device KV cache); batched sequences (beam search) and evaluation stay on the CPU.
    public let accelerator: CUDAModel?
    /// What the load decided that a user may want to know (the GPU was asked for but could not be used, say).
    public let notices: [String]

    /// The model's shape and numeric settings.
    public var config: GPT2Config { network.config }

    init(network: GPT2Model, tokenizer: GPT2Tokenizer, source: String, loadSeconds: Double, accelerator: CUDAModel? = nil,
         notices: [String] = []) {
        self.network = network
        self.tokenizer = tokenizer
        self.source = source
        self.loadSeconds = loadSeconds
        self.accelerator = accelerator
        self.notices = notices
    }

    /// Why a model could not be loaded.
    public enum LoadError: Error, CustomStringConvertible, Equatable {
        case notFound(String)
        case streamingNeedsGQZ(String)
        case refused(String)
        case deviceUnavailable(String)

        public var description: String {
            switch self {
            case .notFound(let path): return "model not found: \(path) (pass a .gqz file or a Hugging Face GPT-2 folder with -m)"
            case .streamingNeedsGQZ(let path):
                return "layer streaming (--low-memory) needs a .gqz file; \(path) is a Hugging Face folder, which runs in float32 "
                    + "from its memory-mapped files (convert it with gpt2-quant convert to stream it)"
            case .refused(let reason): return reason
            case .deviceUnavailable(let reason): return reason
            }
        }
    }

    /// Loads `source` as `policy` says. `decision` is the policy's decision for this run when the caller already made
    /// it (to print the plan first, or to size it for a known prompt); else it is made here for a full context.
    /// Throws `LoadError.refused` when the plan exceeds `policy.memoryLimit`.
    public static func load(_ source: ModelSource, policy: LoadPolicy = LoadPolicy(), decision: LoadDecision? = nil) throws -> LoadedModel {
        let start = Date()
        let decision = try decision ?? policy.decide(for: source, contextPositions: .max, promptTokens: 1)
        if let refusal = decision.refusal { throw LoadError.refused(refusal) }
        let streamLayers = decision.plan.streamsLayers
        let context = try policy.effectiveContextLength(for: source)
        var network: GPT2Model
        switch source.storage {
        case .gqz(let file):
            network = try loadGQZ(file, config: source.config, threads: policy.threads, streamLayers: streamLayers,
                                  streamVocabulary: decision.plan.streamsVocabulary, kernel: policy.kernel,
                                  cachePrecision: policy.cachePrecision ?? .f16)
        case .folder(let checkpoint):
            if streamLayers { throw LoadError.streamingNeedsGQZ(source.name) }
            let weights = try loadWeights(checkpoint, config: source.config)
            network = GPT2Model(config: source.config, weights: weights, threads: policy.threads, cachePrecision: policy.cachePrecision ?? .f32)
        }
        if context < network.config.contextLength { network = network.limitingContext(to: context) }
        var accelerator: CUDAModel?
        var notices: [String] = []
        if policy.device != .cpu {
            do {
                guard let file = source.gqzFile else { throw CUDAModel.Unavailable.unsupported("the GPU path runs .gqz files (give one with -m)") }
                _ = try CUDAModel.device()   // library and GPU first: they are what most machines lack
                accelerator = try CUDAModel(file: file, config: source.config)
            } catch let unavailable as CUDAModel.Unavailable {
                if policy.device == .cuda { throw LoadError.deviceUnavailable("--device cuda: \(unavailable)") }
                notices.append("\(unavailable); running on the CPU")
            }
        }
        return LoadedModel(network: network, tokenizer: source.tokenizer, source: source.name, loadSeconds: Date().timeIntervalSince(start),
                           accelerator: accelerator, notices: notices)
    }

    /// Opens and loads a `.gqz` file or a Hugging Face GPT-2 folder (float32): `ModelSource.open` then `load`, with
    /// the layers resident unless `streamLayers` (a .gqz file only: the blocks stay compressed in the file and are
    /// decompressed one at a time during each forward pass, memory for one block instead of all of them, at the
    /// cost of decompressing every block for every token). `kernel`: how int8/int4 matrices are multiplied
    /// (`.integer` packs them at load time, or reads the panels a file stores; streamed layers stored row-major take the
    /// float kernels).
    public static func load(path: String, threads: Int, streamLayers: Bool = false, kernel: MatrixKernel = .preferred) throws -> LoadedModel {
        let source = try ModelSource.open(path: path)
        let policy = LoadPolicy(threads: threads, layers: streamLayers ? .streamed : .resident, kernel: kernel)
        return try load(source, policy: policy)
    }

    /// Binds a `.gqz` file's tensors: every one decompressed (and checksummed) straight into the memory the kernels
    /// read, or, with `streamLayers`, the blocks left in the file for `GQZLayerStreamer`. `config` is the file's own,
    /// already checked against its tensors.
    static func loadGQZ(_ file: GQZFile, config: GPT2Config, threads: Int, streamLayers: Bool, streamVocabulary: Bool = true, kernel: MatrixKernel,
                        cachePrecision: KVCache.Precision) throws -> GPT2Model {
        let path = file.path
        var expected: [String: [Int]] = [:]
        for (name, shape) in GPT2Weights.expectedTensors(for: config) {
            // Matrices are stored [out, in]; Conv1D shapes are [in, out] in the config's terms.
            expected[name] = GPT2Weights.isConv1DMatrix(name) ? [shape[1], shape[0]] : shape
        }
        // The task heads the file holds, shapes checked against the config (float32 [rows, C] and [rows]).
        func shape(_ name: String) -> [Int]? { (try? file.entry(name))?.shape }
        let heads: [(kind: GPT2HeadKind, rows: Int)]
        do { heads = try GPT2Weights.headShapes(config: config, shape: shape) } catch let error as GPT2HeadError {
            throw GQZError.corruptIndex(path: path, reason: error.description)
        }
        for (kind, rows) in heads {
            expected[kind.weightName] = [rows, config.embeddingWidth]
            if let bias = kind.biasName { expected[bias] = [rows] }
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
            guard entry.weightScheme == .float32 else { throw GQZError.invalidEntry(path: path, tensor: name, reason: "scheme \(entry.scheme), expected f32") }
            let buffer = FloatBuffer(count: entry.elementCount)
            try buffer.withUnsafeMutableBytes { try file.readPayload(entry, into: $0) }
            return buffer
        }
        func matrix(_ name: String, _ inFeatures: Int, _ outFeatures: Int) throws -> WeightMatrix {
            let entry = try entry(name)
            switch entry.weightScheme {
            case .float32:
                return .outIn(try floats(name), inFeatures: inFeatures, outFeatures: outFeatures)
            case .int8(let groupSize), .int4(let groupSize):
                // Panels stored in the file go to the integer kernels as they are (resident or streamed: the same products);
                // a row-major payload is packed at load for them, except when streamed (every pass would pay for it).
                let keepsPanels = entry.layout == .panels16 && kernel == .integer
                let quantized = try QuantizedMatrix(rows: outFeatures, columns: inFeatures, groupSize: groupSize, bits: entry.weightScheme!.bits!,
                                                    packed: keepsPanels) { try file.readPayload(entry, into: $0, keepingLayout: keepsPanels) }
                if kernel == .integer && !streamLayers { quantized.packForIntegerDot() }
                return .quantized(quantized)
            case nil:
                throw GQZError.invalidEntry(path: path, tensor: name, reason: "scheme \(entry.scheme) cannot hold a weight matrix")
            }
        }
        let streamer = streamLayers ? GQZLayerStreamer(file: file, config: config, keepsPanels: kernel == .integer, entry: entry,
                                                       matrix: matrix, vector: floats) : nil
        // Streamed too, when streaming (unless the plan keeps it resident): a vocabulary matrix stored in row frames (files
        // converted before frames keep it resident).
        func rowFrames(_ name: String) throws -> (any RowFrameStreamer)? {
            guard streamLayers && streamVocabulary else { return nil }
            let entry = try entry(name)
            guard !entry.frames.isEmpty, entry.weightScheme != nil else { return nil }
            return GQZRowFrameStreamer(file: file, entry: entry, slots: threads, keepsPanels: kernel == .integer)
        }
        let weights = try GPT2Weights(config: config, matrix: matrix, vector: floats, streamer: streamer, shape: shape, rowFrames: rowFrames)
        return GPT2Model(config: config, weights: weights, threads: threads, cachePrecision: cachePrecision)
    }

    /// Binds every tensor the config needs, checking its shape first. Aligned F32 tensors are used in
    /// place from the mapped file (no copy, pages loaded on first use); F16/BF16 are widened to F32.
    static func loadWeights(_ checkpoint: HFCheckpoint, config: GPT2Config) throws -> GPT2Weights {
        try checkpoint.validateTensors(for: config)
        let heads = try checkpoint.validateHeadTensors(for: config)
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
        }, vector: floats, shape: { name in heads.contains { $0.name == name } ? (try? checkpoint.info(name).info.shape) : nil })
    }
}
