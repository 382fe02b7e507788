import Foundation
import Kernels

/// GPT-2's forward pass in float32: the reference every faster path is checked against.
///
/// ```swift
/// let cache = KVCache(config: model.config)
/// let logits = try model.forward(tokens: [15496, 995], cache: cache)   // [2 × vocab]
/// let next = try model.forward(tokens: [11], cache: cache)            // uses the cached keys/values
/// ```
// @unchecked: every stored property is a `let`; the thread pool and the layer streamer's slot are used by one forward
// pass at a time (`forwardLock`), and caches belong to their callers.
public final class GPT2Model: @unchecked Sendable {
    /// The model's shape and numeric settings.
    public let config: GPT2Config
    /// Every tensor, float32 or quantized.
    public let weights: GPT2Weights
    /// The threads every kernel of a forward pass runs on.
    public let pool: ThreadPool
    /// The precision of caches made by `makeCache()`: float16 unless the caller chooses (the loader picks
    /// float32 for float32 checkpoints, the reference path).
    public let cachePrecision: KVCache.Precision
    /// Where an `ActivationObserver` is called: the output of ln_1 (what c_attn reads) or of ln_2 (what c_fc reads).
    public enum ObservedPoint: Sendable { case attentionInput, feedForwardInput }
    /// Called during a forward pass with the layer-norm outputs that the first matrices of a block read
    /// (`rows × n_embd` floats), for calibration statistics.
    public typealias ActivationObserver = (_ layer: Int, _ point: ObservedPoint, _ values: FloatBuffer, _ rows: Int) -> Void
    /// One forward pass at a time: the pool and its scratch are shared, so concurrent callers take turns.
    private let forwardLock = NSLock()

    public init(config: GPT2Config, weights: GPT2Weights, threads: Int, cachePrecision: KVCache.Precision = .f16) {
        self.config = config
        self.weights = weights
        self.pool = ThreadPool(threadCount: threads)
        self.cachePrecision = cachePrecision
    }

    /// The same weights and threads with a shorter context (`limitingContext(to:)`).
    private init(config: GPT2Config, weights: GPT2Weights, pool: ThreadPool, cachePrecision: KVCache.Precision) {
        self.config = config
        self.weights = weights
        self.pool = pool
        self.cachePrecision = cachePrecision
    }

    /// This model, sharing its weights and thread pool, with its context cut to `positions` (llama.cpp's `-c`):
    /// caches, the forward pass's limit and everything sized from `config.contextLength` follow. The position
    /// embedding keeps its rows; the later ones are simply never read.
    public func limitingContext(to positions: Int) -> GPT2Model {
        precondition(positions >= 1 && positions <= config.contextLength, "context \(positions) outside 1...\(config.contextLength)")
        var limited = config
        limited.contextLength = positions
        return GPT2Model(config: limited, weights: weights, pool: pool, cachePrecision: cachePrecision)
    }

    /// An empty KV cache for this model in `cachePrecision`.
    public func makeCache() -> KVCache { KVCache(config: config, precision: cachePrecision) }

    /// A cache for one pass and no more (a padded batch's row): it holds exactly the row's tokens, where a growing
    /// cache would round each short row up to 64 positions (30 rows of 17 tokens: 1920 positions instead of 510).
    func makeOnePassCache() -> KVCache { KVCache(config: config, precision: cachePrecision, growthChunk: 1) }

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
    public func forward(tokens: [Int], cache: KVCache, logits scope: LogitsScope = .lastPosition,
                        observer: ActivationObserver? = nil) throws -> [Float] {
        try forward(batch: [BatchItem(tokens: tokens, cache: cache)], logits: scope, observer: observer)[0]
    }

    /// One sequence's part of a batched forward pass: its new tokens and the cache they extend.
    public struct BatchItem {
        public var tokens: [Int]
        public var cache: KVCache
        /// Which of this sequence's positions get logits; nil: the batch's scope (a server batches a request that
        /// scores its prompt, `echo` with `logprobs`, beside others that only need their last position).
        public var logits: LogitsScope?
        public init(tokens: [Int], cache: KVCache, logits: LogitsScope? = nil) {
            self.tokens = tokens
            self.cache = cache
            self.logits = logits
        }
    }

    /// Runs several sequences at once, each on its own cache (beams, parallel samples): the matrix products
    /// see all their rows together, so each weight is read once per step instead of once per sequence.
    /// Returns each sequence's logits (its last position, or all its new positions). `observer` (nil costs nothing)
    /// sees the layer-norm outputs each block's first matrices read.
    public func forward(batch: [BatchItem], logits scope: LogitsScope = .lastPosition,
                        observer: ActivationObserver? = nil) throws -> [[Float]] {
        forwardLock.lock()
        defer { forwardLock.unlock() }
        guard let languageModelHead = weights.languageModelHead else { throw GPT2HeadError.noLanguageModelHead(config: config) }
        let (residual, firstRows, positions) = try runBlocks(batch, observer: observer)
        let c = config.embeddingWidth
        // The final norm and LM head only for the rows whose logits are wanted, all sequences together.
        let wanted: [Range<Int>] = zip(batch, firstRows).map { sequence, firstRow in
            let end = firstRow + sequence.tokens.count
            return (sequence.logits ?? scope) == .lastPosition ? (end - 1)..<end : firstRow..<end
        }
        let rows = wanted.reduce(0) { $0 + $1.count }
        let finalInput = FloatBuffer(count: rows * c)
        var row = 0
        for range in wanted {
            copy(residual, from: range.lowerBound * c, to: finalInput, at: row * c, count: range.count * c)
            row += range.count
        }
        layerNorm(input: finalInput, rows: rows, width: c, gain: weights.finalNormGain, bias: weights.finalNormBias,
                  epsilon: config.layerNormEpsilon, output: finalInput)
        let vocabulary = config.vocabularySize
        let logits = FloatBuffer(count: rows * vocabulary)
        try languageModelHead.apply(input: finalInput, rows: rows, output: logits, pool: pool)
        let logitRows = wanted.flatMap { Array($0) }   // the residual row of each logits row
        try checkFinite(logits, rows: rows, width: vocabulary, producedBy: "ln_f/lm_head") { positions[logitRows[$0]] }
        var results: [[Float]] = []
        row = 0
        for range in wanted {
            results.append(logits.array(row * vocabulary..<(row + range.count) * vocabulary))
            row += range.count
        }
        return results
    }

    /// Loads what a streamed forward pass loads, without computing anything: every block in turn (layer streaming) and
    /// every frame of a streamed LM head (or, without one, of the streamed embedding). Returns the weight bytes it
    /// decompressed (0 when nothing streams): what streamed decode is bounded by, measured alone (`gpt2-edge bench`).
    public func loadStreamedWeights() throws -> Int {
        try withForwardLock {
            var bytes = 0
            if let streamer = weights.streamer {
                for index in 0..<config.layerCount { _ = try streamer.layer(index) }
                bytes += streamer.matrixBytesPerToken
            }
            if case .streamed(let frames)? = weights.languageModelHead ?? weights.tokenEmbedding as VocabularyMatrix? {
                try frames.forEachFrame(Array(0..<frames.frameCount)) { _, _ in }
                bytes += frames.bytesPerPass
            }
            return bytes
        }
    }

    /// The lock every forward pass holds (the pool and the layer streamer's slot are shared).
    func withForwardLock<R>(_ body: () throws -> R) rethrows -> R {
        forwardLock.lock()
        defer { forwardLock.unlock() }
        return try body()
    }

    /// Checks a batch (tokens, room in each cache, one cache per sequence), runs it through the embeddings and every
    /// block, appending keys and values to each sequence's cache, and returns the residual stream of every new
    /// position (before ln_f), the first row of each sequence in it, and each row's position. `layerInput(i, residual)`
    /// sees the stream entering block i (i = 0: the embeddings). Callers hold `forwardLock`.
    func runBlocks(_ batch: [BatchItem], observer: ActivationObserver?,
                   layerInput: ((Int, FloatBuffer) -> Void)? = nil) throws -> (residual: FloatBuffer, firstRows: [Int], positions: [Int]) {
        guard !batch.isEmpty, batch.allSatisfy({ !$0.tokens.isEmpty }) else { throw ForwardError.emptyInput }
        for sequence in batch {
            if let bad = sequence.tokens.first(where: { $0 < 0 || $0 >= config.vocabularySize }) {
                throw ForwardError.tokenOutOfRange(token: bad, vocabularySize: config.vocabularySize)
            }
            let needed = sequence.cache.length + sequence.tokens.count
            guard needed <= config.contextLength else { throw ForwardError.contextFull(needed: needed, contextLength: config.contextLength) }
        }
        precondition(Set(batch.map { ObjectIdentifier($0.cache) }).count == batch.count, "each sequence of a batch needs its own cache")
        let c = config.embeddingWidth, inner = config.innerWidth
        // Row ranges of each sequence inside the batch.
        var firstRows: [Int] = []
        var count = 0
        for sequence in batch { firstRows.append(count); count += sequence.tokens.count }
        for sequence in batch { sequence.cache.reserve(adding: sequence.tokens.count) }

        let residual = FloatBuffer(count: count * c)
        let normed = FloatBuffer(count: count * c)
        let qkv = FloatBuffer(count: count * 3 * c)
        let attended = FloatBuffer(count: count * c)
        let projected = FloatBuffer(count: count * c)
        let hidden = FloatBuffer(count: count * inner)

        let positions = batch.flatMap { Array($0.cache.length..<($0.cache.length + $0.tokens.count)) }
        try weights.tokenEmbedding.copyRows(batch.flatMap(\.tokens), into: residual, width: c)
        addPositionEmbeddings(positions: positions, table: weights.positionEmbedding, width: c, output: residual)
        // The residual stream is checked for NaN and infinity after the embeddings and after every block (rows × C
        // values against a block's rows × 12·C² multiply-adds), so corrupt weights are named by the block that
        // first produced a non-finite value instead of surfacing as garbage tokens.
        try checkFinite(residual, rows: count, width: c, producedBy: "wte+wpe") { positions[$0] }
        for index in 0..<config.layerCount {
            layerInput?(index, residual)
            let layer = try weights.layer(index)
            // Attention block: x += c_proj(attention(c_attn(ln_1(x))))
            layerNorm(input: residual, rows: count, width: c, gain: layer.norm1Gain, bias: layer.norm1Bias,
                      epsilon: config.layerNormEpsilon, output: normed)
            observer?(index, .attentionInput, normed, count)
            layer.attentionWeight.apply(input: normed, rows: count, bias: layer.attentionBias, output: qkv, pool: pool)
            for (sequence, firstRow) in zip(batch, firstRows) {
                let cache = sequence.cache, past = cache.length, newTokens = sequence.tokens.count
                for t in 0..<newTokens {
                    let row = (firstRow + t) * 3 * c
                    cache.keys[index].store(qkv, offset: row + c, at: past + t)
                    cache.values[index].store(qkv, offset: row + 2 * c, at: past + t)
                }
                causalAttention(queries: qkv, queryStride: 3 * c, queryOffset: firstRow * 3 * c, newTokens: newTokens, past: past,
                                keys: cache.keys[index], values: cache.values[index],
                                heads: config.headCount, headDim: config.headDim, scale: config.attentionScale(layer: index),
                                output: attended, outputOffset: firstRow * c, pool: pool)
            }
            layer.attentionProjectionWeight.apply(input: attended, rows: count, bias: layer.attentionProjectionBias,
                                                  output: projected, pool: pool)
            addInPlace(residual, projected, count: count * c)

            // MLP block: x += c_proj(act(c_fc(ln_2(x))))
            layerNorm(input: residual, rows: count, width: c, gain: layer.norm2Gain, bias: layer.norm2Bias,
                      epsilon: config.layerNormEpsilon, output: normed)
            observer?(index, .feedForwardInput, normed, count)
            layer.feedForwardWeight.apply(input: normed, rows: count, bias: layer.feedForwardBias, output: hidden, pool: pool)
            config.activation.apply(hidden, count: count * inner, pool: pool)
            layer.feedForwardProjectionWeight.apply(input: hidden, rows: count, bias: layer.feedForwardProjectionBias,
                                                    output: projected, pool: pool)
            addInPlace(residual, projected, count: count * c)
            try checkFinite(residual, rows: count, width: c, producedBy: "h.\(index)") { positions[$0] }
        }
        for sequence in batch { sequence.cache.commit(adding: sequence.tokens.count) }
        return (residual, firstRows, positions)
    }
}
