import Foundation
import Testing
import TestSupport
@testable import GPT2
@testable import GPT2Edge

/// A config whose counts the file's tensors contradict is refused, naming the file and the field, before
/// anything is sized from the counts (a lying n_layer once made every command allocate without bound).
@Suite struct ConfigValidationTests {
    /// flags-untied holds one block, width 24, 16 positions, 300 tokens, an MLP 96 wide.
    static let lies: [(field: String, value: Int, reason: String)] = [
        ("n_layer", 1000, "n_layer is 1000 but the checkpoint holds 1 block (h.0)"),
        ("n_layer", 2, "n_layer is 2 but the checkpoint holds 1 block (h.0)"),
        ("n_embd", 32, "n_embd is 32 but wte.weight has shape [300, 24], not [vocab_size, n_embd] = [300, 32]"),
        ("vocab_size", 301, "vocab_size is 301 but wte.weight has shape [300, 24], not [vocab_size, n_embd] = [301, 24]"),
        ("n_positions", 32, "n_positions is 32 but wpe.weight has shape [16, 24], not [n_positions, n_embd] = [32, 24]"),
        ("n_inner", 64, "n_inner is 64 but h.0.mlp.c_fc.bias has shape [96], not [n_inner] = [64]"),
    ]

    static func error(_ body: () throws -> Any) -> Error? {
        do { _ = try body(); return nil } catch { return error }
    }

    @Test(arguments: lies.indices)
    func folderWhoseConfigLiesIsRefusedByEveryReader(lie: Int) throws {
        let (field, value, reason) = Self.lies[lie]
        let folder = try Fixtures.modelCopy("flags-untied")
        defer { try? FileManager.default.removeItem(at: folder) }
        try Fixtures.editConfig(of: folder) { $0[field] = value }
        let expected = CheckpointError.invalidConfig(path: folder.appendingPathComponent("config.json").path, reason: reason)
        let output = folder.appendingPathComponent("out.gqz")
        let readers: [(String, () throws -> Any)] = [
            ("gpt2Config", { try HFCheckpoint(folder: folder).gpt2Config() }),
            ("load", { try LoadedModel.load(path: folder.path, threads: 1) }),
            ("plan", { try MemoryPlan.forModel(ModelSource.open(path: folder.path), contextPositions: 8, promptTokens: 1, threads: 1) }),
            ("convert", { try ModelConverter.convert(folder: folder, to: output, options: ConversionOptions(threads: 1)) }),
        ]
        for (reader, read) in readers {
            let error = Self.error(read)
            #expect(error as? CheckpointError == expected, "\(reader): \(error.map { "\($0)" } ?? "no error")")
        }
        #expect(!FileManager.default.fileExists(atPath: output.path))
    }

    /// A config made in code skips the limits of `init(huggingFace:)`; validateTensors still checks its counts
    /// before it lists 12 tensors per layer.
    @Test func validateTensorsChecksTheLayerCountBeforeListingTensors() throws {
        let checkpoint = try HFCheckpoint(folder: Fixtures.local.appendingPathComponent("models/flags-untied"))
        var config = try checkpoint.gpt2Config()
        config.layerCount = 1_000_000_000
        let start = Date()
        let error = Self.error { try checkpoint.validateTensors(for: config) }
        #expect(error as? CheckpointError == .invalidConfig(path: checkpoint.configURL.path,
                                                            reason: "n_layer is 1000000000 but the checkpoint holds 1 block (h.0)"),
                "\(error.map { "\($0)" } ?? "no error")")
        #expect(Date().timeIntervalSince(start) < 5)
    }

    @Test(arguments: [("n_layer", 1_000_000_000, 1024, 48), ("n_head", 4096, 1024, 25), ("n_embd", 1 << 17, 65_536, 1600),
                      ("n_positions", 1 << 21, 1 << 20, 1024), ("vocab_size", 1 << 25, 1 << 24, 50257), ("n_inner", 1 << 21, 1 << 20, 6400)])
    func countsAboveTheLimitsAreRefusedWhenRead(field: String, value: Int, limit: Int, largest: Int) throws {
        let config = GPT2Config(layerCount: 2, headCount: 2, embeddingWidth: 16, contextLength: 64, vocabularySize: 300)
        var json = try JSONSerialization.jsonObject(with: JSONEncoder().encode(config)) as! [String: Any]
        json[field] = value
        let edited = try JSONSerialization.data(withJSONObject: json)
        #expect(throws: GPT2Config.Invalid(field: field, reason: "\(value) is more than this runtime accepts (at most \(limit); "
                                           + "the largest GPT-2, gpt2-xl, has \(largest))")) {
            try JSONDecoder().decode(GPT2Config.self, from: edited)
        }
    }

    /// Encoding writes config.json's fields, which decode to the same config; JSON types are told apart.
    @Test func configRoundTripsThroughJSONAndTellsFlagsFromCounts() throws {
        let config = GPT2Config(layerCount: 3, headCount: 2, embeddingWidth: 16, contextLength: 64, vocabularySize: 300, innerWidth: 40,
                                layerNormEpsilon: 1e-6, activation: .relu, scaleAttentionByInverseLayerIndex: true, tiedEmbeddings: false,
                                endOfTextToken: nil)
        let data = try JSONEncoder().encode(config)
        #expect(try JSONDecoder().decode(GPT2Config.self, from: data) == config)
        #expect(String(decoding: data, as: UTF8.self).contains(#""layer_norm_epsilon":1e-06"#))
        func reason(_ edit: String) -> String {
            let text = #"{"n_layer": 1, "n_head": 1, "n_embd": 8, "n_positions": 4, "vocab_size": 10, "# + edit + "}"
            do { _ = try JSONDecoder().decode(GPT2Config.self, from: Data(text.utf8)); return "accepted" } catch { return "\(error)" }
        }
        #expect(reason(#""n_inner": true"#) == "config field n_inner: expected a positive integer, got true")
        #expect(reason(#""n_inner": "32""#) == "config field n_inner: expected a positive integer, got 32")
        #expect(reason(#""tie_word_embeddings": 1"#) == "config field tie_word_embeddings: expected true or false, got 1")
        #expect(reason(#""layer_norm_epsilon": false"#) == "config field layer_norm_epsilon: expected a small positive number, got false")
        #expect(reason(#""n_inner": null, "scale_attn_weights": null, "n_ctx": 99"#) == "accepted")   // null is absent
    }

    @Test func absurdLayerCountInAFolderFailsFast() throws {
        let folder = try Fixtures.modelCopy("flags-untied")
        defer { try? FileManager.default.removeItem(at: folder) }
        try Fixtures.editConfig(of: folder) { $0["n_layer"] = 1_000_000_000 }
        let start = Date()
        let error = Self.error { try MemoryPlan.forModel(ModelSource.open(path: folder.path), contextPositions: 8, promptTokens: 1, threads: 1) }
        #expect("\(error.map { "\($0)" } ?? "")".contains("config.json: config field n_layer: 1000000000 is more than this runtime accepts"),
                "\(error.map { "\($0)" } ?? "no error")")
        #expect(Date().timeIntervalSince(start) < 5)
    }

    /// The .gqz file `source` with its metadata's config edited (every payload copied as it is).
    static func rewritten(_ source: String, to output: URL, _ edit: (inout JSONValue) -> Void) throws -> String {
        let file = try GQZFile(path: source)
        let writer = try GQZWriter(destination: output)
        for entry in file.entries {
            _ = try writer.add(name: entry.name, shape: entry.shape, scheme: entry.scheme, groupSize: entry.groupSize,
                               payload: try file.payload(entry.name))
        }
        var metadata = file.metadata
        edit(&metadata["model"]!["config"]!)
        try writer.finish(metadata: metadata)
        return output.path
    }

    @Test(arguments: lies.indices)
    func gqzWhoseConfigLiesIsRefusedByEveryReader(lie: Int) throws {
        let (field, value, reason) = Self.lies[lie]
        let folder = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: folder) }
        let converted = try Fixtures.converted("flags-untied", bits: 8, into: folder)
        let path = try Self.rewritten(converted, to: folder.appendingPathComponent("lying.gqz")) { $0[field] = .integer(value) }
        let expected = GQZError.corruptIndex(path: path, reason: "metadata.model.config: " + reason)
        let readers: [(String, () throws -> Any)] = [
            ("load", { try LoadedModel.load(path: path, threads: 1) }),
            ("load streaming", { try LoadedModel.load(path: path, threads: 1, streamLayers: true) }),
            ("plan", { try MemoryPlan.forModel(ModelSource.open(path: path), contextPositions: 8, promptTokens: 1, threads: 1) }),
            ("plan streaming", { try MemoryPlan.forModel(ModelSource.open(path: path), contextPositions: 8, promptTokens: 1, threads: 1, streamLayers: true) }),
        ]
        for (reader, read) in readers {
            let error = Self.error(read)
            #expect(error as? GQZError == expected, "\(reader): \(error.map { "\($0)" } ?? "no error")")
        }
    }

    @Test func gqzConfigAboveTheLimitsNamesTheFile() throws {
        let folder = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: folder) }
        let converted = try Fixtures.converted("flags-untied", bits: 8, into: folder)
        let path = try Self.rewritten(converted, to: folder.appendingPathComponent("lying.gqz")) { $0["n_layer"] = 1_000_000_000 }
        let error = Self.error { try MemoryPlan.forModel(ModelSource.open(path: path), contextPositions: 8, promptTokens: 1, threads: 1, streamLayers: true) }
        #expect(error as? GQZError == .corruptIndex(path: path, reason: "metadata.model.config field n_layer: 1000000000 is more than "
                                                     + "this runtime accepts (at most 1024; the largest GPT-2, gpt2-xl, has 48)"),
                "\(error.map { "\($0)" } ?? "no error")")
    }

    @Test func blockCountsAreDescribed() {
        #expect(GPT2Config.blockIndices(in: ["h.0.ln_1.weight", "h.0.ln_1.bias", "h.11.mlp.c_fc.bias", "h.x.y", "wte.weight", "h.3"]) == [0, 11])
        #expect(GPT2Config.describe([0]) == "h.0")
        #expect(GPT2Config.describe(Array(0..<48)) == "h.0 to h.47")
        #expect(GPT2Config.describe([0, 2]) == "h.0, h.2")
    }
}
