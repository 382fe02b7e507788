import Foundation
import Kernels

/// GPT-2's forward pass in float32: the reference every faster path is checked against.
///
/// ```swift
/// let cache = KVCache(config: model.config)
/// let logits = try model.forward(tokens: [15496, 995], cache: cache)   // [2 × vocab]
/// let next = try model.forward(tokens: [11], cache: cache)            // uses the cached keys/values
/// ```
public final class GPT2Model: @unchecked Sendable {
    public let config: GPT2Config
    public let weights: GPT2Weights
    public let pool: ThreadPool
    /// One forward pass at a time: the pool and its scratch are shared, so concurrent callers take turns.
    private let forwardLock = NSLock()

    public init(config: GPT2Config, weights: GPT2Weights, threads: Int) {
        self.config = config
        self.weights = weights
        self.pool = ThreadPool(threadCount: threads)
    }

    /// Which positions' logits `forward` computes (the LM head is the largest matrix, so skip what is not needed).
    public enum LogitsScope: Sendable { case lastPosition, allPositions }

    public enum ForwardError: Error, CustomStringConvertible, Equatable {
        case emptyInput
        case tokenOutOfRange(token: Int, vocabularySize: Int)
        case contextFull(needed: Int, contextLength: Int)

        public var description: String {
            switch self {
            case .emptyInput: return "no tokens to process"
            case .tokenOutOfRange(let token, let size): return "token id \(token) is outside the model's vocabulary (0..<\(size))"
            case .contextFull(let needed, let length): return "\(needed) positions needed but the model's context holds \(length)"
            }
        }
    }

    /// Runs `tokens` (at positions cache.length…) through the model, appends their keys and values to
    /// `cache`, and returns the logits of the last position, or of every new position, row by row.
    public func forward(tokens: [Int], cache: KVCache, logits scope: LogitsScope = .lastPosition) throws -> [Float] {
        forwardLock.lock()
        defer { forwardLock.unlock() }
        guard !tokens.isEmpty else { throw ForwardError.emptyInput }
        if let bad = tokens.first(where: { $0 < 0 || $0 >= config.vocabularySize }) {
            throw ForwardError.tokenOutOfRange(token: bad, vocabularySize: config.vocabularySize)
        }
        let past = cache.length, count = tokens.count
        guard past + count <= config.contextLength else {
            throw ForwardError.contextFull(needed: past + count, contextLength: config.contextLength)
        }
        let c = config.embeddingWidth, inner = config.innerWidth
        cache.reserve(adding: count)

        let residual = FloatBuffer(count: count * c)
        let normed = FloatBuffer(count: count * c)
        let qkv = FloatBuffer(count: count * 3 * c)
        let attended = FloatBuffer(count: count * c)
        let projected = FloatBuffer(count: count * c)
        let hidden = FloatBuffer(count: count * inner)

        embed(tokens: tokens, positions: Array(past..<(past + count)), tokenTable: weights.tokenEmbedding,
              positionTable: weights.positionEmbedding, width: c, output: residual)
        for (index, layer) in weights.layers.enumerated() {
            // Attention block: x += c_proj(attention(c_attn(ln_1(x))))
            layerNorm(input: residual, rows: count, width: c, gain: layer.norm1Gain, bias: layer.norm1Bias,
                      epsilon: config.layerNormEpsilon, output: normed)
            layer.attentionWeight.apply(input: normed, rows: count, bias: layer.attentionBias, output: qkv, pool: pool)
            for t in 0..<count {
                copy(qkv, from: t * 3 * c + c, to: cache.keys[index], at: (past + t) * c, count: c)
                copy(qkv, from: t * 3 * c + 2 * c, to: cache.values[index], at: (past + t) * c, count: c)
            }
            causalAttention(queries: qkv, queryStride: 3 * c, newTokens: count, past: past,
                            keys: cache.keys[index], values: cache.values[index], cacheStride: c,
                            heads: config.headCount, headDim: config.headDim, scale: config.attentionScale(layer: index),
                            output: attended, pool: pool)
            layer.attentionProjectionWeight.apply(input: attended, rows: count, bias: layer.attentionProjectionBias,
                                                  output: projected, pool: pool)
            addInPlace(residual, projected, count: count * c)

            // MLP block: x += c_proj(act(c_fc(ln_2(x))))
            layerNorm(input: residual, rows: count, width: c, gain: layer.norm2Gain, bias: layer.norm2Bias,
                      epsilon: config.layerNormEpsilon, output: normed)
            layer.feedForwardWeight.apply(input: normed, rows: count, bias: layer.feedForwardBias, output: hidden, pool: pool)
            config.activation.apply(hidden, count: count * inner, pool: pool)
            layer.feedForwardProjectionWeight.apply(input: hidden, rows: count, bias: layer.feedForwardProjectionBias,
                                                    output: projected, pool: pool)
            addInPlace(residual, projected, count: count * c)
        }
        cache.commit(adding: count)

        let first = scope == .lastPosition ? count - 1 : 0
        let rows = count - first
        let finalInput = FloatBuffer(count: rows * c)
        copy(residual, from: first * c, to: finalInput, at: 0, count: rows * c)
        layerNorm(input: finalInput, rows: rows, width: c, gain: weights.finalNormGain, bias: weights.finalNormBias,
                  epsilon: config.layerNormEpsilon, output: finalInput)
        let logits = FloatBuffer(count: rows * config.vocabularySize)
        weights.languageModelHead.apply(input: finalInput, rows: rows, bias: nil, output: logits, pool: pool)
        return logits.array()
    }
}
