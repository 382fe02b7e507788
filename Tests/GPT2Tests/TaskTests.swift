import Foundation
import Testing
import TestSupport
@testable import GPT2Edge

/// The text-level tasks (`LoadedModel+Tasks`) against transformers' pipelines, recorded by the heads fixtures
/// (Tests/Fixtures/models/heads/*/reference.json, float32 folders): text classification with `top_k=None` and each
/// `function_to_apply`, token classification without aggregation and with "simple", question answering as
/// transformers 4.x's pipeline computes it (version 5 removed it; the fixture replays its code), multiple choice and
/// embeddings. Scores within 1e-4; labels, words, groups and offsets exactly.
@Suite struct TaskTests {
    static let tolerance = 1e-4

    static func folder(_ name: String) -> URL { Fixtures.local.appendingPathComponent("models/heads/\(name)") }
    static func reference(_ name: String) throws -> [String: Any] { try Fixtures.json(folder(name).appendingPathComponent("reference.json")) }
    static func model(_ name: String) throws -> LoadedModel {
        try LoadedModel.load(ModelSource.open(path: folder(name).path), policy: LoadPolicy(threads: 2))
    }
    static func number(_ value: Any?) -> Double { (value as! NSNumber).doubleValue }

    @Test(arguments: ["tiny-seqcls", "tiny-seqcls-multilabel", "kjv-seqcls"])
    func classificationMatchesTheTextClassificationPipeline(_ name: String) throws {
        let model = try Self.model(name)
        let pipeline = try Self.reference(name)["pipelines"] as! [String: Any]
        let recorded = (pipeline["text-classification"] as! [String: Any])["texts"] as! [[String: Any]]
        let texts = recorded.map { $0["text"] as! String }
        // One batched pass for all texts, and one pass each: the same numbers.
        let batched = try model.classify(texts)
        let alone = try texts.map { try model.classify([$0])[0] }
        for (index, entry) in recorded.enumerated() {
            #expect(model.tokenizer.encode(texts[index]) == (entry["input_ids"] as! [Any]).ints)
            for (key, scoring) in [("top_k_none", nil), ("sigmoid", ClassificationScoring.sigmoid), ("softmax", .softmax), ("none", ClassificationScoring.none)] {
                guard let expected = entry[key] as? [[String: Any]] else { continue }
                let result = scoring == nil ? batched[index] : try model.classify([texts[index]], scoring: scoring)[0]
                #expect(result.scores.map(\.label) == expected.map { $0["label"] as! String }, "\(name) \(texts[index]) \(key)")
                for (got, want) in zip(result.scores, expected) {
                    #expect(abs(got.score - Self.number(want["score"])) < Self.tolerance, "\(name) \(texts[index]) \(key) \(got.label)")
                }
            }
            let best = (entry["default_call"] as! [[String: Any]])[0]
            #expect(batched[index].label == best["label"] as! String)
            #expect(zip(batched[index].logits, (entry["logits"] as! [Any]).floats).allSatisfy { abs($0 - $1) < 1e-4 })
            #expect(zip(batched[index].logits, alone[index].logits).allSatisfy { abs($0 - $1) < 1e-5 })
        }
        let expectedDefault = (pipeline["text-classification"] as! [String: Any])["function_to_apply_default"] as! String
        #expect(batched[0].scoring.rawValue == expectedDefault)
    }

    @Test func scoringDefaultsFollowThePipeline() {
        var task = GPT2TaskConfig(labels: ["a", "b"])
        #expect(ClassificationScoring.default(for: task, labelCount: 2) == .softmax)
        #expect(ClassificationScoring.default(for: task, labelCount: 1) == .sigmoid)
        task.problemType = .multiLabel
        #expect(ClassificationScoring.default(for: task, labelCount: 2) == .sigmoid)
        task.problemType = .singleLabel
        #expect(ClassificationScoring.default(for: task, labelCount: 1) == .sigmoid)   // the pipeline tests one label first
        task.problemType = .regression
        #expect(ClassificationScoring.default(for: task, labelCount: 1) == ClassificationScoring.none)
    }

    @Test(arguments: ["tiny-tokcls", "kjv-tokcls"])
    func taggingMatchesTheTokenClassificationPipeline(_ name: String) throws {
        let model = try Self.model(name)
        let pipeline = (try Self.reference(name)["pipelines"] as! [String: Any])["token-classification"] as! [String: Any]
        #expect(pipeline["offsets_trimmed"] as? Bool == false)
        for entry in pipeline["texts"] as! [[String: Any]] {
            let text = entry["text"] as! String
            let tagging = try model.tag(text)
            #expect(tagging.tokens.map(\.word) == entry["tokens"] as! [String])
            #expect(tagging.tokens.map { [$0.start, $0.end] } == (entry["offsets"] as! [[Any]]).map(\.ints), "\(text)")
            let none = entry["none"] as! [[String: Any]]
            let kept = tagging.tokens(ignoring: ["O"])
            #expect(kept.map(\.entity) == none.map { $0["entity"] as! String }, "\(text)")
            #expect(kept.map(\.index) == none.map { ($0["index"] as! NSNumber).intValue })
            #expect(kept.map(\.word) == none.map { $0["word"] as! String })
            #expect(kept.map { [$0.start, $0.end] } == none.map { [($0["start"] as! NSNumber).intValue, ($0["end"] as! NSNumber).intValue] })
            for (got, want) in zip(kept, none) { #expect(abs(got.score - Self.number(want["score"])) < Self.tolerance) }
            let simple = entry["simple"] as! [[String: Any]]
            #expect(tagging.groups.map(\.entityGroup) == simple.map { $0["entity_group"] as! String }, "\(text)")
            #expect(tagging.groups.map(\.word) == simple.map { $0["word"] as! String }, "\(text)")
            #expect(tagging.groups.map { [$0.start, $0.end] } == simple.map { [($0["start"] as! NSNumber).intValue, ($0["end"] as! NSNumber).intValue] })
            for (got, want) in zip(tagging.groups, simple) { #expect(abs(got.score - Self.number(want["score"])) < Self.tolerance, "\(text) \(got.word)") }
        }
    }

    @Test func simpleGroupsFollowGroupEntities() {
        func token(_ index: Int, _ entity: String, _ score: Double) -> TokenTagging.Token {
            TokenTagging.Token(index: index, id: index, word: "t\(index)", text: "t\(index)", entity: entity, score: score, start: index, end: index + 1)
        }
        // B- starts a group; I- and bare labels continue one of the same tag; "O" groups are left out afterwards;
        // a bare label with a hyphen keeps what follows it (the pipeline's split("-", 1)[-1]).
        let tokens = [token(0, "B-PER", 0.5), token(1, "I-PER", 0.7), token(2, "B-PER", 0.9), token(3, "O", 0.8), token(4, "I-LOC", 0.4),
                      token(5, "LOC", 0.6), token(6, "x-y", 1)]
        let groups = TokenTagging.simpleGroups(of: tokens) { ids in ids.map { "t\($0)" }.joined() }
        #expect(groups.map(\.entityGroup) == ["PER", "PER", "LOC", "y"])
        #expect(groups.map(\.word) == ["t0t1", "t2", "t4t5", "t6"])
        #expect(groups.map { [$0.start, $0.end] } == [[0, 2], [2, 3], [4, 6], [6, 7]])
        #expect(abs(groups[0].score - 0.6) < 1e-12 && abs(groups[2].score - 0.5) < 1e-12)
        #expect(TokenTagging.simpleGroups(of: tokens, ignoring: []) { _ in "" }.count == 5)
    }

    @Test(arguments: ["tiny-qa", "kjv-qa"])
    func answersMatchTheQuestionAnsweringPipeline(_ name: String) throws {
        let model = try Self.model(name)
        let pipeline = (try Self.reference(name)["pipelines"] as! [String: Any])["question-answering"] as! [String: Any]
        for example in pipeline["examples"] as! [[String: Any]] {
            let question = example["question"] as! String, context = example["context"] as! String
            #expect(model.tokenizer.encode(question) + model.tokenizer.encode(context) == (example["input_ids"] as! [Any]).ints)
            for result in example["results"] as! [[String: Any]] {
                let topK = (result["top_k"] as! NSNumber).intValue, longest = (result["max_answer_len"] as! NSNumber).intValue
                for (key, aligned) in [("answers", true), ("answers_token_offsets", false)] {
                    let expected = result[key] as! [[String: Any]]
                    let got = try model.answers(question: question, context: context, topK: topK, maxAnswerLength: longest, alignToWords: aligned)
                    #expect(got.map(\.answer) == expected.map { $0["answer"] as! String }, "\(name) \(question) top \(topK) ≤\(longest) \(key)")
                    #expect(got.map { [$0.start, $0.end, $0.startToken, $0.endToken] }
                            == expected.map { [$0["start"], $0["end"], $0["start_token"], $0["end_token"]].map { ($0 as! NSNumber).intValue } })
                    for (answer, want) in zip(got, expected) { #expect(abs(answer.score - Self.number(want["score"])) < Self.tolerance) }
                }
            }
        }
    }

    @Test(arguments: ["tiny-double", "kjv-double"])
    func choicesMatchTheMultipleChoiceHead(_ name: String) throws {
        let model = try Self.model(name)
        let cases = try Self.reference(name)["cases"] as! [[String: Any]]
        let unpadded = cases.first { $0["name"] as! String == "unpadded-default-mc" }!
        let choices = (unpadded["texts"] as! [[String]])[0]
        let expected = ((unpadded["mc_logits"] as! [Any])[0] as! [Any]).floats
        let scores = try model.chooseAmong(choices: choices)
        #expect(zip(scores.map(\.logit), expected).allSatisfy { abs($0 - $1) < 1e-4 }, "\(scores.map(\.logit)) \(expected)")
        let exps = expected.map { exp(Double($0)) }
        for (score, e) in zip(scores, exps) { #expect(abs(score.probability - e / exps.reduce(0, +)) < Self.tolerance) }
        #expect(scores.filter(\.best).map(\.index) == [expected.firstIndex(of: expected.max()!)!])
        // The context goes before each choice: splitting the texts at their first word changes nothing.
        let first = choices[0].split(separator: " ")[0]
        if choices.allSatisfy({ $0.hasPrefix(first + " ") }) {
            let split = try model.chooseAmong(context: String(first), choices: choices.map { String($0.dropFirst(first.count)) })
            #expect(split.map(\.logit) == scores.map(\.logit))
        }
    }

    @Test(arguments: ["tiny-base", "kjv-base"])
    func embeddingsMatchTheBaseModel(_ name: String) throws {
        let model = try Self.model(name)
        for entry in try Self.reference(name)["cases"] as! [[String: Any]] {
            let texts = entry["texts"] as! [String]
            let expected = entry["embeddings"] as! [String: Any]
            for (key, pooling, normalize) in [("mean", EmbeddingPooling.mean, false), ("last", .last, false),
                                              ("mean_normalized", .mean, true), ("last_normalized", .last, true)] {
                let got = try model.embed(texts, pooling: pooling, normalize: normalize, tokensPerPass: 8)
                for (vector, want) in zip(got, (expected[key] as! [Any]).map { ($0 as! [Any]).floats }) {
                    let difference = zip(vector.embedding, want).map { abs($0 - $1) }.max()!
                    #expect(difference < 1e-4, "\(name) \(entry["name"]!) \(key): \(difference)")
                }
            }
        }
    }

    @Test func missingHeadsNameTheArchitectures() throws {
        let base = try Self.model("tiny-base")
        #expect(throws: GPT2HeadError.missing(.sequenceClassification, config: base.config)) { try base.classify(["x"]) }
        #expect(throws: GPT2HeadError.missing(.tokenClassification, config: base.config)) { try base.tag("x") }
        #expect(throws: GPT2HeadError.missing(.questionAnswering, config: base.config)) { try base.answer(question: "q", context: "c") }
        #expect(throws: GPT2HeadError.missing(.multipleChoice, config: base.config)) { try base.chooseAmong(choices: ["a"]) }
        let message = GPT2HeadError.missing(.questionAnswering, config: base.config).description
        #expect(message.contains("question-answering head") && message.contains("GPT2Model"), "\(message)")
        let source = try ModelSource.open(path: Self.folder("tiny-qa").path)
        #expect(source.heads == [.questionAnswering])
        #expect(throws: GPT2HeadError.self) { try source.requireHead(.sequenceClassification) }
        #expect(throws: GPT2HeadError.self) { try source.requireLanguageModelHead() }
        try ModelSource.open(path: Self.folder("tiny-double").path).requireLanguageModelHead()
    }

    @Test func emptyAndTooLongInputs() throws {
        let model = try Self.model("kjv-seqcls")
        let empty = #expect(throws: LoadedModel.TaskInputError.self) { try model.classify(["a", ""]) }
        #expect(empty?.description == "input 2: the text is empty (no tokens)")
        let long = String(repeating: "And Jesus wept. ", count: 100)
        let count = model.tokenizer.encode(long).count
        do {
            _ = try model.classify([long])
            Issue.record("a text longer than the context ran")
        } catch let error as LoadedModel.TaskInputError {
            #expect(error.description.contains("\(count) tokens") && error.description.contains("holds 256"), "\(error)")
        }
        let cut = try model.classify([long], truncate: true)[0]
        #expect(cut.truncated && cut.tokens == 256)

        let qa = try Self.model("kjv-qa")
        #expect(throws: LoadedModel.TaskInputError.self) { try qa.answer(question: "", context: "c") }
        #expect(throws: LoadedModel.TaskInputError.self) { try qa.answer(question: "Who?", context: "") }
        #expect(throws: LoadedModel.TaskInputError.self) { try qa.answer(question: "Who wept?", context: long) }
        let answer = try qa.answer(question: "Who wept?", context: long, truncate: true)
        #expect(answer.truncated && answer.endToken < 256)
        let double = try Self.model("kjv-double")
        #expect(throws: LoadedModel.TaskInputError("no choices given")) { try double.chooseAmong(choices: []) }
        #expect(throws: LoadedModel.TaskInputError.self) { try double.chooseAmong(context: long, choices: [" a"]) }
        #expect(try double.chooseAmong(context: long, choices: [" a", " b"], truncate: true).allSatisfy { $0.tokens == 256 })
    }

    /// Offsets and words as transformers 5.24's GPT2Tokenizer (fast) gives them on the kjv vocabulary
    /// (`return_offsets_mapping=True`, `word_ids()`): a token holding part of a character spans the whole character.
    @Test func characterOffsetsAndWordsMatchTokenizers() throws {
        let tokenizer = try GPT2Tokenizer(folder: Fixtures.local.appendingPathComponent("models/kjv"))
        let cases: [(String, [Int], [[Int]], [Int])] = [
            ("And Jesus<|endoftext|> wept", [1050, 735, 0, 2532], [[0, 3], [3, 9], [9, 22], [22, 27]], [0, 1, 2, 3]),
            ("café Ωmega 😀 naïve", [67, 65, 70, 128, 103, 221, 139, 103, 898, 71, 65, 221, 173, 254, 247, 223, 295, 65, 128, 108, 320],
             [[0, 1], [1, 2], [2, 3], [3, 4], [3, 4], [4, 5], [5, 6], [5, 6], [6, 8], [8, 9], [9, 10], [10, 11], [11, 12], [11, 12], [11, 12],
              [11, 12], [12, 14], [14, 15], [15, 16], [15, 16], [16, 18]],
             [0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3]),
            ("  two  spaces\nnew", [221, 694, 221, 426, 1246, 199, 806, 87], [[0, 1], [1, 5], [5, 6], [6, 9], [9, 13], [13, 14], [14, 16], [16, 17]],
             [0, 1, 2, 3, 3, 4, 5, 5]),
        ]
        for (text, ids, offsets, wordIDs) in cases {
            #expect(tokenizer.encode(text) == ids)
            let got = try #require(tokenizer.characterOffsets(of: ids, in: text))
            #expect(got.map { [$0.lowerBound, $0.upperBound] } == offsets, "\(text)")
            let words = tokenizer.words(in: text)
            #expect(words.count == (wordIDs.max() ?? -1) + 1, "\(text): \(words)")
            for (offset, word) in zip(got, wordIDs) { #expect(words[word].contains(offset.lowerBound) && offset.upperBound <= words[word].upperBound) }
        }
        #expect(tokenizer.characterOffsets(of: [1050], in: "And Jesus") == nil)
        #expect(try tokenizer.spelling(of: 735) == "ĠJesus")
    }
}

/// Found by the config fuzz target (tools/fuzz/corpus/config/crash-id2label-duplicate-id.json): two spellings of
/// one label id ("0" and "+0") left another id without a name, and decoding trapped on it.
@Suite struct TaskConfigDecodingTests {
    @Test func twoSpellingsOfOneLabelIDAreRefused() throws {
        let json = #"{"n_layer": 1, "n_head": 1, "n_embd": 4, "n_positions": 8, "vocab_size": 300, "id2label": {"0": "a", "+0": "b"}}"#
        do {
            _ = try JSONDecoder().decode(GPT2Config.self, from: Data(json.utf8))
            Issue.record("expected an error")
        } catch {
            #expect("\(error)".contains("id2label") && "\(error)".contains("appears twice"), "\(error)")
        }
    }
}
