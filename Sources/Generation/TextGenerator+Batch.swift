import Foundation

extension TextGenerator {
    /// Continues several prompts at once: one batched forward pass per step for every sequence still running (each
    /// weight read once per step, not once per prompt), the prompts' own passes grouped up to `tokensPerPass` tokens.
    ///
    /// Each prompt gives exactly what `generate(promptTokens:options:)` gives it alone, sampled with the same seed:
    /// every sequence runs on its own real tokens at positions 0, 1, … (what transformers computes for a left-padded
    /// row with `position_ids` from the mask), and picks its tokens with its own sampler. With `numReturnSequences`
    /// > 1, each prompt gets that many samples (seeds `seed`, `seed + 1`, …), all in the same batch.
    ///
    /// ```swift
    /// let results = try generator.generateBatch(prompts: [tokenizer.encode("And God said"), tokenizer.encode("Blessed")],
    ///                                           options: options)
    /// results[1][0].text   // the second prompt's continuation
    /// ```
    /// `onText(prompt, sequence, piece)` streams each sequence's text as it becomes final; the pieces of different
    /// sequences interleave. Returns, per prompt, its `numReturnSequences` results. Beam search runs one prompt at a
    /// time (`beamSearch`), so `numBeams` must be 1.
    public func generateBatch(prompts: [[Int]], options: GenerationOptions, tokensPerPass: Int = 512,
                              onText: (_ prompt: Int, _ sequence: Int, _ piece: String) -> Void = { _, _, _ in },
                              shouldContinue: () -> Bool = { true }) throws -> [[GenerationResult]] {
        guard !prompts.isEmpty else { throw GenerationRequestError.invalidOption("there are no prompts to continue") }
        guard options.numBeams == 1 else {
            throw GenerationRequestError.invalidOption("beam search runs one prompt at a time, not a batch of \(prompts.count) (num_beams \(options.numBeams))")
        }
        for (index, prompt) in prompts.enumerated() {
            do { try validate(promptTokens: prompt, options: options) }
            catch let error as GenerationRequestError where prompts.count > 1 { throw GenerationRequestError.inPrompt(index, error) }
        }
        let rows = prompts.indices.flatMap { prompt in (0..<options.numReturnSequences).map { Row(prompt: prompt, sequence: $0) } }
        let results = try run(rows: rows, prompts: prompts, options: options, tokensPerPass: tokensPerPass,
                              onText: { row, piece in onText(row.prompt, row.sequence, piece) }, shouldContinue: shouldContinue)
        return prompts.indices.map { prompt in zip(rows, results).filter { $0.0.prompt == prompt }.map(\.1) }
    }

    /// One sequence of a run: which prompt it continues and which of that prompt's samples it is (its seed offset).
    struct Row { var prompt: Int; var sequence: Int }

    /// Runs `rows` (already validated) to the end, stepping them side by side; results in the order of `rows`.
    func run(rows: [Row], prompts: [[Int]], options: GenerationOptions, tokensPerPass: Int = 512,
             onText: (Row, String) -> Void, shouldContinue: () -> Bool) throws -> [GenerationResult] {
        let use: SequenceUse = rows.count == 1 ? .single : .batched
        let endOfText = endOfTextToken(options)
        var runs = try rows.map { row in
            SequenceGeneration(promptTokens: prompts[row.prompt], sequence: try model.makeSequence(use), options: options,
                               seed: options.sampling.seed &+ UInt64(row.sequence), endOfText: endOfText)
        }
        let tokenBytes = model.tokenizer.tokenBytes

        // The prompts, in passes of at most tokensPerPass tokens (a longer prompt runs alone in its own pass).
        let promptStart = Date()
        var feeds: [(run: Int, tokens: [Int])] = options.maxNewTokens > 0 ? runs.indices.map { ($0, runs[$0].promptTokens) } : []
        var logits: [[Float]] = []
        var pass: [(run: Int, tokens: [Int])] = [], passTokens = 0
        for feed in feeds {
            if !pass.isEmpty && passTokens + feed.tokens.count > tokensPerPass {
                logits += try model.forward(pass.map { (runs[$0.run].sequence, $0.tokens) })
                pass = []
                passTokens = 0
            }
            pass.append(feed)
            passTokens += feed.tokens.count
        }
        if !pass.isEmpty { logits += try model.forward(pass.map { (runs[$0.run].sequence, $0.tokens) }) }
        let promptSeconds = Date().timeIntervalSince(promptStart)
        let decodeStart = Date()

        if feeds.isEmpty { for index in runs.indices { runs[index].end(.maxTokens, onText: { onText(rows[index], $0) }) } }
        while !feeds.isEmpty {
            let going = shouldContinue()
            var next: [(run: Int, tokens: [Int])] = []
            for (index, feed) in feeds.enumerated() {
                let text = { (piece: String) in onText(rows[feed.run], piece) }
                if !going { runs[feed.run].end(.cancelled, onText: text); continue }
                if let tokens = try runs[feed.run].advance(logits: logits[index], contextLength: model.contextLength, tokenBytes: tokenBytes,
                                                           makeSequence: { try model.makeSequence(use) }, onText: text) {
                    next.append((feed.run, tokens))
                }
            }
            feeds = next
            if !feeds.isEmpty { logits = try model.forward(feeds.map { (runs[$0.run].sequence, $0.tokens) }) }
        }

        return runs.map { run in
            let tokens = run.finish == .stopString ? tokensWithin(run.text, of: run.generated) : run.generated
            return GenerationResult(promptTokens: run.promptTokens, tokens: tokens, text: run.text, finishReason: run.finish ?? .maxTokens,
                                    promptSeconds: promptSeconds, decodeSeconds: (run.endedAt ?? Date()).timeIntervalSince(decodeStart))
        }
    }
}
