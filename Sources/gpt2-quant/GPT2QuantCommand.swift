import ArgumentParser
import CLISupport
import Foundation
import GPT2Edge

/// A size in MiB, as every size these programs print.
func mebibytes(_ bytes: Int) -> String { String(format: "%.1f MiB", Double(bytes) / 1_048_576) }

/// Why `path`, a file, is not the Hugging Face folder a command wanted, and which command fits it instead.
func notAFolderMessage(_ path: String) -> String {
    let prefix = (FileHandle(forReadingAtPath: path)?.readData(ofLength: 64)).map { [UInt8]($0) } ?? []
    if prefix.starts(with: Array("GQZ".utf8)) || path.hasSuffix(".gqz") {
        return "\(path) is a .gqz file, not a Hugging Face folder: `gpt2-quant inspect \(path)` shows what it holds, "
            + "and `gpt2-edge generate -m \(path)` runs it"
    }
    if let foreign = ForeignModelFormat(prefix: prefix) { return "\(path) is \(foreign.name), not a Hugging Face folder; \(foreign.advice)" }
    return "\(path) is a file; give a Hugging Face GPT-2 folder (config.json, model.safetensors, vocab.json, merges.txt) or a model id"
}

/// Refuses a folder where a .gqz file is wanted, pointing to the command for folders.
func requireFile(_ path: String) throws {
    var isDirectory: ObjCBool = false
    if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue {
        throw CLIError("\(path) is a folder, not a .gqz file: `gpt2-quant info \(path)` lists a Hugging Face folder, "
                       + "and `gpt2-quant convert \(path)` makes a .gqz file of it")
    }
}

@main
struct GPT2QuantCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gpt2-quant",
        abstract: "Inspect and convert GPT-2 checkpoints.",
        discussion: ExitCodes.summary,
        version: "gpt2-quant " + Version.line(),
        subcommands: [Convert.self, Inspect.self, Verify.self, Info.self, Eval.self]
    )

    /// Refuses arguments that are not UTF-8 before ArgumentParser sees them already decoded (see ArgumentBytes).
    static func main() {
        ArgumentBytes.refuseInvalidUTF8(program: "gpt2-quant")
        main(nil)
    }
}

/// Prints what a Hugging Face checkpoint folder holds, after validating every safetensors header and tensor shape.
struct Info: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Validate a Hugging Face GPT-2 folder and list its config and tensors.",
                                                    discussion: "For a .gqz file, use gpt2-quant inspect.")

    @Argument(help: "A Hugging Face GPT-2 folder.")
    var source: String

    @Flag(help: "Print JSON.")
    var json = false

    func run() throws {
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: source, isDirectory: &isDirectory), !isDirectory.boolValue {
            throw CLIError(notAFolderMessage(source))
        }
        let checkpoint = try HFCheckpoint(folder: URL(fileURLWithPath: source))
        let config = try checkpoint.gpt2Config()
        var rows: [InfoReport.Tensor] = []
        var parameters = 0
        for (name, file, info) in try checkpoint.validateTensors(for: config) + checkpoint.validateHeadTensors(for: config) {
            parameters += info.elementCount
            rows.append(.init(name: name, shape: info.shape, dtype: info.dtype.rawValue, file: (file.path as NSString).lastPathComponent))
        }
        if json {
            try StandardOutput.line(try jsonText(InfoReport(config: config, parameters: parameters, tensors: rows)))
            return
        }
        var lines = ["\(source): GPT-2, \(config.layerCount) layers, n_embd \(config.embeddingWidth), \(config.headCount) heads, "
                     + "context \(config.contextLength), vocabulary \(config.vocabularySize), \(config.activation.rawValue), \(parameters) parameters"]
        lines.append("  task: " + taskDescription(config.task))
        for row in rows { lines.append("  \(row.name)  \(row.shape)  \(row.dtype)  \(row.file)") }
        try StandardOutput.line(lines.joined(separator: "\n"))
    }
}

/// "architectures GPT2ForSequenceClassification, labels negative, neutral, positive, pad_token_id 0, no language-model head".
func taskDescription(_ task: GPT2TaskConfig) -> String {
    var parts = ["architectures \(task.architecturesDescription)"]
    if let labels = task.labels { parts.append("labels " + labels.joined(separator: ", ")) }
    if let pad = task.padTokenID { parts.append("pad_token_id \(pad)") }
    if let problem = task.problemType { parts.append("problem_type \(problem.rawValue)") }
    parts.append(task.hasLanguageModelHead ? "with a language-model head" : "no language-model head")
    return parts.joined(separator: ", ")
}
