/// A flat array of Float that kernels read and write through raw pointers: either owned (allocated
/// 64-byte aligned, zeroed) or borrowed from memory another object keeps alive (a mapped checkpoint).
///
/// ```swift
/// let x = FloatBuffer(count: 768)
/// x[0] = 1
/// ```
// @unchecked: raw kernel memory; the forward pass and the loaders decide who writes which rows, as the kernels do.
public final class FloatBuffer: @unchecked Sendable {
    public let count: Int
    let base: UnsafeMutablePointer<Float>
    private let owner: AnyObject?
    private let ownsMemory: Bool

    /// A zeroed buffer of `count` floats.
    public init(count: Int) {
        precondition(count >= 0, "negative buffer size \(count)")
        self.count = count
        let raw = UnsafeMutableRawPointer.allocate(byteCount: max(count, 1) * 4, alignment: 64)
        raw.initializeMemory(as: Float.self, repeating: 0, count: max(count, 1))
        base = raw.assumingMemoryBound(to: Float.self)
        owner = nil
        ownsMemory = true
    }

    /// A buffer holding a copy of `values`.
    public convenience init(_ values: [Float]) {
        self.init(count: values.count)
        values.withUnsafeBufferPointer { base.update(from: $0.baseAddress!, count: values.count) }
    }

    /// A read-only view of memory owned by `owner` (kept alive as long as this buffer is).
    /// `bytes` must be 4-byte aligned little-endian floats; kernels never write to a borrowed buffer.
    public init(borrowing bytes: UnsafeRawBufferPointer, owner: AnyObject) {
        precondition(Int(bitPattern: bytes.baseAddress) % 4 == 0, "borrowed floats must be 4-byte aligned")
        count = bytes.count / 4
        base = UnsafeMutablePointer(mutating: bytes.baseAddress!.assumingMemoryBound(to: Float.self))
        self.owner = owner
        ownsMemory = false
    }

    deinit {
        if ownsMemory { base.deallocate() }
    }

    public subscript(index: Int) -> Float {
        get { precondition(index >= 0 && index < count, "index \(index) outside buffer of \(count)"); return base[index] }
        set { precondition(index >= 0 && index < count && ownsMemory, "write at \(index) to buffer of \(count)"); base[index] = newValue }
    }

    /// A copy of the elements in `range`.
    public func array(_ range: Range<Int>? = nil) -> [Float] {
        let range = range ?? 0..<count
        precondition(range.lowerBound >= 0 && range.upperBound <= count)
        return Array(UnsafeBufferPointer(start: base + range.lowerBound, count: range.count))
    }

    /// Overwrites elements starting at `offset` with `values`.
    public func write(_ values: [Float], at offset: Int = 0) {
        precondition(ownsMemory && offset >= 0 && offset + values.count <= count)
        values.withUnsafeBufferPointer { (base + offset).update(from: $0.baseAddress!, count: values.count) }
    }

    /// Lets `body` fill the buffer's bytes (e.g. a decompressor writing straight into it).
    public func withUnsafeMutableBytes<R>(_ body: (UnsafeMutableRawBufferPointer) throws -> R) rethrows -> R {
        precondition(ownsMemory, "cannot write to a borrowed buffer")
        return try body(UnsafeMutableRawBufferPointer(start: base, count: 4 * count))
    }

    /// A new owned buffer of `newCount` floats starting with this one's contents (for growing caches).
    public func resized(to newCount: Int) -> FloatBuffer {
        let grown = FloatBuffer(count: newCount)
        grown.base.update(from: base, count: min(count, newCount))
        return grown
    }

    /// Whether the memory belongs to this buffer (false for views of a mapped file).
    public var isOwned: Bool { ownsMemory }
}
