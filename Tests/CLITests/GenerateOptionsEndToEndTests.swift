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
