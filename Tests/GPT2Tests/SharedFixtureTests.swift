import Foundation
import Testing
import TestSupport
@testable import GPT2Edge

/// The reference checkpoints in ../shared/fixtures (tiny, small-odd), checked when that folder exists.
@Suite(.enabled(if: Fixtures.shared != nil, "../shared/fixtures not present beside this checkout"))
struct SharedFixtureTests {
    static let models = ["tiny", "small-odd"]

    static func folder(_ name: String) -> URL { Fixtures.shared!.appendingPathComponent("models/\(name)") }

    @Test(arguments: models)
    func everyPromptMatchesTransformers(model name: String) throws {
        let model = try LoadedModel.load(path: Self.folder(name).path, threads: 2)
        let reference = try Fixtures.json(Self.folder(name).appendingPathComponent("reference.json"))
        let vocabulary = model.config.vocabularySize
        var worst: Float = 0
        for prompt in reference["prompts"] as! [[String: Any]] {
            let label = "\(name)/\(prompt["name"]!)"
            let ids = (prompt["input_ids"] as! [Any]).ints
            let logits = try model.network.forward(tokens: ids, cache: KVCache(config: model.config), logits: .allPositions)
            // Top-20 logits at every position.
            for (position, top) in (prompt["top20"] as! [Any]).enumerated() {
                let pairs = (top as! [Any]).map { $0 as! [Any] }
                let row = Array(logits[(position * vocabulary)..<((position + 1) * vocabulary)])
                for pair in pairs {
                    worst = max(worst, abs(row[(pair[0] as! NSNumber).intValue] - Float((pair[1] as! NSNumber).doubleValue)))
                }
                #expect(LogitsProcessors.argmax(row) == (pairs[0][0] as! NSNumber).intValue, "\(label) position \(position)")
            }
            // Every logit of the last position, where given.
            if let last = prompt["last_logits"] as? [Any] {
                let row = logits[((ids.count - 1) * vocabulary)...]
                for (a, b) in zip(row, last.floats) { worst = max(worst, abs(a - b)) }
            }
            // Greedy continuation, generated through the KV cache.
            let greedy = prompt["greedy"] as! [String: Any]
            let expected = (greedy["tokens"] as! [Any]).ints
            let result = try TextGenerator(model: model).generate(
                promptTokens: ids, options: GenerationOptions(maxNewTokens: expected.count, sampling: .greedy, ignoreEndOfText: true))
            #expect(result.tokens == expected, "\(label) greedy")
        }
        #expect(worst <= ReferenceModelTests.tolerance, "\(name): largest logit difference \(worst)")
    }

    @Test(arguments: models)
    func finalLayerNormAndResidualMatch(model name: String) throws {
        // The logits cover these, but a mismatch here says where a regression starts.
        let model = try LoadedModel.load(path: Self.folder(name).path, threads: 2)
        let reference = try Fixtures.json(Self.folder(name).appendingPathComponent("reference.json"))
        let short = (reference["prompts"] as! [[String: Any]]).first { $0["name"] as! String == "short" }!
        let ids = (short["input_ids"] as! [Any]).ints
        let cache = KVCache(config: model.config)
        let logits = try model.network.forward(tokens: ids, cache: cache, logits: .lastPosition)
        #expect(logits.count == model.config.vocabularySize)
        let expected = Float((short["last_logsumexp"] as! NSNumber).doubleValue)
        let maximum = logits.max()!
        let logSumExp = maximum + log(logits.reduce(Float(0)) { $0 + exp($1 - maximum) })
        #expect(abs(logSumExp - expected) <= 1e-4)
    }

    @Test(arguments: models)
    func paddedBatchRowsEqualTheirUnpaddedRuns(model name: String) throws {
        let model = try LoadedModel.load(path: Self.folder(name).path, threads: 2)
        let reference = try Fixtures.json(Self.folder(name).appendingPathComponent("reference.json"))
        let batch = reference["batch"] as! [String: Any]
        let inputs = (batch["input_ids"] as! [Any]).map { ($0 as! [Any]).ints }
        let masks = (batch["attention_mask"] as! [Any]).map { ($0 as! [Any]).ints }
        let rows = try model.network.forward(paddedBatch: inputs, attentionMask: masks)
        let vocabulary = model.config.vocabularySize
        for (index, row) in (batch["rows"] as! [[String: Any]]).enumerated() {
            let length = (batch["lengths"] as! [Any]).ints[index]
            #expect(rows[index].count == length * vocabulary)
            // The row alone gives the same logits as inside the batch.
            let alone = try model.network.forward(tokens: Array(inputs[index][..<length]), cache: KVCache(config: model.config), logits: .allPositions)
            #expect(alone == rows[index])
            for (position, top) in (row["top20"] as! [Any]).enumerated() {
                for pair in (top as! [Any]).map({ $0 as! [Any] }) {
                    let got = rows[index][position * vocabulary + (pair[0] as! NSNumber).intValue]
                    #expect(abs(got - Float((pair[1] as! NSNumber).doubleValue)) <= ReferenceModelTests.tolerance)
                }
            }
        }
        // Left padding: the row runs at positions from its mask (cumsum - 1), so it gives what it gives alone.
        let left = try model.network.forward(paddedBatch: [[0, 1, 2, 3]], attentionMask: [[0, 1, 1, 1]])
        let unpadded = try model.network.forward(tokens: [1, 2, 3], cache: KVCache(config: model.config), logits: .allPositions)
        #expect(left == [unpadded])
        #expect(throws: GPT2Model.BatchError.self) {
            try model.network.forward(paddedBatch: [[1, 2, 3]], attentionMask: [[0, 0, 0]])   // no real token
        }
        #expect(throws: GPT2Model.BatchError.self) {
            try model.network.forward(paddedBatch: [[1, 2, 3]], attentionMask: [[1, 2, 1]])   // not a mask
        }
    }

    @Test(arguments: ["short", "near_max"])
    func incrementalMatchesFullOnTiny(prompt name: String) throws {
        let model = try LoadedModel.load(path: Self.folder("tiny").path, threads: 2)
        let reference = try Fixtures.json(Self.folder("tiny").appendingPathComponent("reference.json"))
        let prompt = (reference["prompts"] as! [[String: Any]]).first { $0["name"] as! String == name }!
        let ids = (prompt["input_ids"] as! [Any]).ints
        let full = try model.network.forward(tokens: ids, cache: KVCache(config: model.config), logits: .allPositions)
        let cache = KVCache(config: model.config)
        var incremental = try model.network.forward(tokens: [ids[0]], cache: cache, logits: .allPositions)
        for token in ids.dropFirst() { incremental += try model.network.forward(tokens: [token], cache: cache) }
        #expect(zip(full, incremental).map { abs($0 - $1) }.max()! <= 1e-5)
    }
}
