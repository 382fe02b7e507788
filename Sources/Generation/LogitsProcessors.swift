import Foundation

/// The logits processors of Hugging Face `generate()`, each a plain function on one row of scores,
/// applied by `Sampler` in transformers' order: repetition penalty → no-repeat n-gram, then (when sampling)
/// temperature → top-k → top-p → min-p → typical-p. Removed tokens get −∞, as transformers' `filter_value`.
public enum LogitsProcessors {
    /// `RepetitionPenaltyLogitsProcessor`: every distinct token in `context` (prompt included) has its
    /// logit divided by `penalty` if positive, multiplied if negative.
    public static func applyRepetitionPenalty(_ logits: inout [Float], context: [Int], penalty: Float) {
        guard penalty != 1 else { return }
        for token in Set(context) where token >= 0 && token < logits.count {
            let score = logits[token]
            logits[token] = score < 0 ? score * penalty : score / penalty
        }
    }

    /// `NoRepeatNGramLogitsProcessor`: bans every token that would complete an n-gram already in `context`.
    public static func applyNoRepeatNGram(_ logits: inout [Float], context: [Int], size n: Int) {
        guard n > 0, context.count + 1 >= n else { return }
        let prefix = context.suffix(n - 1)
        guard context.count >= n else { return }
        for start in 0...(context.count - n) where context[start..<(start + n - 1)].elementsEqual(prefix) {
            let banned = context[start + n - 1]
            if banned >= 0 && banned < logits.count { logits[banned] = -.infinity }
        }
    }

    /// `MinPLogitsWarper`: removes tokens whose probability is below `minP` × the top probability,
    /// always keeping the `minimumKept` most likely.
    public static func applyMinP(_ logits: inout [Float], minP: Float, minimumKept: Int = 1) {
        guard minP > 0 else { return }
        let probabilities = softmax(logits)
        let threshold = minP * (probabilities.max() ?? 0)
        let kept = Set(probabilities.indices.sorted { probabilities[$0] > probabilities[$1] }.prefix(minimumKept))
        for i in logits.indices where probabilities[i] < threshold && !kept.contains(i) { logits[i] = -.infinity }
    }

    /// `TypicalLogitsWarper` (locally typical sampling): keeps the tokens whose surprise is closest to the
    /// distribution's entropy, up to total probability `mass`.
    public static func applyTypical(_ logits: inout [Float], mass: Float, minimumKept: Int = 1) {
        guard mass < 1 else { return }
        let logSum = logSumExp(logits)
        let normalized = logits.map { $0 - logSum }
        var entropy: Float = 0
        for value in normalized where value.isFinite { entropy -= value * exp(value) }
        let shifted = normalized.map { abs(-$0 - entropy) }
        let order = shifted.indices.sorted { shifted[$0] < shifted[$1] || (shifted[$0] == shifted[$1] && $0 < $1) }
        let probabilities = softmax(order.map { logits[$0] })
        var cumulative: Float = 0
        var lastIndex = 0
        for probability in probabilities {
            cumulative += probability
            if cumulative < mass { lastIndex += 1 } else { break }
        }
        lastIndex = min(lastIndex, order.count - 1)
        let limit = shifted[order[lastIndex]]
        for (rank, index) in order.enumerated() where rank >= minimumKept && shifted[index] > limit { logits[index] = -.infinity }
    }

    /// `TemperatureLogitsWarper`.
    public static func applyTemperature(_ logits: inout [Float], temperature: Float) {
        guard temperature != 1 else { return }
        for i in logits.indices { logits[i] /= temperature }
    }

    /// `TopKLogitsWarper`: removes every token whose logit is below the k-th largest (ties survive).
    public static func applyTopK(_ logits: inout [Float], k: Int, minimumKept: Int = 1) {
        let k = min(max(k, minimumKept), logits.count)
        guard k > 0, k < logits.count else { return }
        let threshold = kthLargest(logits, k)
        for i in logits.indices where logits[i] < threshold { logits[i] = -.infinity }
    }

    /// `TopPLogitsWarper`: sorts ascending, removes tokens whose cumulative probability is ≤ 1 − p,
    /// always keeping the most likely `minimumKept`.
    public static func applyTopP(_ logits: inout [Float], p: Float, minimumKept: Int = 1) {
        guard p < 1 else { return }
        let order = logits.indices.sorted { logits[$0] < logits[$1] || (logits[$0] == logits[$1] && $0 < $1) }
        let probabilities = softmax(order.map { logits[$0] })
        var cumulative: Float = 0
        for (rank, index) in order.enumerated() {
            cumulative += probabilities[rank]
            if cumulative <= 1 - p && rank < order.count - minimumKept { logits[index] = -.infinity }
        }
    }

    /// exp(x − max) / Σ, with −∞ mapping to 0.
    public static func softmax(_ logits: [Float]) -> [Float] {
        let maximum = logits.max() ?? 0
        guard maximum > -.infinity else { return logits.map { _ in 1 / Float(logits.count) } }
        var sum: Double = 0
        var result = logits.map { value -> Float in let e = exp(value - maximum); return e }
        for value in result { sum += Double(value) }
        let inverse = Float(1 / sum)
        for i in result.indices { result[i] *= inverse }
        return result
    }

    /// log(softmax(x)) computed as x − max − log Σ exp(x − max), as `torch.log_softmax` (beam search scores).
    public static func logSoftmax(_ logits: [Float]) -> [Float] {
        guard (logits.max() ?? 0) > -.infinity else { return logits }
        let shift = logSumExp(logits)
        return logits.map { $0 - shift }
    }

    /// log Σ exp(x), as max + log Σ exp(x − max) (the normalizer of every log-softmax here), in float32.
    public static func logSumExp(_ logits: [Float]) -> Float {
        let maximum = logits.max() ?? 0
        var sum: Float = 0
        for value in logits { sum += exp(value - maximum) }
        return maximum + log(sum)
    }

    /// log Σ exp(x) in double precision (evaluation's losses and divergences, `gpt2-edge logits`).
    public static func logSumExp(_ row: ArraySlice<Float>) -> Double {
        let maximum = Double(row.max() ?? 0)
        var sum = 0.0
        for value in row { sum += exp(Double(value) - maximum) }
        return maximum + log(sum)
    }

    /// Indices of the `count` largest values, largest first (ties: lower index first).
    public static func largestIndices(_ values: [Float], count: Int) -> [Int] {
        guard count > 0 else { return [] }
        guard count < values.count else { return values.indices.sorted { values[$0] > values[$1] || (values[$0] == values[$1] && $0 < $1) } }
        let threshold = kthLargest(values, count)
        let above = values.indices.filter { values[$0] >= threshold }
        return Array(above.sorted { values[$0] > values[$1] || (values[$0] == values[$1] && $0 < $1) }.prefix(count))
    }

    /// Index of the largest logit; the lowest index wins a tie, as `torch.argmax`.
    public static func argmax(_ logits: [Float]) -> Int {
        var best = 0
        for i in logits.indices where logits[i] > logits[best] { best = i }
        return best
    }

    /// The k-th largest value (1-based) by quickselect: linear time, where a full sort of 50k logits per
    /// token cost more than a small model's forward pass.
    static func kthLargest(_ values: [Float], _ k: Int) -> Float {
        var items = values
        var low = 0, high = items.count - 1
        let target = k - 1   // index in descending order
        while low < high {
            let pivot = items[(low + high) / 2]
            var i = low, j = high
            while i <= j {
                while items[i] > pivot { i += 1 }
                while items[j] < pivot { j -= 1 }
                if i <= j { items.swapAt(i, j); i += 1; j -= 1 }
            }
            if target <= j { high = j } else if target >= i { low = i } else { return items[target] }
        }
        return items[target]
    }
}
