import Foundation
import Testing
import TestSupport
@testable import GPT2Edge

/// Layer streaming (`--low-memory`): the same logits as the resident model, blocks decompressed on demand, and
/// damage in a block found when that block is first needed.
@Suite struct LayerStreamingTests {
    @Test(arguments: [("kjv", 8), ("micro", 4), ("flags-untied", 8)])
    func streamingGivesTheResidentModelsLogits(model: String, bits: Int) throws {
        let directory = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = try Fixtures.converted(model, bits: bits, into: directory)
        let resident = try LoadedModel.load(path: path, threads: 2)
        let streamed = try LoadedModel.load(path: path, threads: 2, streamLayers: true)
        #expect(streamed.network.weights.layers.isEmpty && streamed.network.weights.streamer != nil)
        #expect(streamed.network.weights.bytesPerToken == resident.network.weights.bytesPerToken)
        let vocabulary = resident.config.vocabularySize
        let tokens = (0..<12).map { ($0 * 37 + 5) % vocabulary }
        let a = resident.network.makeCache(), b = streamed.network.makeCache()
        // A prompt pass, then single tokens: every block is reloaded into its slot each pass.
        #expect(try resident.network.forward(tokens: tokens, cache: a) == streamed.network.forward(tokens: tokens, cache: b))
        for token in [11 % vocabulary, 262 % vocabulary, 3] {
            #expect(try resident.network.forward(tokens: [token], cache: a) == streamed.network.forward(tokens: [token], cache: b))
        }
    }

    @Test func damageInABlockIsReportedWhenItIsNeeded() throws {
        let directory = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = try Fixtures.converted("kjv", bits: 8, into: directory)
        let entry = try GQZFile(path: path).entry("h.3.mlp.c_fc.weight")
        var bytes = try Data(contentsOf: URL(fileURLWithPath: path))
        bytes[entry.offset + entry.storedBytes / 2] ^= 0x5A
        try bytes.write(to: URL(fileURLWithPath: path))
        let streamed = try LoadedModel.load(path: path, threads: 2, streamLayers: true)   // blocks are not read yet
        #expect {
            _ = try streamed.network.forward(tokens: [5, 6, 7], cache: streamed.network.makeCache())
        } throws: { error in
            "\(error)".contains("h.3.mlp.c_fc.weight")
        }
        #expect(throws: LoadedModel.LoadError.self) {
            try LoadedModel.load(path: Fixtures.local.appendingPathComponent("models/kjv").path, threads: 1, streamLayers: true)
        }
    }
}
