import Foundation
import Testing
import TestSupport

/// `generate --dry-run` and `--max-memory`: the plan is made before loading, and it predicts the real peak.
@Suite struct MemoryPlanEndToEndTests {
    static let kjv = Fixtures.local.appendingPathComponent("models/kjv").path
    static let prompt = String(try! String(contentsOf: Fixtures.local.appendingPathComponent("models/kjv/heldout.txt"), encoding: .utf8).prefix(600))

    static func object(_ text: String) throws -> [String: Any] {
        try JSONSerialization.jsonObject(with: Data(text.utf8)) as! [String: Any]
    }

    /// Two models (float32 folder, int8 .gqz) at two context sizes: the planned total is within 15% of the
    /// peak RSS the same run reports.
    @Test func planPredictsThePeak() throws {
        let directory = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let gqz = directory.appendingPathComponent("kjv-q8.gqz").path
        #expect(try CommandRunner.run("gpt2-quant", ["convert", Self.kjv, "--bits", "8", "-o", gqz, "-q"]).status == 0)
        for (model, streaming) in [(Self.kjv, false), (gqz, false), (gqz, true)] {
            for newTokens in ["8", "100"] {
                let arguments = ["generate", "-m", model, "-p", Self.prompt, "-n", newTokens, "--ignore-eos", "--seed", "1", "--json", "-q"]
                    + (streaming ? ["--low-memory"] : [])
                let plan = try Self.object(try CommandRunner.run("gpt2-edge", arguments + ["--dry-run"]).standardOutput)
                let run = try CommandRunner.run("gpt2-edge", arguments)
                #expect(run.status == 0, "\(run.standardError)")
                let peak = ((try Self.object(run.standardOutput))["timings"] as! [String: Any])["peak_rss_bytes"] as! Int
                let total = plan["total"] as! Int
                #expect(abs(Double(peak) / Double(total) - 1) < 0.15, "\(model) -n \(newTokens): planned \(total), peak \(peak)")
                #expect((plan["context_positions"] as! Int) > (newTokens == "8" ? 100 : 200))
                #expect((plan["available"] as? Int ?? 1) > 0)
                #expect(plan["layer_streaming"] as? Bool == streaming)
            }
        }
    }

    /// A cap between the streaming plan and the resident plan: the run streams its layers by itself, says so,
    /// and produces the same text.
    @Test func streamingIsChosenWhenOnlyItFits() throws {
        let directory = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let gqz = directory.appendingPathComponent("kjv-q8.gqz").path
        #expect(try CommandRunner.run("gpt2-quant", ["convert", Self.kjv, "--bits", "8", "-o", gqz, "-q"]).status == 0)
        let arguments = ["generate", "-m", gqz, "-p", "And God said", "-n", "12", "--seed", "3"]
        let resident = try Self.object(try CommandRunner.run("gpt2-edge", arguments + ["--dry-run", "--json"]).standardOutput)["total"] as! Int
        let streaming = try Self.object(try CommandRunner.run("gpt2-edge", arguments + ["--dry-run", "--json", "--low-memory"]).standardOutput)["total"] as! Int
        #expect(streaming < resident)
        let cap = String((resident + streaming) / 2) + "B"
        let capped = try CommandRunner.run("gpt2-edge", arguments + ["--max-memory", cap])
        #expect(capped.status == 0, "\(capped.standardError)")
        #expect(capped.standardError.contains("streaming its layers"), "\(capped.standardError)")
        let plain = try CommandRunner.run("gpt2-edge", arguments + ["-q"])
        #expect(capped.standardOutput == plain.standardOutput)
        // A megabyte under the streaming plan: each process plans with its own resident size, a few hundred KB apart.
        let tooSmall = try CommandRunner.run("gpt2-edge", arguments + ["--max-memory", String(streaming - (1 << 20)) + "B"])
        #expect(tooSmall.status == 1 && tooSmall.standardError.contains("layer streaming"), "\(tooSmall.standardError)")
    }

    @Test func aRunThatCannotFitFailsBeforeLoading() throws {
        let run = try CommandRunner.run("gpt2-edge", ["generate", "-m", Self.kjv, "-p", "And God said", "-n", "10", "--max-memory", "20M"])
        #expect(run.status == 1)
        #expect(run.standardOutput.isEmpty)   // nothing generated, not even the prompt
        #expect(run.standardError.contains("--max-memory allows 20.0 MiB") && run.standardError.contains("weights")
                && run.standardError.contains("total"), "\(run.standardError)")
        let fits = try CommandRunner.run("gpt2-edge", ["generate", "-m", Self.kjv, "-p", "And God said", "-n", "4", "--max-memory", "1G", "-q"])
        #expect(fits.status == 0 && fits.standardOutput.hasPrefix("And God said"))
        let bad = try CommandRunner.run("gpt2-edge", ["generate", "-m", Self.kjv, "-p", "x", "--max-memory", "lots"])
        #expect(bad.status != 0 && bad.standardError.contains("not a size"))
    }
}
