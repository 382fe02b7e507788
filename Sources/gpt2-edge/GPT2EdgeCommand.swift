import ArgumentParser
import CDefaultModel
import CLISupport
import Foundation
import GPT2Edge

/// The default model's bytes, linked into this program; read-only for the program's lifetime.
let defaultModelBytes = UnsafeRawBufferPointer(start: gpt2edge_default_model_bytes(), count: gpt2edge_default_model_size())
let defaultModelName = "<built-in KJV model>"

@main
struct GPT2EdgeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gpt2-edge",
        abstract: "Run GPT-2 models on small machines.",
        discussion: ExitCodes.summary + "\n\n" + ExitCodes.sizeUnits,
        version: "gpt2-edge " + Version.line(),
        subcommands: [Generate.self, Tokenize.self, Logits.self, Bench.self],
        defaultSubcommand: Generate.self
    )
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

    @Option(help: "Where the forward pass runs: cpu, cuda (an int8 .gqz on an NVIDIA GPU; see tools/build-cuda) or auto (cuda when it can, else cpu).")
    var device: Device = .cpu

    enum Device: String, ExpressibleByArgument { case cpu, cuda, auto }

    func validate() throws {
        if let threads, !(1...256).contains(threads) { throw ValidationError("--threads must be between 1 and 256, got \(threads)") }
        if let contextSize, contextSize < 2 { throw ValidationError("--ctx-size must be at least 2, got \(contextSize)") }
        if lowMemory && isFolder {
            throw ValidationError("--low-memory streams the layers of a .gqz file; \(model!) is a Hugging Face folder, which runs in float32 "
                                  + "from its memory-mapped files (convert it with gpt2-quant convert to stream it)")
        }
    }

    /// Whether the model is a folder (float32, no streaming).
    var isFolder: Bool {
        var isDirectory: ObjCBool = false
        return model.map { FileManager.default.fileExists(atPath: $0, isDirectory: &isDirectory) && isDirectory.boolValue } ?? false
    }

    /// The memory plan of a run reaching `contextPositions` positions with prompt passes of `promptTokens`.
    func plan(contextPositions: Int, promptTokens: Int, streamLayers: Bool? = nil) throws -> MemoryPlan {
        let threadCount = threads ?? CPUInfo.physicalCoreCount
        let streaming = streamLayers ?? lowMemory
        let positions = min(contextPositions, contextSize ?? .max)
        var plan: MemoryPlan
        if let model {
            plan = try MemoryPlan.forModel(at: model, contextPositions: positions, promptTokens: promptTokens,
                                           threads: threadCount, cachePrecision: kvCache, streamLayers: streaming)
        } else {
            plan = try MemoryPlan.forModel(in: try GQZFile(staticBytes: defaultModelBytes, name: defaultModelName), contextPositions: positions,
                                           promptTokens: promptTokens, threads: threadCount, cachePrecision: kvCache, streamLayers: streaming)
        }
        if let contextSize {
            try checkContextSize(contextSize, modelContext: plan.modelContextLength)
            plan.modelContextLength = contextSize
        }
        return plan
    }

    /// `-c` can shorten the context, not lengthen it: positions past n_positions have no embedding.
    private func checkContextSize(_ contextSize: Int, modelContext: Int) throws {
        guard contextSize <= modelContext else {
            throw CLIError("--ctx-size \(contextSize) is more than the model's context of \(modelContext) positions (n_positions)")
        }
    }

    /// The tokenizer alone (no weights), to size a run before loading it.
    func loadTokenizer() throws -> GPT2Tokenizer {
        if let model { return try LoadedModel.loadTokenizer(path: model) }
        return try LoadedModel.loadTokenizer(embedded: defaultModelBytes, name: defaultModelName)
    }

    /// Loads the model; `tokenizer` is its tokenizer when the caller already loaded it (`loadTokenizer`).
    func load(streamLayers: Bool? = nil, tokenizer: GPT2Tokenizer? = nil) throws -> LoadedModel {
        let threadCount = threads ?? CPUInfo.physicalCoreCount
        let streaming = streamLayers ?? lowMemory
        var loaded: LoadedModel
        if let model { loaded = try LoadedModel.load(path: model, threads: threadCount, streamLayers: streaming, tokenizer: tokenizer) }
        else {
            loaded = try LoadedModel.load(embedded: defaultModelBytes, name: defaultModelName, threads: threadCount,
                                          streamLayers: streaming, tokenizer: tokenizer)
        }
        if let contextSize {
            try checkContextSize(contextSize, modelContext: loaded.config.contextLength)
            loaded = loaded.limitingContext(to: contextSize)
        }
        if let kvCache { loaded.network.cachePrecision = kvCache }
        if device != .cpu {
            do {
                _ = try CUDAModel.device()   // library and GPU first: they are what most machines lack
                guard let model, !isFolder else { throw CUDAModel.Unavailable.unsupported("the GPU path runs .gqz files (give one with -m)") }
                loaded.accelerator = try CUDAModel(path: model)
            } catch let unavailable as CUDAModel.Unavailable {
                if device == .cuda { throw CLIError("--device cuda: \(unavailable)") }
                printError("\(unavailable); running on the CPU")
            }
        }
        return loaded
    }
}
