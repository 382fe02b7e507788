/// Chooses next tokens from logits: the processors in Hugging Face order, then argmax or a draw
/// from the softmax with a seeded generator.
///
/// ```swift
/// var sampler = Sampler(options: SamplingOptions(temperature: 0.7, seed: 1))
/// let token = sampler.next(logits: logits, context: promptAndGenerated)
/// ```
public struct Sampler: Sendable {
    /// The options this sampler applies at every step.
    public let options: SamplingOptions
    private var generator: SeededGenerator

    public init(options: SamplingOptions) {
        self.options = options
        generator = SeededGenerator(seed: options.seed)
    }

    /// The processed scores for one step (what transformers' `logits_processor` would return).
    public func processedLogits(_ logits: [Float], context: [Int]) -> [Float] {
        var scores = logits
        LogitsProcessors.applyRepetitionPenalty(&scores, context: context, penalty: options.repetitionPenalty)
        LogitsProcessors.applyNoRepeatNGram(&scores, context: context, size: options.noRepeatNGramSize)
        if options.isGreedy { return scores }
        LogitsProcessors.applyTemperature(&scores, temperature: options.temperature)
        if options.topK > 0 { LogitsProcessors.applyTopK(&scores, k: options.topK) }
        LogitsProcessors.applyTopP(&scores, p: options.topP)
        LogitsProcessors.applyMinP(&scores, minP: options.minP)
        LogitsProcessors.applyTypical(&scores, mass: options.typicalP)
        return scores
    }

    /// The next token given this step's logits and every token so far (prompt included).
    public mutating func next(logits: [Float], context: [Int]) -> Int {
        let scores = processedLogits(logits, context: context)
        if options.isGreedy { return LogitsProcessors.argmax(scores) }
        let probabilities = LogitsProcessors.softmax(scores)
        var target = generator.nextUnit()
        var last = 0
        for (token, probability) in probabilities.enumerated() where probability > 0 {
            target -= Double(probability)
            last = token
            if target < 0 { return token }
        }
        return last  // rounding left a sliver: the last possible token
    }
}
