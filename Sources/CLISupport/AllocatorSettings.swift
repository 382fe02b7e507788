import CAllocator

/// How gpt2-edge and gpt2-edge-server set glibc's allocator before they start:
/// - allocations of 4 MiB and more get their own mapping, returned to the kernel when freed, and the heap is not
///   trimmed below 256 MiB free at its top. glibc's default moves its mapping threshold up to the largest block freed
///   so far (up to 32 MiB), after which such buffers come from the heap and stay there when freed, depending on which
///   thread freed what first: a streamed gpt2 int4 run peaked at 41.6 or 51.9 MiB from run to run with the same
///   arguments. A threshold of 256 KiB peaked 1.5–3.5 MiB lower still, but cost a fifth of prompt speed: the kernels'
///   per-call scratch (a prompt's quantized activations, 0.4 to 3 MB) was then mapped and faulted in on every call.
/// - one heap (arena) for every thread: with a second one for the pool's worker, what one thread freed was not
///   reused by the other, and a streamed gpt2 int4 run peaked at 55 MiB instead of 34 whenever the two threads'
///   timing fell that way (CI hit it; 3 runs of 3 each way on the same file). Prompt and decode speed: the same
///   (3 alternating rounds).
/// Measured in docs/measurements.md. The memory plan is made for the steady case. Where the allocator is not glibc's,
/// nothing changes.
public enum AllocatorSettings {
    /// Whether the settings were taken (false where the allocator is not glibc's).
    @discardableResult
    public static func apply() -> Bool {
        gpt2edge_set_allocator(4 << 20, 256 << 20, 1) == 1
    }
}
