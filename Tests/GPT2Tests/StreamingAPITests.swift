import Foundation
import Testing
import TestSupport
@testable import GPT2Edge

@Suite struct StreamingAPITests {
    static let model = try! LoadedModel.load(path: Fixtures.local.appendingPathComponent("models/kjv").path, threads: 2)

    @Test func streamedPiecesEqualTheSynchronousResult() async throws {
        var options = GenerationOptions(maxNewTokens: 40, sampling: SamplingOptions(temperature: 0.9, topK: 40, seed: 11))
        options.stopStrings = ["Amen"]
        let generator = TextGenerator(model: Self.model)
        let expected = try generator.generate(prompt: "And God said", options: options)
        var pieces: [String] = []
        var finished: GenerationResult?
        for try await event in generator.stream(prompt: "And God said", options: options) {
            switch event {
            case .text(let piece): pieces.append(piece)
            case .finished(let result): finished = result
            }
        }
        #expect(pieces.joined() == expected.text)
        #expect(pieces.count > 5)
        #expect(finished?.tokens == expected.tokens && finished?.finishReason == expected.finishReason)
    }

    @Test func leavingTheStreamEarlyStopsCleanly() async throws {
        let options = GenerationOptions(maxNewTokens: 200, sampling: SamplingOptions(seed: 2), ignoreEndOfText: true)
        var received = 0
        for try await event in TextGenerator(model: Self.model).stream(prompt: "In the beginning", options: options) {
            if case .text = event { received += 1 }
            if received == 2 { break }   // drops the stream: generation must stop, not run on
        }
        #expect(received == 2)
        // Errors surface through the stream too.
        var caught: Error?
        do {
            for try await _ in TextGenerator(model: Self.model).stream(promptTokens: [], options: options) {}
        } catch { caught = error }
        #expect(caught as? GenerationRequestError == .emptyPrompt)
    }

    /// Several threads generating with one model at once get what each would alone (forward passes take turns).
    @Test func concurrentGenerationsOnOneModelAreIndependent() throws {
        let prompts = ["And God said", "In the beginning", "Blessed are", "And it came to pass"]
        let options = GenerationOptions(maxNewTokens: 24, sampling: .greedy, ignoreEndOfText: true)
        let generator = TextGenerator(model: Self.model)
        let alone = try prompts.map { try generator.generate(prompt: $0, options: options).tokens }
        final class Results: @unchecked Sendable { var tokens = [[Int]](repeating: [], count: 4); let lock = NSLock() }
        let results = Results()
        DispatchQueue.concurrentPerform(iterations: prompts.count) { i in
            let tokens = (try? generator.generate(prompt: prompts[i], options: options).tokens) ?? []
            results.lock.lock(); results.tokens[i] = tokens; results.lock.unlock()
        }
        #expect(results.tokens == alone)
    }
}
