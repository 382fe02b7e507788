import Foundation
import Testing
import TestSupport
@testable import GPT2Edge

/// A broken model folder gets an error naming the file and the problem, never a crash.
@Suite struct LoadErrorTests {
    /// A copy of a committed model folder (tokenizer links resolved) to break in a test.
    static func loadError(_ folder: URL) -> String? {
        do { _ = try LoadedModel.load(path: folder.path, threads: 1); return nil } catch { return "\(error)" }
    }

    @Test(arguments: ["n_layer", "n_head", "n_embd", "n_positions", "vocab_size"])
    func missingConfigFieldIsNamed(field: String) throws {
        let folder = try Fixtures.modelCopy("flags-untied")
        defer { try? FileManager.default.removeItem(at: folder) }
        try Fixtures.editConfig(of: folder) { $0.removeValue(forKey: field) }
        let message = try #require(Self.loadError(folder))
        #expect(message.contains("config.json") && message.contains(field) && message.contains("missing"), "\(message)")
    }

    @Test func unsupportedValuesAreRefusedByName() throws {
        let folder = try Fixtures.modelCopy("flags-untied")
        defer { try? FileManager.default.removeItem(at: folder) }
        let cases: [(String, Any, String)] = [
            ("activation_function", "xielu", "xielu is not supported"),
            ("model_type", "gpt_neox", "gpt_neox is not supported"),
            ("add_cross_attention", true, "cross-attention"),
            ("n_head", 5, "not divisible"),
            ("scale_attn_weights", "yes", "expected true or false"),
            ("layer_norm_epsilon", -1, "layer_norm_epsilon"),
        ]
        for (field, value, fragment) in cases {
            let original = try Fixtures.json(folder.appendingPathComponent("config.json"))
            try Fixtures.editConfig(of: folder) { $0[field] = value }
            let message = try #require(Self.loadError(folder))
            #expect(message.contains(fragment) && message.contains("config.json"), "\(field): \(message)")
            try JSONSerialization.data(withJSONObject: original).write(to: folder.appendingPathComponent("config.json"))
        }
        #expect(Self.loadError(folder) == nil)
    }

    /// Replaces `text` in the safetensors header of `folder/model.safetensors` with `replacement` of the same length.
    static func editHeader(_ folder: URL, replacing text: String, with replacement: String) throws {
        precondition(text.utf8.count == replacement.utf8.count, "the header must keep its length")
        let url = folder.appendingPathComponent("model.safetensors")
        var data = try Data(contentsOf: url)
        let headerEnd = 8 + data.prefix(8).withUnsafeBytes { Int($0.loadUnaligned(as: UInt64.self).littleEndian) }
        let range = try #require(data.range(of: Data(text.utf8), in: 8..<headerEnd), "\(text) not in the header")
        data.replaceSubrange(range, with: Data(replacement.utf8))
        try data.write(to: url)
    }

    /// A tensor whose shape disagrees with the config, where the config's counts agree with the rest of the file
    /// (a count that the file contradicts is refused earlier: ConfigValidationTests).
    @Test func wrongTensorShapeIsNamed() throws {
        let folder = try Fixtures.modelCopy("flags-untied")
        defer { try? FileManager.default.removeItem(at: folder) }
        try Self.editHeader(folder, replacing: #""transformer.h.0.mlp.c_proj.weight":{"dtype":"F32","shape":[96,24]"#,
                            with: #""transformer.h.0.mlp.c_proj.weight":{"dtype":"F32","shape":[24,96]"#)
        let message = try #require(Self.loadError(folder))
        #expect(message.contains("h.0.mlp.c_proj.weight") && message.contains("[24, 96]") && message.contains("expected [96, 24]")
                && message.contains("model.safetensors"), "\(message)")
    }

    @Test func missingTensorIsNamed() throws {
        let folder = try Fixtures.modelCopy("flags-untied")
        defer { try? FileManager.default.removeItem(at: folder) }
        try Self.editHeader(folder, replacing: #""transformer.h.0.ln_2.bias""#, with: #""transformer.h.0.ln_2.biaz""#)
        let message = try #require(Self.loadError(folder))
        #expect(message.contains("h.0.ln_2.bias not found") && message.contains("model.safetensors"), "\(message)")
    }

    @Test(arguments: ["vocab.json", "merges.txt"])
    func missingTokenizerFileIsNamed(file: String) throws {
        let folder = try Fixtures.modelCopy("micro")
        defer { try? FileManager.default.removeItem(at: folder) }
        try FileManager.default.removeItem(at: folder.appendingPathComponent(file))
        let message = try #require(Self.loadError(folder))
        #expect(message.contains(folder.appendingPathComponent(file).path) && message.contains("not found"), "\(message)")
    }

    @Test func truncatedGQZFileIsNamed() throws {
        let folder = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: folder) }
        let file = folder.appendingPathComponent("model.gqz")
        try Data([1, 2, 3]).write(to: file)
        let message = try #require(Self.loadError(file))
        #expect(message.contains(file.path) && message.contains("shorter than the 40-byte preamble"), "\(message)")
    }
}
