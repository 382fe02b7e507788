import Kernels

/// Keys and values of every processed position, per layer, in the chosen precision (float16 by default for
/// quantized models; float32 for the reference path; int8 to quarter the memory).
///
/// It grows in chunks of 64 positions as the context fills, instead of reserving n_positions up front.
public final class KVCache {
    public typealias Precision = KVStorage.Precision

    public let layerCount: Int
    public let width: Int
    public let maximumLength: Int
    public let precision: Precision
    /// Positions stored so far.
    public private(set) var length = 0
    private(set) var keys: [KVStorage]
    private(set) var values: [KVStorage]
    private var capacity = 0
    /// Positions added each time the cache grows, by default.
    public static let growthChunk = 64
    /// Positions this cache adds each time it grows (1 for a cache that takes one pass and no more: exactly its tokens).
    public let chunk: Int

    public init(config: GPT2Config, precision: Precision = .f32, growthChunk: Int = KVCache.growthChunk) {
        chunk = max(1, growthChunk)
        layerCount = config.layerCount
        width = config.embeddingWidth
        maximumLength = config.contextLength
        self.precision = precision
        keys = (0..<config.layerCount).map { _ in KVStorage(precision: precision, width: config.embeddingWidth, headDim: config.headDim) }
        values = (0..<config.layerCount).map { _ in KVStorage(precision: precision, width: config.embeddingWidth, headDim: config.headDim) }
    }

    private init(copying other: KVCache) {
        chunk = other.chunk
        layerCount = other.layerCount
        width = other.width
        maximumLength = other.maximumLength
        precision = other.precision
        keys = other.keys.map { $0.copy() }
        values = other.values.map { $0.copy() }
        capacity = other.capacity
        length = other.length
    }

    /// Makes room for `count` more positions.
    func reserve(adding count: Int) {
        let needed = length + count
        precondition(needed <= maximumLength, "context of \(maximumLength) positions exceeded")
        guard needed > capacity else { return }
        let newCapacity = min(maximumLength, ((needed + chunk - 1) / chunk) * chunk)
        for storage in keys + values { storage.reserve(positions: newCapacity) }
        capacity = newCapacity
    }

    func commit(adding count: Int) { length += count }

    /// Forgets every position after the first `newLength` (e.g. to reuse a shared prompt).
    public func truncate(to newLength: Int) {
        precondition(newLength >= 0 && newLength <= length)
        length = newLength
    }

    /// An independent cache holding the same positions (a beam that continues in two directions).
    public func copy() -> KVCache { KVCache(copying: self) }

    /// Bytes held by the cache now.
    public var allocatedBytes: Int { (keys + values).reduce(0) { $0 + $1.allocatedBytes } }

    /// Bytes a cache of `positions` positions takes in `precision` (for memory plans).
    public static func bytes(config: GPT2Config, positions: Int, precision: Precision) -> Int {
        let perRow = config.embeddingWidth * precision.elementBytes + (precision == .int8 ? config.headCount * 4 : 0)
        return 2 * config.layerCount * positions * perRow
    }
}
