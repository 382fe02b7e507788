import CAllocator

/// How gpt2-edge and gpt2-edge-server set glibc's allocator before they start: allocations of 4 MiB and more get
/// their own mapping, returned to the kernel when freed, and the heap is not trimmed below 256 MiB free at its top.
/// glibc's default moves its mapping threshold up to the largest block freed so far (up to 32 MiB), after which such
/// buffers come from the heap and stay there when freed, depending on which thread freed what first: a streamed gpt2
/// int4 run peaked at 41.6 or 51.9 MiB from run to run with the same arguments; with a fixed threshold, within
/// 0.7 MiB over 3 runs of each length (docs/measurements.md). A threshold of 256 KiB peaked 1.5–3.5 MiB lower
/// still, but cost a fifth of prompt speed: the kernels' per-call scratch (a prompt's quantized activations, 0.4 to
/// 3 MB) was then mapped and faulted in on every call; at 4 MiB prompt and decode speed are those of glibc's default
/// (alternating runs). The memory plan is made for the steady case. Where the allocator is not glibc's, nothing changes.
public enum AllocatorSettings {
    /// Whether both thresholds were set (false where the allocator is not glibc's).
    @discardableResult
    public static func apply() -> Bool {
        gpt2edge_set_allocator_thresholds(4 << 20, 256 << 20) == 1
    }
}
