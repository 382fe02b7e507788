/// Prompt tokens quantized as `QuantizedActivations` does (per weight group, q8_0 style), laid out for the prompt
/// kernel's 4-token tile: one record per (block of four tokens, group), holding the four tokens' bytes interleaved
/// four columns at a time (`[unit][token][4 bytes]`), then their four scales, then their four offset sums.
///
/// With rows of their own, the tile kept four activation pointers and eight scale and offset indices live and
/// spilled them every group (a third of the prompt product's time went to the group epilogue); here one pointer
/// walks the records. A last block with fewer than four tokens is zero-filled: its extra sums are 0 and dropped.
struct QuantizedTokenBlocks {
    static let tokensPerBlock = 4

    let records: UnsafeMutableRawPointer
    let groups: Int
    let groupSize: Int
    let blocks: Int

    /// Bytes of one record: the values, then four Float scales, then four Int32 offset sums.
    var recordBytes: Int { Self.tokensPerBlock * groupSize + 32 }
    /// Where a record's scales start; its offset sums start 16 bytes later.
    var scalesOffset: Int { Self.tokensPerBlock * groupSize }

    init(_ x: UnsafeMutablePointer<Float>, tokens: Int, columns: Int, groupSize: Int, offset: Int32, pool: ThreadPool) {
        let groups = (columns + groupSize - 1) / groupSize, blocks = (tokens + 3) / 4
        self.groups = groups
        self.groupSize = groupSize
        self.blocks = blocks
        records = .allocate(byteCount: blocks * groups * (Self.tokensPerBlock * groupSize + 32), alignment: 64)
        let (records, recordBytes, scalesOffset) = (records, self.recordBytes, self.scalesOffset)
        let padding = blocks * 4 - tokens
        if padding > 0 {
            let lastBlock = records + (blocks - 1) * groups * recordBytes
            lastBlock.initializeMemory(as: UInt8.self, repeating: 0, count: groups * recordBytes)
        }
        let quantize = { (t: Int) in
            // Each group is quantized into a contiguous row first, then dealt out four bytes at a time.
            let row = UnsafeMutablePointer<Int8>.allocate(capacity: groupSize)
            defer { row.deallocate() }
            let block = records + (t / 4) * groups * recordBytes, lane = t % 4
            for g in 0..<groups {
                let record = block + g * recordBytes, start = g * groupSize
                let (scale, sum) = quantizeGroup(x + t * columns + start, count: min(groupSize, columns - start),
                                                 padTo: groupSize, into: row)
                for u in 0..<groupSize / 4 {
                    let unit = UnsafeRawPointer(row).load(fromByteOffset: 4 * u, as: Int32.self)
                    record.storeBytes(of: unit, toByteOffset: 16 * u + 4 * lane, as: Int32.self)
                }
                record.storeBytes(of: scale, toByteOffset: scalesOffset + 4 * lane, as: Float.self)
                record.storeBytes(of: offset &* sum, toByteOffset: scalesOffset + 16 + 4 * lane, as: Int32.self)
            }
        }
        // A block's four tokens share cache lines, so a work item is a whole block (two threads writing
        // neighbouring tokens made the lines bounce between cores).
        if tokens < 8 {
            for t in 0..<tokens { quantize(t) }
        } else {
            pool.parallelFor(blocks) { b in for t in (4 * b)..<min(tokens, 4 * b + 4) { quantize(t) } }
        }
    }

    /// The first record of a block of four tokens; group g's record is `g · recordBytes` further.
    func block(_ b: Int) -> UnsafeRawPointer { UnsafeRawPointer(records + b * groups * recordBytes) }

    func deallocate() { records.deallocate() }
}
