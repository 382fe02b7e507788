import WeightFormat
import Foundation
import Testing
@testable import Kernels
@testable import Quantization

/// The fused dequant kernel against the reference: dequantize with `TensorQuantizer`, then a scalar matmul.
@Suite struct QuantizedLinearTests {
    static let cases: [(rows: Int, columns: Int, tokens: Int, scheme: WeightScheme)] = [
        (75, 1600, 1, .int8(groupSize: 32)), (75, 1600, 7, .int4(groupSize: 32)),
        (33, 1600, 3, .int4(groupSize: 128)), (40, 33, 5, .int8(groupSize: 32)), (17, 100, 2, .int4(groupSize: 64)),
        (9, 16, 4, .int4(groupSize: 32)), (64, 768, 6, .int8(groupSize: 64)), (3, 129, 1, .int8(groupSize: 128)),
        // Prompt-path tails: rows and tokens not multiples of the 4 × 4 tile, a partial chunk of 16 rows.
        (37, 200, 13, .int8(groupSize: 32)), (21, 1600, 9, .int4(groupSize: 32)), (5, 72, 3, .int4(groupSize: 64)),
        (130, 256, 4, .int8(groupSize: 128)),
    ]

    @Test(arguments: [1, 2, 3, 4])
    func matchesDequantizeThenFloatMatmul(threads: Int) {
        let pool = ThreadPool(threadCount: threads)
        var random = KernelReferenceTests.Random(seed: 5)
        for testCase in Self.cases {
            let (rows, columns, tokens, scheme) = testCase
            let weights = random.array(rows * columns)
            let payload = TensorQuantizer.quantize(rows: rows, columns: columns, scheme: scheme) { r, out in
                for c in 0..<columns { out[c] = weights[r * columns + c] }
            }
            let dequantized = TensorQuantizer.dequantize(payload, rows: rows, columns: columns, scheme: scheme)
            let bits = scheme.bits!
            let matrix = QuantizedMatrix(rows: rows, columns: columns, groupSize: scheme.groupSize!, bits: bits) { buffer in
                payload.withUnsafeBytes { buffer.copyMemory(from: $0) }
            }
            let x = random.array(tokens * columns), bias = random.array(rows)
            var expected = [Float](repeating: 0, count: tokens * rows)
            for t in 0..<tokens {
                for o in 0..<rows {
                    var sum = Double(bias[o])
                    for i in 0..<columns { sum += Double(x[t * columns + i]) * Double(dequantized[o * columns + i]) }
                    expected[t * rows + o] = Float(sum)
                }
            }
            let output = FloatBuffer(count: tokens * rows)
            WeightMatrix.quantized(matrix).apply(input: FloatBuffer(x), rows: tokens, bias: FloatBuffer(bias), output: output, pool: pool)
            #expect(KernelReferenceTests.relativeError(output.array(), expected) < 1e-5, "\(testCase)")

            // Embedding rows come out exactly as the reference dequantizes them.
            let row = FloatBuffer(count: columns)
            matrix.dequantizeRow(rows - 1, into: row, at: 0)
            #expect(row.array() == Array(dequantized[((rows - 1) * columns)...]))
        }
    }

    /// The integer kernels (`MatrixKernel.integer`): the matrix packed into 16-row panels, each token quantized per
    /// group. Exact (to float rounding) against a scalar loop over the same quantized token, and within the token's
    /// quantization error of the float path. Rows past the last whole panel take the float path in the same call.
    @Test(arguments: [1, 2, 3, 4])
    func integerKernelsMatchTheirReference(threads: Int) {
        let pool = ThreadPool(threadCount: threads)
        var random = KernelReferenceTests.Random(seed: 9)
        let cases = Self.cases + [(48, 1600, 1, .int8(groupSize: 32)), (32, 6400, 2, .int4(groupSize: 32)),
                                  (16, 1600, 7, .int8(groupSize: 32)), (50, 96, 5, .int4(groupSize: 96))]
        for testCase in cases {
            let (rows, columns, tokens, scheme) = testCase
            let weights = random.array(rows * columns)
            let payload = TensorQuantizer.quantize(rows: rows, columns: columns, scheme: scheme) { r, out in
                for c in 0..<columns { out[c] = weights[r * columns + c] }
            }
            let dequantized = TensorQuantizer.dequantize(payload, rows: rows, columns: columns, scheme: scheme)
            let matrix = QuantizedMatrix(rows: rows, columns: columns, groupSize: scheme.groupSize!, bits: scheme.name == "q8" ? .eight : .four) { buffer in
                payload.withUnsafeBytes { buffer.copyMemory(from: $0) }
            }
            let x = random.array(tokens * columns), bias = random.array(rows)
            let input = FloatBuffer(x)
            let float = FloatBuffer(count: tokens * rows)
            WeightMatrix.quantized(matrix).apply(input: input, rows: tokens, bias: FloatBuffer(bias), output: float, pool: pool)
            matrix.packForIntegerDot()
            #expect(matrix.packedRows == rows / 16 * 16, "\(testCase)")
            let output = FloatBuffer(count: tokens * rows)
            WeightMatrix.quantized(matrix).apply(input: input, rows: tokens, bias: FloatBuffer(bias), output: output, pool: pool)

            let group = scheme.groupSize!
            var expected = [Float](repeating: 0, count: tokens * rows), bound = expected
            for t in 0..<tokens {
                // The token quantized by hand: per group, scale max|x|/127, x · (127/max) rounded half to even.
                var q = [Double](repeating: 0, count: columns), scales = [Double](repeating: 0, count: columns)
                for g in stride(from: 0, to: columns, by: group) {
                    let end = min(columns, g + group)
                    let largest = (g..<end).map { abs(x[t * columns + $0]) }.max()!
                    let inverse: Float = largest > 0 ? 127 / largest : 0
                    for i in g..<end {
                        q[i] = Double((x[t * columns + i] * inverse).rounded(.toNearestOrEven))
                        scales[i] = Double(largest / 127)
                    }
                }
                for o in 0..<rows {
                    var sum = Double(bias[o]), error = 0.0
                    for i in 0..<columns {
                        sum += q[i] * scales[i] * Double(dequantized[o * columns + i])
                        error += scales[i] / 2 * abs(Double(dequantized[o * columns + i]))
                    }
                    // Unpacked rows (the float path) use the float token.
                    if o >= matrix.packedRows {
                        sum = Double(bias[o])
                        for i in 0..<columns { sum += Double(x[t * columns + i]) * Double(dequantized[o * columns + i]) }
                    }
                    expected[t * rows + o] = Float(sum)
                    bound[t * rows + o] = Float(error)
                }
            }
            #expect(KernelReferenceTests.relativeError(output.array(), expected) < 1e-5, "\(testCase)")
            // Each value within the error its token's rounding can cause (|Δx| ≤ scale/2 per column).
            let outside = (0..<(tokens * rows)).filter { abs(output[$0] - float[$0]) > bound[$0] * 1.001 + 1e-5 }
            #expect(outside.isEmpty, "\(testCase): \(outside.count) values outside the rounding bound")

            // The packed layout still reads back as the reference dequantizes it (embedding rows, `quant`).
            let row = FloatBuffer(count: columns)
            for r in [0, min(rows - 1, 15), rows - 1] {
                matrix.dequantizeRow(r, into: row, at: 0)
                #expect(row.array() == Array(dequantized[(r * columns)..<((r + 1) * columns)]), "\(testCase) row \(r)")
            }
        }
    }

    /// Refilling a packed matrix (layer streaming) returns it to the row-major layout.
    @Test func overwritingAPackedMatrixUnpacksIt() {
        var random = KernelReferenceTests.Random(seed: 4)
        let weights = random.array(32 * 64)   // drawn first: the quantizer fills rows concurrently
        let payload = TensorQuantizer.quantize(rows: 32, columns: 64, scheme: .int8(groupSize: 32)) { r, out in
            for c in 0..<64 { out[c] = weights[r * 64 + c] }
        }
        let matrix = QuantizedMatrix(rows: 32, columns: 64, groupSize: 32, bits: .eight) { buffer in
            payload.withUnsafeBytes { buffer.copyMemory(from: $0) }
        }
        let before = (0..<32).map { r in (0..<64).map { matrix.quant(row: r, group: $0 / 32, index: $0 % 32) } }
        matrix.packForIntegerDot()
        #expect(matrix.packedRows == 32)
        #expect((0..<32).map { r in (0..<64).map { matrix.quant(row: r, group: $0 / 32, index: $0 % 32) } } == before)
        matrix.overwrite { buffer in payload.withUnsafeBytes { buffer.copyMemory(from: $0) } }
        #expect(matrix.packedRows == 0)
        #expect((0..<32).map { r in (0..<64).map { matrix.quant(row: r, group: $0 / 32, index: $0 % 32) } } == before)
    }
}
