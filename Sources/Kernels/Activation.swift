import Foundation

/// The activation functions a GPT-2 config may name, with the formulas transformers uses for each.
public enum Activation: String, Sendable, CaseIterable {
    /// tanh approximation: 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))); GPT-2's own.
    case geluNew = "gelu_new"
    case geluPyTorchTanh = "gelu_pytorch_tanh"
    case geluAccurate = "gelu_accurate"
    case geluPythonTanh = "gelu_python_tanh"
    /// exact: 0.5·x·(1 + erf(x/√2))
    case gelu = "gelu"
    case geluPython = "gelu_python"
    /// 0.5·x·(1 + tanh(0.7978845608·x·(1 + 0.044715·x²)))
    case geluFast = "gelu_fast"
    /// x·sigmoid(1.702·x)
    case quickGelu = "quick_gelu"
    case relu = "relu"
    case silu = "silu"
    case swish = "swish"
    case tanh = "tanh"
    case sigmoid = "sigmoid"
    case linear = "linear"

    /// The function applied to one value.
    @inline(__always)
    public func callAsFunction(_ x: Float) -> Float {
        switch self {
        case .geluNew, .geluPyTorchTanh, .geluAccurate, .geluPythonTanh:
            return 0.5 * x * (1 + Foundation.tanh(0.7978845608028654 * (x + 0.044715 * x * x * x)))
        case .gelu, .geluPython:
            return 0.5 * x * (1 + erf(x * 0.7071067811865476))
        case .geluFast:
            return 0.5 * x * (1 + Foundation.tanh(x * 0.7978845608 * (1 + 0.044715 * x * x)))
        case .quickGelu:
            return x / (1 + exp(-1.702 * x))
        case .relu:
            return max(x, 0)
        case .silu, .swish:
            return x / (1 + exp(-x))
        case .tanh:
            return Foundation.tanh(x)
        case .sigmoid:
            return 1 / (1 + exp(-x))
        case .linear:
            return x
        }
    }

    /// The function on 16 lanes, for the activations with a vector form (the tanh and sigmoid families);
    /// nil for the others, which run value by value.
    @inline(__always)
    func vector(_ x: SIMD16<Float>) -> SIMD16<Float>? {
        switch self {
        case .geluNew, .geluPyTorchTanh, .geluAccurate, .geluPythonTanh:
            return Self.geluTanh(x)
        case .geluFast:
            // 0.5 · x · (1 + tanh(u)) = x · σ(2u), as in `geluTanh`.
            return x / (1 + vectorExp(-1.5957691216 * x * (1 + 0.044715 * x * x)))
        case .quickGelu:
            return x / (1 + vectorExp(-1.702 * x))
        case .silu, .swish:
            return x / (1 + vectorExp(-x))
        case .tanh:
            return vectorTanh(x)
        case .sigmoid:
            return 1 / (1 + vectorExp(-x))
        case .relu:
            return x.replacing(with: 0, where: x .< 0)
        case .linear:
            return x
        case .gelu, .geluPython:
            return nil
        }
    }

    /// GPT-2's gelu_new on 16 lanes, written as 0.5 · x · (1 + tanh(u)) = x · σ(2u) = x / (1 + e^(−2u)) with
    /// u = √(2/π) · (x + 0.044715 · x³): one exponential and one division, no cancellation near 0 (the tanh form
    /// needed a series there).
    @inline(__always)
    static func geluTanh(_ x: SIMD16<Float>) -> SIMD16<Float> {
        let cube: SIMD16<Float> = x * x * x
        return x / (1 + vectorExp(-1.5957691216057308 * (x + 0.044715 * cube)))
    }

    /// Applies the function to the first `count` values in place, 16 at a time where it has a vector form.
    public func apply(_ values: FloatBuffer, count: Int, pool: ThreadPool) {
        precondition(values.count >= count)
        let chunk = 4096
        let base = values.base
        let vectorized = vector(SIMD16()) != nil
        let isGeluTanh = [.geluNew, .geluPyTorchTanh, .geluAccurate, .geluPythonTanh].contains(self)
        pool.parallelFor((count + chunk - 1) / chunk) { c in
            var i = c * chunk
            let end = min(count, (c + 1) * chunk)
            let raw = UnsafeMutableRawPointer(base)
            if isGeluTanh {   // GPT-2's own, in a loop of its own so that nothing is left to a switch per vector
                while i + 16 <= end {
                    let x = raw.loadUnaligned(fromByteOffset: 4 * i, as: SIMD16<Float>.self)
                    raw.storeBytes(of: Self.geluTanh(x), toByteOffset: 4 * i, as: SIMD16<Float>.self)
                    i += 16
                }
            } else if vectorized {
                while i + 16 <= end {
                    let x = raw.loadUnaligned(fromByteOffset: 4 * i, as: SIMD16<Float>.self)
                    raw.storeBytes(of: vector(x)!, toByteOffset: 4 * i, as: SIMD16<Float>.self)
                    i += 16
                }
            }
            if vectorized && i < end {
                // The last values of the buffer (fewer than 16) through the vector form too, from a zero-padded
                // vector: determinism across batch composition. They belong to the batch's last row, and which
                // row is last depends on the batch, so the scalar form (libm's tanh and exp, not `vectorExp`)
                // here made that row's values differ from what the same row gets anywhere else.
                var padded = SIMD16<Float>()
                for lane in 0..<(end - i) { padded[lane] = base[i + lane] }
                let result = vector(padded)!
                for lane in 0..<(end - i) { base[i + lane] = result[lane] }
                i = end
            }
            while i < end { base[i] = self(base[i]); i += 1 }
        }
    }
}
