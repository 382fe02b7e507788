import Foundation
import Testing
import TestSupport
@testable import GPT2Edge

/// Beam search against transformers' `generate(num_beams=…)` on the KJV fixture model
/// (Tests/Fixtures/sampling/beam_search.json, written by tools/reference/beam-search.py): the same sequences in
/// the same order, the same finish, the same scores.
@Suite struct BeamSearchTests {
    static let model = try! LoadedModel.load(path: Fixtures.local.appendingPathComponent("models/kjv").path, threads: 2)
    nonisolated(unsafe) static let cases = (try! Fixtures.json(Fixtures.local.appendingPathComponent("sampling/beam_search.json")))["cases"] as! [[String: Any]]

    static func options(_ item: [String: Any]) -> GenerationOptions {
        var options = GenerationOptions(maxNewTokens: item["max_new_tokens"] as! Int, sampling: .greedy)
        options.numBeams = item["num_beams"] as! Int
        options.numReturnSequences = item["num_return_sequences"] as! Int
        options.lengthPenalty = Float((item["length_penalty"] as! NSNumber).doubleValue)
        options.endOfTextToken = item["eos_token_id"] as? Int
        switch item["early_stopping"] {
        case let value as String: options.earlyStopping = BeamEarlyStopping(rawValue: value)!
        case let value as NSNumber: options.earlyStopping = value.boolValue ? .whenFull : .heuristic
        default: Issue.record("early_stopping missing")
        }
        if let size = item["no_repeat_ngram_size"] as? Int { options.sampling.noRepeatNGramSize = size }
        if let penalty = item["repetition_penalty"] as? NSNumber { options.sampling.repetitionPenalty = penalty.floatValue }
        if let minimum = item["min_new_tokens"] as? Int { options.minNewTokens = minimum }
        return options
    }

    @Test(arguments: cases.map { $0["name"] as! String })
    func matchesTransformers(caseName: String) throws {
        let item = Self.cases.first { $0["name"] as! String == caseName }!
        let prompt = (item["prompt_tokens"] as! [Any]).ints
        #expect(Self.model.tokenizer.encode(item["prompt"] as! String) == prompt)
        let results = try TextGenerator(model: Self.model).beamSearch(promptTokens: prompt, options: Self.options(item))
        let expected = item["sequences"] as! [[String: Any]]
        #expect(results.count == expected.count)
        for (index, (result, reference)) in zip(results, expected).enumerated() {
            #expect(result.tokens == (reference["tokens"] as! [Any]).ints, "\(caseName) sequence \(index): \(result.text)")
            #expect((result.finishReason == .endOfText) == (reference["ended_with_eos"] as! Bool), "\(caseName) sequence \(index)")
            let score = Float((reference["score"] as! NSNumber).doubleValue)
            #expect(abs((result.score ?? .nan) - score) <= 1e-3 * max(1, abs(score)), "\(caseName) sequence \(index): \(result.score ?? .nan) vs \(score)")
        }
    }

    @Test func oneBeamIsGreedy() throws {
        var options = GenerationOptions(maxNewTokens: 20, sampling: .greedy)
        let generator = TextGenerator(model: Self.model)
        let greedy = try generator.generate(prompt: "And God said", options: options)
        options.numBeams = 1
        let viaSequences = try generator.generateSequences(promptTokens: Self.model.tokenizer.encode("And God said"), options: options)
        #expect(viaSequences.map(\.tokens) == [greedy.tokens])
    }

    @Test func batchedBeamsEqualSeparateForwardPasses() throws {
        // The batched pass that beam search relies on gives each sequence what it would get alone.
        let network = Self.model.network
        let prompts = [[298, 259, 341], [269, 12], [14, 298, 259, 341, 395]]
        let alone = try prompts.map { try network.forward(tokens: $0, cache: KVCache(config: network.config)) }
        let caches = prompts.map { _ in KVCache(config: network.config) }
        let together = try network.forward(batch: zip(prompts, caches).map { .init(tokens: $0, cache: $1) })
        for (a, b) in zip(alone, together) { #expect(zip(a, b).allSatisfy { abs($0 - $1) <= 1e-4 }) }
        // And a step of one token each on caches of different lengths, one of them a copy.
        let copied = caches[0].copy()
        let step = try network.forward(batch: [.init(tokens: [12], cache: caches[0]), .init(tokens: [14], cache: copied),
                                               .init(tokens: [12], cache: caches[2])])
        let first = try network.forward(tokens: prompts[0] + [12], cache: KVCache(config: network.config))
        let second = try network.forward(tokens: prompts[0] + [14], cache: KVCache(config: network.config))
        let third = try network.forward(tokens: prompts[2] + [12], cache: KVCache(config: network.config))
        for (a, b) in [(step[0], first), (step[1], second), (step[2], third)] { #expect(zip(a, b).allSatisfy { abs($0 - $1) <= 1e-4 }) }
    }

    @Test func refusesMoreSequencesThanBeams() {
        var options = GenerationOptions(maxNewTokens: 5, sampling: .greedy)
        options.numBeams = 2
        options.numReturnSequences = 3
        #expect(throws: GenerationRequestError.self) { try TextGenerator(model: Self.model).beamSearch(promptTokens: [298], options: options) }
    }

    /// A stop string ends a beam when its text contains it; the text returned stops before it, and so do the tokens
    /// (they used to include the stop string's, which `text` left out).
    @Test func stopStringsEndBeams() throws {
        var options = GenerationOptions(maxNewTokens: 30, sampling: .greedy, ignoreEndOfText: true, stopStrings: ["LORD"])
        options.numBeams = 3
        options.numReturnSequences = 3
        let generator = TextGenerator(model: Self.model)
        let prompt = Self.model.tokenizer.encode("And it came to pass")
        let free = try generator.beamSearch(promptTokens: prompt, options: GenerationOptions(maxNewTokens: 30, sampling: .greedy, ignoreEndOfText: true))
        #expect(free[0].text.contains("LORD"), "the fixture's best beam mentions the LORD: \(free[0].text)")
        let stopped = try generator.beamSearch(promptTokens: prompt, options: options)
        #expect(!stopped.isEmpty)
        for result in stopped {
            #expect(!result.text.contains("LORD"), "\(result.text)")
            if result.finishReason == .stopString {
                let kept = try Self.model.tokenizer.decode(result.tokens)
                #expect(!kept.contains("LORD") && result.text.hasPrefix(kept))
            }
        }
        #expect(stopped.contains { $0.finishReason == .stopString })
    }
}
