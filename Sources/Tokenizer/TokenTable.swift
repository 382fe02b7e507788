/// Every token's bytes in one buffer, indexed by id: `table[id]` is a slice of it. About the size of the bytes
/// themselves (GPT-2's 50,257 tokens: 0.5 MB with offsets), where an array per token costs ten times that.
public struct TokenTable: RandomAccessCollection, Sendable {
    /// All tokens' bytes, back to back in id order.
    private let storage: [UInt8]
    /// Token `id` is `storage[offsets[id]..<offsets[id + 1]]`.
    private let offsets: [Int32]

    /// A table of `tokens` in id order.
    init(storage: [UInt8], offsets: [Int32]) {
        precondition(offsets.first == 0 && offsets.last.map(Int.init) == storage.count, "token offsets must span the storage")
        self.storage = storage
        self.offsets = offsets
    }

    public var startIndex: Int { 0 }
    public var endIndex: Int { offsets.count - 1 }

    /// The bytes of token `id`.
    public subscript(id: Int) -> ArraySlice<UInt8> {
        storage[Int(offsets[id])..<Int(offsets[id + 1])]
    }

    /// The byte length of token `id`.
    public func length(of id: Int) -> Int { Int(offsets[id + 1] - offsets[id]) }

    /// Bytes held by the table (storage and offsets).
    public var residentBytes: Int { storage.count + 4 * offsets.count }
}

/// Token ids by their bytes, in one open-addressing table over a `TokenTable` (no array per key): what building
/// the merge table needs, and nothing after.
struct TokenIndex {
    // `hash & mask` picks the slot: a negative hash is fine, the mask keeps the low bits.
    private let table: TokenTable
    private var slots: [Int32]
    private let mask: Int

    /// Indexes the ids `table.indices` for which `include` holds; the first of equal byte sequences wins.
    init(_ table: TokenTable, including include: (Int) -> Bool) {
        self.table = table
        var capacity = 16
        while capacity < 2 * table.count { capacity <<= 1 }
        slots = [Int32](repeating: -1, count: capacity)
        mask = capacity - 1
        for id in table.indices where include(id) {
            var slot = Self.hash(table[id]) & mask
            while slots[slot] >= 0 {
                if table[Int(slots[slot])].elementsEqual(table[id]) { break }
                slot = (slot + 1) & mask
            }
            if slots[slot] < 0 { slots[slot] = Int32(id) }
        }
    }

    /// The id of the token with exactly these bytes.
    func id<Bytes: Collection>(of bytes: Bytes) -> Int32? where Bytes.Element == UInt8 {
        var slot = Self.hash(bytes) & mask
        while slots[slot] >= 0 {
            if table[Int(slots[slot])].elementsEqual(bytes) { return slots[slot] }
            slot = (slot + 1) & mask
        }
        return nil
    }

    /// Swift's hasher over the bytes: seeded per process, so a vocabulary crafted to collide cannot make building
    /// the table quadratic.
    private static func hash<Bytes: Collection>(_ bytes: Bytes) -> Int where Bytes.Element == UInt8 {
        var hasher = Hasher()
        for byte in bytes { hasher.combine(byte) }
        hasher.combine(bytes.count)
        return hasher.finalize()
    }
}
