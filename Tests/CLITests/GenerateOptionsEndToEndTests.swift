import Foundation
import Testing
import TestSupport

/// `gpt2-edge generate`'s beam search, several sequences, JSON lines and context shift, through the binary.
@Suite struct GenerateOptionsEndToEndTests {
    static let kjv = Fixtures.local.appendingPathComponent("models/kjv").path

    static func object(_ line: Substring) throws -> [String: Any] {
        try JSONSerialization.jsonObject(with: Data(line.utf8)) as! [String: Any]
    }

    @Test func beamSearchPrintsTransformersSequences() throws {
        // The "default" case of Tests/Fixtures/sampling/beam_search.json, through the command line.
        let reference = try Fixtures.json(Fixtures.local.appendingPathComponent("sampling/beam_search.json"))
        let item = (reference["cases"] as! [[String: Any]]).first { $0["name"] as! String == "default" }!
        let expected = (item["sequences"] as! [[String: Any]]).map { ($0["tokens"] as! [Any]).ints }
        let run = try CommandRunner.run("gpt2-edge", ["generate", "-m", Self.kjv, "-p", "And God said", "-n", "24",
                                                      "--num-beams", "4", "--num-return-sequences", "4", "--json", "-q"])
        #expect(run.status == 0, "\(run.standardError)")
        let object = try Self.object(Substring(run.standardOutput))
        let sequences = object["sequences"] as! [[String: Any]]
        #expect(sequences.map { ($0["tokens"] as! [Any]).ints } == expected)
        #expect(sequences.allSatisfy { $0["score"] is NSNumber })

        let text = try CommandRunner.run("gpt2-edge", ["generate", "-m", Self.kjv, "-p", "And God said", "-n", "24",
                                                       "--beams", "4", "--num-return-sequences", "2", "-q"])
        #expect(text.standardOutput.components(separatedBy: "--- sequence ").count == 3, "\(text.standardOutput)")
        #expect(text.standardOutput.contains("And God said" + (sequences[1]["text"] as! String)))
    }

    @Test func jsonLinesStreamPiecesThenTheResult() throws {
        let run = try CommandRunner.run("gpt2-edge", ["generate", "-m", Self.kjv, "-p", "And God said", "-n", "10",
                                                      "--seed", "4", "--num-return-sequences", "2", "--jsonl", "-q"])
        #expect(run.status == 0, "\(run.standardError)")
        let lines = run.standardOutput.split(separator: "\n")
        let pieces = try lines.dropLast().map(Self.object)
        let last = try Self.object(lines.last!)
        #expect(last["done"] as? Bool == true)
        let sequences = last["sequences"] as! [[String: Any]]
        #expect(sequences.count == 2)
        for index in 0..<2 {   // the pieces of each sequence add up to its text
            let joined = pieces.filter { $0["sequence"] as? Int == index }.map { $0["text"] as! String }.joined()
            #expect(joined == sequences[index]["text"] as! String)
            #expect(!joined.isEmpty)
        }
        #expect(sequences[0]["text"] as! String != sequences[1]["text"] as! String)   // seeds 4 and 5 differ
        // A second sequence is the same as asking for its seed alone.
        let alone = try CommandRunner.run("gpt2-edge", ["generate", "-m", Self.kjv, "-p", "And God said", "-n", "10", "--seed", "5", "--json", "-q"])
        #expect(try Self.object(Substring(alone.standardOutput))["text"] as! String == sequences[1]["text"] as! String)
        let both = try CommandRunner.run("gpt2-edge", ["generate", "-m", Self.kjv, "-p", "x", "--json", "--jsonl"])
        #expect(both.status != 0 && both.standardError.contains("--jsonl"))
    }

    @Test func contextShiftGoesPastTheContext() throws {
        // The KJV model's context is 256 positions.
        let arguments = ["generate", "-m", Self.kjv, "-p", "In the beginning", "-n", "300", "--seed", "2", "--ignore-eos", "--json", "-q"]
        let stopped = try Self.object(Substring(try CommandRunner.run("gpt2-edge", arguments).standardOutput))
        #expect(stopped["finish_reason"] as? String == "length")
        #expect((stopped["tokens"] as! [Any]).count == 256 - 3)
        let shifted = try Self.object(Substring(try CommandRunner.run("gpt2-edge", arguments + ["--context-shift"]).standardOutput))
        #expect(shifted["finish_reason"] as? String == "max_tokens")
        let tokens = (shifted["tokens"] as! [Any]).ints
        #expect(tokens.count == 300)
        // Until the context fills, the run is the same one.
        #expect(Array(tokens.prefix(253)) == (stopped["tokens"] as! [Any]).ints)
    }
}

/// `generate` with several prompts: one batch, each prompt what it gives alone.
extension GenerateOptionsEndToEndTests {
    @Test func severalPromptsGiveTransformersBatchAndWhatEachGivesAlone() throws {
        // The "period_eos" case of Tests/Fixtures/sampling/batched_generation.json (transformers, left-padded batch).
        let reference = try Fixtures.json(Fixtures.local.appendingPathComponent("sampling/batched_generation.json"))
        let item = (reference["cases"] as! [[String: Any]]).first { $0["name"] as! String == "period_eos" }!
        let rows = item["rows"] as! [[String: Any]]
        let texts = ["And God said", "In the beginning God created the heaven and the earth. And the earth was without form,",
                     "Blessed", "And the LORD spake unto Moses, saying,"]
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("prompts-\(UUID().uuidString).txt")
        try (texts.joined(separator: "\n") + "\n").write(to: file, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: file) }
        let run = try CommandRunner.run("gpt2-edge", ["generate", "-m", Self.kjv, "--prompts-file", file.path, "-n", "40", "--greedy",
                                                      "--eos-token-id", "14", "--json", "-q"])
        #expect(run.status == 0, "\(run.standardError)")
        let prompts = try Self.object(Substring(run.standardOutput))["prompts"] as! [[String: Any]]
        #expect(prompts.count == 4)
        for (index, (prompt, row)) in zip(prompts, rows).enumerated() {
            let sequence = (prompt["sequences"] as! [[String: Any]])[0]
            #expect((sequence["tokens"] as! [Any]).ints == (row["tokens"] as! [Any]).ints, "prompt \(index)")
            #expect(sequence["finish_reason"] as? String == ((row["ended_with_eos"] as! Bool) ? "eos" : "max_tokens"))
            #expect(prompt["prompt_tokens"] as? Int == (row["prompt_tokens"] as! [Any]).count)
        }

        // Sampled: each prompt of the batch (-p repeated, plain text) is what it prints alone with the seed.
        let sampled = ["generate", "-m", Self.kjv, "-n", "12", "--seed", "9", "-q"]
        let batch = try CommandRunner.run("gpt2-edge", sampled + ["-p", "And God said", "-p", "Blessed"])
        #expect(batch.status == 0, "\(batch.standardError)")
        for (index, text) in ["And God said", "Blessed"].enumerated() {
            let alone = try CommandRunner.run("gpt2-edge", sampled + ["-p", text])
            let body = alone.standardOutput.hasSuffix("\n") ? String(alone.standardOutput.dropLast()) : alone.standardOutput
            #expect(batch.standardOutput.contains("--- prompt \(index + 1) of 2 ---\n" + body), "\(batch.standardOutput) / \(body)")
        }
    }

    @Test func severalPromptsStreamJSONLinesAndRefuseWhatTheyCannotRun() throws {
        let run = try CommandRunner.run("gpt2-edge", ["generate", "-m", Self.kjv, "-p", "And God said", "-p", "Blessed", "-n", "8",
                                                      "--seed", "3", "--num-return-sequences", "2", "--jsonl", "-q"])
        #expect(run.status == 0, "\(run.standardError)")
        let lines = run.standardOutput.split(separator: "\n")
        let pieces = try lines.dropLast().map(Self.object)
        let last = try Self.object(lines.last!)
        #expect(last["done"] as? Bool == true)
        let prompts = last["prompts"] as! [[String: Any]]
        for (p, prompt) in prompts.enumerated() {
            for (s, sequence) in (prompt["sequences"] as! [[String: Any]]).enumerated() {
                let joined = pieces.filter { $0["prompt"] as? Int == p && $0["sequence"] as? Int == s }.map { $0["text"] as! String }.joined()
                #expect(joined == sequence["text"] as! String, "prompt \(p) sequence \(s)")
            }
        }
        // Beam search is one prompt at a time; an empty line and a prompt past the context are named.
        let beams = try CommandRunner.run("gpt2-edge", ["generate", "-m", Self.kjv, "-p", "a", "-p", "b", "--num-beams", "2"])
        #expect(beams.status == 64 && beams.standardError.contains("beam search runs one prompt at a time"), "\(beams.standardError)")
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("prompts-\(UUID().uuidString).txt")
        defer { try? FileManager.default.removeItem(at: file) }
        try "And God said\n\nBlessed\n".write(to: file, atomically: true, encoding: .utf8)
        let empty = try CommandRunner.run("gpt2-edge", ["generate", "-m", Self.kjv, "--prompts-file", file.path])
        #expect(empty.status == 1 && empty.standardError.contains("line 2 of \(file.path) is empty"), "\(empty.standardError)")
        #expect(empty.standardOutput.isEmpty)
        let long = String(repeating: "And God said unto Moses, ", count: 80)
        let tooLong = try CommandRunner.run("gpt2-edge", ["generate", "-m", Self.kjv, "-p", "Blessed", "-p", long, "-n", "4"])
        #expect(tooLong.status == 1 && tooLong.standardError.contains("prompt 2 (-p): the prompt is"), "\(tooLong.standardError)")
        #expect(tooLong.standardError.contains("--truncate left"))
        let cut = try CommandRunner.run("gpt2-edge", ["generate", "-m", Self.kjv, "-p", "Blessed", "-p", long, "-n", "4", "--truncate", "left", "--json"])
        #expect(cut.status == 0, "\(cut.standardError)")
        #expect(cut.standardError.contains("prompt 2 (-p) truncated on the left"))
        // The plan holds one KV cache per sequence.
        let plan = try CommandRunner.run("gpt2-edge", ["generate", "-m", Self.kjv, "-p", "a", "-p", "b", "-p", "c", "--dry-run", "--json"])
        let one = try CommandRunner.run("gpt2-edge", ["generate", "-m", Self.kjv, "-p", "a", "--dry-run", "--json"])
        let three = try Self.object(Substring(plan.standardOutput)), single = try Self.object(Substring(one.standardOutput))
        #expect(three["sequences"] as? Int == 3 && single["sequences"] as? Int == 1)
        #expect(three["kv_cache"] as! Int == 3 * (single["kv_cache"] as! Int))
        let beams4 = try Self.object(Substring(try CommandRunner.run("gpt2-edge", ["generate", "-m", Self.kjv, "-p", "a", "--num-beams", "4",
                                                                                 "--dry-run", "--json"]).standardOutput))
        #expect(beams4["sequences"] as? Int == 4 && beams4["kv_cache"] as! Int == 4 * (single["kv_cache"] as! Int))
    }
}
