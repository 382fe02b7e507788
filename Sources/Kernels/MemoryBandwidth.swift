import Foundation

/// Measures how fast this machine streams memory into the cores: the ceiling for decode, which reads every
/// weight once per token.
public enum MemoryBandwidth {
    /// Read bandwidth in bytes per second: the best of `repetitions` passes summing a `bytes`-long buffer
    /// (far larger than the caches) with SIMD loads, split across `pool`'s threads as the kernels are.
    public static func measureRead(bytes: Int = 256 << 20, repetitions: Int = 5, pool: ThreadPool) -> Double {
        let count = bytes / 4
        let buffer = FloatBuffer(count: count)
        // Every value written and every page different: pages that differ only in one touched float are all the
        // same bytes, which a hypervisor may merge into one (KSM) so that the reads hit a cache. (Some runs on
        // this project's VM measured 47–60 GB/s where it streams about 33; fewer since, but not none.)
        for i in 0..<count { buffer.base[i] = Float(i) }
        let chunk = 1 << 20   // floats per work item (4 MiB)
        let chunks = (count + chunk - 1) / chunk
        let sums = FloatBuffer(count: chunks)
        var best = 0.0
        for _ in 0..<repetitions {
            let start = DispatchTime.now().uptimeNanoseconds
            pool.parallelFor(chunks) { c in
                let base = UnsafeRawPointer(buffer.base + c * chunk)
                let n = min(chunk, count - c * chunk)
                var a = SIMD16<Float>(), b = SIMD16<Float>()
                var i = 0
                while i + 32 <= n {
                    a += base.loadUnaligned(fromByteOffset: 4 * i, as: SIMD16<Float>.self)
                    b += base.loadUnaligned(fromByteOffset: 4 * i + 64, as: SIMD16<Float>.self)
                    i += 32
                }
                sums.base[c] = (a + b).sum()
            }
            let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
            best = max(best, Double(count * 4) / seconds)
        }
        precondition(sums.array().reduce(0, +) > 0)   // keep the reads from being optimized away
        return best
    }
}
