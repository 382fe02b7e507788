import Foundation
import Testing
import TestSupport
import Tokenizer
@testable import Generation

/// The decode loop against a fake `LanguageModel` (no weights, no Runtime): it follows a script, one token after
/// another, and records every forward pass, so what TextGenerator asks of a model is checked on its own.
@Suite struct FakeModelGenerationTests {
    static let tokenizer = try! GPT2Tokenizer(folder: Fixtures.tokenizerFolder)
    static let prompt = tokenizer.encode("In the beginning")
    static let script = tokenizer.encode(" God created the heaven and earth.")   // no token twice: the next one follows from the last

    /// A model whose most likely next token is the script's token after the last one seen (end-of-text after the last).
    final class ScriptedModel: LanguageModel, @unchecked Sendable {   // @unchecked: `passes` is written under `lock`
        final class Sequence: LanguageModelSequence {
            var positions = 0
            var last: Int?
            var forks = 0
            func fork() throws -> Sequence {
                forks += 1
                let copy = Sequence()
                copy.positions = positions
                copy.last = last
                return copy
            }
        }

        let tokenizer: GPT2Tokenizer
        let contextLength: Int
        var vocabularySize: Int { tokenizer.vocabularySize }
        let endOfTextToken: Int? = nil
        let next: [Int: Int]
        private let lock = NSLock()
        private var recorded: [[Int]] = []
        /// The token counts of each step of each forward call, in order.
        var passes: [[Int]] { lock.withLock { recorded } }

        init(prompt: [Int], script: [Int], contextLength: Int = 1024) {
            tokenizer = FakeModelGenerationTests.tokenizer
            self.contextLength = contextLength
            var next: [Int: Int] = [:]
            for (a, b) in zip([prompt.last!] + script, script) { next[a] = b }
            self.next = next
        }

        func makeSequence(_ use: SequenceUse) throws -> Sequence { Sequence() }

        func forward(_ steps: [(sequence: Sequence, tokens: [Int])]) throws -> [[Float]] {
            lock.withLock { recorded.append(steps.map(\.tokens.count)) }
            return steps.map { step in
                step.sequence.positions += step.tokens.count
                step.sequence.last = step.tokens.last
                var logits = [Float](repeating: 0, count: vocabularySize)
                logits[next[step.tokens.last!] ?? tokenizer.endOfText!] = 10
                return logits
            }
        }
    }

    static func greedy(_ maxNewTokens: Int) -> GenerationOptions {
        var options = GenerationOptions(maxNewTokens: maxNewTokens)
        options.sampling.temperature = 0
        return options
    }

    @Test func greedyFollowsTheModelPromptInOnePassThenOneTokenAtATime() throws {
        let model = ScriptedModel(prompt: Self.prompt, script: Self.script)
        let result = try TextGenerator(model: model).generate(promptTokens: Self.prompt, options: Self.greedy(64))
        #expect(result.tokens == Self.script)
        #expect(result.text == " God created the heaven and earth.")
        #expect(result.finishReason == .endOfText)
        // The prompt in one pass, then one token per pass; the end-of-text token is never fed back.
        #expect(model.passes == [[Self.prompt.count]] + Array(repeating: [1], count: Self.script.count))
    }

    @Test func stopStringsCutTextAndTokensAndStopTheModel() throws {
        let model = ScriptedModel(prompt: Self.prompt, script: Self.script)
        var options = Self.greedy(64)
        options.stopStrings = [" heaven"]
        let result = try TextGenerator(model: model).generate(promptTokens: Self.prompt, options: options)
        #expect(result.text == " God created the")
        #expect(result.finishReason == .stopString)
        #expect(try Self.tokenizer.decode(result.tokens) == result.text)
        #expect(model.passes.count < Self.script.count + 1)
    }

    @Test func aFullContextEndsWithLengthOrShiftsIntoAFreshSequence() throws {
        let short = ScriptedModel(prompt: Self.prompt, script: Self.script, contextLength: Self.prompt.count + 3)
        let ended = try TextGenerator(model: short).generate(promptTokens: Self.prompt, options: Self.greedy(64))
        #expect(ended.finishReason == .length)
        #expect(ended.tokens == Array(Self.script.prefix(3)))

        var shifting = Self.greedy(Self.script.count)
        shifting.contextShift = true
        let shiftedModel = ScriptedModel(prompt: Self.prompt, script: Self.script, contextLength: 6)
        let shifted = try TextGenerator(model: shiftedModel).generate(promptTokens: Self.prompt, options: shifting)
        #expect(shifted.tokens == Self.script)   // the scripted model needs only the last token, so a shift loses nothing
        #expect(shiftedModel.passes.contains([3]))   // the newest half (6 / 2 positions) run again as a new sequence
    }

    @Test func beamSearchRunsEveryBeamInOneBatchedPass() throws {
        let model = ScriptedModel(prompt: Self.prompt, script: Self.script)
        var options = Self.greedy(5)
        options.numBeams = 3
        let results = try TextGenerator(model: model).beamSearch(promptTokens: Self.prompt, options: options)
        #expect(results.first?.tokens == Array(Self.script.prefix(5)))
        #expect(model.passes.first == [Self.prompt.count])
        #expect(model.passes.dropFirst().allSatisfy { $0 == [1, 1, 1] }, "\(model.passes)")
    }
}

/// Several prompts stepped side by side (`generateBatch`).
extension FakeModelGenerationTests {
    @Test func aBatchStepsEveryRunningSequenceInOnePassAndDropsTheFinishedOnes() throws {
        let later = Self.prompt + Array(Self.script.prefix(3))   // continues from the script's fourth token: ends 3 tokens sooner
        let model = ScriptedModel(prompt: Self.prompt, script: Self.script)
        var pieces: [Int: String] = [:]
        let results = try TextGenerator(model: model).generateBatch(prompts: [Self.prompt, later], options: Self.greedy(64),
                                                                    onText: { prompt, _, piece in pieces[prompt, default: ""] += piece })
        #expect(results.map { $0.map(\.tokens) } == [[Self.script], [Array(Self.script.dropFirst(3))]])
        #expect(results.allSatisfy { $0[0].finishReason == .endOfText })
        #expect(pieces[0] == results[0][0].text && pieces[1] == results[1][0].text)
        // Both prompts in one pass, then both rows per step until the shorter one ends, then the other alone.
        let rest = Self.script.count - 3
        #expect(model.passes == [[Self.prompt.count, later.count]] + Array(repeating: [1, 1], count: rest) + Array(repeating: [1], count: 3))
    }

    @Test func aRowWhoseContextFillsShiftsAloneWhileTheOthersStepOn() throws {
        var shifting = Self.greedy(Self.script.count)
        shifting.contextShift = true
        let model = ScriptedModel(prompt: Self.prompt, script: Self.script, contextLength: 6)
        let longer = Self.prompt + Array(Self.script.prefix(1))   // one position ahead, so it shifts one step sooner
        let results = try TextGenerator(model: model).generateBatch(prompts: [Self.prompt, longer], options: shifting)
        #expect(results[0][0].tokens == Self.script)
        #expect(results[1][0].tokens == Array(Self.script.dropFirst()))
        #expect(model.passes.contains([1, 3]), "\(model.passes)")   // the fuller row reruns its newest half; the other adds a token
    }

    @Test func aBatchRefusesBeamsAndNamesTheBadPrompt() throws {
        let model = ScriptedModel(prompt: Self.prompt, script: Self.script)
        var beams = Self.greedy(4)
        beams.numBeams = 2
        #expect(throws: GenerationRequestError.self) { try TextGenerator(model: model).generateBatch(prompts: [Self.prompt, Self.prompt], options: beams) }
        #expect(throws: GenerationRequestError.inPrompt(1, .emptyPrompt)) {
            try TextGenerator(model: model).generateBatch(prompts: [Self.prompt, [], Self.prompt], options: Self.greedy(4))
        }
        #expect(GenerationRequestError.inPrompt(1, .emptyPrompt).description.hasPrefix("prompt 2: the prompt is empty"))
        #expect(model.passes.isEmpty)   // refused before any pass
    }

    @Test func cancellingABatchEndsEverySequenceAsCancelled() throws {
        let model = ScriptedModel(prompt: Self.prompt, script: Self.script)
        var steps = 0
        let results = try TextGenerator(model: model).generateBatch(prompts: [Self.prompt, Self.prompt], options: Self.greedy(64),
                                                                    shouldContinue: { steps += 1; return steps <= 2 })
        #expect(results.map { $0[0].finishReason } == [.cancelled, .cancelled])
        #expect(results.map { $0[0].tokens } == [Array(Self.script.prefix(2)), Array(Self.script.prefix(2))])
    }
}
