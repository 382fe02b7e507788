import GPT2
import Kernels

/// How a model is to be loaded: threads, kernels, KV cache, context, device, and whether its layers stay
/// resident or are streamed from the file. With `layers: .automatic` the library decides from the memory plan:
/// resident when that fits what the machine allows (and `memoryLimit`), else streamed when that fits.
///
/// ```swift
/// var policy = LoadPolicy(threads: 2)
/// policy.memoryLimit = 512 << 20          // refuse to load past 512 MiB
/// let decision = try policy.decide(for: source, contextPositions: 256, promptTokens: 32)
/// let model = try LoadedModel.load(source, policy: policy, decision: decision)
/// ```
public struct LoadPolicy: Sendable, Equatable {
    /// Where the transformer blocks live.
    public enum Layers: Sendable, Equatable {
        /// Every block decompressed at load (fastest).
        case resident
        /// Blocks stay compressed in the file and are decompressed one at a time in each pass (`.gqz` only).
        case streamed
        /// Resident when the memory plan fits, else streamed when that fits (`.gqz` only; folders stay resident).
        case automatic
    }

    /// Where the forward pass runs.
    public enum Device: String, Sendable, Equatable {
        case cpu
        /// An int8 `.gqz` on an NVIDIA GPU (tools/cuda/build.sh); loading fails when it cannot run there.
        case cuda
        /// The GPU when it can run the model, else the CPU (the reason is in `LoadedModel.notices`).
        case auto
    }

    /// Threads of the forward pass.
    public var threads: Int
    public var layers: Layers
    /// How int8/int4 matrices are multiplied (streamed layers stored row-major take the float kernels).
    public var kernel: MatrixKernel
    /// KV cache precision; nil: float16 for `.gqz` models, float32 for float32 folders (the reference path).
    public var cachePrecision: KVCache.Precision?
    /// Positions of context to use, at most the model's n_positions (llama.cpp's `-c`); nil: all of them.
    public var contextLength: Int?
    public var device: Device
    /// Refuse to load when the memory plan exceeds this many bytes; nil: only what the machine allows.
    public var memoryLimit: Int?
    /// How a refusal names `memoryLimit` to the user (a CLI names its option).
    public var memoryLimitName = "the memory limit"

    public init(threads: Int = CPUInfo.physicalCoreCount, layers: Layers = .automatic, kernel: MatrixKernel = .preferred,
                cachePrecision: KVCache.Precision? = nil, contextLength: Int? = nil, device: Device = .cpu, memoryLimit: Int? = nil) {
        self.threads = threads
        self.layers = layers
        self.kernel = kernel
        self.cachePrecision = cachePrecision
        self.contextLength = contextLength
        self.device = device
        self.memoryLimit = memoryLimit
    }
}
