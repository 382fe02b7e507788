import Foundation
import CKernelSupport
import Testing
@testable import Kernels

/// Every kernel against a plain scalar loop that says what the math says, on awkward sizes.
@Suite struct KernelReferenceTests {
    struct Random {
        var generator = SystemRandomNumberGenerator()
        var state: UInt64
        init(seed: UInt64) { state = seed }
        mutating func next() -> Float {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return Float(Int64(bitPattern: state) >> 40) / Float(1 << 23)   // roughly uniform in [-1, 1)
        }
        mutating func array(_ count: Int) -> [Float] { (0..<count).map { _ in next() } }
    }

    static func relativeError(_ a: [Float], _ b: [Float]) -> Float {
        var difference: Float = 0, norm: Float = 0
        for (x, y) in zip(a, b) { difference += (x - y) * (x - y); norm += y * y }
        return (difference / max(norm, 1e-30)).squareRoot()
    }

    static let shapes: [(rows: Int, inFeatures: Int, outFeatures: Int)] = [
        (1, 1600, 75), (3, 64, 257), (7, 37, 1600), (5, 768, 11), (1, 5, 3), (4, 33, 513),
    ]

    @Test(arguments: [1, 2, 3, 4])
    func linearInOutMatchesScalarLoop(threads: Int) {
        let pool = ThreadPool(threadCount: threads)
        var random = Random(seed: 1)
        for shape in Self.shapes {
            let x = random.array(shape.rows * shape.inFeatures)
            let w = random.array(shape.inFeatures * shape.outFeatures)
            let b = random.array(shape.outFeatures)
            var expected = [Float](repeating: 0, count: shape.rows * shape.outFeatures)
            for t in 0..<shape.rows {
                for o in 0..<shape.outFeatures {
                    var sum = Double(b[o])
                    for i in 0..<shape.inFeatures { sum += Double(x[t * shape.inFeatures + i]) * Double(w[i * shape.outFeatures + o]) }
                    expected[t * shape.outFeatures + o] = Float(sum)
                }
            }
            let output = FloatBuffer(count: shape.rows * shape.outFeatures)
            linearInOut(input: FloatBuffer(x), rows: shape.rows, inFeatures: shape.inFeatures, weight: FloatBuffer(w),
                        bias: FloatBuffer(b), outFeatures: shape.outFeatures, output: output, pool: pool)
            #expect(Self.relativeError(output.array(), expected) < 1e-6, "\(shape)")
        }
    }

    @Test(arguments: [1, 2, 4])
    func linearOutInMatchesScalarLoop(threads: Int) {
        let pool = ThreadPool(threadCount: threads)
        var random = Random(seed: 2)
        for shape in Self.shapes {
            let x = random.array(shape.rows * shape.inFeatures)
            let w = random.array(shape.outFeatures * shape.inFeatures)
            var expected = [Float](repeating: 0, count: shape.rows * shape.outFeatures)
            for t in 0..<shape.rows {
                for o in 0..<shape.outFeatures {
                    var sum = 0.0
                    for i in 0..<shape.inFeatures { sum += Double(x[t * shape.inFeatures + i]) * Double(w[o * shape.inFeatures + i]) }
                    expected[t * shape.outFeatures + o] = Float(sum)
                }
            }
            let output = FloatBuffer(count: shape.rows * shape.outFeatures)
            linearOutIn(input: FloatBuffer(x), rows: shape.rows, inFeatures: shape.inFeatures, weight: FloatBuffer(w),
                        bias: nil, outFeatures: shape.outFeatures, output: output, pool: pool)
            #expect(Self.relativeError(output.array(), expected) < 1e-6, "\(shape)")
        }
    }

    /// The cache's keys and values for `total` positions, stored from rows of `width` floats.
    static func storage(_ rows: [Float], width: Int, headDim: Int, total: Int, precision: KVStorage.Precision) -> KVStorage {
        let storage = KVStorage(precision: precision, width: width, headDim: headDim)
        storage.reserve(positions: total)
        let buffer = FloatBuffer(rows)
        for j in 0..<total { storage.store(buffer, offset: j * width, at: j) }
        return storage
    }

    /// Attention against a Double loop: exact storage (f32) within 1e-5; float16 within 2e-3 and int8 within
    /// 3e-2 relative, the error their rounding of keys and values allows.
    @Test(arguments: [(heads: 25, headDim: 64, past: 0, new: 7), (heads: 3, headDim: 32, past: 5, new: 1),
                      (heads: 12, headDim: 64, past: 40, new: 3), (heads: 1, headDim: 5, past: 2, new: 4),
                      (heads: 2, headDim: 24, past: 70, new: 2), (heads: 4, headDim: 64, past: 33, new: 1),
                      (heads: 2, headDim: 64, past: 17, new: 5),
                      // The blocked prompt path (8 new tokens or more): a last block of 1 and of 2 queries.
                      (heads: 3, headDim: 64, past: 0, new: 21), (heads: 2, headDim: 64, past: 19, new: 10)],
          [KVStorage.Precision.f32, .f16, .int8])
    func causalAttentionMatchesScalarLoop(shape: (heads: Int, headDim: Int, past: Int, new: Int), precision: KVStorage.Precision) {
        let (heads, headDim, past, new) = shape
        let pool = ThreadPool(threadCount: 3)
        var random = Random(seed: UInt64(heads * 1000 + past))
        let width = heads * headDim, total = past + new
        let queryStride = 3 * width
        let queries = random.array(new * queryStride)
        let keys = random.array(total * width), values = random.array(total * width)
        let scale = 1 / Float(headDim).squareRoot()
        var expected = [Float](repeating: 0, count: new * width)
        for h in 0..<heads {
            for t in 0..<new {
                let visible = past + t + 1
                var scores = (0..<visible).map { j -> Double in
                    var s = 0.0
                    for d in 0..<headDim { s += Double(queries[t * queryStride + h * headDim + d]) * Double(keys[j * width + h * headDim + d]) }
                    return s * Double(scale)
                }
                let maximum = scores.max()!
                scores = scores.map { exp($0 - maximum) }
                let sum = scores.reduce(0, +)
                for d in 0..<headDim {
                    var value = 0.0
                    for j in 0..<visible { value += scores[j] / sum * Double(values[j * width + h * headDim + d]) }
                    expected[t * width + h * headDim + d] = Float(value)
                }
            }
        }
        let output = FloatBuffer(count: new * width)
        causalAttention(queries: FloatBuffer(queries), queryStride: queryStride, newTokens: new, past: past,
                        keys: Self.storage(keys, width: width, headDim: headDim, total: total, precision: precision),
                        values: Self.storage(values, width: width, headDim: headDim, total: total, precision: precision),
                        heads: heads, headDim: headDim, scale: scale, output: output, pool: pool)
        let tolerance: Float = [.f32: 1e-5, .f16: 2e-3, .int8: 3e-2][precision]!
        #expect(Self.relativeError(output.array(), expected) < tolerance, "\(precision)")
    }

    @Test(arguments: KVStorage.Precision.allCases)
    func kvStorageKeepsRowsAcrossGrowthAndCopies(precision: KVStorage.Precision) {
        var random = Random(seed: 12)
        let width = 96, headDim = 32
        let rows = random.array(10 * width)
        let storage = Self.storage(Array(rows[..<(4 * width)]), width: width, headDim: headDim, total: 4, precision: precision)
        storage.reserve(positions: 10)
        let buffer = FloatBuffer(rows)
        for j in 4..<10 { storage.store(buffer, offset: j * width, at: j) }
        let twin = storage.copy()
        let tolerance: Float = [.f32: 0, .f16: 1e-3, .int8: 1e-2][precision]!
        for j in 0..<10 {
            let expected = Array(rows[(j * width)..<((j + 1) * width)])
            for got in [storage.row(j), twin.row(j)] {
                #expect(zip(got, expected).allSatisfy { abs($0 - $1) <= tolerance * max(1, abs($1)) }, "row \(j)")
            }
        }
        #expect(storage.allocatedBytes >= 10 * width * precision.elementBytes)
    }

    @Test func layerNormMatchesScalarLoop() {
        var random = Random(seed: 3)
        let rows = 3, width = 1600
        let x = random.array(rows * width).map { $0 * 10 + 3 }, gain = random.array(width), bias = random.array(width)
        let output = FloatBuffer(count: rows * width)
        layerNorm(input: FloatBuffer(x), rows: rows, width: width, gain: FloatBuffer(gain), bias: FloatBuffer(bias), epsilon: 1e-5, output: output)
        var expected: [Float] = []
        for t in 0..<rows {
            let row = x[(t * width)..<((t + 1) * width)].map(Double.init)
            let mean = row.reduce(0, +) / Double(width)
            let variance = row.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(width)
            for i in 0..<width { expected.append(Float((row[i] - mean) / (variance + 1e-5).squareRoot() * Double(gain[i]) + Double(bias[i]))) }
        }
        #expect(Self.relativeError(output.array(), expected) < 1e-6)
    }

    @Test func activationsMatchTheirFormulas() {
        let pool = ThreadPool(threadCount: 2)
        let xs: [Float] = stride(from: -6, through: 6, by: 0.37).map { Float($0) }
        let formulas: [Activation: (Double) -> Double] = [
            .geluNew: { 0.5 * $0 * (1 + tanh((2 / Double.pi).squareRoot() * ($0 + 0.044715 * $0 * $0 * $0))) },
            .gelu: { 0.5 * $0 * (1 + erf($0 / 2.0.squareRoot())) },
            .geluFast: { 0.5 * $0 * (1 + tanh($0 * 0.7978845608 * (1 + 0.044715 * $0 * $0))) },
            .quickGelu: { $0 / (1 + exp(-1.702 * $0)) },
            .relu: { max($0, 0) },
            .silu: { $0 / (1 + exp(-$0)) },
            .tanh: { tanh($0) },
            .sigmoid: { 1 / (1 + exp(-$0)) },
            .linear: { $0 },
        ]
        for (activation, formula) in formulas {
            let buffer = FloatBuffer(xs)
            activation.apply(buffer, count: xs.count, pool: pool)
            for (x, y) in zip(xs, buffer.array()) {
                #expect(abs(Double(y) - formula(Double(x))) < 1e-5, "\(activation) at \(x)")
            }
        }
    }

    /// Many short jobs back to back: a worker that still held the previous job's closure when the caller
    /// returned would trap in `withoutActuallyEscaping` (it happened, intermittently, before the fix).
    @Test(arguments: [2, 3, 4])
    func threadPoolSurvivesManyShortJobs(threads: Int) {
        let pool = ThreadPool(threadCount: threads)
        let counter = FloatBuffer(count: 8)
        for job in 0..<20_000 {
            pool.parallelFor(1 + job % 7) { counter.base[$0] += 1 }
        }
        #expect(counter.array().reduce(0, +) == Float((0..<20_000).reduce(0) { $0 + 1 + $1 % 7 }))
    }

    /// Jobs back to back while the workers read every window as half spent waiting for a CPU, so they sit jobs out
    /// (`ThreadPool.sitOutNanoseconds`) and join again: every item still runs exactly once, and no job waits for a
    /// worker that left (a worker that sat out a job it had been counted for hung `bench` once; this test hangs
    /// without the check).
    @Test(arguments: [2, 4])
    func threadPoolSurvivesWorkersSittingOut(threads: Int) {
        let pool = ThreadPool(threadCount: threads, waitShareForTesting: 0.5)
        let counts = UnsafeMutablePointer<Int>.allocate(capacity: 8)
        counts.initialize(repeating: 0, count: 8)
        defer { counts.deallocate() }
        var expected = 0, job = 0
        let start = DispatchTime.now().uptimeNanoseconds
        // Until workers have gone out, come back and gone out again (about 1.5 s), or 30 s, or 200,000 jobs. A worker
        // leaves only between jobs, so the caller pauses after every other one, as decode's serial steps do; the jobs
        // posted back to back are the ones a leaving worker may already have been counted for.
        while pool.sitOuts < 3 && DispatchTime.now().uptimeNanoseconds - start < 30_000_000_000 && job < 200_000 {
            pool.parallelFor(1 + job % 8) { counts[$0] += 1 }
            if job % 2 == 0 { usleep(50) }
            expected += 1 + job % 8
            job += 1
        }
        #expect((0..<8).reduce(0) { $0 + counts[$1] } == expected)
        #expect(pool.sitOuts >= 3)
    }

    /// The pool tells a shared core from its own by the time its workers wait for a CPU; Linux reports it, and the
    /// count only grows.
    @Test func threadWaitTimeIsReported() {
        let first = gpt2edge_thread_wait_nanoseconds()
        #if os(Linux)
        #expect(first >= 0)
        #endif
        var x = 0.0
        for i in 0..<1_000_000 { x += Double(i).squareRoot() }
        #expect(x > 0 && gpt2edge_thread_wait_nanoseconds() >= first)
    }

    @Test func threadPoolRunsEveryItemExactlyOnce() {
        for threads in 1...4 {
            let pool = ThreadPool(threadCount: threads)
            for count in [0, 1, 2, 3, 17, 1000] {
                let hits = FloatBuffer(count: max(count, 1))
                pool.parallelFor(count) { hits.base[$0] += 1 }
                #expect(hits.array(0..<count).allSatisfy { $0 == 1 }, "threads \(threads), count \(count)")
            }
        }
    }
}
