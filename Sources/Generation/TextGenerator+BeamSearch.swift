import Foundation

extension TextGenerator {
    /// Beam search as transformers' `generate(num_beams=…, do_sample=False)` does it, step for step: each step
    /// keeps the 2·numBeams best continuations over all beams (log-probabilities summed), the best numBeams that
    /// did not just end become the next beams, and those among the top numBeams that ended (end-of-text, a stop
    /// string, or the length limit) join the finished hypotheses, scored sum ÷ length^lengthPenalty.
    /// Returns the `numReturnSequences` best finished sequences, best first. All beams decode in one batched
    /// forward pass per step.
    public func beamSearch(promptTokens: [Int], options: GenerationOptions,
                           shouldContinue: () -> Bool = { true }) throws -> [GenerationResult] {
        try validate(promptTokens: promptTokens, options: options)
        let numBeams = options.numBeams
        let promptLength = promptTokens.count
        let maxLength = min(promptLength + options.maxNewTokens, model.contextLength)
        let endOfText = options.ignoreEndOfText ? nil : endOfTextToken(options)
        let candidatesKept = 2 * numBeams   // max(2, 1 + number of eos tokens) · num_beams
        let stops = StopStringFilter(stopStrings: options.stopStrings).stopStrings
        func text(of tokens: [Int]) -> String { (try? model.tokenizer.decode(tokens)) ?? "" }

        typealias Beam = BeamState<Model.Sequence>
        var finished: [(tokens: [Int], score: Float, reason: FinishReason)] = []
        var running = [Beam(tokens: [], score: 0, sequence: try model.makeSequence(.batched))]
        var improvementPossible = true
        var currentLength = promptLength

        let promptStart = Date()
        var logits = options.maxNewTokens > 0
            ? try model.forward([(running[0].sequence, promptTokens)]) : []
        let promptSeconds = Date().timeIntervalSince(promptStart)
        let decodeStart = Date()
        var cancelled = false

        while !logits.isEmpty {
            if !shouldContinue() { cancelled = true; break }
            // b. Log-probabilities, processed, plus each beam's running score.
            var candidates: [Candidate] = []
            for (b, beam) in running.enumerated() {
                var scores = LogitsProcessors.logSoftmax(logits[b])
                let context = promptTokens + beam.tokens
                LogitsProcessors.applyRepetitionPenalty(&scores, context: context, penalty: options.sampling.repetitionPenalty)
                LogitsProcessors.applyNoRepeatNGram(&scores, context: context, size: options.sampling.noRepeatNGramSize)
                if beam.tokens.count < options.minNewTokens, let endOfText, endOfText < scores.count { scores[endOfText] = -.infinity }
                for token in LogitsProcessors.largestIndices(scores, count: candidatesKept) {
                    candidates.append(Candidate(beam: b, token: token, score: scores[token] + beam.score, finish: nil))
                }
            }
            // c. The best continuations over all beams; d. which of them end here.
            candidates = Array(candidates.sorted { $0.score > $1.score }.prefix(candidatesKept))
            let atLimit = currentLength + 1 >= maxLength
            for i in candidates.indices {
                let candidate = candidates[i]
                let text = stops.isEmpty ? "" : text(of: running[candidate.beam].tokens + [candidate.token])
                if candidate.token == endOfText { candidates[i].finish = .endOfText }
                else if stops.contains(where: { text.contains($0) }) { candidates[i].finish = .stopString }
                else if atLimit { candidates[i].finish = maxLength < promptLength + options.maxNewTokens ? .length : .maxTokens }
            }
            // e. The next beams: the best candidates that did not end (ended ones sink by 1e9, as in transformers).
            let next = candidates.indices.sorted {
                candidates[$0].score + (candidates[$0].hitsStop ? -1e9 : 0) > candidates[$1].score + (candidates[$1].hitsStop ? -1e9 : 0)
            }.prefix(numBeams)
            // f. Among the top numBeams candidates, those that ended join the finished hypotheses.
            let full = finished.count == numBeams
            if improvementPossible && !(full && options.earlyStopping == .whenFull) {
                let lengthScale = powf(Float(currentLength + 1 - promptLength), options.lengthPenalty)
                for candidate in candidates.prefix(numBeams) {
                    guard let reason = candidate.finish else { continue }
                    let tokens = running[candidate.beam].tokens + (reason == .endOfText ? [] : [candidate.token])
                    finished.append((tokens, candidate.score / lengthScale, reason))
                }
                finished = Array(finished.sorted { $0.score > $1.score }.prefix(numBeams))
            }
            // g. Move the sequences along with their beams (fork one only when two beams continue it).
            var uses = [Int](repeating: 0, count: running.count)
            for i in next { uses[candidates[i].beam] += 1 }
            var nextBeams: [Beam] = []
            for i in next {
                let candidate = candidates[i]
                let source = running[candidate.beam]
                uses[candidate.beam] -= 1
                let sequence = uses[candidate.beam] > 0 ? try source.sequence.fork() : source.sequence
                nextBeams.append(Beam(tokens: source.tokens + [candidate.token],
                                      score: candidate.score + (candidate.hitsStop ? -1e9 : 0), sequence: sequence))
            }
            running = nextBeams
            currentLength += 1
            if improvementPossible && finished.count == numBeams {
                let bestLength = options.earlyStopping == .never && options.lengthPenalty > 0
                    ? maxLength - promptLength : currentLength - promptLength
                let bestPossible = running[0].score / powf(Float(bestLength), options.lengthPenalty)
                improvementPossible = bestPossible > finished.map(\.score).min()!
            }
            let keepGoing = improvementPossible && !(finished.count == numBeams && options.earlyStopping == .whenFull)
                && !candidates.allSatisfy(\.hitsStop)
            if !keepGoing { break }
            logits = try model.forward(running.map { ($0.sequence, [$0.tokens.last!]) })
        }

        let decodeSeconds = Date().timeIntervalSince(decodeStart)
        if cancelled || finished.isEmpty {   // cancelled, or nothing was generated: the running beams as they are
            finished = running.map { ($0.tokens, $0.score, cancelled ? .cancelled : .maxTokens) }
        }
        return finished.prefix(options.numReturnSequences).map { hypothesis in
            var text = text(of: hypothesis.tokens), tokens = hypothesis.tokens
            if let cut = stops.compactMap({ text.range(of: $0) }).min(by: { $0.lowerBound < $1.lowerBound }) {
                text = String(text[..<cut.lowerBound])
                tokens = tokensWithin(text, of: tokens)
            }
            var result = GenerationResult(promptTokens: promptTokens, tokens: tokens, text: text,
                                          finishReason: hypothesis.reason, promptSeconds: promptSeconds, decodeSeconds: decodeSeconds)
            result.score = hypothesis.score
            return result
        }
    }
}

/// A running beam: its tokens, its score, and the sequence that holds its positions.
private struct BeamState<Sequence> { var tokens: [Int]; var score: Float; var sequence: Sequence }

/// One continuation of a beam that beam search considers.
private struct Candidate {
    var beam: Int, token: Int, score: Float
    /// Why the sequence ends with this token, if it does (end-of-text, a stop string, the length limit).
    var finish: FinishReason?
    var hitsStop: Bool { finish != nil }
}
