import CKernelSupport
/// The keys (or the values) of one layer: `width` numbers per position, stored as float32, float16 or int8
/// with one float scale per head and position (max|x| / 127). It grows by copying when more positions are
/// reserved, so a short context costs only what it uses.
///
/// Head-major: head h's vectors for positions 0..<capacity lie one after another, so attention, which walks
/// the positions of one head, reads one contiguous run (position-major rows made it a stride of `width`
/// elements, and decode stalled on those loads: 18% of gpt2 decode at 256 positions).
///
/// float16 halves the cache of float32 for a relative rounding error of 2⁻¹¹; int8 quarters it for about
/// 0.4% per value (the attention tests bound both).
// @unchecked: raw kernel memory owned by one sequence's KVCache, written by that sequence's forward passes only.
public final class KVStorage: @unchecked Sendable {
    public enum Precision: String, Sendable, CaseIterable {
        case f32, f16, int8

        /// Bytes per stored number, scales of int8 not counted.
        public var elementBytes: Int {
            switch self { case .f32: return 4; case .f16: return 2; case .int8: return 1 }
        }
    }

    public let precision: Precision
    /// Numbers per position (n_embd).
    public let width: Int
    public let headDim: Int
    /// Positions the storage holds without growing.
    public private(set) var capacity = 0
    private var data: UnsafeMutableRawPointer
    private var scales: UnsafeMutablePointer<Float>
    private var heads: Int { width / headDim }

    public init(precision: Precision, width: Int, headDim: Int) {
        precondition(width > 0 && headDim > 0 && width % headDim == 0)
        self.precision = precision
        self.width = width
        self.headDim = headDim
        data = .allocate(byteCount: 64, alignment: 64)
        scales = .allocate(capacity: 1)
    }

    deinit {
        data.deallocate()
        scales.deallocate()
    }

    /// Element index of head `head`'s vector for `position`.
    @inline(__always)
    private func index(position: Int, head: Int) -> Int { (head &* capacity &+ position) &* headDim }

    /// Makes room for `positions` positions in all, keeping what is stored (each head's run moves to its new place).
    public func reserve(positions: Int) {
        guard positions > capacity else { return }
        let bytes = precision.elementBytes
        let grown = UnsafeMutableRawPointer.allocate(byteCount: max(64, positions * width * bytes), alignment: 64)
        for h in 0..<heads {
            (grown + h * positions * headDim * bytes).copyMemory(from: data + h * capacity * headDim * bytes, byteCount: capacity * headDim * bytes)
        }
        data.deallocate()
        data = grown
        let grownScales = UnsafeMutablePointer<Float>.allocate(capacity: max(1, positions * heads))
        if precision == .int8 { grownScales.update(from: scales, count: capacity * heads) }
        scales.deallocate()
        scales = grownScales
        capacity = positions
    }

    /// An independent storage with the same contents (a beam that continues in two directions).
    public func copy() -> KVStorage {
        let twin = KVStorage(precision: precision, width: width, headDim: headDim)
        twin.reserve(positions: capacity)
        twin.data.copyMemory(from: data, byteCount: capacity * width * precision.elementBytes)
        if precision == .int8 { twin.scales.update(from: scales, count: capacity * heads) }
        return twin
    }

    /// Stores `source[offset ..< offset + width]` as the vectors of `position`, head by head.
    public func store(_ source: FloatBuffer, offset: Int, at position: Int) {
        precondition(position >= 0 && position < capacity && offset >= 0 && offset + width <= source.count)
        for h in 0..<heads {
            let x = source.base + offset + h * headDim, start = index(position: position, head: h)
            switch precision {
            case .f32:
                (data.assumingMemoryBound(to: Float.self) + start).update(from: x, count: headDim)
            case .f16:
                let vector = data.assumingMemoryBound(to: Float16.self) + start
                for i in 0..<headDim { vector[i] = Float16(x[i]) }
            case .int8:
                let vector = data.assumingMemoryBound(to: Int8.self) + start
                var maximum: Float = 0
                for i in 0..<headDim { maximum = max(maximum, abs(x[i])) }
                let scale = maximum / 127
                scales[position * heads + h] = scale
                let inverse: Float = scale > 0 ? 1 / scale : 0
                for i in 0..<headDim { vector[i] = Int8((x[i] * inverse).rounded()) }
            }
        }
    }

    /// The stored numbers of `position` in input order (head 0's, then head 1's, …), as floats (for tests and inspection).
    public func row(_ position: Int) -> [Float] {
        precondition(position >= 0 && position < capacity)
        return (0..<width).map { i in
            let h = i / headDim, element = index(position: position, head: h) + i % headDim
            switch precision {
            case .f32: return data.assumingMemoryBound(to: Float.self)[element]
            case .f16: return Float(data.assumingMemoryBound(to: Float16.self)[element])
            case .int8: return Float(data.assumingMemoryBound(to: Int8.self)[element]) * scales[position * heads + h]
            }
        }
    }

    /// Bytes allocated now.
    public var allocatedBytes: Int { capacity * width * precision.elementBytes + (precision == .int8 ? capacity * heads * 4 : 0) }

    /// Asks the CPU to start loading the vector of `position` for `head` (a hint; any position may be named).
    @inline(__always)
    func prefetch(position: Int, head: Int) {
        let start = data + index(position: position, head: head) &* precision.elementBytes
        var offset = 0
        while offset < headDim &* precision.elementBytes { gpt2edge_prefetch(start + offset); offset &+= 64 }
    }

    /// The vector of `position` for `head` as floats, for a head size of 64 (int8 already times its scale).
    @inline(__always)
    func vector64(position: Int, head: Int) -> Vector64 {
        let start = index(position: position, head: head)
        switch precision {
        case .f32:
            return Vector64(data.assumingMemoryBound(to: Float.self) + start)
        case .f16:
            let v = UnsafeRawPointer(data) + 2 &* start
            return Vector64(a: floats(v.loadUnaligned(fromByteOffset: 0, as: SIMD16<Float16>.self)),
                            b: floats(v.loadUnaligned(fromByteOffset: 32, as: SIMD16<Float16>.self)),
                            c: floats(v.loadUnaligned(fromByteOffset: 64, as: SIMD16<Float16>.self)),
                            d: floats(v.loadUnaligned(fromByteOffset: 96, as: SIMD16<Float16>.self)))
        case .int8:
            let v = UnsafeRawPointer(data) + start, scale = SIMD16<Float>(repeating: scales[position &* heads &+ head])
            return Vector64(a: floats(v.loadUnaligned(fromByteOffset: 0, as: SIMD16<Int8>.self)) * scale,
                            b: floats(v.loadUnaligned(fromByteOffset: 16, as: SIMD16<Int8>.self)) * scale,
                            c: floats(v.loadUnaligned(fromByteOffset: 32, as: SIMD16<Int8>.self)) * scale,
                            d: floats(v.loadUnaligned(fromByteOffset: 48, as: SIMD16<Int8>.self)) * scale)
        }
    }

    /// Σ_d query[d] · row(position)[head · headDim + d].
    @inline(__always)
    func dot(_ query: UnsafeMutablePointer<Float>, position: Int, head: Int) -> Float {
        let start = index(position: position, head: head)
        let q = UnsafeRawPointer(query)
        var accumulator = SIMD16<Float>()
        var d = 0
        var tail: Float = 0
        switch precision {
        case .f32:
            return Kernels.dot(query, data.assumingMemoryBound(to: Float.self) + start, headDim)
        case .f16:
            let k = UnsafeRawPointer(data.assumingMemoryBound(to: Float16.self) + start)
            while d &+ 16 <= headDim {
                accumulator.multiplyAdd(q.loadUnaligned(fromByteOffset: 4 &* d, as: SIMD16<Float>.self),
                                       floats(k.loadUnaligned(fromByteOffset: 2 &* d, as: SIMD16<Float16>.self)))
                d &+= 16
            }
            let row = data.assumingMemoryBound(to: Float16.self) + start
            while d < headDim { tail += query[d] * Float(row[d]); d &+= 1 }
            return horizontalSum(accumulator) + tail
        case .int8:
            let k = UnsafeRawPointer(data.assumingMemoryBound(to: Int8.self) + start)
            while d &+ 16 <= headDim {
                accumulator.multiplyAdd(q.loadUnaligned(fromByteOffset: 4 &* d, as: SIMD16<Float>.self),
                                       floats(k.loadUnaligned(fromByteOffset: d, as: SIMD16<Int8>.self)))
                d &+= 16
            }
            let row = data.assumingMemoryBound(to: Int8.self) + start
            while d < headDim { tail += query[d] * Float(row[d]); d &+= 1 }
            return (horizontalSum(accumulator) + tail) * scales[position &* heads &+ head]
        }
    }

    /// out[d] += weight · row(position)[head · headDim + d].
    @inline(__always)
    func accumulate(_ weight: Float, position: Int, head: Int, into out: UnsafeMutablePointer<Float>) {
        let start = index(position: position, head: head)
        switch precision {
        case .f32:
            axpy(weight, data.assumingMemoryBound(to: Float.self) + start, out, headDim)
        case .f16:
            let v = UnsafeRawPointer(data.assumingMemoryBound(to: Float16.self) + start), o = UnsafeMutableRawPointer(out)
            let w = SIMD16<Float>(repeating: weight)
            var d = 0
            while d &+ 16 <= headDim {
                var y = o.loadUnaligned(fromByteOffset: 4 &* d, as: SIMD16<Float>.self)
                y.multiplyAdd(w, floats(v.loadUnaligned(fromByteOffset: 2 &* d, as: SIMD16<Float16>.self)))
                o.storeBytes(of: y, toByteOffset: 4 &* d, as: SIMD16<Float>.self)
                d &+= 16
            }
            let row = data.assumingMemoryBound(to: Float16.self) + start
            while d < headDim { out[d] += weight * Float(row[d]); d &+= 1 }
        case .int8:
            let scaled = weight * scales[position &* heads &+ head]
            let v = UnsafeRawPointer(data.assumingMemoryBound(to: Int8.self) + start), o = UnsafeMutableRawPointer(out)
            let w = SIMD16<Float>(repeating: scaled)
            var d = 0
            while d &+ 16 <= headDim {
                var y = o.loadUnaligned(fromByteOffset: 4 &* d, as: SIMD16<Float>.self)
                y.multiplyAdd(w, floats(v.loadUnaligned(fromByteOffset: d, as: SIMD16<Int8>.self)))
                o.storeBytes(of: y, toByteOffset: 4 &* d, as: SIMD16<Float>.self)
                d &+= 16
            }
            let row = data.assumingMemoryBound(to: Int8.self) + start
            while d < headDim { out[d] += scaled * Float(row[d]); d &+= 1 }
        }
    }
}
