import Kernels

/// Keys and values of every processed position, per layer, as float32 rows of width n_embd.
///
/// It grows in chunks of 64 positions as the context fills, instead of reserving n_positions up front.
public final class KVCache {
    public let layerCount: Int
    public let width: Int
    public let maximumLength: Int
    /// Positions stored so far.
    public private(set) var length = 0
    private(set) var keys: [FloatBuffer]
    private(set) var values: [FloatBuffer]
    private var capacity = 0
    /// Positions added each time the cache grows.
    public static let growthChunk = 64

    public convenience init(config: GPT2Config) {
        self.init(layerCount: config.layerCount, width: config.embeddingWidth, maximumLength: config.contextLength)
    }

    private init(layerCount: Int, width: Int, maximumLength: Int) {
        self.layerCount = layerCount
        self.width = width
        self.maximumLength = maximumLength
        keys = (0..<layerCount).map { _ in FloatBuffer(count: 0) }
        values = keys
    }

    /// Makes room for `count` more positions.
    func reserve(adding count: Int) {
        let needed = length + count
        precondition(needed <= maximumLength, "context of \(maximumLength) positions exceeded")
        guard needed > capacity else { return }
        let newCapacity = min(maximumLength, ((needed + Self.growthChunk - 1) / Self.growthChunk) * Self.growthChunk)
        keys = keys.map { $0.resized(to: newCapacity * width) }
        values = values.map { $0.resized(to: newCapacity * width) }
        capacity = newCapacity
    }

    func commit(adding count: Int) { length += count }

    /// Forgets every position after the first `newLength` (e.g. to reuse a shared prompt).
    public func truncate(to newLength: Int) {
        precondition(newLength >= 0 && newLength <= length)
        length = newLength
    }

    /// An independent cache holding the same positions (a beam that continues in two directions).
    public func copy() -> KVCache {
        let twin = KVCache(layerCount: layerCount, width: width, maximumLength: maximumLength)
        twin.keys = keys.map { $0.resized(to: $0.count) }
        twin.values = values.map { $0.resized(to: $0.count) }
        twin.capacity = capacity
        twin.length = length
        return twin
    }

    /// Bytes held by the cache now.
    public var allocatedBytes: Int { 2 * layerCount * capacity * width * 4 }
}
