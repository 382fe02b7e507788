import Foundation
import Testing
import TestSupport
@testable import GPT2Edge

/// Several prompts generated in one batch, against transformers' batched `generate()` on left-padded prompts
/// (Tests/Fixtures/sampling/batched_generation.json, written by tools/reference/batched-generate.py), and against
/// each prompt run alone.
@Suite struct BatchedGenerationTests {
    static let model = try! LoadedModel.load(path: Fixtures.local.appendingPathComponent("models/kjv").path, threads: 2)
    static let builtIn = try! LoadedModel.load(path: Fixtures.repositoryRoot.appendingPathComponent("Sources/CDefaultModel/default.gqz").path,
                                               threads: 2)
    nonisolated(unsafe) static let reference = try! Fixtures.json(Fixtures.local.appendingPathComponent("sampling/batched_generation.json"))
    nonisolated(unsafe) static let cases = reference["cases"] as! [[String: Any]]

    static func options(_ item: [String: Any]) -> GenerationOptions {
        var options = GenerationOptions(maxNewTokens: item["max_new_tokens"] as! Int, sampling: .greedy)
        options.endOfTextToken = item["eos_token_id"] as? Int
        if let minimum = item["min_new_tokens"] as? Int { options.minNewTokens = minimum }
        return options
    }

    @Test(arguments: cases.map { $0["name"] as! String })
    func matchesTransformersLeftPaddedBatch(caseName: String) throws {
        let item = Self.cases.first { $0["name"] as! String == caseName }!
        let rows = item["rows"] as! [[String: Any]]
        // The padded batch transformers ran: its real tokens are each prompt (the pad id inside a prompt stays).
        let batch = try PaddedBatch(inputIDs: rows.map { ($0["input_ids"] as! [Any]).ints },
                                    attentionMask: rows.map { ($0["attention_mask"] as! [Any]).ints })
        let prompts = rows.map { ($0["prompt_tokens"] as! [Any]).ints }
        #expect((0..<batch.count).map(batch.realTokens(row:)) == prompts)
        #expect(batch.inputIDs.contains { $0.first == Self.reference["pad_token_id"] as? Int }, "the reference batch is padded")

        let results = try TextGenerator(model: Self.model).generateBatch(prompts: prompts, options: Self.options(item))
        for (index, (result, row)) in zip(results.map { $0[0] }, rows).enumerated() {
            #expect(result.tokens == (row["tokens"] as! [Any]).ints, "\(caseName) row \(index): \(result.text)")
            #expect((result.finishReason == .endOfText) == (row["ended_with_eos"] as! Bool), "\(caseName) row \(index)")
            #expect(result.text == row["text"] as? String)
        }
    }

    /// Sampled, with processors and a stop string, on the int8 built-in model: each prompt of the batch gives
    /// exactly what it gives alone with the same seed, token for token, and its samples are those of
    /// `generateSequences` (seeds seed, seed + 1).
    @Test func eachPromptOfASampledBatchIsWhatItIsAlone() throws {
        let generator = TextGenerator(model: Self.builtIn)
        let tokenizer = Self.builtIn.tokenizer
        let prompts = ["And God said", "In the beginning God created the heaven and the earth.", "Blessed", "The LORD is my shepherd"]
            .map { tokenizer.encode($0) }
        var options = GenerationOptions(maxNewTokens: 32, sampling: SamplingOptions(temperature: 0.9, topK: 40, topP: 0.95,
                                                                                   repetitionPenalty: 1.2, seed: 1234))
        options.stopStrings = [" LORD"]
        options.numReturnSequences = 2
        var streamed: [String: String] = [:]
        let batch = try generator.generateBatch(prompts: prompts, options: options,
                                                onText: { prompt, sequence, piece in streamed["\(prompt).\(sequence)", default: ""] += piece })
        #expect(batch.map(\.count) == [2, 2, 2, 2])
        for (index, prompt) in prompts.enumerated() {
            let alone = try generator.generateSequences(promptTokens: prompt, options: options)
            #expect(batch[index].map(\.tokens) == alone.map(\.tokens), "prompt \(index)")
            #expect(batch[index].map(\.text) == alone.map(\.text), "prompt \(index)")
            #expect(batch[index].map(\.finishReason) == alone.map(\.finishReason), "prompt \(index)")
            #expect(batch[index].map(\.text) == [streamed["\(index).0"] ?? "", streamed["\(index).1"] ?? ""])
        }
        let finishes = Set(batch.flatMap { $0.map(\.finishReason) })
        #expect(finishes.count > 1, "the rows end for different reasons (a stop string, the token limit): \(finishes)")
    }

    /// Prompts grouped into passes of a few tokens give what one pass gives.
    @Test func promptPassesOfAnySizeGiveTheSameTokens() throws {
        let generator = TextGenerator(model: Self.builtIn)
        let prompts = ["And God said", "Blessed are the", "In the beginning"].map { Self.builtIn.tokenizer.encode($0) }
        let options = GenerationOptions(maxNewTokens: 12, sampling: .greedy)
        let whole = try generator.generateBatch(prompts: prompts, options: options)
        let split = try generator.generateBatch(prompts: prompts, options: options, tokensPerPass: 1)
        #expect(whole.map { $0.map(\.tokens) } == split.map { $0.map(\.tokens) })
    }
}
