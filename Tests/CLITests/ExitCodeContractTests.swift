import Foundation
import Testing
import TestSupport

/// The exit-code contract (CLISupport's `ExitCodes`, the README, `--help`): 64 and the subcommand's usage for a
/// command line that cannot be right, 1 and a message alone for a run that failed, for every subcommand.
@Suite struct ExitCodeContractTests {
    static let micro = Fixtures.local.appendingPathComponent("models/micro").path

    /// A usage error: exit 64, the message, and the usage of that subcommand (not the program's).
    static func expectUsageError(_ product: String, _ subcommand: String, _ arguments: [String], says message: String,
                                 sourceLocation: SourceLocation = #_sourceLocation) throws {
        let run = try CommandRunner.run(product, [subcommand] + arguments)
        #expect(run.status == 64, "\(product) \(subcommand) \(arguments): \(run.standardError)", sourceLocation: sourceLocation)
        #expect(run.standardError.contains(message), "\(run.standardError)", sourceLocation: sourceLocation)
        #expect(run.standardError.contains("Usage: \(product) \(subcommand)"), "\(run.standardError)", sourceLocation: sourceLocation)
        #expect(run.standardOutput.isEmpty, sourceLocation: sourceLocation)
    }

    /// A runtime error: exit 1 and the message, without a usage dump.
    static func expectRuntimeError(_ product: String, _ arguments: [String], says message: String,
                                   sourceLocation: SourceLocation = #_sourceLocation) throws {
        let run = try CommandRunner.run(product, arguments)
        #expect(run.status == 1, "\(product) \(arguments): \(run.standardError)", sourceLocation: sourceLocation)
        #expect(run.standardError.contains(message), "\(run.standardError)", sourceLocation: sourceLocation)
        #expect(!run.standardError.contains("Usage:"), "\(run.standardError)", sourceLocation: sourceLocation)
    }

    @Test func serveUsageAndRuntimeErrors() throws {
        try Self.expectUsageError("gpt2-edge", "serve", ["--parallel", "0"], says: "--parallel must be between 1 and 64, got 0")
        try Self.expectUsageError("gpt2-edge", "serve", ["--port", "70000"], says: "--port must be between 0 and 65535")
        try Self.expectUsageError("gpt2-edge", "serve", ["--api-key", "a", "--api-key-file", "f"], says: "not both")
        try Self.expectUsageError("gpt2-edge", "serve", ["--device", "cuda"], says: "serve runs on the CPU")
        try Self.expectRuntimeError("gpt2-edge", ["serve", "-m", "/nonexistent/model.gqz"], says: "model not found")
        try Self.expectRuntimeError("gpt2-edge", ["serve", "--api-key-file", "/nonexistent/keys"], says: "cannot read --api-key-file")
        let help = try CommandRunner.run("gpt2-edge", ["serve", "--help"]).standardOutput
        #expect(help.contains("serve's normal stop: exit 0") && !help.contains("130 or 143"))
    }

    @Test func generateUsageErrors() throws {
        let prompt = try Fixtures.temporaryDirectory().appendingPathComponent("p.txt").path
        _ = FileManager.default.createFile(atPath: prompt, contents: Data("x".utf8))
        try Self.expectUsageError("gpt2-edge", "generate", ["-p", "x", "-f", prompt], says: "either with -p or with -f")
        try Self.expectUsageError("gpt2-edge", "generate", ["-p", "x", "--json", "--jsonl"], says: "not both")
        try Self.expectUsageError("gpt2-edge", "generate", ["-p", "x", "--num-beams", "2", "--num-return-sequences", "3"],
                                  says: "at most --num-beams (2) sequences")
        try Self.expectUsageError("gpt2-edge", "generate", ["-p", "x", "--temperature=-1"], says: "temperature must be ≥ 0")
        try Self.expectUsageError("gpt2-edge", "generate", ["-p", "x", "-t", "0"], says: "--threads must be between 1 and 256, got 0")
        try Self.expectUsageError("gpt2-edge", "generate", ["-p", "x", "--top-p", "0"], says: "top-p must be in (0, 1]")
        try Self.expectUsageError("gpt2-edge", "generate", ["-p", "x", "-c", "1"], says: "--ctx-size must be at least 2")
    }

    @Test func everyOtherSubcommandGivesItsOwnUsage() throws {
        try Self.expectUsageError("gpt2-edge", "bench", ["-p", "0"], says: "-p, -n and -r must be at least 1")
        try Self.expectUsageError("gpt2-edge", "bench", ["-t", "300"], says: "--threads must be between 1 and 256")
        try Self.expectUsageError("gpt2-edge", "logits", ["--ids", "1", "--text", "a"], says: "exactly one of --ids, --text and -f/--file")
        try Self.expectUsageError("gpt2-edge", "logits", ["--ids", "1,x"], says: "is not a token id")
        try Self.expectUsageError("gpt2-edge", "tokenize", ["a", "-f", "/etc/hostname"], says: "not both")
        try Self.expectUsageError("gpt2-quant", "convert", [Self.micro, "--threads", "0"], says: "--threads must be between 1 and 256, got 0")
        try Self.expectUsageError("gpt2-quant", "convert", [Self.micro, "--threads", "9999"], says: "--threads must be between 1 and 256, got 9999")
        try Self.expectUsageError("gpt2-quant", "eval", ["-m", Self.micro, "-f", "/etc/hostname", "--ctx", "1"], says: "--ctx must be at least 2")
        try Self.expectUsageError("gpt2-quant", "eval", ["-m", Self.micro], says: "give the text to score with -f FILE")
        try Self.expectUsageError("gpt2-quant", "inspect", [], says: "Missing expected argument '<file>'")
        try Self.expectUsageError("gpt2-quant", "verify", ["a", "b"], says: "Unexpected argument 'b'")
        try Self.expectUsageError("gpt2-quant", "info", ["x", "--bogus"], says: "Unknown option '--bogus'")
    }

    @Test func taskCommandsUsageAndRuntimeErrors() throws {
        let heads = Fixtures.local.appendingPathComponent("models/heads")
        try Self.expectUsageError("gpt2-edge", "classify", ["--top-k", "0", "x"], says: "--top-k must be at least 1, got 0")
        try Self.expectUsageError("gpt2-edge", "classify", ["x", "-f", "/etc/hostname"], says: "either as arguments or with -f, not both")
        try Self.expectUsageError("gpt2-edge", "classify", ["--function-to-apply", "tanh", "x"], says: "--function-to-apply")
        try Self.expectUsageError("gpt2-edge", "embed", ["--batch-tokens", "0", "x"], says: "--batch-tokens must be at least 1")
        try Self.expectUsageError("gpt2-edge", "embed", ["--pooling", "max", "x"], says: "--pooling")
        try Self.expectUsageError("gpt2-edge", "tag", ["--aggregation", "first", "x"], says: "--aggregation")
        try Self.expectUsageError("gpt2-edge", "answer", ["--context-text", "x"], says: "Missing expected argument '--question <question>'")
        try Self.expectUsageError("gpt2-edge", "answer", ["-q", "x", "--context", "f", "--context-text", "y"], says: "not both")
        try Self.expectUsageError("gpt2-edge", "answer", ["-q", "x", "--max-answer-length", "0"], says: "--max-answer-length must be at least 1")
        try Self.expectUsageError("gpt2-edge", "choose", ["--choice", "a"], says: "give at least two choices with --choice, got 1")
        // A model without the head the command needs is a runtime error (the command line may be right for another model).
        try Self.expectRuntimeError("gpt2-edge", ["classify", "x"], says: "this model has no sequence-classification head")
        try Self.expectRuntimeError("gpt2-edge", ["answer", "-m", heads.appendingPathComponent("kjv-seqcls").path, "-q", "x", "--context-text", "y"],
                                    says: "this model has no question-answering head")
        for command in [["generate", "-p", "x"], ["logits", "--text", "x"], ["bench"], ["serve"]] {
            try Self.expectRuntimeError("gpt2-edge", command + ["-m", heads.appendingPathComponent("kjv-tokcls").path],
                                        says: "this model has no language-model head; its architectures are GPT2ForTokenClassification")
        }
        try Self.expectRuntimeError("gpt2-edge", ["classify", "-m", "/nonexistent/m.gqz", "x"], says: "model not found: /nonexistent/m.gqz")
        try Self.expectRuntimeError("gpt2-edge", ["embed", "-f", "/nonexistent/lines.txt"], says: "cannot read /nonexistent/lines.txt")
        try Self.expectRuntimeError("gpt2-edge", ["tag", "-m", heads.appendingPathComponent("kjv-tokcls").path, "-f", "/nonexistent/t.txt"],
                                    says: "cannot read /nonexistent/t.txt")
    }

    @Test func missingFilesAreRuntimeErrorsWithoutUsage() throws {
        try Self.expectRuntimeError("gpt2-quant", ["eval", "-m", Self.micro, "-f", "/nonexistent/missing.txt"],
                                    says: "cannot read /nonexistent/missing.txt: No such file or directory")
        let output = try Fixtures.temporaryDirectory().appendingPathComponent("out.gqz").path
        try Self.expectRuntimeError("gpt2-quant", ["convert", Self.micro, "--calibrate", "/nonexistent/bad.txt", "-o", output],
                                    says: "calibration text: cannot read /nonexistent/bad.txt")
        #expect(!FileManager.default.fileExists(atPath: output))
        try Self.expectRuntimeError("gpt2-edge", ["generate", "-m", Self.micro, "-f", "/nonexistent/p.txt"], says: "cannot read /nonexistent/p.txt")
        try Self.expectRuntimeError("gpt2-edge", ["logits", "-m", Self.micro, "-f", "/nonexistent/p.txt"], says: "cannot read /nonexistent/p.txt")
        try Self.expectRuntimeError("gpt2-edge", ["tokenize", "-f", "/nonexistent/p.txt"], says: "cannot read /nonexistent/p.txt")
        try Self.expectRuntimeError("gpt2-edge", ["bench", "-m", "/nonexistent/m.gqz"], says: "model not found: /nonexistent/m.gqz")
        try Self.expectRuntimeError("gpt2-quant", ["inspect", "/nonexistent/m.gqz"], says: "/nonexistent/m.gqz")
        try Self.expectRuntimeError("gpt2-quant", ["info", "/nonexistent/folder"], says: "/nonexistent/folder")
    }

    @Test func helpStatesTheContractAndTheSizeUnits() throws {
        for (product, subcommand) in [("gpt2-edge", "generate"), ("gpt2-edge", ""), ("gpt2-quant", ""), ("gpt2-edge", "classify"),
                                      ("gpt2-edge", "tag"), ("gpt2-edge", "answer"), ("gpt2-edge", "choose"), ("gpt2-edge", "embed")] {
            let help = try CommandRunner.run(product, subcommand.isEmpty ? ["--help"] : [subcommand, "--help"])
            #expect(help.status == 0)
            let text = help.standardOutput.split(whereSeparator: \.isWhitespace).joined(separator: " ")
            #expect(text.contains("Exit codes: 0 success; 1 the run failed"), "\(product) \(subcommand)")
            #expect(text.contains("64 the command line is wrong"), "\(product) \(subcommand)")
        }
        let generate = try CommandRunner.run("gpt2-edge", ["generate", "--help"]).standardOutput
        #expect(generate.split(whereSeparator: \.isWhitespace).joined(separator: " ").contains("Sizes take a unit: B, K, M, G (powers of 1024"))
    }
}

/// Bytes that are not UTF-8 on the command line (Swift's CommandLine.arguments would turn them into U+FFFD and
/// the run would use other text than asked for): refused with the argument's position, before any model loads.
@Suite struct InvalidArgumentBytesTests {
    /// Runs `product` through the shell, so the argument can carry raw bytes (printf's octal escapes).
    static func run(_ product: String, _ script: String) throws -> CommandRunner.Output {
        try CommandRunner.runTool("/bin/sh", ["-c", "\"$0\" " + script, CommandRunner.path(of: product)])
    }

    @Test func promptStopAndIDsWithInvalidBytesAreRefused() throws {
        for script in [#"generate -p "$(printf 'And God\377 said')" -n 2"#,
                       #"generate -p "And God said" --stop "$(printf '\300\200')" -n 2"#,
                       #"tokenize "$(printf 'a\355\240\200b')""#] {
            let run = try Self.run("gpt2-edge", script)
            #expect(run.status == 64, "\(script): \(run.standardError)")
            #expect(run.standardError.contains("is not valid UTF-8"), "\(run.standardError)")
            #expect(run.standardOutput.isEmpty)
        }
        let quant = try Self.run("gpt2-quant", #"inspect "$(printf '/tmp/\377')""#)
        #expect(quant.status == 64 && quant.standardError.contains("argument 2 is not valid UTF-8 (byte 0xFF at offset 5)"), "\(quant.standardError)")
        // Valid UTF-8 beyond ASCII still runs.
        let fine = try Self.run("gpt2-edge", #"generate -p "$(printf 'caf\303\251')" -n 1 --seed 1"#)
        #expect(fine.status == 0, "\(fine.standardError)")
    }
}
