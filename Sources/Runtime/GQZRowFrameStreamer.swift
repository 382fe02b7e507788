import Foundation
import GPT2
import GQZ
import Kernels
import WeightFormat

/// A vocabulary matrix (wte, an untied lm_head) streamed from a `.gqz` file whose entry is stored in row frames
/// (formats/GQZ.md §4): each frame is decompressed into one of a few reusable slots when the embedding or the LM
/// head reaches it, as many at once as there are slots (one per thread), so the table never sits in memory whole.
/// A frame still held from the last pass is not decompressed again (the next token's embedding often finds it).
// @unchecked: the slots change only inside `forEachFrame`, which the model calls from its forward pass, one pass at a
// time (GPT2Model's forward lock).
final class GQZRowFrameStreamer: RowFrameStreamer, @unchecked Sendable {
    private let file: GQZFile
    private let entry: GQZEntry
    private let scheme: WeightScheme
    /// Frames stored in the panel layout are read as they are, for the integer kernels.
    private let keepsPanels: Bool
    let rows: Int
    let columns: Int
    let frameRows: Int
    var bytesPerPass: Int { entry.rawBytes }
    /// Frames held now: slot i holds frame `slots[i].frame` (-1: nothing yet).
    private var slots: [(frame: Int, matrix: WeightMatrix?)]

    /// `entry` must be a row-framed two-dimensional f32, q8 or q4 entry already checked against the model's config.
    init(file: GQZFile, entry: GQZEntry, slots: Int, keepsPanels: Bool) {
        precondition(!entry.frames.isEmpty && entry.frameRows != nil && entry.weightScheme != nil && slots >= 1)
        self.file = file
        self.entry = entry
        scheme = entry.weightScheme!
        self.keepsPanels = keepsPanels && entry.layout == .panels16
        (rows, columns) = entry.rowsAndColumns
        frameRows = entry.frameRows!
        self.slots = Array(repeating: (-1, nil), count: min(slots, entry.frames.count))
    }

    /// The memory the slots take at most: a full frame each, as the kernels keep it.
    static func residentBytes(of entry: GQZEntry, slots: Int) -> Int {
        min(slots, entry.frames.count) * entry.largestFrameRawBytes
    }

    func forEachFrame(_ frames: [Int], _ body: (_ frame: Int, _ matrix: WeightMatrix) throws -> Void) throws {
        for first in stride(from: 0, to: frames.count, by: slots.count) {
            let group = Array(frames[first..<min(frames.count, first + slots.count)])
            let held = try load(group)
            for (frame, slot) in zip(group, held) { try body(frame, slots[slot].matrix!) }
        }
    }

    /// Puts every frame of `group` (at most one per slot) in a slot, decompressing those not already held, all at once;
    /// returns each frame's slot.
    private func load(_ group: [Int]) throws -> [Int] {
        var assigned = group.map { frame in slots.firstIndex { $0.frame == frame } }
        var free = slots.indices.filter { !assigned.contains($0) }
        var jobs: [(frame: Int, slot: Int)] = []
        for i in group.indices where assigned[i] == nil {
            let slot = free.removeFirst()
            assigned[i] = slot
            jobs.append((group[i], slot))
        }
        // Allocate here (one thread), fill in parallel: each job writes only its own slot's matrix.
        for job in jobs {
            let frameRows = entry.frames[job.frame].rows.count
            if slots[job.slot].matrix?.outFeatures != frameRows { slots[job.slot].matrix = makeMatrix(rows: frameRows) }
            slots[job.slot].frame = -1   // until it is filled
        }
        let failures = FailureList()
        let work = jobs.map { job in (job.frame, slots[job.slot].matrix!) }
        DispatchQueue.concurrentPerform(iterations: work.count) { j in
            do { try fill(work[j].1, frame: work[j].0) } catch { failures.append(error) }
        }
        if let failure = failures.first { throw failure }
        for job in jobs { slots[job.slot].frame = job.frame }
        return assigned.map { $0! }
    }

    private func makeMatrix(rows frameRows: Int) -> WeightMatrix {
        switch scheme {
        case .float32:
            return .outIn(FloatBuffer(count: frameRows * columns), inFeatures: columns, outFeatures: frameRows)
        case .int8(let groupSize), .int4(let groupSize):
            return .quantized(QuantizedMatrix(rows: frameRows, columns: columns, groupSize: groupSize, bits: scheme.bits!) { _ in })
        }
    }

    private func fill(_ matrix: WeightMatrix, frame: Int) throws {
        switch matrix {
        case .outIn(let buffer, _, _):
            try buffer.withUnsafeMutableBytes { try file.readFrame(entry, frame, into: $0) }
        case .quantized(let stored) where keepsPanels:
            try stored.overwritePacked { try file.readFrame(entry, frame, into: $0, keepingLayout: true) }
        case .quantized(let stored):
            try stored.overwrite { try file.readFrame(entry, frame, into: $0) }
        case .inOut:
            preconditionFailure("a row frame is stored [out, in]")
        }
    }
}
