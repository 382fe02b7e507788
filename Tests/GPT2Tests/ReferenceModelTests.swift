import Foundation
import Testing
import TestSupport
@testable import GPT2Edge

/// The float32 forward pass against logits and greedy tokens computed by Hugging Face transformers.
///
/// Tolerance: 1e-4 absolute on logits, as the fixtures suggest for float32; measured differences are
/// about 1e-5 (printed by `maximumLogitDifference` failures if they ever grow).
@Suite struct ReferenceModelTests {
    static let tolerance: Float = 1e-4

    static let localModels = ["micro", "flags-legacy", "flags-sharded", "flags-untied"]

    static func localFolder(_ name: String) -> URL { Fixtures.local.appendingPathComponent("models/\(name)") }

    struct Prompt {
        let name: String
        let ids: [Int]
        let fullLogits: [[Float]]?
        let top20: [[(Int, Float)]]?
        let logSumExp: [Float]
        let greedy: [Int]
    }

    static func localPrompts(_ name: String) throws -> [Prompt] {
        try prompts(at: localFolder(name))
    }

    /// The prompts of a reference.json written by tools/reference/test-models.py.
    static func prompts(at folder: URL) throws -> [Prompt] {
        let json = try Fixtures.json(folder.appendingPathComponent("reference.json"))
        return (json["prompts"] as! [[String: Any]]).map { p in
            Prompt(name: p["name"] as! String, ids: (p["input_ids"] as! [Any]).ints,
                   fullLogits: (p["logits"] as? [Any])?.map { ($0 as! [Any]).floats },
                   top20: (p["top20"] as? [Any])?.map { row in (row as! [Any]).map { pair in
                       let values = pair as! [Any]; return ((values[0] as! NSNumber).intValue, Float((values[1] as! NSNumber).doubleValue)) } },
                   logSumExp: (p["logsumexp"] as! [Any]).floats,
                   greedy: (p["greedy"] as! [Any]).ints)
        }
    }

    static func load(_ folder: URL, threads: Int = 2) throws -> LoadedModel {
        try LoadedModel.load(path: folder.path, threads: threads)
    }

    /// Checks all-position logits of `prompt` against the reference; returns the largest difference seen.
    @discardableResult
    static func check(_ logits: [Float], against prompt: Prompt, vocabulary: Int) -> Float {
        var worst: Float = 0
        for position in 0..<prompt.ids.count {
            let row = Array(logits[(position * vocabulary)..<((position + 1) * vocabulary)])
            if let full = prompt.fullLogits {
                for (a, b) in zip(row, full[position]) { worst = max(worst, abs(a - b)) }
            }
            if let top = prompt.top20 {
                for (id, value) in top[position] { worst = max(worst, abs(row[id] - value)) }
                #expect(LogitsProcessors.argmax(row) == top[position][0].0, "\(prompt.name) position \(position): top-1 differs")
            }
            let maximum = row.max()!
            let logSumExp = maximum + log(row.reduce(Float(0)) { $0 + exp($1 - maximum) })
            worst = max(worst, abs(logSumExp - prompt.logSumExp[position]))
        }
        #expect(worst <= tolerance, "\(prompt.name): largest logit difference \(worst)")
        return worst
    }

    @Test(arguments: localModels)
    func logitsMatchTransformers(model name: String) throws {
        let model = try Self.load(Self.localFolder(name))
        for prompt in try Self.localPrompts(name) {
            let logits = try model.network.forward(tokens: prompt.ids, cache: KVCache(config: model.config), logits: .allPositions)
            Self.check(logits, against: prompt, vocabulary: model.config.vocabularySize)
        }
    }

    @Test(arguments: localModels)
    func greedyContinuationsMatchTransformers(model name: String) throws {
        let model = try Self.load(Self.localFolder(name))
        for prompt in try Self.localPrompts(name) {
            let options = GenerationOptions(maxNewTokens: prompt.greedy.count, sampling: .greedy, ignoreEndOfText: true)
            let result = try TextGenerator(model: model).generate(promptTokens: prompt.ids, options: options)
            #expect(result.tokens == prompt.greedy, "\(name)/\(prompt.name)")
        }
    }

    @Test(arguments: localModels)
    func incrementalDecodingEqualsFullSequence(model name: String) throws {
        let model = try Self.load(Self.localFolder(name))
        let prompt = try Self.localPrompts(name).first { $0.name == "long" }!
        let full = try model.network.forward(tokens: prompt.ids, cache: KVCache(config: model.config), logits: .allPositions)
        let cache = KVCache(config: model.config)
        let prefill = 5
        var incremental = try model.network.forward(tokens: Array(prompt.ids[..<prefill]), cache: cache, logits: .allPositions)
        for token in prompt.ids[prefill...] {
            incremental += try model.network.forward(tokens: [token], cache: cache)
        }
        #expect(cache.length == prompt.ids.count)
        let worst = zip(full, incremental).map { abs($0 - $1) }.max()!
        #expect(worst <= 1e-5, "incremental vs full: \(worst)")
    }

    @Test(arguments: [1, 3, 4])
    func threadCountDoesNotChangeTheResult(threads: Int) throws {
        let single = try Self.load(Self.localFolder("micro"), threads: 1)
        let many = try Self.load(Self.localFolder("micro"), threads: threads)
        let prompt = try Self.localPrompts("micro").first { $0.name == "long" }!
        let a = try single.network.forward(tokens: prompt.ids, cache: KVCache(config: single.config), logits: .allPositions)
        let b = try many.network.forward(tokens: prompt.ids, cache: KVCache(config: many.config), logits: .allPositions)
        #expect(a == b, "the split across threads must not change any value")
    }

    @Test func contextLimitIsEnforced() throws {
        let model = try Self.load(Self.localFolder("flags-untied"))   // 16 positions
        let cache = KVCache(config: model.config)
        _ = try model.network.forward(tokens: Array(repeating: 1, count: 16), cache: cache)
        #expect(throws: GPT2Model.ForwardError.contextFull(needed: 17, contextLength: 16)) {
            try model.network.forward(tokens: [1], cache: cache)
        }
        #expect(throws: GPT2Model.ForwardError.tokenOutOfRange(token: 300, vocabularySize: 300)) {
            try model.network.forward(tokens: [300], cache: KVCache(config: model.config))
        }
        let generator = TextGenerator(model: model)
        #expect(throws: GenerationRequestError.promptTooLong(tokens: 20, contextLength: 16)) {
            try generator.generate(promptTokens: Array(repeating: 1, count: 20), options: GenerationOptions())
        }
        let result = try generator.generate(promptTokens: Array(repeating: 1, count: 10),
                                            options: GenerationOptions(maxNewTokens: 50, sampling: .greedy, ignoreEndOfText: true))
        #expect(result.finishReason == .length && result.tokens.count == 6)
    }

    @Test func kvCacheGrowsInChunksNotToTheFullContext() throws {
        let model = try Self.load(Self.localFolder("micro"))  // 64 positions
        let cache = KVCache(config: model.config)
        _ = try model.network.forward(tokens: [1, 2, 3], cache: cache)
        let width = model.config.embeddingWidth
        #expect(cache.allocatedBytes == 2 * model.config.layerCount * KVCache.growthChunk * width * 4)
        // A one-pass cache (a padded batch's row) holds exactly its tokens.
        let exact = KVCache(config: model.config, growthChunk: 1)
        _ = try model.network.forward(tokens: [1, 2, 3], cache: exact)
        #expect(exact.allocatedBytes == KVCache.bytes(config: model.config, positions: 3, precision: .f32))
    }
}
