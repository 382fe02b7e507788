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

@Suite struct CheckpointJSONTests {
    @Test func shardIndexWithoutAWeightMapIsRefusedNamingTheFile() throws {
        let folder = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: folder) }
        let url = folder.appendingPathComponent(SafetensorsIndex.fileName)
        for (text, reason) in [(#"{"metadata": {}}"#, "no weight_map object of tensor → shard file"),
                               (#"{"weight_map": {}}"#, "no weight_map object of tensor → shard file"),
                               (#"{"weight_map": {"wte.weight": 3}}"#, "no weight_map object of tensor → shard file"),
                               ("[1]", "not a JSON object"), ("{", "not a JSON object")] {
            try Data(text.utf8).write(to: url)
            #expect(throws: CheckpointError.invalidConfig(path: url.path, reason: reason), "\(text)") { try SafetensorsIndex(contentsOf: url) }
        }
        try Data(#"{"weight_map": {"a": "x.safetensors", "b": "w.safetensors", "c": "x.safetensors"}}"#.utf8).write(to: url)
        #expect(try SafetensorsIndex(contentsOf: url).shardNames == ["w.safetensors", "x.safetensors"])
    }

    @Test func specialTokensPreferTheGenerationConfig() throws {
        let folder = try Fixtures.modelCopy("micro")
        defer { try? FileManager.default.removeItem(at: folder) }
        try Fixtures.editConfig(of: folder) { $0["eos_token_id"] = 7; $0["bos_token_id"] = [1, 2]; $0["pad_token_id"] = 3 }
        try Data(#"{"eos_token_id": 9, "pad_token_id": true}"#.utf8).write(to: folder.appendingPathComponent("generation_config.json"))
        // A list of ids, or `true`, is no id.
        #expect(try HFCheckpoint(folder: folder).specialTokens == SpecialTokenIDs(endOfText: 9, beginningOfText: nil, padding: 3))
    }
}
