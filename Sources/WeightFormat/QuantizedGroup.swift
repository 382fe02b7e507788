/// The byte layout of one quantized group, and its reference dequantize: what TensorQuantizer writes, what the
/// kernels (Kernels/QuantizedMatrix.swift) and the CUDA path (CUDAInt8/cuda/gpt2edge_cuda.cu, which cannot import
/// Swift and follows this file) read.
///
/// A group of G values has one fp16 scale d (kept apart, in the payload's scale block) and G stored integers:
/// - q8: G signed bytes, x = d·q, q ∈ [−127, 127];
/// - q4: G/2 bytes; byte k holds value k in its low nibble and value k + G/2 in its high nibble (llama.cpp's
///   q4_0 order, which the SIMD unpack wants), x = d·(q − 8), q ∈ [0, 15]. A partial last group is padded
///   with q = 8 (which is 0).
///
/// ```swift
/// var bytes = [UInt8](repeating: 0, count: 16)
/// QuantizedGroup.packInt4([8, 9, 7], groupSize: 32, into: &bytes)
/// QuantizedGroup.value(bits: .four, bytes: bytes, groupSize: 32, index: 1)   // 1 (stored 9 − 8)
/// ```
public enum QuantizedGroup {
    /// The q4 value of a partial group's missing entries (dequantizes to 0).
    public static let int4Padding: UInt8 = 8

    /// Packs q4 values (each 0...15; fewer than `groupSize` for a partial group) into `groupSize / 2` bytes.
    public static func packInt4(_ quants: [UInt8], groupSize: Int, into bytes: inout [UInt8], at offset: Int = 0) {
        let half = groupSize / 2
        for k in 0..<half {
            let low = k < quants.count ? quants[k] : int4Padding
            let high = k + half < quants.count ? quants[k + half] : int4Padding
            bytes[offset + k] = low | high << 4
        }
    }

    /// Byte and nibble of value `index` of a q4 group: the byte's offset in the group, and whether it is the high nibble.
    @inline(__always)
    public static func int4Position(index: Int, groupSize: Int) -> (byte: Int, high: Bool) {
        let half = groupSize / 2
        return (index % half, index >= half)
    }

    /// Stored value `index` of a group whose bytes start at `bytes[offset]`, as a signed integer (q for q8, q − 8 for q4).
    @inline(__always)
    public static func value<Bytes: RandomAccessCollection>(bits: IntegerBits, bytes: Bytes, offset: Int = 0, groupSize: Int, index: Int) -> Int
    where Bytes.Element == UInt8, Bytes.Index == Int {
        switch bits {
        case .eight:
            return Int(Int8(bitPattern: bytes[bytes.startIndex + offset + index]))
        case .four:
            let (byte, high) = int4Position(index: index, groupSize: groupSize)
            let packed = bytes[bytes.startIndex + offset + byte]
            return Int(high ? packed >> 4 : packed & 0x0F) - Int(int4Padding)
        }
    }
}
