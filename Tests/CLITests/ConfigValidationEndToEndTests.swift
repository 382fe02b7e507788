import Foundation
import Testing
import TestSupport

/// Broken model folders through the command-line programs: a config that lies about its counts, weights
/// that are not finite. Each is exit status 1 with a message naming the problem, quickly.
@Suite struct ConfigValidationEndToEndTests {
    /// Runs a program that must fail fast: killed after 20 s, which counts as a failure.
    static func failingRun(_ product: String, _ arguments: [String]) throws -> CommandRunner.Output {
        let run = try CommandRunner.run(product, arguments, timeout: 20)
        #expect(!run.timedOut, "\(product) \(arguments.joined(separator: " ")) still ran after 20 s")
        #expect(run.status == 1, "\(product) \(arguments.joined(separator: " ")): status \(run.status), \(run.standardError)")
        return run
    }

    /// n_layer 1000000000 is above the limit, n_layer 1000 is within it but contradicted by the one block the
    /// folder holds (flags-untied); both stop `info` and a dry run before anything is sized from the count.
    @Test(arguments: [(1_000_000_000, "config field n_layer: 1000000000 is more than this runtime accepts (at most 1024"),
                      (1000, "n_layer is 1000 but the checkpoint holds 1 block (h.0)")])
    func lyingLayerCountIsRefusedByInfoAndDryRun(layers: Int, message: String) throws {
        let folder = try Fixtures.modelCopy("flags-untied")
        defer { try? FileManager.default.removeItem(at: folder) }
        try Fixtures.editConfig(of: folder) { $0["n_layer"] = layers }
        let config = folder.appendingPathComponent("config.json").path
        for (product, arguments) in [("gpt2-quant", ["info", folder.path]),
                                     ("gpt2-edge", ["generate", "-m", folder.path, "--dry-run", "-p", "hi"]),
                                     ("gpt2-edge", ["generate", "-m", folder.path, "-p", "hi", "-n", "3"])] {
            let run = try Self.failingRun(product, arguments)
            #expect(run.standardError.contains("invalid config \(config): \(message)"), "\(product): \(run.standardError)")
        }
    }

    /// NaN in block h.1 of micro: generate printed tokens and exited 0, and logits died in JSON encoding
    /// (NSCocoaErrorDomain 3840); both now exit 1 naming the block.
    @Test func nanWeightsAreAnErrorNamingTheBlock() throws {
        let folder = try Fixtures.modelCopy("micro")
        defer { try? FileManager.default.removeItem(at: folder) }
        try Fixtures.overwriteFloats(of: "h.1.mlp.c_proj.weight", inModel: folder, elements: 0..<12, with: .nan)
        let message = "Error: the model's output is not finite: block h.1 produced NaN at position 0 "
            + "(its weights may be corrupt; check the source checkpoint)"
        for arguments in [["generate", "-m", folder.path, "-p", "hi", "-n", "3"], ["logits", "-m", folder.path, "--ids", "1,2"]] {
            let run = try Self.failingRun("gpt2-edge", arguments)
            #expect(run.standardError.contains(message) && !run.standardError.contains("Cocoa"), "\(arguments[0]): \(run.standardError)")
            #expect(!run.standardOutput.contains("logits"), "\(arguments[0]) printed \(run.standardOutput)")
        }
    }
}
