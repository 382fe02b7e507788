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

    func load() throws -> LoadedModel {
        let threadCount = threads ?? CPUInfo.physicalCoreCount
        guard threadCount >= 1 && threadCount <= 256 else { throw CLIError("--threads must be between 1 and 256, got \(threadCount)") }
        let loaded: LoadedModel
        if let model { loaded = try LoadedModel.load(path: model, threads: threadCount) }
        else { loaded = try LoadedModel.load(embedded: defaultModelBytes, name: defaultModelName, threads: threadCount) }
        if let kvCache { loaded.network.cachePrecision = kvCache }
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
