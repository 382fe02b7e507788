import CAllocator

/// How gpt2-edge and gpt2-edge-server set glibc's allocator before they start: allocations of 256 KiB and more get
/// their own mapping, returned to the kernel when freed, and the heap is not trimmed below 256 MiB free at its top.
/// glibc's default moves its mapping threshold up to the largest block freed so far (up to 32 MiB), after which such
/// buffers come from the heap and stay there when freed, depending on which thread freed what first: a streamed gpt2
/// int4 run peaked at 41.6 or 51.9 MiB from run to run with the same arguments, and at 40.8 every time with these
/// settings (decode speed the same, resident and streamed, 3 alternating rounds; docs/measurements.md). The memory
/// plan is made for the steady case. Where the allocator is not glibc's, nothing changes.
public enum AllocatorSettings {
    /// Whether both thresholds were set (false where the allocator is not glibc's).
    @discardableResult
    public static func apply() -> Bool {
        gpt2edge_set_allocator_thresholds(256 << 10, 256 << 20) == 1
    }
}
