import Foundation
import Testing
import TestSupport

/// `gpt2-edge` and `gpt2-quant` driven as a user would: arguments and standard input in, text and exit codes out.
@Suite struct GPT2EdgeEndToEndTests {
    static let micro = Fixtures.local.appendingPathComponent("models/micro").path
    static let shortContext = Fixtures.local.appendingPathComponent("models/flags-untied").path
    static let prompt = "The quick brown fox jumps over the lazy dog."

    /// transformers' greedy continuation of `prompt` on the micro model.
    static let referenceGreedy: [Int] = {
        let json = try! Fixtures.json(Fixtures.local.appendingPathComponent("models/micro/reference.json"))
        let entry = (json["prompts"] as! [[String: Any]]).first { $0["name"] as! String == "text" }!
        return (entry["greedy"] as! [Any]).ints
    }()

    static func json(_ text: String) throws -> [String: Any] {
        try JSONSerialization.jsonObject(with: Data(text.utf8)) as! [String: Any]
    }

    @Test func greedyGenerationMatchesTransformersAndStreamsThePrompt() throws {
        let run = try CommandRunner.run("gpt2-edge", ["generate", "-m", Self.micro, "-p", Self.prompt, "-n", "12", "--greedy", "--ignore-eos", "-t", "2"])
        #expect(run.status == 0, "\(run.standardError)")
        #expect(run.standardOutput.hasPrefix(Self.prompt))
        #expect(run.standardOutput.count > Self.prompt.count)
        #expect(run.standardError.contains("decode 12 tok") && run.standardError.contains("peak RSS"), "\(run.standardError)")

        let json = try CommandRunner.run("gpt2-edge", ["generate", "-m", Self.micro, "-p", Self.prompt, "-n", "12", "--greedy", "--ignore-eos", "--json", "-q"])
        #expect(json.status == 0 && json.standardError.isEmpty)
        let object = try Self.json(json.standardOutput)
        #expect((object["tokens"] as! [Any]).ints == Array(Self.referenceGreedy.prefix(12)))
        #expect(object["finish_reason"] as? String == "max_tokens")
        #expect(run.standardOutput == Self.prompt + (object["text"] as! String) + "\n")
        let timings = object["timings"] as! [String: Any]
        #expect(Set(timings.keys) == ["load_ms", "prompt_tokens_per_second", "decode_tokens_per_second", "peak_rss_bytes"])
    }

    @Test func promptFromStandardInputAndFromFile() throws {
        let arguments = ["generate", "-m", Self.micro, "-n", "6", "--greedy", "--ignore-eos", "--json", "-q"]
        let fromStdin = try CommandRunner.run("gpt2-edge", arguments, input: Self.prompt + "\n")
        #expect(fromStdin.status == 0, "\(fromStdin.standardError)")
        #expect((try Self.json(fromStdin.standardOutput)["tokens"] as! [Any]).ints == Array(Self.referenceGreedy.prefix(6)))

        let folder = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: folder) }
        let file = folder.appendingPathComponent("prompt.txt")
        try Data(Self.prompt.utf8).write(to: file)
        let fromFile = try CommandRunner.run("gpt2-edge", arguments + ["-f", file.path])
        #expect(fromFile.status == 0)
        #expect((try Self.json(fromFile.standardOutput)["tokens"] as! [Any]).ints == Array(Self.referenceGreedy.prefix(6)))
    }

    @Test func sameSeedSameTextOnAnyThreadCount() throws {
        func sample(_ threads: String, seed: String) throws -> String {
            let run = try CommandRunner.run("gpt2-edge", ["generate", "-m", Self.micro, "-p", "Once upon a time", "-n", "20",
                                                          "--temperature", "0.9", "--top-k", "40", "--top-p", "0.95",
                                                          "--seed", seed, "-t", threads, "--ignore-eos", "--json", "-q"])
            #expect(run.status == 0, "\(run.standardError)")
            return try Self.json(run.standardOutput)["text"] as! String
        }
        let one = try sample("1", seed: "1234")
        #expect(try sample("3", seed: "1234") == one)
        #expect(try sample("1", seed: "99") != one)
    }

    @Test func stopStringAcrossTokenBoundariesIsNotPrinted() throws {
        let full = try Self.json(CommandRunner.run("gpt2-edge", ["generate", "-m", Self.micro, "-p", Self.prompt, "-n", "12", "--greedy",
                                                                  "--ignore-eos", "--json", "-q"]).standardOutput)["text"] as! String
        // A stop string that starts inside one token and ends inside a later one.
        let start = full.index(full.startIndex, offsetBy: 3), end = full.index(start, offsetBy: 8)
        let stop = String(full[start..<end])
        let run = try CommandRunner.run("gpt2-edge", ["generate", "-m", Self.micro, "-p", Self.prompt, "-n", "12", "--greedy",
                                                      "--ignore-eos", "--stop", stop, "--json", "-q"])
        let object = try Self.json(run.standardOutput)
        #expect(object["finish_reason"] as? String == "stop")
        #expect(object["text"] as? String == String(full[..<start]))
        let streamed = try CommandRunner.run("gpt2-edge", ["generate", "-m", Self.micro, "-p", Self.prompt, "-n", "12", "--greedy",
                                                           "--ignore-eos", "--stop", stop, "-q"])
        #expect(streamed.standardOutput == Self.prompt + String(full[..<start]) + "\n")
    }

    @Test func interruptEndsCleanlyWithTimingsAndExitCode130() throws {
        // -n -1 with context shift never ends by itself, so the signal lands during generation.
        let run = try CommandRunner.run("gpt2-edge", ["generate", "-m", Self.micro, "-p", Self.prompt, "-n", "-1", "--context-shift", "--ignore-eos"],
                                        interruptAfter: 3.0)   // 3 s: past the first token even on a loaded machine
        #expect(run.status == 130, "\(run.standardError)")
        #expect(run.standardError.contains("finish cancelled"), "\(run.standardError)")
        #expect(run.standardOutput.hasPrefix(Self.prompt))
    }

    @Test func promptLongerThanTheContextIsAClearError() throws {
        let long = String(repeating: "a ", count: 40)   // 41 tokens ("a", 39 × " a", " "), all inside the 300-entry vocabulary; context 16
        let run = try CommandRunner.run("gpt2-edge", ["generate", "-m", Self.shortContext, "-p", long, "-n", "4"])
        #expect(run.status == 1)
        #expect(run.standardError.contains("the prompt is 41 tokens but the model's context holds 16; shorten it by at least 26 tokens"), "\(run.standardError)")
        #expect(run.standardError.contains("--truncate left"))
        #expect(run.standardOutput.isEmpty)
        let truncated = try CommandRunner.run("gpt2-edge", ["generate", "-m", Self.shortContext, "-p", long, "-n", "4", "--truncate", "left",
                                                            "--greedy", "--ignore-eos"])
        #expect(truncated.status == 0, "\(truncated.standardError)")
        #expect(truncated.standardError.contains("prompt truncated on the left to its last 12 tokens"))
        #expect(truncated.standardOutput.hasPrefix(" a a") && truncated.standardError.contains("decode 4 tok"), "\(truncated.standardError)")
    }

    @Test func badModelPathsAreClearErrors() throws {
        let missing = try CommandRunner.run("gpt2-edge", ["generate", "-m", "/nonexistent/model", "-p", "hi"])
        #expect(missing.status == 1 && missing.standardError.contains("model not found: /nonexistent/model"))
        let usage = try CommandRunner.run("gpt2-edge", ["generate", "--top-k", "many"])
        #expect(usage.status == 64)
    }

    @Test func tokenizePrintsIDs() throws {
        let run = try CommandRunner.run("gpt2-edge", ["tokenize", "-m", Self.micro, "Hello world<|endoftext|>"])
        #expect(run.status == 0)
        let object = try Self.json(run.standardOutput)
        #expect((object["ids"] as! [Any]).ints == [15496, 995, 50256])
        #expect(object["tokens"] as? [String] == ["Hello", " world", "<|endoftext|>"])
    }

    @Test func logitsMatchTheReference() throws {
        let json = try Fixtures.json(Fixtures.local.appendingPathComponent("models/micro/reference.json"))
        let entry = (json["prompts"] as! [[String: Any]]).first { $0["name"] as! String == "text" }!
        let ids = (entry["input_ids"] as! [Any]).ints
        let run = try CommandRunner.run("gpt2-edge", ["logits", "-m", Self.micro, "--ids", ids.map(String.init).joined(separator: ","),
                                                      "--top", "5", "--all-positions"])
        #expect(run.status == 0, "\(run.standardError)")
        let positions = try Self.json(run.standardOutput)["positions"] as! [[String: Any]]
        #expect(positions.count == ids.count)
        let reference = (entry["top20"] as! [Any]).map { ($0 as! [Any]).map { $0 as! [Any] } }
        for (position, row) in positions.enumerated() {
            let top = (row["top"] as! [Any]).map { $0 as! [Any] }
            #expect(top.count == 5)
            for (got, expected) in zip(top, reference[position]) {
                #expect((got[0] as! NSNumber).intValue == (expected[0] as! NSNumber).intValue)
                #expect(abs((got[1] as! NSNumber).doubleValue - (expected[1] as! NSNumber).doubleValue) < 1e-4)
            }
        }
    }

    @Test func quantInfoValidatesAndConvertSaysItIsNotBuilt() throws {
        let info = try CommandRunner.run("gpt2-quant", ["info", Self.micro, "--json"])
        #expect(info.status == 0, "\(info.standardError)")
        let object = try Self.json(info.standardOutput)
        #expect(object["n_layer"] as? Int == 2 && (object["tensors"] as! [Any]).count == 2 + 2 * 12 + 2)
        let broken = try CommandRunner.run("gpt2-quant", ["info", "/nonexistent"])
        #expect(broken.status == 1 && broken.standardError.contains("/nonexistent"))
    }
}

/// The built-in model: what `gpt2-edge generate` runs when no -m is given.
@Suite struct DefaultModelTests {
    @Test func generatesWithNoModelArgument() throws {
        let run = try CommandRunner.run("gpt2-edge", ["generate", "-p", "And God said", "-n", "24", "--seed", "1", "--json", "-q"])
        #expect(run.status == 0, "\(run.standardError)")
        let object = try JSONSerialization.jsonObject(with: Data(run.standardOutput.utf8)) as! [String: Any]
        #expect((object["tokens"] as! [Any]).count == 24 || object["finish_reason"] as? String == "eos")
        let tokenize = try CommandRunner.run("gpt2-edge", ["tokenize", "And God said"])
        #expect(tokenize.status == 0 && tokenize.standardOutput.contains("\"ids\":[1050,389,395]"), "\(tokenize.standardOutput)")
    }

    /// The committed Sources/CDefaultModel/default.gqz is exactly `gpt2-quant convert` of the committed trained
    /// fixture at int8, so anyone can rebuild it and check it.
    @Test func builtInModelIsTheConversionOfTheTrainedFixture() throws {
        let directory = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let output = directory.appendingPathComponent("kjv.gqz")
        let convert = try CommandRunner.run("gpt2-quant", ["convert", Fixtures.local.appendingPathComponent("models/kjv").path,
                                                           "--bits", "8", "-o", output.path, "-q"])
        #expect(convert.status == 0, "\(convert.standardError)")
        let builtIn = Fixtures.repositoryRoot.appendingPathComponent("Sources/CDefaultModel/default.gqz")
        #expect(try Data(contentsOf: output) == Data(contentsOf: builtIn))
    }
}
