import Foundation
import Testing
import TestSupport
@testable import Checkpoint

@Suite struct HFCheckpointTests {
    static func model(_ name: String) -> URL { Fixtures.local.appendingPathComponent("models/\(name)") }

    @Test func legacyNamesAndMaskBuffers() throws {
        let checkpoint = try HFCheckpoint(folder: Self.model("flags-legacy"))
        #expect(checkpoint.contains("wte.weight") && checkpoint.contains("h.2.mlp.c_proj.bias"))
        #expect(!checkpoint.tensorNames.contains { $0.hasSuffix(".attn.bias") || $0.hasSuffix("masked_bias") })
        #expect(checkpoint.tensorNames.count == 2 + 3 * 12 + 2)
        #expect(try checkpoint.info("h.0.attn.c_attn.weight").info.dtype == .bf16)
    }

    @Test func prefixedNamesAreStrippedAndShardsFollowTheIndex() throws {
        let checkpoint = try HFCheckpoint(folder: Self.model("flags-sharded"))
        #expect(checkpoint.files.count == 2)
        #expect(checkpoint.tensorNames.count == 2 + 2 * 12 + 2)  // embeddings, 2 layers × 12, ln_f
        let index = try Fixtures.json(Self.model("flags-sharded").appendingPathComponent("model.safetensors.index.json"))
        let shard = (index["weight_map"] as! [String: String])["transformer.wpe.weight"]!
        #expect(try checkpoint.info("wpe.weight").file.path.hasSuffix(shard))
    }

    @Test func folderWithOnlyPickleWeightsGetsAnExplanation() throws {
        let folder = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: folder) }
        try FileManager.default.copyItem(at: Self.model("micro").appendingPathComponent("config.json"), to: folder.appendingPathComponent("config.json"))
        try Data([0x80, 0x02]).write(to: folder.appendingPathComponent("pytorch_model.bin"))
        do {
            _ = try HFCheckpoint(folder: folder)
            Issue.record("expected an error")
        } catch let error as CheckpointError {
            #expect(error == .onlyPickleWeights(folder: folder.path))
            #expect(error.description.contains("save_pretrained") && error.description.contains("safe_serialization=True"))
        }
    }

    @Test func missingConfigAndMissingWeightsAreNamed() throws {
        let folder = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: folder) }
        #expect(throws: CheckpointError.missingFile(path: folder.appendingPathComponent("config.json").path, hint: "every Hugging Face model folder has one")) {
            try HFCheckpoint(folder: folder)
        }
        try Data("{}".utf8).write(to: folder.appendingPathComponent("config.json"))
        do {
            _ = try HFCheckpoint(folder: folder)
            Issue.record("expected an error")
        } catch let error as CheckpointError {
            #expect(error.description.contains("model.safetensors"))
        }
        #expect(throws: CheckpointError.self) { try HFCheckpoint(folder: folder.appendingPathComponent("nope")) }
    }

    @Test func shardMissingFromTheFolder() throws {
        let folder = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: folder) }
        for name in ["config.json", "model.safetensors.index.json", "model-00001-of-00002.safetensors"] {
            try FileManager.default.copyItem(at: Self.model("flags-sharded").appendingPathComponent(name), to: folder.appendingPathComponent(name))
        }
        #expect(throws: CheckpointError.missingFile(path: folder.appendingPathComponent("model-00002-of-00002.safetensors").path, hint: "")) {
            try HFCheckpoint(folder: folder)
        }
    }
}
