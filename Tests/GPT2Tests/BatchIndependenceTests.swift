import Foundation
import Testing
import TestSupport
import Kernels
import GPT2
import Quantization
import WeightFormat
import Checkpoint
import GQZ
@testable import Runtime
@testable import GPT2Edge

/// A sequence's logits are a function of that sequence (its tokens and its cache) alone, bit for bit: the same
/// whether it runs alone or beside other sequences in one batched step (the server runs every active request in
/// one `forward(batch:)` per token), whether its prompt is processed in one call or in chunks of any size
/// (chunked prefill), and whether its cache was filled from scratch or truncated to a shared prefix and refilled
/// (prefix reuse). Equality is of bit patterns, not within a tolerance: a tolerance would let sampling with the
/// same seed pick a different token beside other requests.
///
/// Every combination of: the float32 path and int8 / int4 models with both matrix kernels; 1 and 2 threads;
/// float32, float16 and int8 KV caches. On two models: the `flags-legacy` fixture as a Hugging Face folder and
/// converted to `.gqz` files (head size 8, width 24, MLP 40, vocabulary 300: rows left over after the integer
/// kernels' 16-row panels, partial weight groups, columns after the last multiple of 16 everywhere), and a random
/// one built here with GPT-2's head size of 64 (the register and blocked attention paths) and an MLP 200 wide
/// (a gelu_new buffer that is not whole vectors) and a vocabulary of 333.
///
/// What stays outside the guarantee, by design: a different build (with or without fused multiply-add, which
/// every multiply-add rounds differently), a different matrix kernel (`.integer` rounds activations to int8,
/// `.float` does not), layer streaming (always the float kernels) or the GPU path give other bits. All of those are
/// fixed when a model is loaded, so every request of one server process shares them.
@Suite(.serialized) struct BatchIndependenceTests {
    /// Threads × model × kernel, named for the test log.
    static let subjectNames: [String] = ["legacy f32", "legacy q8 integer", "legacy q8 float", "legacy q4 integer", "legacy q4 float",
                                         "heads64 f32", "heads64 q8 integer", "heads64 q8 float", "heads64 q4 integer", "heads64 q4 float"]
        .flatMap { ["\($0) t1", "\($0) t2"] }

    static let subjects: [String: GPT2Model] = {
        do { return try makeSubjects() } catch { fatalError("BatchIndependenceTests fixtures: \(error)") }
    }()

    static func network(_ name: String) -> GPT2Model { subjects[name]! }

    // MARK: - The three properties

    /// A sequence's prompt step and its decode steps give the same logits alone as beside 1, 3 and 7 others, in
    /// first, middle or last place, the others mixing prompts of different lengths and one-token decode steps. Steps
    /// 0 and 2 ask for every position's logits, steps 1 and 3 for the last ones', so the LM head sees from one row
    /// (alone) to a few dozen.
    @Test(arguments: subjectNames, KVCache.Precision.allCases)
    func sequenceAloneEqualsSequenceInBatch(subject: String, precision: KVCache.Precision) throws {
        let network = Self.network(subject)
        let vocabulary = network.config.vocabularySize
        let prompt = Self.tokens(11, seed: 1, vocabulary: vocabulary)
        let steps = Self.tokens(3, seed: 2, vocabulary: vocabulary)
        func scope(_ step: Int) -> GPT2Model.LogitsScope { step % 2 == 0 ? .allPositions : .lastPosition }
        let cache = KVCache(config: network.config, precision: precision)
        var alone = [try network.forward(tokens: prompt, cache: cache, logits: scope(0))]
        for (index, token) in steps.enumerated() { alone.append(try network.forward(tokens: [token], cache: cache, logits: scope(index + 1))) }

        for (neighbours, place) in [(1, 1), (3, 0), (7, 3)] {
            let lengths = [1, 2, 5, 9, 3, 12, 2]
            // Odd neighbours were prefilled before and take one-token steps throughout; even ones run a prompt
            // in the first step and another chunk in the third, one-token steps otherwise.
            var others: [(cache: KVCache, prompt: [Int])] = []
            for n in 0..<neighbours {
                let other = (cache: KVCache(config: network.config, precision: precision),
                             prompt: Self.tokens(lengths[n], seed: 10 + UInt64(n), vocabulary: vocabulary))
                if n % 2 == 1 { _ = try network.forward(tokens: other.prompt, cache: other.cache) }
                others.append(other)
            }
            let target = KVCache(config: network.config, precision: precision)
            for step in 0...steps.count {
                var batch: [GPT2Model.BatchItem] = others.enumerated().map { n, other in
                    let tokens: [Int]
                    if n % 2 == 0 && step == 0 { tokens = other.prompt }
                    else if n % 2 == 0 && step == 2 { tokens = Self.tokens(4, seed: 50 + UInt64(n), vocabulary: vocabulary) }
                    else { tokens = [(7 * n + 3 * step) % vocabulary] }
                    return GPT2Model.BatchItem(tokens: tokens, cache: other.cache)
                }
                batch.insert(GPT2Model.BatchItem(tokens: step == 0 ? prompt : [steps[step - 1]], cache: target), at: place)
                let together = try network.forward(batch: batch, logits: scope(step))
                Self.expectIdentical(together[place], alone[step], "\(subject) \(precision): step \(step) beside \(neighbours) at place \(place)")
            }
        }
    }

    /// A prompt (as long as the context allows, up to 40 tokens) processed in one call, token by token, or in
    /// chunks of 1 + rest, 7 + rest, 16 and a mix (chunks either side of attention's blocked-prompt threshold), then
    /// three decode steps: the same logits at every position.
    @Test(arguments: subjectNames, KVCache.Precision.allCases)
    func promptInOneCallEqualsPromptInChunks(subject: String, precision: KVCache.Precision) throws {
        let network = Self.network(subject)
        let vocabulary = network.config.vocabularySize, length = min(40, network.config.contextLength - 3)
        let prompt = Self.tokens(length, seed: 3, vocabulary: vocabulary)
        let steps = Self.tokens(3, seed: 4, vocabulary: vocabulary)
        func run(_ chunks: [Int]) throws -> [Float] {
            precondition(chunks.reduce(0, +) == prompt.count)
            let cache = KVCache(config: network.config, precision: precision)
            var logits: [Float] = [], start = 0
            for size in chunks {
                logits += try network.forward(tokens: Array(prompt[start..<(start + size)]), cache: cache, logits: .allPositions)
                start += size
            }
            for token in steps { logits += try network.forward(tokens: [token], cache: cache) }
            return logits
        }
        let whole = try run([length])
        let sixteens = [Int](repeating: 16, count: length / 16) + (length % 16 > 0 ? [length % 16] : [])
        for chunks in [[1, length - 1], [7, length - 7], sixteens, [5, 8, 9, length - 22], [Int](repeating: 1, count: length)] {
            Self.expectIdentical(try run(chunks), whole, "\(subject) \(precision): chunks \(chunks.count > 8 ? "1 × \(length)" : "\(chunks)")")
        }
    }

    /// A cache that held prompt A (20 tokens), truncated to the k tokens A shares with prompt B (24), then given the
    /// rest of B, equals a fresh cache given all of B: the logits of B's remaining positions and of three decode steps.
    @Test(arguments: subjectNames, KVCache.Precision.allCases)
    func truncatedAndRefilledCacheEqualsFreshCache(subject: String, precision: KVCache.Precision) throws {
        let network = Self.network(subject)
        let vocabulary = network.config.vocabularySize
        let a = Self.tokens(20, seed: 5, vocabulary: vocabulary)
        let steps = Self.tokens(3, seed: 6, vocabulary: vocabulary)
        for shared in [1, 9, 16, 19] {
            let b = Array(a[..<shared]) + Self.tokens(24 - shared, seed: 7 + UInt64(shared), vocabulary: vocabulary)
            let fresh = KVCache(config: network.config, precision: precision)
            var expected = Array(try network.forward(tokens: b, cache: fresh, logits: .allPositions)[(shared * vocabulary)...])
            for token in steps { expected += try network.forward(tokens: [token], cache: fresh) }

            let reused = KVCache(config: network.config, precision: precision)
            _ = try network.forward(tokens: a, cache: reused, logits: .allPositions)
            reused.truncate(to: shared)
            var got = try network.forward(tokens: Array(b[shared...]), cache: reused, logits: .allPositions)
            for token in steps { got += try network.forward(tokens: [token], cache: reused) }
            Self.expectIdentical(got, expected, "\(subject) \(precision): prefix of \(shared) reused")
        }
    }

    /// One and two threads give the same logits, prompt and decode: threads split output rows and attention
    /// heads, never a sum.
    @Test(arguments: subjectNames.filter { $0.hasSuffix(" t1") }, KVCache.Precision.allCases)
    func threadCountsGiveTheSameLogits(subject: String, precision: KVCache.Precision) throws {
        let one = Self.network(subject), two = Self.network(String(subject.dropLast()) + "2")
        let prompt = Self.tokens(21, seed: 8, vocabulary: one.config.vocabularySize)
        let caches = (KVCache(config: one.config, precision: precision), KVCache(config: two.config, precision: precision))
        Self.expectIdentical(try two.forward(tokens: prompt, cache: caches.1, logits: .allPositions),
                             try one.forward(tokens: prompt, cache: caches.0, logits: .allPositions), "\(subject) \(precision): prompt")
        for token in Self.tokens(3, seed: 9, vocabulary: one.config.vocabularySize) {
            Self.expectIdentical(try two.forward(tokens: [token], cache: caches.1), try one.forward(tokens: [token], cache: caches.0),
                                 "\(subject) \(precision): decode")
        }
    }

    // MARK: - Helpers

    /// Records one issue when `got` and `expected` differ in any bit, saying where and by how much.
    static func expectIdentical(_ got: [Float], _ expected: [Float], _ label: String,
                                sourceLocation: SourceLocation = #_sourceLocation) {
        guard got.count == expected.count else {
            Issue.record("\(label): \(got.count) logits, expected \(expected.count)", sourceLocation: sourceLocation)
            return
        }
        // memcmp: the same bytes is the same bits (and fast in a debug build, where the loop below is not).
        let same = got.withUnsafeBytes { a in expected.withUnsafeBytes { b in memcmp(a.baseAddress!, b.baseAddress!, a.count) == 0 } }
        guard !same else { return }
        let differing = zip(got, expected).enumerated().filter { $0.element.0.bitPattern != $0.element.1.bitPattern }
        guard let first = differing.first else { return }
        let largest = differing.map { abs($0.element.0 - $0.element.1) }.max()!
        let message = "\(label): \(differing.count) of \(got.count) logits differ (first at \(first.offset): \(first.element.0) "
            + "vs \(first.element.1); largest difference \(largest))"
        Issue.record(Comment(rawValue: message), sourceLocation: sourceLocation)
    }

    /// `count` token ids below `vocabulary`, the same for the same seed.
    static func tokens(_ count: Int, seed: UInt64, vocabulary: Int) -> [Int] {
        var random = Random(seed: seed)
        return (0..<count).map { _ in Int(random.nextBits() % UInt64(vocabulary)) }
    }

    /// A small linear congruential generator: the same numbers on every run and platform.
    struct Random {
        var state: UInt64
        init(seed: UInt64) { state = seed &* 0x9E37_79B9_7F4A_7C15 &+ 1 }
        mutating func nextBits() -> UInt64 {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return state >> 33
        }
        /// Uniform in [-1, 1), in steps of 2⁻³⁰.
        mutating func next() -> Float { Float(Int64(nextBits()) - (1 << 30)) / Float(1 << 30) }
    }

    // MARK: - The models

    static func makeSubjects() throws -> [String: GPT2Model] {
        var bases: [String: GPT2Model] = [:]
        // A committed fixture as a Hugging Face folder (float32) and converted to .gqz files, bound as `LoadedModel.load`
        // binds them but without parsing the tokenizer (over half a second each in a debug build).
        let folder = try HFCheckpoint(folder: Fixtures.local.appendingPathComponent("models/flags-legacy"))
        let folderConfig = try folder.gpt2Config()
        bases["legacy f32"] = GPT2Model(config: folderConfig, weights: try LoadedModel.loadWeights(folder, config: folderConfig),
                                        threads: 1, cachePrecision: .f32)
        let directory = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        for bits in [8, 4] {
            let file = try GQZFile(path: Fixtures.converted("flags-legacy", bits: bits, into: directory))
            for kernel in MatrixKernel.allCases {
                bases["legacy q\(bits) \(kernel)"] = try LoadedModel.loadGQZ(file, config: try file.gpt2Config(), threads: 1, streamLayers: false,
                                                                            kernel: kernel, cachePrecision: .f16)
            }
        }
        // GPT-2's head size with awkward widths, random weights.
        let config = GPT2Config(layerCount: 2, headCount: 2, embeddingWidth: 128, contextLength: 80, vocabularySize: 333, innerWidth: 200)
        bases["heads64 f32"] = GPT2Model(config: config, weights: try randomWeights(config, scheme: nil), threads: 1, cachePrecision: .f32)
        for (bits, scheme) in [(8, WeightScheme.int8(groupSize: 32)), (4, .int4(groupSize: 64))] {
            for kernel in MatrixKernel.allCases {
                let weights = try randomWeights(config, scheme: scheme, packed: kernel == .integer)
                bases["heads64 q\(bits) \(kernel)"] = GPT2Model(config: config, weights: weights, threads: 1)
            }
        }
        var subjects: [String: GPT2Model] = [:]
        for (name, base) in bases {
            for threads in [1, 2] {
                subjects["\(name) t\(threads)"] = GPT2Model(config: base.config, weights: base.weights, threads: threads,
                                                            cachePrecision: base.cachePrecision)
            }
        }
        return subjects
    }

    /// Random weights for `config`: float32 in the layouts a Hugging Face folder gives (Conv1D `[in, out]` for the
    /// blocks, `[out, in]` for the embedding), or every matrix quantized to `scheme` (packed for the integer
    /// kernels when `packed`), as a `.gqz` file gives them.
    static func randomWeights(_ config: GPT2Config, scheme: WeightScheme?, packed: Bool = false) throws -> GPT2Weights {
        func values(_ name: String, _ count: Int, scale: Float, offset: Float = 0) -> [Float] {
            var random = Random(seed: name.utf8.reduce(1469598103934665603) { ($0 ^ UInt64($1)) &* 1099511628211 })
            return (0..<count).map { _ in offset + scale * random.next() }
        }
        return try GPT2Weights(config: config, matrix: { name, inFeatures, outFeatures in
            // W[o, i] at o · in + i; the embedding's entries larger than the blocks' weights.
            let w = values(name, inFeatures * outFeatures, scale: name.hasPrefix("wte") ? 0.5 : 1.7 / Float(inFeatures).squareRoot())
            guard let scheme, let bits = scheme.bits, let groupSize = scheme.groupSize else {
                if GPT2Weights.isConv1DMatrix(name) {
                    var transposed = [Float](repeating: 0, count: w.count)
                    for o in 0..<outFeatures { for i in 0..<inFeatures { transposed[i * outFeatures + o] = w[o * inFeatures + i] } }
                    return .inOut(FloatBuffer(transposed), inFeatures: inFeatures, outFeatures: outFeatures)
                }
                return .outIn(FloatBuffer(w), inFeatures: inFeatures, outFeatures: outFeatures)
            }
            let payload = TensorQuantizer.quantize(rows: outFeatures, columns: inFeatures, scheme: scheme, search: false) { r, row in
                for i in 0..<inFeatures { row[i] = w[r * inFeatures + i] }
            }
            let matrix = QuantizedMatrix(rows: outFeatures, columns: inFeatures, groupSize: groupSize, bits: bits) { bytes in
                payload.withUnsafeBytes { bytes.copyMemory(from: $0) }
            }
            if packed { matrix.packForIntegerDot() }
            return .quantized(matrix)
        }, vector: { name in
            let c = config.embeddingWidth
            if name == "wpe.weight" { return FloatBuffer(values(name, config.contextLength * c, scale: 0.1)) }
            let count = name.contains("c_attn") ? 3 * c : name.contains("c_fc") ? config.innerWidth : c
            let isGain = name.contains("ln_") && name.hasSuffix(".weight")   // layer norm gains near 1, biases near 0
            return FloatBuffer(values(name, count, scale: 0.2, offset: isGain ? 1 : 0))
        })
    }
}
