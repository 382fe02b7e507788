import Foundation
import Testing
@testable import Kernels
@testable import Quantization

/// The fused dequant kernel against the reference: dequantize with `TensorQuantizer`, then a scalar matmul.
@Suite struct QuantizedLinearTests {
    static let cases: [(rows: Int, columns: Int, tokens: Int, scheme: QuantizationScheme)] = [
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
            let bits: QuantizedMatrix.Bits = scheme.name == "q8" ? .eight : .four
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

    /// The integer-activation decode path: exact against a scalar loop over the same quantized token, and
    /// within the token's quantization error of the float path.
    @Test(arguments: [1, 2, 3])
    func integerActivationPathMatchesItsReference(threads: Int) {
        let pool = ThreadPool(threadCount: threads)
        var random = KernelReferenceTests.Random(seed: 9)
        for testCase in Self.cases where testCase.tokens <= 3 {
            let (rows, columns, tokens, scheme) = testCase
            let weights = random.array(rows * columns)
            let payload = TensorQuantizer.quantize(rows: rows, columns: columns, scheme: scheme) { r, out in
                for c in 0..<columns { out[c] = weights[r * columns + c] }
            }
            let dequantized = TensorQuantizer.dequantize(payload, rows: rows, columns: columns, scheme: scheme)
            let matrix = QuantizedMatrix(rows: rows, columns: columns, groupSize: scheme.groupSize!, bits: scheme.name == "q8" ? .eight : .four) { buffer in
                payload.withUnsafeBytes { buffer.copyMemory(from: $0) }
            }
            let x = random.array(tokens * columns)
            let input = FloatBuffer(x)
            let output = FloatBuffer(count: tokens * rows), float = FloatBuffer(count: tokens * rows)
            integerActivationLinear(input: input, rows: tokens, matrix: matrix, bias: nil, output: output, pool: pool)
            WeightMatrix.quantized(matrix).apply(input: input, rows: tokens, bias: nil, output: float, pool: pool)
            var expected = [Float](repeating: 0, count: tokens * rows)
            let group = scheme.groupSize!
            for t in 0..<tokens {
                // The token quantized by hand: per group, scale max|x|/127, round to nearest.
                var q = [Double](repeating: 0, count: columns), scales = [Double](repeating: 0, count: columns)
                for g in stride(from: 0, to: columns, by: group) {
                    let end = min(columns, g + group)
                    let scale = Double((g..<end).map { abs(x[t * columns + $0]) }.max()! / 127)
                    for i in g..<end {
                        q[i] = scale > 0 ? Double((x[t * columns + i] * Float(1 / scale)).rounded()) : 0
                        scales[i] = scale
                    }
                }
                for o in 0..<rows {
                    var sum = 0.0
                    for i in 0..<columns { sum += q[i] * scales[i] * Double(dequantized[o * columns + i]) }
                    expected[t * rows + o] = Float(sum)
                }
            }
            #expect(KernelReferenceTests.relativeError(output.array(), expected) < 1e-5, "\(testCase)")
            #expect(KernelReferenceTests.relativeError(output.array(), float.array()) < 2e-2, "\(testCase)")
        }
    }
}
