import Foundation
import Testing
import TestSupport

/// Defects found by trying both programs as a new user and as an attacker would (issue 16), each run end to end.
@Suite struct UserDefectsEndToEndTests {
    static let micro = Fixtures.local.appendingPathComponent("models/micro").path
    static let prompt = "The quick brown fox jumps over the lazy dog."

    static func json(_ text: String) throws -> [String: Any] {
        try JSONSerialization.jsonObject(with: Data(text.utf8)) as! [String: Any]
    }

    /// A .gqz conversion of the micro model, made once per test that needs it.
    static func convertedMicro(in folder: URL) throws -> String {
        let path = folder.appendingPathComponent("micro-q8.gqz").path
        let run = try CommandRunner.run("gpt2-quant", ["convert", micro, "-o", path, "-q"])
        #expect(run.status == 0, "\(run.standardError)")
        return path
    }

    // Item 3: every write to standard output is checked.
    @Test func outputToAFullDeviceIsAnErrorForEveryCommand() throws {
        let folder = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: folder) }
        let gqz = try Self.convertedMicro(in: folder)
        let text = folder.appendingPathComponent("text.txt")
        try Data(String(repeating: Self.prompt + " ", count: 8).utf8).write(to: text)
        let commands: [(String, [String])] = [
            ("gpt2-edge", ["generate", "-m", Self.micro, "-p", Self.prompt, "-n", "4", "-q"]),
            ("gpt2-edge", ["generate", "-m", Self.micro, "-p", Self.prompt, "-n", "4", "-q", "--json"]),
            ("gpt2-edge", ["generate", "-m", Self.micro, "-p", Self.prompt, "-n", "4", "-q", "--jsonl"]),
            ("gpt2-edge", ["generate", "-m", Self.micro, "-p", Self.prompt, "--dry-run"]),
            ("gpt2-edge", ["tokenize", "-m", Self.micro, "hello"]),
            ("gpt2-edge", ["logits", "-m", Self.micro, "--ids", "1,2"]),
            ("gpt2-edge", ["bench", "-m", gqz, "-p", "4", "-n", "2", "-r", "1", "--json"]),
            ("gpt2-edge", ["bench", "-m", gqz, "-p", "4", "-n", "2", "-r", "1"]),
            ("gpt2-quant", ["eval", "-m", Self.micro, "-f", text.path]),
            ("gpt2-quant", ["inspect", gqz]),
            ("gpt2-quant", ["inspect", gqz, "--json"]),
            ("gpt2-quant", ["verify", gqz]),
            ("gpt2-quant", ["info", Self.micro]),
            ("gpt2-quant", ["convert", Self.micro, "-o", folder.appendingPathComponent("again.gqz").path]),
        ]
        for (product, arguments) in commands {
            let run = try CommandRunner.run(product, arguments, standardOutputPath: "/dev/full")
            #expect(run.status == 1, "\(product) \(arguments): status \(run.status), \(run.standardError)")
            #expect(run.standardError.contains("cannot write the output: No space left on device"), "\(product) \(arguments): \(run.standardError)")
            #expect(!run.standardError.contains("Fatal error"), "\(product) \(arguments)")
        }
    }

    // Item 4: SIGTERM ends a run as SIGINT does, with the output so far.
    @Test func sigtermPrintsTheJSONWithFinishReasonCancelled() throws {
        let run = try CommandRunner.run("gpt2-edge", ["generate", "-m", Self.micro, "-p", Self.prompt, "-n", "-1", "--context-shift",
                                                      "--ignore-eos", "--json"],
                                        interruptAfter: 3.0, signal: SIGTERM)   // 3 s: past the first token even on a loaded machine
        #expect(run.status == 143, "\(run.standardError)")
        let object = try Self.json(run.standardOutput)
        #expect(object["finish_reason"] as? String == "cancelled")
        #expect(!((object["tokens"] as? [Any]) ?? []).isEmpty)
        #expect(run.standardError.contains("finish cancelled"))
    }

    @Test func ctrlCWhileWaitingForStandardInputEndsAtOnce() throws {
        // The signal comes while the program waits for input that never ends (the pipe stays open until the
        // runner closes it after the signal); reading stops there, with nothing generated.
        let started = Date()
        let run = try CommandRunner.run("gpt2-edge", ["generate", "-m", Self.micro, "-n", "4"], input: "never read", interruptAfter: 1.0)
        #expect(run.status == 130, "\(run.standardError)")
        #expect(run.standardOutput.isEmpty)
        #expect(Date().timeIntervalSince(started) < 60)
    }

    // Item 6: what is read is bounded by what the context can use.
    @Test func aHugePromptOnStandardInputIsReadInBoundedMemory() throws {
        let huge = String(repeating: "And God said, Let there be light: and there was light. ", count: 600_000)   // 33 MB
        let arguments = ["generate", "-m", Self.micro, "--truncate", "left", "-n", "2", "--greedy", "--json"]
        func peak(_ run: CommandRunner.Output) throws -> Int {
            (try Self.json(run.standardOutput)["timings"] as! [String: Any])["peak_rss_bytes"] as! Int
        }
        let small = try CommandRunner.run("gpt2-edge", arguments, input: "And God said")
        let run = try CommandRunner.run("gpt2-edge", arguments, input: huge)
        #expect(run.status == 0, "\(run.standardError)")
        #expect(run.standardError.contains("of \(huge.utf8.count) bytes from standard input: the rest cannot fit the context"), "\(run.standardError)")
        // Reading it whole took 26 bytes of memory per byte of prompt; bounded, it costs a few hundred kilobytes.
        let hugePeak = try peak(run), smallPeak = try peak(small)
        #expect(hugePeak < smallPeak + 8 << 20, "peak RSS \(hugePeak) bytes for a \(huge.utf8.count)-byte prompt, \(smallPeak) for a short one")

        let folder = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: folder) }
        let file = folder.appendingPathComponent("huge.txt")
        try Data(huge.utf8).write(to: file)
        let refused = try CommandRunner.run("gpt2-edge", ["generate", "-m", Self.micro, "-f", file.path, "-n", "2"])
        #expect(refused.status == 1)
        #expect(refused.standardError.contains("is longer than the model's context of 64 tokens"), "\(refused.standardError)")
        #expect(refused.standardError.contains("--truncate left"))
    }

    // Item 7: the dry run gives the verdict and exit code of the run.
    @Test func dryRunGivesTheRunsVerdictAndExitCode() throws {
        let arguments = ["generate", "-m", Self.micro, "-p", Self.prompt, "--dry-run"]
        let refused = try CommandRunner.run("gpt2-edge", arguments + ["--max-memory", "10M"])
        #expect(refused.status == 1, "\(refused.standardOutput)")
        #expect(refused.standardOutput.contains("verdict      does not fit: the run would refuse to start"), "\(refused.standardOutput)")
        #expect(refused.standardError.contains("--max-memory allows 10.0 MiB"))
        let real = try CommandRunner.run("gpt2-edge", ["generate", "-m", Self.micro, "-p", Self.prompt, "--max-memory", "10M"])
        #expect(real.status == refused.status)
        let fits = try CommandRunner.run("gpt2-edge", arguments + ["--max-memory", "1G", "--json"])
        #expect(fits.status == 0)
        #expect(try Self.json(fits.standardOutput)["fits"] as? Bool == true)
        let refusedJSON = try CommandRunner.run("gpt2-edge", arguments + ["--max-memory", "10M", "--json"])
        #expect(refusedJSON.status == 1)
        #expect(try Self.json(refusedJSON.standardOutput)["fits"] as? Bool == false)
    }

    // Item 9: the wrong kind of file points to the right command.
    @Test func theWrongKindOfFileNamesTheRightCommand() throws {
        let folder = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: folder) }
        let gqz = try Self.convertedMicro(in: folder)
        let info = try CommandRunner.run("gpt2-quant", ["info", gqz])
        #expect(info.status == 1 && info.standardError.contains("is a .gqz file, not a Hugging Face folder: `gpt2-quant inspect"), "\(info.standardError)")
        let convert = try CommandRunner.run("gpt2-quant", ["convert", gqz])
        #expect(convert.status == 1 && convert.standardError.contains("`gpt2-edge generate -m \(gqz)` runs it"), "\(convert.standardError)")
        let inspect = try CommandRunner.run("gpt2-quant", ["inspect", Self.micro])
        #expect(inspect.status == 1 && inspect.standardError.contains("is a folder, not a .gqz file: `gpt2-quant info"), "\(inspect.standardError)")
        let verify = try CommandRunner.run("gpt2-quant", ["verify", Self.micro])
        #expect(verify.status == 1 && verify.standardError.contains("is a folder, not a .gqz file"), "\(verify.standardError)")

        let gguf = folder.appendingPathComponent("model.gguf")
        try Data(Array("GGUF".utf8) + [3, 0, 0, 0] + [UInt8](repeating: 0, count: 64)).write(to: gguf)
        for arguments in [["generate", "-m", gguf.path, "-p", "x"], ["tokenize", "-m", gguf.path, "x"], ["bench", "-m", gguf.path]] {
            let run = try CommandRunner.run("gpt2-edge", arguments)
            #expect(run.status == 1 && run.standardError.contains("is a GGUF file (llama.cpp's format), not a .gqz file"), "\(run.standardError)")
            #expect(run.standardError.contains("gpt2-quant convert"))
        }
        let safetensors = Self.micro + "/model.safetensors"
        let direct = try CommandRunner.run("gpt2-edge", ["generate", "-m", safetensors, "-p", "x"])
        #expect(direct.status == 1 && direct.standardError.contains("is a safetensors file, not a .gqz file; pass the Hugging Face folder"),
                "\(direct.standardError)")
        let quantInfo = try CommandRunner.run("gpt2-quant", ["info", safetensors])
        #expect(quantInfo.status == 1 && quantInfo.standardError.contains("is a safetensors file"), "\(quantInfo.standardError)")
    }

    // Item 11: negative values get range errors; -n -1 runs to the end of the context; sizes need a unit.
    @Test func negativeValuesAndUnitlessSizes() throws {
        let full = try CommandRunner.run("gpt2-edge", ["generate", "-m", Self.micro, "-p", Self.prompt, "-n", "-1", "--ignore-eos", "--json", "-q"])
        #expect(full.status == 0, "\(full.standardError)")
        let object = try Self.json(full.standardOutput)
        #expect(object["finish_reason"] as? String == "length")
        #expect((object["prompt_tokens"] as! Int) + (object["tokens"] as! [Any]).count == 64)   // the micro model's context
        for (arguments, message) in [(["-n", "-2"], "-n must be -1 (until the context is full) or at least 0, got -2"),
                                     (["--temperature", "-1"], "temperature must be ≥ 0, got -1.0"),
                                     (["--max-memory", "-5M"], "-5M must be more than zero"),
                                     (["--max-memory", "512"], "512 has no unit; write 512M for MiB"),
                                     (["--top-k", "-3"], "top-k must be ≥ 0, got -3")] {
            let run = try CommandRunner.run("gpt2-edge", ["generate", "-m", Self.micro, "-p", "x"] + arguments)
            #expect(run.status == 64, "\(arguments): \(run.standardError)")
            #expect(run.standardError.contains(message), "\(arguments): \(run.standardError)")
        }
    }

    // Item 12: -r is the stop string (the tokens' agreement with the text is GPT2Tests' StopStringTokensTests).
    @Test func reversePromptShortFlag() throws {
        let base = ["generate", "-m", Self.micro, "-p", Self.prompt, "-n", "12", "--greedy", "--ignore-eos", "--json", "-q"]
        let full = try Self.json(CommandRunner.run("gpt2-edge", base).standardOutput)
        let text = full["text"] as! String, tokens = full["tokens"] as! [Int]
        let start = text.index(text.startIndex, offsetBy: 5), end = text.index(start, offsetBy: 4)
        let run = try CommandRunner.run("gpt2-edge", base + ["-r", String(text[start..<end])])
        #expect(run.status == 0, "\(run.standardError)")
        let stopped = try Self.json(run.standardOutput)
        #expect(stopped["finish_reason"] as? String == "stop")
        #expect(stopped["text"] as? String == String(text[..<start]))
        let kept = stopped["tokens"] as! [Int]
        #expect(kept == Array(tokens.prefix(kept.count)))
    }

    // Item 13: the same input gets the same treatment in every command.
    @Test func inconsistenciesBetweenCommandsAreGone() throws {
        let folder = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: folder) }
        let notUTF8 = folder.appendingPathComponent("bad.txt")
        try Data([0x61, 0xFF, 0xFE, 0x62]).write(to: notUTF8)
        for arguments in [["tokenize", "-f", notUTF8.path], ["generate", "-m", Self.micro, "-f", notUTF8.path], ["logits", "-m", Self.micro, "-f", notUTF8.path]] {
            let run = try CommandRunner.run("gpt2-edge", arguments)
            #expect(run.status == 1 && run.standardError.contains("\(notUTF8.path) is not UTF-8 text"), "\(arguments): \(run.standardError)")
        }
        let usage: [(String, [String], String)] = [
            ("gpt2-edge", ["generate", "-m", Self.micro, "-p", "x", "--low-memory"], "--low-memory streams the layers of a .gqz file"),
            ("gpt2-edge", ["generate", "-m", Self.micro, "-p", "x", "--stop", ""], "stop string 1 is empty"),
            ("gpt2-edge", ["generate", "-m", Self.micro, "-p", "x", "--min-new-tokens", "100", "-n", "8"], "--min-new-tokens 100 is more than -n 8"),
            ("gpt2-quant", ["eval", "-m", Self.micro, "--text", notUTF8.path], "eval reads the text to score from a file given with -f"),
        ]
        for (product, arguments, message) in usage {
            let run = try CommandRunner.run(product, arguments)
            #expect(run.status == 64 && run.standardError.contains(message), "\(arguments): \(run.standardError)")
        }
        // -f is a file and --text the text itself, in logits as in generate and tokenize.
        let prompt = folder.appendingPathComponent("p.txt")
        try Data(Self.prompt.utf8).write(to: prompt)
        let fromFile = try CommandRunner.run("gpt2-edge", ["logits", "-m", Self.micro, "-f", prompt.path])
        let fromText = try CommandRunner.run("gpt2-edge", ["logits", "-m", Self.micro, "--text", Self.prompt])
        #expect(fromFile.status == 0 && fromFile.standardOutput == fromText.standardOutput)
    }

    // Item 14: help is wrapped by the terminal, not mid-sentence; sizes are MiB everywhere.
    @Test func helpIsNotHardWrappedAndSizesAreMiB() throws {
        for (product, subcommand) in [("gpt2-edge", "generate"), ("gpt2-edge", "bench"), ("gpt2-edge", "logits"), ("gpt2-quant", "convert"),
                                      ("gpt2-quant", "eval")] {
            let lines = try CommandRunner.run(product, [subcommand, "--help"]).standardOutput.split(separator: "\n", omittingEmptySubsequences: false)
            // A line broken by hand mid-sentence leaves a short line followed by one that goes on in lower case.
            for (line, next) in zip(lines, lines.dropFirst()) where (1..<30).contains(line.trimmingCharacters(in: .whitespaces).count) {
                let following = next.trimmingCharacters(in: .whitespaces)
                #expect(!(following.first?.isLowercase ?? false) || line.hasSuffix(":") || line.contains("  "),
                        "\(product) \(subcommand) --help: \"\(line)\" / \"\(next)\"")
            }
        }
        let folder = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: folder) }
        let convert = try CommandRunner.run("gpt2-quant", ["convert", Self.micro, "-o", folder.appendingPathComponent("m.gqz").path])
        #expect(convert.status == 0 && convert.standardOutput.contains(" MiB (") && convert.standardOutput.contains("MiB before zstd"), "\(convert.standardOutput)")
        #expect(!convert.standardOutput.contains(" MB"), "\(convert.standardOutput)")
        let inspect = try CommandRunner.run("gpt2-quant", ["inspect", folder.appendingPathComponent("m.gqz").path])
        #expect(inspect.status == 0 && !inspect.standardOutput.contains(" MB"), "\(inspect.standardOutput)")
    }

    // Item 15: --version on both programs.
    @Test func versionNamesTheFormatAndTheKernels() throws {
        for product in ["gpt2-edge", "gpt2-quant"] {
            let run = try CommandRunner.run(product, ["--version"])
            #expect(run.status == 0, "\(run.standardError)")
            #expect(run.standardOutput.hasPrefix("\(product) 0.1.0 (.gqz formats 1-2; int8/int4 kernels: "), "\(run.standardOutput)")
            #expect(run.standardOutput.contains("integer dot product") || run.standardOutput.contains("float ("))
        }
    }

    // Item 16: on a terminal, the program says it is waiting for the prompt.
    @Test func aTerminalIsToldThatThePromptComesFromStandardInput() throws {
        // script(1) gives the program a pseudo-terminal; it forwards our input and then the end of input.
        let command = [CommandRunner.path(of: "gpt2-edge"), "-m", Self.micro, "-n", "2", "--greedy"].joined(separator: " ")
        let run = try CommandRunner.runTool("/usr/bin/script", ["-qec", command, "/dev/null"], input: "hello there\n")
        #expect(run.status == 0, "\(run.standardOutput)")
        #expect(run.standardOutput.contains("reading the prompt from standard input (Ctrl-D to end)"), "\(run.standardOutput)")
        let piped = try CommandRunner.run("gpt2-edge", ["-m", Self.micro, "-n", "2", "--greedy"], input: "hello there\n")
        #expect(!piped.standardError.contains("reading the prompt"))
    }

    // Item 17: -c caps the context, llama.cpp's cache type names work, the prompt can be left out, no fake seeds.
    @Test func contextSizeCacheTypeAliasesNoDisplayPromptAndNoSeedWhenGreedy() throws {
        let base = ["generate", "-m", Self.micro, "-p", Self.prompt, "--ignore-eos", "--json", "-q"]
        let capped = try Self.json(CommandRunner.run("gpt2-edge", base + ["-c", "20", "-n", "-1", "--greedy"]).standardOutput)
        #expect(capped["finish_reason"] as? String == "length")
        #expect((capped["prompt_tokens"] as! Int) + (capped["tokens"] as! [Any]).count == 20)
        let long = try CommandRunner.run("gpt2-edge", ["generate", "-m", Self.micro, "-p", Self.prompt, "-c", "8"])
        #expect(long.status == 1 && long.standardError.contains("context holds 8"), "\(long.standardError)")
        let tooBig = try CommandRunner.run("gpt2-edge", base + ["-c", "65"])
        #expect(tooBig.status == 1 && tooBig.standardError.contains("more than the model's context of 64"), "\(tooBig.standardError)")
        let plan = try Self.json(CommandRunner.run("gpt2-edge", ["generate", "-m", Self.micro, "-p", "x", "-c", "16", "-n", "100", "--dry-run", "--json"]).standardOutput)
        #expect(plan["context_positions"] as? Int == 16)

        for name in ["q8_0", "Q8_0", "F16"] {
            let run = try CommandRunner.run("gpt2-edge", base + ["--cache-type", name, "-n", "2"])
            #expect(run.status == 0, "\(name): \(run.standardError)")
        }
        let greedy = try Self.json(CommandRunner.run("gpt2-edge", base + ["--greedy", "-n", "2"]).standardOutput)
        #expect(greedy["seed"] is NSNull)
        let beams = try CommandRunner.run("gpt2-edge", ["generate", "-m", Self.micro, "-p", Self.prompt, "--num-beams", "2", "-n", "2"])
        #expect(beams.status == 0 && !beams.standardError.contains("seed"), "\(beams.standardError)")
        let sampled = try Self.json(CommandRunner.run("gpt2-edge", base + ["--seed", "7", "-n", "2"]).standardOutput)
        #expect(sampled["seed"] as? Int == 7)

        let shown = try CommandRunner.run("gpt2-edge", ["generate", "-m", Self.micro, "-p", Self.prompt, "-n", "4", "--greedy", "-q"])
        let hidden = try CommandRunner.run("gpt2-edge", ["generate", "-m", Self.micro, "-p", Self.prompt, "-n", "4", "--greedy", "-q", "--no-display-prompt"])
        #expect(shown.standardOutput.hasPrefix(Self.prompt))
        #expect(Self.prompt + hidden.standardOutput == shown.standardOutput)
    }

    // Item 18: completions come from swift-argument-parser and cover the subcommands.
    @Test func shellCompletionScripts() throws {
        for shell in ["bash", "zsh", "fish"] {
            let run = try CommandRunner.run("gpt2-edge", ["--generate-completion-script", shell])
            #expect(run.status == 0 && run.standardOutput.contains("generate") && run.standardOutput.contains("bench"))
        }
        let readme = try String(contentsOf: Fixtures.repositoryRoot.appendingPathComponent("README.md"), encoding: .utf8)
        #expect(readme.contains("--generate-completion-script"))
    }
}
