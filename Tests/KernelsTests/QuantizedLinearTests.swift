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
}
