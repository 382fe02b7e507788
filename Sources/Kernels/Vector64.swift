/// One attention head's vector when the head size is 64 (every GPT-2 size): four SIMD16 lanes of floats that
/// stay in registers, so attention keeps a query and its output out of memory.
struct Vector64 {
    var a, b, c, d: SIMD16<Float>

    static let zero = Vector64(a: SIMD16(), b: SIMD16(), c: SIMD16(), d: SIMD16())

    /// The 64 floats at `pointer`.
    @inline(__always)
    init(_ pointer: UnsafePointer<Float>) {
        let raw = UnsafeRawPointer(pointer)
        a = raw.loadUnaligned(fromByteOffset: 0, as: SIMD16<Float>.self)
        b = raw.loadUnaligned(fromByteOffset: 64, as: SIMD16<Float>.self)
        c = raw.loadUnaligned(fromByteOffset: 128, as: SIMD16<Float>.self)
        d = raw.loadUnaligned(fromByteOffset: 192, as: SIMD16<Float>.self)
    }

    @inline(__always)
    init(a: SIMD16<Float>, b: SIMD16<Float>, c: SIMD16<Float>, d: SIMD16<Float>) {
        (self.a, self.b, self.c, self.d) = (a, b, c, d)
    }

    /// Σ self[i] · other[i]. Prompt attention (`productLanes` in Attention.swift) sums 16 keys at once in exactly this
    /// order, a key per lane, so that decode and prompts give a position the same scores: change both together.
    @inline(__always)
    func dot(_ other: Vector64) -> Float {
        var sum = a * other.a
        sum.multiplyAdd(b, other.b)
        sum.multiplyAdd(c, other.c)
        sum.multiplyAdd(d, other.d)
        return horizontalSum(sum)
    }

    /// self += weight · other.
    @inline(__always)
    mutating func add(_ other: Vector64, times weight: Float) {
        let w = SIMD16<Float>(repeating: weight)
        a.multiplyAdd(other.a, w)
        b.multiplyAdd(other.b, w)
        c.multiplyAdd(other.c, w)
        d.multiplyAdd(other.d, w)
    }

    /// self *= factor.
    @inline(__always)
    mutating func scale(by factor: Float) {
        let f = SIMD16<Float>(repeating: factor)
        (a, b, c, d) = (a * f, b * f, c * f, d * f)
    }

    /// Writes the 64 floats to `pointer`.
    @inline(__always)
    func store(to pointer: UnsafeMutablePointer<Float>) {
        let raw = UnsafeMutableRawPointer(pointer)
        raw.storeBytes(of: a, toByteOffset: 0, as: SIMD16<Float>.self)
        raw.storeBytes(of: b, toByteOffset: 64, as: SIMD16<Float>.self)
        raw.storeBytes(of: c, toByteOffset: 128, as: SIMD16<Float>.self)
        raw.storeBytes(of: d, toByteOffset: 192, as: SIMD16<Float>.self)
    }

    /// Writes the 64 floats `stride` floats apart: `pointer[i · stride] = self[i]` (a column of transposed keys).
    @inline(__always)
    func store(to pointer: UnsafeMutablePointer<Float>, stride: Int) {
        for i in 0..<16 {
            pointer[i &* stride] = a[i]
            pointer[(16 &+ i) &* stride] = b[i]
            pointer[(32 &+ i) &* stride] = c[i]
            pointer[(48 &+ i) &* stride] = d[i]
        }
    }
}
