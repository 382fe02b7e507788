import WeightFormat
import CUDAInt8
import Foundation
import Quantization
import Testing
import TestSupport
import GPT2Edge
@testable import Runtime

/// Each kernel of the CUDA library on its own, against a scalar Double loop of the same math: the int8 × int8
/// product (decode and tiled prompt kernels, the activations quantized per group as llama.cpp's q8_0), layer
/// norm, gelu_new and causal attention. They run on the CPU emulation of the library (tools/cuda/build.sh --emulate)
/// and, when a GPU is visible, on the GPU build. Awkward sizes on purpose: 1600 columns, 25 heads of 64, partial
/// groups, row and token tiles cut short.
@Suite struct CUDAKernelTests {
    /// The library builds to check: the emulated one when built (CI requires it), the real one with a GPU.
    static let libraries: [String] = {
        var paths: [String] = []
        if CUDAPathTests.emulatorBuilt || CUDAPathTests.required { paths.append(CUDAPathTests.emulatedLibrary) }
        if CUDAPathTests.gpu != nil { paths.append(CUDAPathTests.library) }
        return paths
    }()

    /// The arrays of one kernel case; empty ones are passed as NULL.
    struct Arrays {
        var weights: [UInt8] = []
        var input: [Float] = [], gain: [Float] = [], bias: [Float] = [], keys: [Float] = [], values: [Float] = []
    }

    /// Runs `kernel` on the library with `arrays` pinned for the call and the sizes that `set` writes into the
    /// case; returns its `outputCount` outputs.
    static func run(_ library: String, _ kernel: String, _ arrays: Arrays, outputCount: Int,
                    set: (inout g2e_kernel_case) -> Void) throws -> [Float] {
        let handle = try CUDAModel.library(path: library).library
        var message = [CChar](repeating: 0, count: 512)
        var output = [Float](repeating: .nan, count: outputCount)
        func pinned(_ values: [Float], _ body: (UnsafePointer<Float>?) throws -> Void) rethrows {
            if values.isEmpty { try body(nil) } else { try values.withUnsafeBufferPointer { try body($0.baseAddress) } }
        }
        var status: Int32 = 0
        arrays.weights.withUnsafeBytes { weights in
            pinned(arrays.input) { input in
                pinned(arrays.gain) { gain in
                    pinned(arrays.bias) { bias in
                        pinned(arrays.keys) { keys in
                            pinned(arrays.values) { values in
                                output.withUnsafeMutableBufferPointer { out in
                                    kernel.withCString { name in
                                        var c = g2e_kernel_case()
                                        set(&c)
                                        c.kernel = name
                                        c.weights = arrays.weights.isEmpty ? nil : weights.baseAddress
                                        c.weight_bytes = weights.count
                                        c.input = input; c.gain = gain; c.bias = bias; c.keys = keys; c.values = values
                                        c.output = out.baseAddress
                                        status = g2e_cuda_kernel_test(handle, &c, &message, message.count)
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        if status != 0 { throw CUDAModel.Unavailable.failed(CUDAModel.text(message)) }
        return output
    }

    static let linearCases: [(rows: Int, columns: Int, tokens: Int, group: Int)] = [
        (75, 1600, 1, 32), (75, 1600, 7, 32), (130, 200, 40, 32), (64, 768, 33, 64), (3, 129, 1, 128), (17, 100, 2, 64),
    ]

    @Test(.enabled(if: !libraries.isEmpty, "skipped: no CUDA library build to check (tools/cuda/build.sh --emulate)"),
          arguments: libraries)
    func linearMatchesTheQ8Reference(library: String) throws {
        var random = Random(seed: 21)
        for (rows, columns, tokens, group) in Self.linearCases {
            let weights = random.array(rows * columns), x = random.array(tokens * columns).map { $0 * 3 }, bias = random.array(rows)
            let scheme = WeightScheme.int8(groupSize: group)
            let payload = TensorQuantizer.quantize(rows: rows, columns: columns, scheme: scheme) { r, out in
                for c in 0..<columns { out[c] = weights[r * columns + c] }
            }
            // The reference: the payload's int8 groups and fp16 scales, each token quantized per group to int8 with
            // scale max|x| / 127 and round-half-even, integer sums per group, then both scales.
            let groups = (columns + group - 1) / group
            let scales = (0..<(rows * groups)).map { i in
                Double(Float(Float16(bitPattern: UInt16(payload[2 * i]) | UInt16(payload[2 * i + 1]) << 8)))
            }
            let quants = payload[(2 * rows * groups)...].map { Int(Int8(bitPattern: $0)) }
            var expected = [Float](repeating: 0, count: tokens * rows)
            for t in 0..<tokens {
                for g in 0..<groups {
                    let range = (g * group)..<min(columns, (g + 1) * group)
                    let maximum = range.map { abs(x[t * columns + $0]) }.max()!
                    let scale = maximum / 127, inverse: Float = scale > 0 ? 1 / scale : 0
                    let xq = range.map { Int((x[t * columns + $0] * inverse).rounded(.toNearestOrEven)) }
                    for o in 0..<rows {
                        var products = 0
                        for (k, c) in range.enumerated() { products += quants[o * groups * group + c] * xq[k] }
                        expected[t * rows + o] += Float(Double(products) * scales[o * groups + g] * Double(scale))
                    }
                }
                for o in 0..<rows { expected[t * rows + o] += bias[o] }
            }
            let output = try Self.run(library, "linear", Arrays(weights: payload, input: x, bias: bias), outputCount: tokens * rows) { c in
                c.rows = Int32(rows); c.columns = Int32(columns); c.group = Int32(group); c.tokens = Int32(tokens)
            }
            #expect(relativeError(output, expected) < 1e-5, "\(rows) × \(columns), \(tokens) tokens, group \(group)")
        }
    }

    @Test(.enabled(if: !libraries.isEmpty, "skipped: no CUDA library build to check (tools/cuda/build.sh --emulate)"),
          arguments: libraries)
    func layerNormAndGeluMatchScalarLoops(library: String) throws {
        var random = Random(seed: 22)
        for (rows, width) in [(3, 1600), (5, 16), (2, 300)] {
            let x = random.array(rows * width).map { $0 * 10 + 3 }, gain = random.array(width), bias = random.array(width)
            var expected = [Float](repeating: 0, count: rows * width)
            for r in 0..<rows {
                let row = x[(r * width)..<((r + 1) * width)].map(Double.init)
                let mean = row.reduce(0, +) / Double(width)
                let variance = row.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(width)
                for i in 0..<width { expected[r * width + i] = Float((row[i] - mean) / (variance + 1e-5).squareRoot() * Double(gain[i]) + Double(bias[i])) }
            }
            let output = try Self.run(library, "layer_norm", Arrays(input: x, gain: gain, bias: bias), outputCount: rows * width) { c in
                c.rows = Int32(rows); c.columns = Int32(width); c.eps = 1e-5
            }
            #expect(relativeError(output, expected) < 1e-5, "layer norm \(rows) × \(width)")
        }
        let x = random.array(1000).map { $0 * 6 }
        let output = try Self.run(library, "gelu_new", Arrays(input: x), outputCount: x.count) { c in
            c.rows = 1; c.columns = Int32(x.count)
        }
        let expected = x.map { v -> Float in
            let d = Double(v)
            return Float(0.5 * d * (1 + tanh(0.7978845608028654 * (d + 0.044715 * d * d * d))))
        }
        #expect(zip(output, expected).allSatisfy { abs($0 - $1) <= 1e-5 * max(1, abs($1)) }, "gelu_new")
    }

    @Test(.enabled(if: !libraries.isEmpty, "skipped: no CUDA library build to check (tools/cuda/build.sh --emulate)"),
          arguments: libraries)
    func attentionMatchesAScalarLoop(library: String) throws {
        var random = Random(seed: 23)
        for (heads, headDim, past, tokens) in [(25, 64, 0, 7), (3, 32, 5, 1), (12, 64, 40, 3), (2, 24, 300, 2)] {
            let width = heads * headDim, positions = past + tokens
            let qkv = random.array(tokens * 3 * width), keys = random.array(positions * width), values = random.array(positions * width)
            let scale = 1 / Float(headDim).squareRoot()
            var expected = [Float](repeating: 0, count: tokens * width)
            for t in 0..<tokens {
                for h in 0..<heads {
                    let visible = past + t + 1
                    var scores = [Double](repeating: 0, count: visible)
                    for j in 0..<visible {
                        var dot = 0.0
                        for d in 0..<headDim { dot += Double(qkv[t * 3 * width + h * headDim + d]) * Double(keys[j * width + h * headDim + d]) }
                        scores[j] = dot * Double(scale)
                    }
                    let maximum = scores.max()!
                    let weights = scores.map { exp($0 - maximum) }
                    let total = weights.reduce(0, +)
                    for d in 0..<headDim {
                        var sum = 0.0
                        for j in 0..<visible { sum += weights[j] * Double(values[j * width + h * headDim + d]) }
                        expected[t * width + h * headDim + d] = Float(sum / total)
                    }
                }
            }
            let output = try Self.run(library, "attention", Arrays(input: qkv, keys: keys, values: values), outputCount: tokens * width) { c in
                c.columns = Int32(width); c.tokens = Int32(tokens); c.heads = Int32(heads); c.head_dim = Int32(headDim)
                c.past = Int32(past); c.scale = scale
            }
            #expect(relativeError(output, expected) < 1e-5, "\(heads) heads of \(headDim), past \(past), \(tokens) tokens")
        }
    }

    @Test(.enabled(if: !libraries.isEmpty, "skipped: no CUDA library build to check (tools/cuda/build.sh --emulate)"),
          arguments: libraries)
    func badCasesAreRefusedByName(library: String) throws {
        #expect(throws: CUDAModel.Unavailable.failed("linear: 10 bytes, expected 68")) {
            _ = try Self.run(library, "linear", Arrays(weights: [UInt8](repeating: 0, count: 10)), outputCount: 2) { c in
                c.rows = 2; c.columns = 32; c.group = 32; c.tokens = 1
            }
        }
        #expect(throws: CUDAModel.Unavailable.failed("unknown kernel softmax2")) {
            _ = try Self.run(library, "softmax2", Arrays(), outputCount: 1) { _ in }
        }
    }

    func relativeError(_ a: [Float], _ b: [Float]) -> Float {
        var difference: Float = 0, norm: Float = 0
        for (x, y) in zip(a, b) { difference += (x - y) * (x - y); norm += y * y }
        return (difference / max(norm, 1e-30)).squareRoot()
    }

    /// The same generator as the kernel tests: roughly uniform in [-1, 1).
    struct Random {
        var state: UInt64
        init(seed: UInt64) { state = seed }
        mutating func next() -> Float {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return Float(Int64(bitPattern: state) >> 40) / Float(1 << 23)
        }
        mutating func array(_ count: Int) -> [Float] { (0..<count).map { _ in next() } }
    }
}
