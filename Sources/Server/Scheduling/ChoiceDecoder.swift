import Generation
import Tokenizer

/// One choice of a completion as it is generated: it turns each step's logits into the next token (OpenAI's logit
/// bias and presence/frequency penalties on the raw logits, then the Hugging Face processors and the seeded sampler
/// of `Sampler`), and the tokens into text pieces that never split a UTF-8 character nor reveal a stop string.
/// Streamed and whole responses are made of the same pieces, so they carry the same text.
struct ChoiceDecoder {
    /// The choice's index in the response.
    let index: Int
    private let tokenizer: GPT2Tokenizer
    private var sampler: Sampler
    private let parameters: CompletionParameters
    private let endOfText: Int
    /// Prompt and generated tokens (what the repetition penalty and the no-repeat n-gram rule look at).
    private var context: [Int]
    private var counts: [Int: Int] = [:]
    private var stopFilter: StopStringFilter
    private var decoder = StreamingDecoder()
    /// Characters of the choice's text so far, counted as each token's bytes complete characters (`text_offset`).
    private var offsetDecoder = StreamingDecoder()
    private var characters = 0
    /// Tokens generated (the end-of-text token is not one of them).
    private(set) var generated: [Int] = []
    /// Bytes of text released so far.
    private(set) var releasedBytes = 0
    /// Sum of the generated tokens' log-probabilities (best_of ranks choices by its mean).
    private(set) var logprobSum: Double = 0
    private(set) var finishReason: String?

    /// What one step adds to the choice: text that is now final, and the log-probabilities of the step's token.
    struct Piece: Sendable {
        var text = ""
        var logprobs: Completion.Logprobs?
    }

    init(index: Int, prompt: [Int], parameters: CompletionParameters, seedOffset: Int, tokenizer: GPT2Tokenizer, endOfText: Int) {
        self.index = index
        self.tokenizer = tokenizer
        self.parameters = parameters
        self.endOfText = endOfText
        var sampling = parameters.sampling
        sampling.seed = sampling.seed &+ UInt64(seedOffset)   // choices of one prompt: seeds seed, seed + 1, … as gpt2-edge generate
        sampler = Sampler(options: sampling)
        context = prompt
        stopFilter = StopStringFilter(stopStrings: parameters.stopStrings)
        if parameters.maxTokens == 0 { finishReason = "length" }
    }

    var isFinished: Bool { finishReason != nil }
    /// The token to run through the model next (the last one sampled).
    var lastToken: Int? { generated.last }

    /// The echoed prompt: its text, and with `logprobs` its tokens' log-probabilities (`scores[i]` is token i + 1's,
    /// worked out as the prompt went through the model; the first token has none).
    mutating func echo(prompt: [Int], scores: [(value: Float, top: [String: Float])]?) -> Piece {
        var piece = Piece(text: String(decoding: prompt.flatMap { tokenizer.tokenBytes[$0] }, as: UTF8.self))
        guard parameters.logprobs != nil else { return piece }
        var logprobs = Completion.Logprobs()
        for (position, token) in prompt.enumerated() {
            logprobs.tokens.append(tokenString(token))
            logprobs.textOffset.append(offset(adding: token))
            let score = position > 0 ? scores?[position - 1] : nil
            logprobs.tokenLogprobs.append(score?.value)
            logprobs.topLogprobs.append(score?.top)
        }
        piece.logprobs = logprobs
        return piece
    }

    /// Chooses the next token from this step's logits and returns what it adds.
    mutating func step(logits: [Float]) -> Piece {
        precondition(!isFinished, "a finished choice takes no more steps")
        var adjusted = logits
        for (token, bias) in parameters.logitBias { adjusted[token] += bias }
        if parameters.presencePenalty != 0 || parameters.frequencyPenalty != 0 {
            // OpenAI: mu[j] -= c[j] * frequency_penalty + (c[j] > 0) * presence_penalty, c counting generated tokens.
            for (token, count) in counts {
                adjusted[token] -= Float(count) * parameters.frequencyPenalty + parameters.presencePenalty
            }
        }
        let token = sampler.next(logits: adjusted, context: context)
        if token == endOfText && !parameters.ignoreEndOfText { return finish("stop") }
        generated.append(token)
        context.append(token)
        counts[token, default: 0] += 1

        var piece = Piece()
        if let top = parameters.logprobs {
            let (value, alternatives) = Self.logprobs(of: token, in: logits, top: top, tokenizer: tokenizer)
            logprobSum += Double(value)
            piece.logprobs = Completion.Logprobs(tokens: [tokenString(token)], tokenLogprobs: [value], topLogprobs: [alternatives],
                                                 textOffset: [offset(adding: token)])
        } else if parameters.generatedPerPrompt > parameters.choicesPerPrompt {
            logprobSum += Double(Self.logprobs(of: token, in: logits, top: 0, tokenizer: tokenizer).value)
        }
        let (text, stopped) = stopFilter.push(decoder.append(tokenizer.tokenBytes[token]))
        piece.text = text
        releasedBytes += text.utf8.count
        if stopped {
            finishReason = "stop"
            return piece
        }
        if generated.count == parameters.maxTokens {
            let rest = finish("length")
            piece.text += rest.text
        }
        return piece
    }

    /// Ends the choice: what the decoder and the stop filter still hold is released (unless a stop string is in it).
    mutating func finish(_ reason: String) -> Piece {
        guard !isFinished else { return Piece() }
        let (text, stopped) = stopFilter.push(decoder.finish())
        finishReason = stopped ? "stop" : reason
        let released = stopped ? text : text + stopFilter.flush()
        releasedBytes += released.utf8.count
        return Piece(text: released)
    }

    /// The generated tokens whose bytes lie within the released text (a stop string cuts the last ones).
    var tokensWithinText: Int { tokenizer.tokenCount(of: generated, within: releasedBytes) }

    private mutating func offset(adding token: Int) -> Int {
        defer { characters += offsetDecoder.append(tokenizer.tokenBytes[token]).unicodeScalars.count }
        return characters
    }

    private func tokenString(_ token: Int) -> String { String(decoding: tokenizer.tokenBytes[token], as: UTF8.self) }

    /// The log-probability of `token` under the raw `logits` (log-softmax, before any sampling setting) and the `top`
    /// most likely tokens' (plus `token` itself when it is not among them, as OpenAI reports up to logprobs + 1).
    static func logprobs(of token: Int, in logits: [Float], top: Int, tokenizer: GPT2Tokenizer) -> (value: Float, top: [String: Float]) {
        let normalizer = LogitsProcessors.logSumExp(logits)
        var alternatives: [String: Float] = [:]
        for candidate in LogitsProcessors.largestIndices(logits, count: top) + [token] {
            let key = String(decoding: tokenizer.tokenBytes[candidate], as: UTF8.self)
            let value = logits[candidate] - normalizer
            alternatives[key] = max(alternatives[key] ?? -.infinity, value)
        }
        return (logits[token] - normalizer, alternatives)
    }
}
