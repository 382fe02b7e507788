/// A weight matrix of a linear layer, in whichever storage the model file gave it.
///
/// ```swift
/// matrix.apply(input: x, rows: tokens, bias: b, output: y, pool: pool)   // y = x·Wᵀ + b
/// ```
// @unchecked: its payloads are FloatBuffer / QuantizedMatrix kernel storage (see there), only read by the kernels.
public enum WeightMatrix: @unchecked Sendable {
    /// float32 `[in, out]`, Hugging Face Conv1D layout (checkpoints used in place).
    case inOut(FloatBuffer, inFeatures: Int, outFeatures: Int)
    /// float32 `[out, in]`, row-major (the token embedding used as the LM head).
    case outIn(FloatBuffer, inFeatures: Int, outFeatures: Int)
    /// int8 / int4 groups, `[out, in]`.
    case quantized(QuantizedMatrix)

    public var inFeatures: Int {
        switch self {
        case .inOut(_, let inFeatures, _), .outIn(_, let inFeatures, _): return inFeatures
        case .quantized(let matrix): return matrix.columns
        }
    }

    public var outFeatures: Int {
        switch self {
        case .inOut(_, _, let outFeatures), .outIn(_, _, let outFeatures): return outFeatures
        case .quantized(let matrix): return matrix.rows
        }
    }

    /// Bytes of weights read per pass over the matrix.
    public var byteCount: Int {
        switch self {
        case .inOut(let buffer, _, _), .outIn(let buffer, _, _): return 4 * buffer.count
        case .quantized(let matrix): return matrix.byteCount
        }
    }

    /// The bytes a pass over the matrix reads (for `MemoryBandwidth`, which streams them as decode does).
    var payload: UnsafeRawBufferPointer {
        switch self {
        case .inOut(let buffer, _, _), .outIn(let buffer, _, _): return UnsafeRawBufferPointer(start: buffer.base, count: 4 * buffer.count)
        case .quantized(let matrix): return UnsafeRawBufferPointer(start: matrix.storage, count: matrix.byteCount)
        }
    }

    /// `output[t, o] = bias[o] + Σ_i input[t, i] · W[o, i]` for `rows` tokens.
    public func apply(input: FloatBuffer, rows: Int, bias: FloatBuffer?, output: FloatBuffer, pool: ThreadPool) {
        switch self {
        case .inOut(let weight, let inFeatures, let outFeatures):
            linearInOut(input: input, rows: rows, inFeatures: inFeatures, weight: weight, bias: bias,
                        outFeatures: outFeatures, output: output, pool: pool)
        case .outIn(let weight, let inFeatures, let outFeatures):
            linearOutIn(input: input, rows: rows, inFeatures: inFeatures, weight: weight, bias: bias,
                        outFeatures: outFeatures, output: output, pool: pool)
        case .quantized(let matrix):
            quantizedLinear(input: input, rows: rows, matrix: matrix, bias: bias, output: output, pool: pool)
        }
    }

    /// Row `row` of an `[out, in]` matrix (an embedding table's entry), as floats at `output[offset...]`.
    public func copyRow(_ row: Int, into output: FloatBuffer, at offset: Int) {
        switch self {
        case .outIn(let weight, let inFeatures, _):
            copy(weight, from: row * inFeatures, to: output, at: offset, count: inFeatures)
        case .quantized(let matrix):
            matrix.dequantizeRow(row, into: output, at: offset)
        case .inOut:
            preconditionFailure("rows of an [in, out] matrix are not embedding entries")
        }
    }
}
