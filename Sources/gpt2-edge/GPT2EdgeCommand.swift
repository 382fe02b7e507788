import ArgumentParser
import CDefaultModel
import CLISupport
import Foundation
import GPT2Edge

/// The default model's bytes, linked into this program; read-only for the program's lifetime.
nonisolated(unsafe) let defaultModelBytes = UnsafeRawBufferPointer(start: gpt2edge_default_model_bytes(), count: gpt2edge_default_model_size())
let defaultModelName = "<built-in KJV model>"

/// The built-in model; its pages are handed back as they are read (they are this program's read-only data).
func openBuiltInModel() throws -> ModelSource {
    try ModelSource.embedded(defaultModelBytes, name: defaultModelName, inReadOnlyData: true)
}

@main
struct GPT2EdgeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gpt2-edge",
        abstract: "Run GPT-2 models on small machines.",
        discussion: ExitCodes.summary + "\n\n" + ExitCodes.sizeUnits,
        version: "gpt2-edge " + Version.line(),
        subcommands: [Generate.self, Tokenize.self, Logits.self, Bench.self, Serve.self,
                      Classify.self, Tag.self, AnswerQuestion.self, Choose.self, Embed.self],
        defaultSubcommand: Generate.self
    )

    /// Refuses arguments that are not UTF-8 before ArgumentParser sees them already decoded (see ArgumentBytes),
    /// then runs the subcommand. Every command but `serve` runs here, on the main thread: the kernel gives a
    /// Ctrl-C to the main thread first, so a read of standard input there is interrupted by it (EINTR) at once. Run
    /// on a worker thread (as ArgumentParser's own `main` does), the signal went to the idle main thread and could
    /// be handled only after a read that had just received input had returned: the prompt ran.
    @MainActor static func main() async {
        ArgumentBytes.refuseInvalidUTF8(program: "gpt2-edge")
        do {
            var command = try parseAsRoot()
            if var asyncCommand = command as? AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch {
            exit(withError: error)
        }
    }
}

/// Options shared by every subcommand that loads a model.
struct ModelOptions: ParsableArguments {
    @Option(name: [.short, .long], help: "A .gqz file (gpt2-quant convert), or a Hugging Face GPT-2 folder run in float32 (default: the built-in KJV model).")
    var model: String?

    @Option(name: [.short, .long], parsing: .unconditional, help: "Threads for the forward pass, 1 to 256 (default: physical cores).")
    var threads: Int?

    @Option(name: [.long, .customLong("cache-type")],
            help: "KV cache precision: f16, f32 or int8 (llama.cpp's q8_0 means int8; any case; default: f16 for .gqz models, f32 for float32 folders).")
    var kvCache: KVCache.Precision?

    @Option(name: [.customShort("c"), .customLong("ctx-size")], parsing: .unconditional,
            help: "Positions of context to use, at most the model's n_positions (default: all of them); sizes the KV cache and the prompt limit.")
    var contextSize: Int?

    @Flag(help: "Layer streaming for .gqz files: keep the blocks compressed and decompress one at a time during each pass (slower, needs memory for one block only). Chosen automatically when the memory plan does not fit otherwise.")
    var lowMemory = false

    @Option(help: "Where the forward pass runs: cpu, cuda (an int8 .gqz on an NVIDIA GPU; see tools/cuda/build.sh) or auto (cuda when it can, else cpu).")
    var device: Device = .cpu

    enum Device: String, ExpressibleByArgument { case cpu, cuda, auto }

    func validate() throws {
        if let threads, !(1...256).contains(threads) { throw ValidationError("--threads must be between 1 and 256, got \(threads)") }
        if let contextSize, contextSize < 2 { throw ValidationError("--ctx-size must be at least 2, got \(contextSize)") }
    }

    /// The model's files, opened once: -m, or the built-in model. Everything after works from the returned source.
    func openSource() throws -> ModelSource {
        let source = try model.map { try ModelSource.open(path: $0) } ?? openBuiltInModel()
        if lowMemory && source.isFolder {
            throw ValidationError("--low-memory streams the layers of a .gqz file; \(source.name) is a Hugging Face folder, which runs in float32 "
                                  + "from its memory-mapped files (convert it with gpt2-quant convert to stream it)")
        }
        return source
    }

    /// How these options load a model: the library decides resident or streamed layers (`--low-memory` forces streaming).
    func policy(memoryLimit: Int? = nil) -> LoadPolicy {
        var policy = LoadPolicy(threads: threads ?? CPUInfo.physicalCoreCount, layers: lowMemory ? .streamed : .automatic,
                                cachePrecision: kvCache, contextLength: contextSize, device: device.loadDevice, memoryLimit: memoryLimit)
        policy.memoryLimitName = "--max-memory"
        return policy
    }

    /// The context a run of `source` gets: `--ctx-size` when the model has that many positions, else all of them.
    func contextLength(of source: ModelSource) throws -> Int {
        try namingContextSize { try policy().effectiveContextLength(for: source) }
    }

    /// The library's decision for a run of `source` with `sequences` sequences reaching `contextPositions` positions each,
    /// with prompt passes of `promptTokens`.
    func decide(_ source: ModelSource, contextPositions: Int, promptTokens: Int, sequences: Int = 1, memoryLimit: Int? = nil) throws -> LoadDecision {
        _ = try Self.statedAvailableMemory()   // a value that is not a size is refused here; the library reads it too
        return try namingContextSize {
            try policy(memoryLimit: memoryLimit).decide(for: source, contextPositions: contextPositions, promptTokens: promptTokens,
                                                        sequences: sequences)
        }
    }

    /// GPT2EDGE_AVAILABLE_MEMORY (a size: 512M, 2G): what the memory plan takes as this machine's available memory
    /// instead of MemAvailable and the cgroup's limit (`MemoryPlan.statedAvailableBytes`); refused here when it is set
    /// but not a size (empty is unset).
    static func statedAvailableMemory(_ environment: [String: String] = ProcessInfo.processInfo.environment) throws -> Int? {
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
    func load(_ source: ModelSource, decision: LoadDecision, memoryLimit: Int? = nil) throws -> LoadedModel {
        let model: LoadedModel
        do { model = try LoadedModel.load(source, policy: policy(memoryLimit: memoryLimit), decision: decision) }
        catch let error as LoadedModel.LoadError { throw CLIError(error.description) }
        for notice in model.notices { printError(notice) }
        return model
    }
}

extension ModelOptions.Device {
    var loadDevice: LoadPolicy.Device { LoadPolicy.Device(rawValue: rawValue)! }
}
