import ArgumentParser
import CLISupport
import Foundation
import GPT2Edge

struct Inspect: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Show what a .gqz file holds: config, tokenizer, each tensor's scheme and sizes.",
                                                    discussion: "For a Hugging Face folder, use gpt2-quant info.")

    @Argument(help: "A .gqz file.")
    var file: String

    @Flag(help: "Print JSON.")
    var json = false

    func run() throws {
        try requireFile(file)
        let gqz = try GQZFile(path: file)
        let tokenizerBytes = gqz.entries.filter { $0.name.hasPrefix("tokenizer/") }.reduce(0) { $0 + $1.rawBytes }
        if json {
            try StandardOutput.line(try jsonText(InspectReport(path: file, fileBytes: gqz.fileSize, version: Int(gqz.version), metadata: gqz.metadata,
                                                               tokenizerBytes: tokenizerBytes, tensors: gqz.entries.map { .init(entry: $0) })))
            return
        }
        var lines = ["\(file): .gqz version \(gqz.version), \(mebibytes(gqz.fileSize)), \(gqz.entries.count) entries"]
        func line(_ text: String) { lines.append(text) }   // written at once, checked
        // The metadata as written, not as GPT2FileMetadata reads it: inspect shows a file the loader would refuse.
        if let config = gqz.metadata["model"]?["config"], case .object = config {
            let keys = ["n_layer", "n_head", "n_embd", "n_positions", "vocab_size", "n_inner", "activation_function", "layer_norm_epsilon"]
            line("config: " + keys.compactMap { key in config[key].map { "\(key) \($0)" } }.joined(separator: ", "))
            if let task = try? config.decode(GPT2TaskConfig.self) { line("task: " + taskDescription(task)) }
        }
        if case .object(let quantization)? = gqz.metadata["quantization"] {
            line("quantization: " + quantization.keys.sorted().map { "\($0) \(quantization[$0]!)" }.joined(separator: ", "))
        }
        line("tokenizer: \(mebibytes(tokenizerBytes))")
        line("tensor".padding(toLength: 28, withPad: " ", startingAt: 0) + "scheme    shape          stored        raw   ratio")
        for entry in gqz.entries {
            let scheme = entry.groupSize.map { "\(entry.scheme)/g\($0)" } ?? entry.scheme
            line(entry.name.padding(toLength: 28, withPad: " ", startingAt: 0)
                  + scheme.padding(toLength: 10, withPad: " ", startingAt: 0)
                  + "\(entry.shape)".padding(toLength: 14, withPad: " ", startingAt: 0)
                  + String(format: "%10d %10d %7.3f", entry.storedBytes, entry.rawBytes, entry.compressionRatio))
        }
        try StandardOutput.line(lines.joined(separator: "\n"))
    }
}

struct Verify: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Check a .gqz file's structure and every tensor's checksums.",
                                                    discussion: "Exit code 0 when sound, 1 with one line per problem otherwise.")

    @Argument(help: "A .gqz file.")
    var file: String

    func run() throws {
        try requireFile(file)
        let gqz = try GQZFile(path: file)
        let problems = gqz.verify()
        for problem in problems { printError(problem.description) }
        guard problems.isEmpty else { throw ExitCode(1) }
        try StandardOutput.line("\(file): OK (\(gqz.entries.count) entries, every checksum verified)")
    }
}
