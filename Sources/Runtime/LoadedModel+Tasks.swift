import Foundation
import GPT2
import Tokenizer

/// The GPT-2 family's other models with text in and results out, as transformers' pipelines read them:
/// text classification, token classification, question answering, multiple choice and embeddings. Each needs the
/// head its task names (`GPT2HeadError.missing` names the model's architectures otherwise); every text is checked
/// against the context (`checkedInputs`) and many texts run in batched passes (`passes`).
///
/// ```swift
/// let model = try LoadedModel.load(ModelSource.open(path: "Tests/Fixtures/models/heads/kjv-seqcls"))
/// try model.classify(["And Jesus wept."])[0].label            // "positive" (a random 3-label head)
/// ```
extension LoadedModel {
    /// A task's input that cannot run: an empty text or question, no choices, a text longer than the model's context.
    /// It states the problem only; each front end adds its own remedy (the CLI's `--truncate`, a shorter request).
    public struct TaskInputError: Error, CustomStringConvertible, Equatable {
        /// Which input (0-based, as the caller numbered them) when the call took several; nil otherwise.
        public let index: Int?
        public let reason: String
        /// What truncation would keep so that the input fits ("keep its first 256"), when truncation was off and
        /// would help; nil otherwise.
        public let truncation: String?

        public init(index: Int? = nil, reason: String, truncation: String? = nil) {
            self.index = index
            self.reason = reason
            self.truncation = truncation
        }

        public init(_ reason: String) { self.init(reason: reason) }

        /// "input 2: the text is empty (no tokens)", or the reason alone for a call with one input.
        public var description: String { index.map { "input \($0 + 1): \(reason)" } ?? reason }
    }

    /// Each text's sequence classification (`GPT2ForSequenceClassification`), in the texts' order, as the
    /// text-classification pipeline scores it: `scoring` nil takes the pipeline's default for the config
    /// (`ClassificationScoring.default`). Texts are grouped into passes of at most `tokensPerPass` tokens; a text
    /// longer than the context is an error unless `truncate` (then its start is kept).
    public func classify(_ texts: [String], scoring: ClassificationScoring? = nil, truncate: Bool = false,
                         tokensPerPass: Int = LoadedModel.defaultTokensPerPass) throws -> [Classification] {
        let head = try network.weights.head(.sequenceClassification, config: config)
        let scoring = scoring ?? .default(for: config.task, labelCount: head.rows)
        let encoded = texts.map { tokenizer.encode($0) }
        let inputs = try checkedInputs(encoded, truncate: truncate, what: "text")
        var results: [Classification] = []
        results.reserveCapacity(inputs.count)
        for range in Self.passes(over: inputs, tokensPerPass: tokensPerPass) {
            let batch = try PaddedBatch(padding: Array(inputs[range]), side: .right, padID: config.task.padTokenID ?? 0)
            for (index, row) in zip(range, try network.classifySequences(batch)) {
                results.append(Classification(logits: row.logits, labels: config.task.label, scoring: scoring,
                                              tokens: inputs[index].count, truncated: inputs[index].count < encoded[index].count))
            }
        }
        return results
    }

    /// The text's token classification (`GPT2ForTokenClassification`): each token's best label, its softmax
    /// probability and offsets, and the token-classification pipeline's "simple" groups without `ignoredLabels`.
    /// A text longer than the context is an error unless `truncate` (then its first tokens are tagged).
    public func tag(_ text: String, ignoring ignoredLabels: Set<String> = ["O"], truncate: Bool = false) throws -> TokenTagging {
        _ = try network.weights.head(.tokenClassification, config: config)
        let encoded = tokenizer.encode(text)
        let tokens = try checkedInputs([encoded], truncate: truncate, what: "text")[0]
        guard let offsets = tokenizer.characterOffsets(of: encoded, in: text) else {
            preconditionFailure("the tokens of a text spell it exactly (byte-level BPE loses nothing)")
        }
        let logits = try network.classifyTokens(PaddedBatch(padding: [tokens], padID: 0))[0]
        let tagged = try tokens.enumerated().map { index, id -> TokenTagging.Token in
            let probabilities = ClassificationScoring.softmax.scores(Array(logits.scores(at: index)))
            let best = probabilities.indices.max { probabilities[$0] < probabilities[$1] }!   // the first of equals, as argmax
            return TokenTagging.Token(index: index, id: id, word: try tokenizer.spelling(of: id), text: try tokenizer.decode([id]),
                                      entity: config.task.label(best), score: probabilities[best],
                                      start: offsets[index].lowerBound, end: offsets[index].upperBound)
        }
        let groups = try TokenTagging.simpleGroups(of: tagged, ignoring: ignoredLabels) { try tokenizer.decode($0) }
        return TokenTagging(tokens: tagged, groups: groups, truncated: tokens.count < encoded.count)
    }

    /// The best answer to `question` in `context` (`GPT2ForQuestionAnswering`); see `answers`.
    public func answer(question: String, context: String, maxAnswerLength: Int = 15, alignToWords: Bool = true,
                       truncate: Bool = false) throws -> Answer {
        try answers(question: question, context: context, topK: 1, maxAnswerLength: maxAnswerLength, alignToWords: alignToWords,
                    truncate: truncate)[0]
    }

    /// The `topK` best answers to `question` in `context`, best first, as transformers' question-answering pipeline
    /// finds them for GPT-2 (4.x, `question_answering.py`): the input is the question's tokens followed by the
    /// context's (GPT-2's tokenizer joins a text pair with nothing between), start and end probabilities are softmaxes
    /// over the context's tokens only, a span's score is p(start) · p(end) with start ≤ end and at most
    /// `maxAnswerLength` tokens, and the answer is the context's characters from the span's first token to its last;
    /// with `alignToWords` (the pipeline's default) widened to the words around them, so an answer can keep a leading
    /// space. Spans whose texts are equal ignoring case are counted once, their scores added, as the pipeline does.
    ///
    /// A question and context longer than the model's context are an error, or with `truncate` the context's first
    /// tokens that fit are kept (the pipeline would split the context into overlapping windows instead).
    public func answers(question: String, context: String, topK: Int = 1, maxAnswerLength: Int = 15, alignToWords: Bool = true,
                        truncate: Bool = false) throws -> [Answer] {
        _ = try network.weights.head(.questionAnswering, config: config)
        guard topK >= 1 else { throw TaskInputError("top-k must be at least 1, got \(topK)") }
        guard maxAnswerLength >= 1 else { throw TaskInputError("the longest answer must be at least 1 token, got \(maxAnswerLength)") }
        let questionIDs = tokenizer.encode(question), contextIDs = tokenizer.encode(context)
        guard !questionIDs.isEmpty else { throw TaskInputError("the question is empty (no tokens)") }
        guard !contextIDs.isEmpty else { throw TaskInputError("the context is empty (no tokens)") }
        let limit = config.contextLength, asked = questionIDs.count
        var kept = contextIDs
        if asked + contextIDs.count > limit {
            let sizes = "the question (\(asked) tokens) and the context (\(contextIDs.count) tokens) have \(asked + contextIDs.count) tokens "
                + "but the model's context holds \(limit)"
            guard asked < limit else { throw TaskInputError(sizes + "; the question alone leaves no room for the context") }
            guard truncate else { throw TaskInputError(reason: sizes, truncation: "keep the context's first \(limit - asked) tokens") }
            kept = Array(contextIDs.prefix(limit - asked))
        }
        let logits = try network.answerSpanLogits(PaddedBatch(padding: [questionIDs + kept], padID: 0))[0]
        let startProbabilities = ClassificationScoring.softmax.scores(Array(logits.column(0)[asked...]))
        let endProbabilities = ClassificationScoring.softmax.scores(Array(logits.column(1)[asked...]))

        // Every span the pipeline's band of the outer product keeps, best first; equal scores in (start, end) order,
        // as numpy's argmax over the flattened matrix takes them.
        let n = kept.count
        var spans: [(score: Double, start: Int, end: Int)] = []
        for start in 0..<n {
            for end in start..<min(n, start + maxAnswerLength) {
                spans.append((startProbabilities[start] * endProbabilities[end], start, end))
            }
        }
        spans.sort { $0.score > $1.score || ($0.score == $1.score && ($0.start, $0.end) < ($1.start, $1.end)) }

        guard let offsets = tokenizer.characterOffsets(of: contextIDs, in: context) else {
            preconditionFailure("the tokens of a text spell it exactly (byte-level BPE loses nothing)")
        }
        var spanOfToken = offsets
        if alignToWords {
            // Every token lies within one word; walk both in order.
            let words = tokenizer.words(in: context)
            var word = 0
            for (index, offset) in offsets.enumerated() {
                while word + 1 < words.count && words[word].upperBound <= offset.lowerBound { word += 1 }
                spanOfToken[index] = words[word]
            }
        }
        let characters = Array(context.unicodeScalars)
        var answers: [Answer] = []
        for span in spans.prefix(topK) {
            let start = spanOfToken[span.start].lowerBound, end = spanOfToken[span.end].upperBound
            var text = String.UnicodeScalarView()
            text.append(contentsOf: characters[start..<end])
            let answer = String(text)
            if let same = answers.firstIndex(where: { $0.answer.lowercased() == answer.lowercased() }) {
                answers[same].score += span.score
            } else {
                answers.append(Answer(answer: answer, score: span.score, start: start, end: end, startToken: asked + span.start,
                                      endToken: asked + span.end, truncated: kept.count < contextIDs.count))
            }
        }
        // Python's sort is stable: merged answers of equal score keep their order.
        return answers.enumerated().sorted { $0.element.score > $1.element.score || ($0.element.score == $1.element.score && $0.offset < $1.offset) }
            .map(\.element)
    }

    /// Each choice scored by the multiple-choice head (`GPT2DoubleHeadsModel`'s `mc_logits`), in the choices' order:
    /// choice k is the text `context + choices[k]` (nothing is put between them: give a choice its leading space),
    /// scored at its last token (transformers' `mc_token_ids` default), with the softmax over the choices. All
    /// choices run in one pass. A text longer than the context is an error, or with `truncate` its end is kept
    /// (the context's start is dropped, so the choice and its last token stay).
    public func chooseAmong(context: String = "", choices: [String], truncate: Bool = false) throws -> [ChoiceScore] {
        _ = try network.weights.head(.multipleChoice, config: config)
        guard !choices.isEmpty else { throw TaskInputError("no choices given") }
        let limit = config.contextLength
        let inputs = try choices.enumerated().map { index, choice -> [Int] in
            guard !choice.isEmpty else { throw TaskInputError(index: index, reason: "the choice is empty") }
            let tokens = tokenizer.encode(context + choice)
            guard tokens.count <= limit else {
                guard truncate else {
                    throw TaskInputError(index: index, reason: "the choice with the context has \(tokens.count) tokens but the model's context holds \(limit)",
                                         truncation: "keep its last \(limit), dropping the context's start")
                }
                return Array(tokens.suffix(limit))
            }
            return tokens
        }
        let logits = try network.scoreChoices([PaddedBatch(padding: inputs, side: .right, padID: 0)])[0]
        let probabilities = ClassificationScoring.softmax.scores(logits)
        let best = probabilities.indices.max { probabilities[$0] < probabilities[$1] }!
        return choices.indices.map { index in
            ChoiceScore(index: index, choice: choices[index], logit: logits[index], probability: probabilities[index], best: index == best,
                        tokens: inputs[index].count)
        }
    }

    /// Each text's embedding (`embeddings(of:)`: the final hidden states pooled, unit length unless `normalize` is
    /// false), in the texts' order, grouped into passes of at most `tokensPerPass` tokens. Any GPT-2 model has them
    /// (a language model, a classifier, a bare `GPT2Model`). A text longer than the context is an error unless
    /// `truncate` (then its start is kept).
    public func embed(_ texts: [String], pooling: EmbeddingPooling = .mean, normalize: Bool = true, truncate: Bool = false,
                      tokensPerPass: Int = LoadedModel.defaultTokensPerPass) throws -> [TextEmbedding] {
        let encoded = texts.map { tokenizer.encode($0) }
        let inputs = try checkedInputs(encoded, truncate: truncate, what: "text")
        let vectors = try embeddings(of: inputs, pooling: pooling, normalize: normalize, tokensPerPass: tokensPerPass)
        return vectors.enumerated().map { index, vector in
            TextEmbedding(index: index, embedding: vector, tokens: inputs[index].count, truncated: inputs[index].count < encoded[index].count)
        }
    }
}
