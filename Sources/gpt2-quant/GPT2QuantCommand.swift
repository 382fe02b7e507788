import ArgumentParser
import Foundation
import GPT2Edge

/// Writes a line to standard error.
func printError(_ text: String) {
    FileHandle.standardError.write(Data((text + "\n").utf8))
}

func jsonText(_ value: Any) throws -> String {
    String(decoding: try JSONSerialization.data(withJSONObject: value, options: [.sortedKeys, .withoutEscapingSlashes]), as: UTF8.self)
}

func megabytes(_ bytes: Int) -> String { String(format: "%.2f MB", Double(bytes) / 1e6) }

@main
struct GPT2QuantCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gpt2-quant",
        abstract: "Inspect and convert GPT-2 checkpoints.",
        subcommands: [Convert.self, Inspect.self, Verify.self, Info.self, Eval.self]
    )
}

/// Prints what a Hugging Face checkpoint folder holds, after validating every safetensors header and tensor shape.
struct Info: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Validate a Hugging Face GPT-2 folder and list its config and tensors.")

    @Argument(help: "A Hugging Face GPT-2 folder.")
    var source: String

    @Flag(help: "Print JSON.")
    var json = false

    func run() throws {
        let checkpoint = try HFCheckpoint(folder: URL(fileURLWithPath: source))
        let config = try checkpoint.gpt2Config()
        var rows: [[String: Any]] = []
        var parameters = 0
        for (name, file, info) in try checkpoint.validateTensors(for: config) {
            parameters += info.elementCount
            rows.append(["name": name, "shape": info.shape, "dtype": info.dtype.rawValue, "file": (file.path as NSString).lastPathComponent])
        }
        let summary: [String: Any] = [
            "n_layer": config.layerCount, "n_head": config.headCount, "n_embd": config.embeddingWidth,
            "n_positions": config.contextLength, "vocab_size": config.vocabularySize, "n_inner": config.innerWidth,
            "activation_function": config.activation.rawValue, "parameters": parameters, "tensors": rows,
        ]
        if json {
            print(try jsonText(summary))
            return
        }
        print("\(source): GPT-2, \(config.layerCount) layers, n_embd \(config.embeddingWidth), \(config.headCount) heads, "
              + "context \(config.contextLength), vocabulary \(config.vocabularySize), \(config.activation.rawValue), \(parameters) parameters")
        for row in rows { print("  \(row["name"]!)  \(row["shape"]!)  \(row["dtype"]!)  \(row["file"]!)") }
    }
}

