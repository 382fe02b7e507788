import Foundation

/// Measures how fast this machine streams memory into the cores: the ceiling for decode, which reads every
/// weight once per token.
public enum MemoryBandwidth {
    /// The read bandwidth, in bytes per second, of each of `passes` passes over the model's own weights: every byte
    /// of `matrices` read with SIMD loads, split across `pool`'s threads as the kernels are. The same bytes as
    /// decode, so the same size against the caches, the same pages, and no extra memory.
    ///
    /// A separate buffer of fixed size misleads on hosts with large caches: on this project's VM a 256 MiB buffer
    /// read anywhere from 22 to 97 GB/s from one run to the next (part of it stays cached), a 1 GiB one 25–35.
    public static func readPasses(over matrices: [WeightMatrix], passes: Int, pool: ThreadPool) -> [Double] {
        readPasses(matrices.map(\.payload), passes: passes, pool: pool)
    }

    /// The rate, in weight bytes per second, of each of `passes` passes of decode's matrix products alone: every
    /// matrix times one token, back to back, with nothing between them. Set against `readPasses(over:)`, it tells
    /// the kernels' own streaming from what the rest of a decode step (attention, norms, waits) costs.
    public static func productPasses(over matrices: [WeightMatrix], passes: Int, pool: ThreadPool) -> [Double] {
        let inputs = FloatBuffer(count: matrices.map(\.inFeatures).max() ?? 0)
        let outputs = FloatBuffer(count: matrices.map(\.outFeatures).max() ?? 0)
        inputs.write((0..<inputs.count).map { Float($0 % 7) - 3 })
        let totalBytes = Double(matrices.reduce(0) { $0 + $1.byteCount })
        return (0..<passes).map { _ in
            let start = DispatchTime.now().uptimeNanoseconds
            for matrix in matrices { matrix.apply(input: inputs, rows: 1, bias: nil, output: outputs, pool: pool) }
            return totalBytes / (Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
        }
    }

    /// The read bandwidth of each of `passes` passes over a `bytes`-long buffer allocated for the purpose (for
    /// when the weights are not resident, as with layer streaming).
    public static func readPasses(bytes: Int = 256 << 20, passes: Int, pool: ThreadPool) -> [Double] {
        let buffer = FloatBuffer(count: bytes / 4)
        // Every value written and every page different: pages that differ only in one touched float are all the
        // same bytes, which a hypervisor may merge into one (KSM) so that the reads hit a cache.
        for i in 0..<buffer.count { buffer.base[i] = Float(i) }
        return readPasses([UnsafeRawBufferPointer(start: buffer.base, count: 4 * buffer.count)], passes: passes, pool: pool)
    }

    private static func readPasses(_ regions: [UnsafeRawBufferPointer], passes: Int, pool: ThreadPool) -> [Double] {
        let chunkBytes = 4 << 20   // bytes per work item
        let chunks = regions.flatMap { region in
            stride(from: 0, to: region.count, by: chunkBytes).map { UnsafeRawBufferPointer(rebasing: region[$0..<min(region.count, $0 + chunkBytes)]) }
        }
        let totalBytes = regions.reduce(0) { $0 + $1.count }
        let sums = FloatBuffer(count: chunks.count)
        var rates: [Double] = []
        for _ in 0..<passes {
            let start = DispatchTime.now().uptimeNanoseconds
            pool.parallelFor(chunks.count) { c in
                sums.base[c] = Float(sumOfBytes(chunks[c]))
            }
            let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
            rates.append(Double(totalBytes) / seconds)
        }
        precondition(sums.array().allSatisfy { $0 >= 0 })   // keep the reads from being optimized away
        return rates
    }

    /// A checksum of `bytes` (64-bit words added, 128 bytes a step as two 64-byte loads; the tail byte by byte),
    /// there only so that every byte is loaded.
    private static func sumOfBytes(_ bytes: UnsafeRawBufferPointer) -> UInt64 {
        guard let base = bytes.baseAddress else { return 0 }
        var a = SIMD8<UInt64>(), b = SIMD8<UInt64>()
        var i = 0
        while i + 128 <= bytes.count {
            a &+= base.loadUnaligned(fromByteOffset: i, as: SIMD8<UInt64>.self)
            b &+= base.loadUnaligned(fromByteOffset: i + 64, as: SIMD8<UInt64>.self)
            i += 128
        }
        var total = (a &+ b).wrappedSum() & 0xFFFF_FFFF
        while i < bytes.count { total &+= UInt64(base.load(fromByteOffset: i, as: UInt8.self)); i += 1 }
        return total
    }
}
