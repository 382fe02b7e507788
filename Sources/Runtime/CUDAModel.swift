import CUDAInt8
import Foundation
import GPT2
import GQZ

/// A `.gqz` int8 model on an NVIDIA GPU, through the `CUDAInt8` C target and `libgpt2edge_cuda.so` (built by
/// `tools/cuda/build.sh`): the whole forward pass runs on the device with a device-side KV cache.
///
/// ```swift
/// let gpu = try CUDAModel(path: "gpt2-xl-q8.gqz")
/// let logits = try gpu.forward(tokens: promptIDs)   // the last position's logits
/// ```
// @unchecked: the device handle is used under `lock` only (one forward pass or reset at a time), and so are the
// position count and whether a sequence holds the device cache.
public final class CUDAModel: @unchecked Sendable {
    /// Why the GPU path cannot run; the CPU path is the fallback.
    public enum Unavailable: Error, CustomStringConvertible, Equatable {
        /// libgpt2edge_cuda.so is missing or incomplete.
        case library(String)
        /// No driver, no device, or a device without __dp4a.
        case device(String)
        /// The model has something the CUDA path does not implement (int4 weights, a non-standard config).
        case unsupported(String)
        /// A CUDA call failed while uploading or running.
        case failed(String)

        public var description: String {
            switch self {
            case .library(let message): return "CUDA library unavailable: \(message)"
            case .device(let message): return "no usable GPU: \(message)"
            case .unsupported(let message): return "the CUDA path cannot run this model: \(message)"
            case .failed(let message): return "CUDA error: \(message)"
            }
        }
    }

    public let config: GPT2Config
    /// The device, as the driver names it.
    public let deviceName: String
    private let handle: OpaquePointer
    private let lock = NSLock()
    /// Positions in the device KV cache (for the position a non-finite logit is reported at).
    private var positions = 0
    /// Whether a `ModelSequence` holds the device cache.
    private var sequenceActive = false

    /// Loads the library (`libraryPath`, else $GPT2EDGE_CUDA_LIBRARY, else `../cuda/libgpt2edge_cuda.so` beside the
    /// running program, i.e. `.build/cuda/` for `.build/release/gpt2-edge`) and describes the GPU, or says which of
    /// library and GPU is missing.
    public static func device(libraryPath: String? = nil) throws -> String {
        try library(path: libraryPath).device
    }

    /// The loaded library and the GPU it found.
    static func library(path: String?) throws -> (library: OpaquePointer, device: String) {
        var message = [CChar](repeating: 0, count: 512)
        let path = path ?? ProcessInfo.processInfo.environment["GPT2EDGE_CUDA_LIBRARY"] ?? Self.besideExecutable
        guard let library = g2e_cuda_load(path, &message, message.count) else { throw Unavailable.library(Self.text(message)) }
        if g2e_cuda_device_status(library, &message, message.count) != 0 { throw Unavailable.device(Self.text(message)) }
        return (library, Self.text(message))
    }

    /// Opens the int8 `.gqz` file at `path` and uploads every tensor.
    public convenience init(path: String, libraryPath: String? = nil) throws {
        let file = try GQZFile(path: path)
        let config = try file.gpt2Config()   // checked against the file's tensors before the device sizes anything
        try self.init(file: file, config: config, libraryPath: libraryPath)
    }

    /// Uploads every tensor of an opened int8 `.gqz` file whose config (checked against its tensors) is `config`.
    public init(file: GQZFile, config: GPT2Config, libraryPath: String? = nil) throws {
        let (library, deviceName) = try Self.library(path: libraryPath)
        self.deviceName = deviceName
        guard config.activation == .geluNew || config.activation == .geluPyTorchTanh,
              config.attentionScale(layer: config.layerCount - 1) == 1 / Float(config.headDim).squareRoot() else {
            throw Unavailable.unsupported("only GPT-2's standard attention scale and gelu_new are implemented on the GPU")
        }
        for entry in file.entries where entry.shape.count == 2 && entry.name != "wpe.weight" && entry.weightScheme?.bits != .eight {
            throw Unavailable.unsupported("\(entry.name) is \(entry.scheme); the GPU path needs int8 matrices (gpt2-quant convert --bits 8)")
        }
        var message = [CChar](repeating: 0, count: 512)
        guard let handle = g2e_cuda_create(library, Int32(config.layerCount), Int32(config.headCount), Int32(config.embeddingWidth),
                                           Int32(config.innerWidth), Int32(config.contextLength), Int32(config.vocabularySize),
                                           config.layerNormEpsilon, &message, message.count) else {
            throw Unavailable.failed(Self.text(message))
        }
        self.handle = handle
        self.config = config
        for entry in file.entries where !entry.name.hasPrefix("tokenizer/") {
            let payload = try file.payload(entry.name)
            let rows = entry.shape.count == 2 ? entry.shape[0] : 1
            let status = payload.withUnsafeBytes {
                g2e_cuda_upload(handle, entry.name, $0.baseAddress, $0.count, Int32(rows), Int32(entry.shape.last!),
                                Int32(entry.groupSize ?? 0), &message, message.count)
            }
            if status != 0 { throw Unavailable.failed(Self.text(message)) }
        }
    }

    deinit { g2e_cuda_destroy(handle) }

    /// Where tools/cuda/build.sh puts the library relative to a `.build/<config>/` program (`.build/cuda/`, which is
    /// one or two folders up once SwiftPM's `.build/<triple>/<config>` is resolved), else `.build/cuda/` here.
    static var besideExecutable: String {
        let name = "cuda/libgpt2edge_cuda.so"
        var candidates: [String] = []
        if let folder = Bundle.main.executableURL?.resolvingSymlinksInPath().deletingLastPathComponent() {
            candidates.append(folder.deletingLastPathComponent().appendingPathComponent(name).path)
            candidates.append(folder.deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent(name).path)
        }
        candidates.append(".build/" + name)
        return candidates.first { FileManager.default.fileExists(atPath: $0) } ?? candidates.last!
    }

    /// Runs `tokens` after those already in the device KV cache; returns the last position's logits.
    public func forward(tokens: [Int]) throws -> [Float] {
        lock.lock()
        defer { lock.unlock() }
        var logits = [Float](repeating: 0, count: config.vocabularySize)
        var message = [CChar](repeating: 0, count: 512)
        let ids = tokens.map { Int32($0) }
        let status = ids.withUnsafeBufferPointer { g2e_cuda_forward(handle, $0.baseAddress, Int32(ids.count), &logits, &message, message.count) }
        if status != 0 { throw Unavailable.failed(Self.text(message)) }
        positions += tokens.count
        // Only the logits come back from the device, so only they are checked (the CPU path checks every block).
        if let bad = logits.first(where: { !$0.isFinite }) {
            throw GPT2Model.NonFiniteOutput(layer: nil, position: positions - 1, value: bad)
        }
        return logits
    }

    /// Empties the device KV cache (a new sequence).
    public func reset() {
        lock.lock()
        defer { lock.unlock() }
        g2e_cuda_reset(handle)
        positions = 0
    }

    /// Claims the device cache for a new sequence (emptying it); false when another sequence holds it.
    func beginSequence() -> Bool {
        lock.lock()
        guard !sequenceActive else { lock.unlock(); return false }
        sequenceActive = true
        lock.unlock()
        reset()
        return true
    }

    /// Gives the device cache back (the sequence that held it is gone).
    func endSequence() {
        lock.lock()
        sequenceActive = false
        lock.unlock()
    }

    /// A NUL-terminated message the C side wrote into `buffer`.
    static func text(_ buffer: [CChar]) -> String {
        String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// The C API names the library must export (for checks and tests).
    public static var exportedSymbols: [String] {
        (0..<g2e_cuda_symbol_count()).map { String(cString: g2e_cuda_symbol($0)) }
    }
}
