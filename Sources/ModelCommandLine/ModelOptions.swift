import ArgumentParser
import CLISupport
import Foundation
import GPT2Edge

/// Options shared by every subcommand that loads a model.
public struct ModelOptions: ParsableArguments, Sendable {
    public init() {}

    @Option(name: [.short, .long], help: "A .gqz file (gpt2-quant convert), or a Hugging Face GPT-2 folder run in float32 (default: the built-in KJV model).")
    public var model: String?

    @Option(name: [.short, .long], parsing: .unconditional, help: "Threads for the forward pass, 1 to 256 (default: physical cores).")
    public var threads: Int?

    @Option(name: [.long, .customLong("cache-type")],
            help: "KV cache precision: f16, f32 or int8 (llama.cpp's q8_0 means int8; any case; default: f16 for .gqz models, f32 for float32 folders).")
    public var kvCache: KVCache.Precision?

    @Option(name: [.customShort("c"), .customLong("ctx-size")], parsing: .unconditional,
            help: "Positions of context to use, at most the model's n_positions (default: all of them); sizes the KV cache and the prompt limit.")
    public var contextSize: Int?

    @Flag(help: "Layer streaming for .gqz files: keep the blocks compressed and decompress one at a time during each pass (slower, needs memory for one block only). Chosen automatically when the memory plan does not fit otherwise.")
    public var lowMemory = false

    @Option(help: "Where the forward pass runs: cpu, cuda (an int8 .gqz on an NVIDIA GPU; see tools/cuda/build.sh) or auto (cuda when it can, else cpu).")
    public var device: Device = .cpu

    public enum Device: String, ExpressibleByArgument, Sendable { case cpu, cuda, auto }

    public func validate() throws {
        if let threads, !(1...256).contains(threads) { throw ValidationError("--threads must be between 1 and 256, got \(threads)") }
        if let contextSize, contextSize < 2 { throw ValidationError("--ctx-size must be at least 2, got \(contextSize)") }
    }

    /// The model's files, opened once: -m, or the built-in model. Everything after works from the returned source.
    public func openSource() throws -> ModelSource {
        let source = try model.map { try ModelSource.open(path: $0) } ?? openBuiltInModel()
        if lowMemory && source.isFolder {
            throw ValidationError("--low-memory streams the layers of a .gqz file; \(source.name) is a Hugging Face folder, which runs in float32 "
                                  + "from its memory-mapped files (convert it with gpt2-quant convert to stream it)")
        }
        return source
    }

    /// How these options load a model: the library decides resident or streamed layers (`--low-memory` forces streaming).
    public func policy(memoryLimit: Int? = nil) -> LoadPolicy {
        var policy = LoadPolicy(threads: threads ?? CPUInfo.physicalCoreCount, layers: lowMemory ? .streamed : .automatic,
                                cachePrecision: kvCache, contextLength: contextSize, device: device.loadDevice, memoryLimit: memoryLimit)
        policy.memoryLimitName = "--max-memory"
        return policy
    }

    /// The context a run of `source` gets: `--ctx-size` when the model has that many positions, else all of them.
    public func contextLength(of source: ModelSource) throws -> Int {
        try namingContextSize { try policy().effectiveContextLength(for: source) }
    }

    /// The library's decision for a run of `source` with `sequences` sequences reaching `contextPositions` positions each,
    /// with prompt passes of `promptTokens`.
    public func decide(_ source: ModelSource, contextPositions: Int, promptTokens: Int, sequences: Int = 1, memoryLimit: Int? = nil) throws -> LoadDecision {
        _ = try Self.statedAvailableMemory()   // a value that is not a size is refused here; the library reads it too
        return try namingContextSize {
            try policy(memoryLimit: memoryLimit).decide(for: source, contextPositions: contextPositions, promptTokens: promptTokens,
                                                        sequences: sequences)
        }
    }

    /// GPT2EDGE_AVAILABLE_MEMORY (a size: 512M, 2G): what the memory plan takes as this machine's available memory
    /// instead of MemAvailable and the cgroup's limit (`MemoryPlan.statedAvailableBytes`); refused here when it is set
    /// but not a size (empty is unset).
    public static func statedAvailableMemory(_ environment: [String: String] = ProcessInfo.processInfo.environment) throws -> Int? {
        guard let text = environment["GPT2EDGE_AVAILABLE_MEMORY"], !text.trimmingCharacters(in: .whitespaces).isEmpty else { return nil }
        do { return try ByteSize(parsing: text).bytes } catch let error as ByteSize.Invalid {
            throw CLIError("GPT2EDGE_AVAILABLE_MEMORY=\(text): \(error.description)")
        }
    }

    /// `body`, with a context the model cannot give reported against `--ctx-size`.
    private func namingContextSize<T>(_ body: () throws -> T) throws -> T {
        do { return try body() } catch let error as ContextLengthError {
            throw CLIError("--ctx-size \(error.requested) is more than the model's context of \(error.modelContext) positions (n_positions)")
        }
    }

    /// Loads `source` as `decision` says; notices (the GPU could not be used) go to standard error.
    public func load(_ source: ModelSource, decision: LoadDecision, memoryLimit: Int? = nil) throws -> LoadedModel {
        let model: LoadedModel
        do { model = try LoadedModel.load(source, policy: policy(memoryLimit: memoryLimit), decision: decision) }
        catch let error as LoadedModel.LoadError { throw CLIError(error.description) }
        for notice in model.notices { printError(notice) }
        return model
    }
}

extension ModelOptions.Device {
    public var loadDevice: LoadPolicy.Device { LoadPolicy.Device(rawValue: rawValue)! }
}
