import Foundation
import Testing
@testable import Generation

/// Logits processors and the sampler, checked on hand-computed cases of transformers' rules.
@Suite struct SamplingTests {
    @Test func repetitionPenaltyDividesPositiveAndMultipliesNegative() {
        var logits: [Float] = [2, -2, 1, 4]
        LogitsProcessors.applyRepetitionPenalty(&logits, context: [0, 1, 1], penalty: 2)
        #expect(logits == [1, -4, 1, 4])   // each distinct id once, prompt included
    }

    @Test func topKKeepsTiesWithTheKthValue() {
        var logits: [Float] = [1, 3, 3, 2, 3, 0]
        LogitsProcessors.applyTopK(&logits, k: 2)
        #expect(logits == [-.infinity, 3, 3, -.infinity, 3, -.infinity])
        var wide: [Float] = [1, 2]
        LogitsProcessors.applyTopK(&wide, k: 5)
        #expect(wide == [1, 2])
    }

    @Test func topPKeepsTheTokenThatCrossesTheThreshold() {
        // probabilities 0.5, 0.25, 0.125, 0.125 (as logits of their logs)
        let probabilities: [Float] = [0.125, 0.5, 0.125, 0.25]
        var logits = probabilities.map { log($0) }
        LogitsProcessors.applyTopP(&logits, p: 0.6)
        // ascending cumulative: 0.125, 0.25, 0.5, 1.0; removed where ≤ 0.4 → the two 0.125 tokens
        #expect(logits[0] == -.infinity && logits[2] == -.infinity)
        #expect(logits[1].isFinite && logits[3].isFinite)
        var tight = probabilities.map { log($0) }
        LogitsProcessors.applyTopP(&tight, p: 0.01)
        #expect(tight.filter(\.isFinite).count == 1 && tight[1].isFinite)   // always keeps the top token
    }

    @Test func kthLargestMatchesSorting() {
        var state: UInt64 = 3
        for count in [1, 2, 5, 100, 5000] {
            let values = (0..<count).map { _ -> Float in
                state = state &* 6364136223846793005 &+ 1442695040888963407
                return Float(Int(state >> 54)) / 16   // many ties
            }
            let sorted = values.sorted(by: >)
            for k in Set([1, 2, count / 2 + 1, count].filter { $0 >= 1 && $0 <= count }) {
                #expect(LogitsProcessors.kthLargest(values, k) == sorted[k - 1], "count \(count), k \(k)")
            }
        }
    }

    @Test func temperatureDivides() {
        var logits: [Float] = [1, -2, 4]
        LogitsProcessors.applyTemperature(&logits, temperature: 0.5)
        #expect(logits == [2, -4, 8])
    }

    @Test func greedyTakesTheLowestIndexOnTies() {
        var sampler = Sampler(options: .greedy)
        #expect(sampler.next(logits: [1, 5, 5, 2], context: []) == 1)
    }

    @Test func sameSeedSameTokensDifferentSeedDifferentTokens() {
        let logits = (0..<1000).map { Float(sin(Double($0))) * 3 }
        func draw(seed: UInt64) -> [Int] {
            var sampler = Sampler(options: SamplingOptions(temperature: 1, topK: 0, topP: 1, seed: seed))
            return (0..<50).map { _ in sampler.next(logits: logits, context: []) }
        }
        #expect(draw(seed: 7) == draw(seed: 7))
        #expect(draw(seed: 7) != draw(seed: 8))
    }

    @Test func samplesFollowTheDistribution() {
        // Three tokens with probabilities 0.6, 0.3, 0.1: frequencies over 20k draws within 0.015.
        let logits: [Float] = [log(0.6), log(0.3), log(0.1)]
        var sampler = Sampler(options: SamplingOptions(temperature: 1, topK: 0, seed: 42))
        var counts = [0, 0, 0]
        for _ in 0..<20_000 { counts[sampler.next(logits: logits, context: [])] += 1 }
        for (count, p) in zip(counts, [0.6, 0.3, 0.1]) { #expect(abs(Double(count) / 20_000 - p) < 0.015) }
    }

    @Test func topKOneIsGreedyUnderSampling() {
        var sampler = Sampler(options: SamplingOptions(temperature: 5, topK: 1, seed: 3))
        for _ in 0..<100 { #expect(sampler.next(logits: [0.1, 0.3, 0.2], context: []) == 1) }
    }

    @Test func invalidOptionsAreNamed() {
        #expect(throws: SamplingError.invalidOption("top-p must be in (0, 1], got 1.5")) { try SamplingOptions(topP: 1.5).validate() }
        #expect(throws: SamplingError.self) { try SamplingOptions(temperature: -1).validate() }
        #expect(throws: SamplingError.self) { try SamplingOptions(topK: -3).validate() }
        #expect(throws: SamplingError.self) { try SamplingOptions(repetitionPenalty: 0).validate() }
    }
}
