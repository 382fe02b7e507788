import ArgumentParser
import CDefaultModel
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
        discussion: "Exit codes: 0 success, 1 a runtime error (bad model file, prompt too long, …), 64 bad command-line usage.",
        subcommands: [Generate.self, Tokenize.self, Logits.self, Bench.self],
        defaultSubcommand: Generate.self
    )
}

/// Options shared by every subcommand that loads a model.
struct ModelOptions: ParsableArguments {
    @Option(name: [.short, .long], help: "A .gqz file (gpt2-quant convert), or a Hugging Face GPT-2 folder run in float32 (default: the built-in KJV model).")
    var model: String?

    @Option(name: [.short, .long], help: "Threads for the forward pass (default: physical cores).")
    var threads: Int?

    @Option(name: [.long, .customLong("cache-type")], help: "KV cache precision: f16, f32 or int8 (default: f16 for .gqz models, f32 for float32 folders).")
    var kvCache: KVCache.Precision?

    @Flag(help: "Layer streaming: keep the blocks compressed and decompress one at a time during each pass (.gqz files; slower, needs memory for one block only). Chosen automatically when the memory plan does not fit otherwise.")
    var lowMemory = false

    @Option(help: "Where the forward pass runs: cpu, cuda (an int8 .gqz on an NVIDIA GPU; see tools/build-cuda) or auto (cuda when it can, else cpu).")
    var device: Device = .cpu

    enum Device: String, ExpressibleByArgument { case cpu, cuda, auto }

    /// Whether the model is a folder (float32, no streaming).
    var isFolder: Bool {
        var isDirectory: ObjCBool = false
        return model.map { FileManager.default.fileExists(atPath: $0, isDirectory: &isDirectory) && isDirectory.boolValue } ?? false
    }

    /// The memory plan of a run reaching `contextPositions` positions with prompt passes of `promptTokens`.
    func plan(contextPositions: Int, promptTokens: Int, streamLayers: Bool? = nil) throws -> MemoryPlan {
        let threadCount = threads ?? CPUInfo.physicalCoreCount
        let streaming = streamLayers ?? lowMemory
        if let model {
            return try MemoryPlan.forModel(at: model, contextPositions: contextPositions, promptTokens: promptTokens,
                                           threads: threadCount, cachePrecision: kvCache, streamLayers: streaming)
        }
        return try MemoryPlan.forModel(in: try GQZFile(staticBytes: defaultModelBytes, name: defaultModelName), contextPositions: contextPositions,
                                       promptTokens: promptTokens, threads: threadCount, cachePrecision: kvCache, streamLayers: streaming)
    }

    /// The tokenizer alone (no weights), to size a run before loading it.
    func loadTokenizer() throws -> GPT2Tokenizer {
        if let model { return try LoadedModel.loadTokenizer(path: model) }
        return try LoadedModel.loadTokenizer(embedded: defaultModelBytes, name: defaultModelName)
    }

    /// Loads the model; `tokenizer` is its tokenizer when the caller already loaded it (`loadTokenizer`).
    func load(streamLayers: Bool? = nil, tokenizer: GPT2Tokenizer? = nil) throws -> LoadedModel {
        let threadCount = threads ?? CPUInfo.physicalCoreCount
        guard threadCount >= 1 && threadCount <= 256 else { throw CLIError("--threads must be between 1 and 256, got \(threadCount)") }
        let streaming = streamLayers ?? lowMemory
        let loaded: LoadedModel
        if let model { loaded = try LoadedModel.load(path: model, threads: threadCount, streamLayers: streaming, tokenizer: tokenizer) }
        else {
            loaded = try LoadedModel.load(embedded: defaultModelBytes, name: defaultModelName, threads: threadCount,
                                          streamLayers: streaming, tokenizer: tokenizer)
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

extension KVCache.Precision: ExpressibleByArgument {}

/// An error whose message is shown as is.
struct CLIError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// Writes a line to standard error.
func printError(_ text: String) {
    FileHandle.standardError.write(Data((text + "\n").utf8))
}

/// JSON text for a value made of dictionaries, arrays, strings and numbers (keys sorted for stable output).
func jsonText(_ value: Any) throws -> String {
    let data = try JSONSerialization.data(withJSONObject: value, options: [.sortedKeys, .withoutEscapingSlashes])
    return String(decoding: data, as: UTF8.self)
}
