import Foundation
import Testing
import TestSupport

/// `--low-memory` gives what the resident model gives: the same logits and the same sampled text for a seed, with
/// either kernels (the file stores the integer kernels' panels, so streamed blocks run the same products), on the
/// built-in model (its blocks and its vocabulary's frames streamed).
@Suite struct StreamedResidentTextTests {
    @Test(arguments: ["integer", "float"])
    func sameLogitsAndTextForASeed(kernel: String) throws {
        let environment = ["GPT2EDGE_KERNEL": kernel]
        func output(_ arguments: [String], streamed: Bool) throws -> String {
            let run = try CommandRunner.run("gpt2-edge", arguments + (streamed ? ["--low-memory"] : []), environment: environment)
            #expect(run.status == 0, "\(run.standardError)")
            return run.standardOutput
        }
        let logits = ["logits", "--text", "And God said, Let there be light", "--all-positions", "--full"]
        let resident = try output(logits, streamed: false)
        #expect(resident.contains("\"logits\""))
        #expect(try output(logits, streamed: true) == resident)
        let generate = ["generate", "-p", "In the beginning", "-n", "40", "--seed", "7", "--temperature", "0.9", "--json", "-q"]
        func sampled(_ json: String) throws -> [String] {   // the text and tokens, not the timings
            let object = try JSONSerialization.jsonObject(with: Data(json.utf8)) as! [String: Any]
            return [object["text"] as! String, "\(object["tokens"] as! [Int])"]
        }
        let text = try sampled(output(generate, streamed: false))
        #expect(text[0].count > 20)
        #expect(try sampled(output(generate, streamed: true)) == text)
        let plan = try CommandRunner.run("gpt2-edge", ["generate", "-p", "x", "--low-memory", "--dry-run"], environment: environment)
        #expect(plan.standardOutput.contains("the vocabulary a frame at a time"), "\(plan.standardOutput)")
    }
}
