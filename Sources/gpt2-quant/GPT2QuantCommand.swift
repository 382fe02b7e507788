import ArgumentParser
import Foundation
import GPT2Edge

@main
struct GPT2QuantCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gpt2-quant",
        abstract: "Inspect and convert GPT-2 checkpoints.",
        subcommands: [Info.self, Convert.self]
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
        let config: GPT2Config
        do { config = try GPT2Config(huggingFace: checkpoint.config) } catch let error as GPT2Config.Invalid {
            throw CheckpointError.invalidConfig(path: checkpoint.configURL.path, reason: error.description)
        }
        var rows: [[String: Any]] = []
        var parameters = 0
        for (name, shape) in GPT2Weights.expectedTensors(for: config) {
            let (file, info) = try checkpoint.info(name)
            if info.shape != shape { throw CheckpointError.wrongShape(name: name, path: file.path, expected: shape, actual: info.shape) }
            parameters += info.elementCount
            rows.append(["name": name, "shape": info.shape, "dtype": info.dtype.rawValue, "file": (file.path as NSString).lastPathComponent])
        }
        let summary: [String: Any] = [
            "n_layer": config.layerCount, "n_head": config.headCount, "n_embd": config.embeddingWidth,
            "n_positions": config.contextLength, "vocab_size": config.vocabularySize, "n_inner": config.innerWidth,
            "activation_function": config.activation.rawValue, "parameters": parameters, "tensors": rows,
        ]
        if json {
            let data = try JSONSerialization.data(withJSONObject: summary, options: [.sortedKeys])
            print(String(decoding: data, as: UTF8.self))
            return
        }
        print("\(source): GPT-2, \(config.layerCount) layers, n_embd \(config.embeddingWidth), \(config.headCount) heads, "
              + "context \(config.contextLength), vocabulary \(config.vocabularySize), \(config.activation.rawValue), \(parameters) parameters")
        for row in rows { print("  \(row["name"]!)  \(row["shape"]!)  \(row["dtype"]!)  \(row["file"]!)") }
    }
}

/// Not built yet: the quantized format is the next piece of work.
struct Convert: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Convert a checkpoint to a quantized .gqz file (not built yet).")

    @Argument(help: "A Hugging Face GPT-2 folder or model id.")
    var source: String

    func run() throws {
        throw ValidationError("gpt2-quant convert is not built yet: the .gqz format, int8/int4 quantization and hub download are the next piece of work. `gpt2-quant info \(source)` validates a checkpoint today, and gpt2-edge runs Hugging Face folders directly.")
    }
}
