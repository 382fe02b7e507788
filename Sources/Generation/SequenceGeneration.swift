import Foundation
import Tokenizer

/// One sequence of a generation run: its sampler, the text it has streamed, why it ended, and the sequence that holds
/// its positions. `TextGenerator` steps one of these for a single prompt and several side by side for a batch, with
/// the same code, so a prompt in a batch makes exactly the choices it makes alone.
struct SequenceGeneration<Sequence: LanguageModelSequence> {
    let promptTokens: [Int]
    /// Where the model keeps this sequence's positions (replaced when the context shifts).
    var sequence: Sequence
    /// Why the sequence ended; nil while it runs.
    private(set) var finish: FinishReason?
    private(set) var generated: [Int] = []
    private(set) var text = ""
    /// When the sequence ended (its decode time runs from the first new token to here).
    private(set) var endedAt: Date?

    private var sampler: Sampler
    private var context: [Int]
    private var stream: StopStringFilter
    private var decoder = StreamingDecoder()
    private let options: GenerationOptions
    private let stopToken: Int?
    private let endOfTextID: Int?

    init(promptTokens: [Int], sequence: Sequence, options: GenerationOptions, seed: UInt64, endOfText: Int?) {
        self.promptTokens = promptTokens
        self.sequence = sequence
        self.options = options
        var sampling = options.sampling
        sampling.seed = seed
        sampler = Sampler(options: sampling)
        context = promptTokens
        stream = StopStringFilter(stopStrings: options.stopStrings)
        endOfTextID = endOfText
        stopToken = options.ignoreEndOfText ? nil : endOfText
    }

    /// What the sequence feeds the model next: its prompt, one new token, or (after a context shift, on a fresh
    /// `sequence`) the newest half of its context.
    typealias Feed = [Int]

    /// Picks the next token from `logits` (the last position's), streams its text through `onText`, and returns the
    /// tokens to run next, or nil when the sequence has ended (`finish` says why). `makeSequence` gives the empty
    /// sequence a context shift restarts on.
    mutating func advance(logits: [Float], contextLength: Int, tokenBytes: TokenTable, makeSequence: () throws -> Sequence,
                          onText: (String) -> Void) rethrows -> Feed? {
        var logits = logits
        if generated.count < options.minNewTokens, let endOfTextID, endOfTextID < logits.count {
            logits[endOfTextID] = -.infinity   // MinNewTokensLengthLogitsProcessor
        }
        let token = sampler.next(logits: logits, context: context)
        if token == stopToken { return end(.endOfText, onText: onText) }
        generated.append(token)
        context.append(token)
        let (piece, stopped) = stream.push(decoder.append(tokenBytes[token]))
        emit(piece, onText)
        if stopped { return end(.stopString, onText: onText) }
        if generated.count == options.maxNewTokens { return end(.maxTokens, onText: onText) }
        if sequence.positions + 1 >= contextLength {   // the window (processed + this token) is full
            guard options.contextShift else { return end(.length, onText: onText) }
            // Keep the newest half and process it again from position 0 (GPT-2's positions are absolute).
            sequence = try makeSequence()
            return Array(context.suffix(contextLength / 2))
        }
        return [token]
    }

    /// Ends the sequence for `reason` (the caller cancelled, say), releasing the text held back.
    @discardableResult
    mutating func end(_ reason: FinishReason, onText: (String) -> Void) -> Feed? {
        guard finish == nil else { return nil }
        finish = reason
        endedAt = Date()
        if reason != .stopString {
            let (piece, stopped) = stream.push(decoder.finish())
            emit(piece, onText)
            if stopped { finish = .stopString } else { emit(stream.flush(), onText) }
        }
        return nil
    }

    private mutating func emit(_ piece: String, _ onText: (String) -> Void) {
        if !piece.isEmpty { text += piece; onText(piece) }
    }
}
