import Foundation
import Testing
import TestSupport
@testable import GPT2Edge

/// NaN or infinity in the weights: the forward pass names the layer that first produced a non-finite value,
/// every caller surfaces that as an error, and the converter refuses to write such weights into a .gqz file.
@Suite struct NonFiniteOutputTests {
    /// A copy of micro (two blocks, width 16) with `elements` of tensor `name` set to `value`.
    static func corruptMicro(_ name: String, elements: Range<Int>, value: Float = .nan) throws -> URL {
        let folder = try Fixtures.modelCopy("micro")
        try Fixtures.overwriteFloats(of: name, inModel: folder, elements: elements, with: value)
        return folder
    }

    @Test func nanInABlockIsNamedByTheForwardPass() throws {
        // c_proj [64, 16]: element 0 feeds output channel 0 of every row, so the first row (position 0) is the first hit.
        let folder = try Self.corruptMicro("h.1.mlp.c_proj.weight", elements: 0..<12)
        defer { try? FileManager.default.removeItem(at: folder) }
        let model = try LoadedModel.load(path: folder.path, threads: 1)
        let expected = GPT2Model.NonFiniteOutput(layer: "h.1", position: 0, value: .nan)
        #expect(throws: expected) { try model.network.forward(tokens: [1, 2, 3], cache: model.network.makeCache()) }
        #expect(expected.description == "the model's output is not finite: block h.1 produced NaN at position 0 "
                + "(its weights may be corrupt; check the source checkpoint)")
        #expect(throws: expected) { try model.network.forward(paddedBatch: [[1, 2], [3, 0]], attentionMask: [[1, 1], [1, 0]]) }
    }

    @Test func thePositionIsTheSequencePositionOfTheRow() throws {
        // One position-embedding row is corrupt: the embeddings are the first non-finite output, at that position.
        let folder = try Self.corruptMicro("wpe.weight", elements: (3 * 16)..<(3 * 16 + 1), value: .infinity)
        defer { try? FileManager.default.removeItem(at: folder) }
        let model = try LoadedModel.load(path: folder.path, threads: 1)
        let cache = model.network.makeCache()
        _ = try model.network.forward(tokens: [1, 2, 3], cache: cache)   // positions 0–2 are sound
        let expected = GPT2Model.NonFiniteOutput(layer: "wte+wpe", position: 3, value: .infinity)
        #expect(throws: expected) { try model.network.forward(tokens: [4, 5], cache: cache) }
        #expect(cache.length == 3)   // the failed pass added nothing
        #expect(expected.description.contains("the embeddings (wte+wpe) produced infinity at position 3"))
        // In a batch, the row's own sequence position counts (the second sequence's fourth token, at position 3).
        let other = model.network.makeCache()
        #expect(throws: expected) {
            try model.network.forward(batch: [.init(tokens: [1], cache: model.network.makeCache()), .init(tokens: [7, 8, 9, 10], cache: other)])
        }
    }

    @Test func nonFiniteFinalNormIsNamedAtTheLogits() throws {
        let folder = try Self.corruptMicro("ln_f.weight", elements: 0..<1, value: .infinity)
        defer { try? FileManager.default.removeItem(at: folder) }
        let model = try LoadedModel.load(path: folder.path, threads: 1)
        let error = #expect(throws: GPT2Model.NonFiniteOutput.self) {
            try model.network.forward(tokens: [1, 2, 3], cache: model.network.makeCache(), logits: .allPositions)
        }
        #expect(error?.layer == "ln_f/lm_head" && error?.position == 0, "\(String(describing: error))")
    }

    @Test func everyCallerSurfacesIt() async throws {
        let folder = try Self.corruptMicro("h.1.mlp.c_proj.weight", elements: 0..<12)
        defer { try? FileManager.default.removeItem(at: folder) }
        let model = try LoadedModel.load(path: folder.path, threads: 1)
        let expected = GPT2Model.NonFiniteOutput(layer: "h.1", position: 0, value: .nan)
        let generator = TextGenerator(model: model)
        let options = GenerationOptions(maxNewTokens: 3, sampling: SamplingOptions(seed: 1))
        #expect(throws: expected) { try generator.generate(prompt: "hi", options: options) }
        var beams = options
        beams.numBeams = 2
        #expect(throws: expected) { try generator.generateSequences(promptTokens: [1, 2], options: beams) }
        #expect(throws: expected) { try ModelEvaluator(model: model).evaluate(tokens: [1, 2, 3, 4]) }
        var caught: Error?
        do { for try await _ in generator.stream(prompt: "hi", options: options) {} } catch { caught = error }
        #expect(caught as? GPT2Model.NonFiniteOutput == expected)
    }

    @Test func converterRefusesANonFiniteTensor() throws {
        let folder = try Self.corruptMicro("h.1.attn.c_attn.weight", elements: 5..<15)
        defer { try? FileManager.default.removeItem(at: folder) }
        try Fixtures.overwriteFloats(of: "h.1.attn.c_attn.weight", inModel: folder, elements: 100..<102, with: -.infinity)
        let output = folder.appendingPathComponent("out.gqz")
        let expected = ConversionError.nonFiniteTensor(name: "h.1.attn.c_attn.weight",
                                                       path: folder.appendingPathComponent("model.safetensors").path, count: 12)
        #expect(throws: expected) { try ModelConverter.convert(folder: folder, to: output, options: ConversionOptions(threads: 1)) }
        #expect(expected.description.hasPrefix("h.1.attn.c_attn.weight in ")
                && expected.description.hasSuffix("holds 12 non-finite values (NaN or infinity); the checkpoint is corrupt"))
        let left = try FileManager.default.contentsOfDirectory(atPath: folder.path).filter { $0.contains("gqz") }
        #expect(left.isEmpty, "\(left)")
    }

    @Test func firstNonFiniteFindsTheFirstOfAnyKind() {
        for count in [0, 1, 15, 16, 17, 100] {
            #expect(firstNonFinite(in: FloatBuffer((0..<count).map { Float($0) - 50 }), count: count) == nil)
            for (index, value) in [(0, Float.nan), (count / 2, .infinity), (count - 1, -.infinity)] where count > 0 {
                var values = (0..<count).map { Float($0) }
                values[index] = value
                if index + 1 < count { values[count - 1] = .nan }   // a later one is not reported
                #expect(firstNonFinite(in: FloatBuffer(values), count: count) == index, "count \(count), \(value) at \(index)")
            }
        }
        #expect(firstNonFinite(in: FloatBuffer([.greatestFiniteMagnitude, -.greatestFiniteMagnitude, .leastNonzeroMagnitude]), count: 3) == nil)
        #expect(firstNonFinite(in: FloatBuffer([1, .nan]), count: 1) == nil)   // only the first `count` values
    }
}
