import Foundation
import GPT2
import GQZ
import Kernels

/// Layer streaming from a `.gqz` file: the blocks stay compressed on disk and each is decompressed (its twelve
/// tensors in parallel) into one reusable slot when the forward pass reaches it, so a model needs memory for
/// one block instead of all of them. Every token pays for decompressing every block. Matrices stored in the panel
/// layout (formats/GQZ.md §5) are decompressed straight into it for the integer kernels, so a streamed block runs the
/// same products as a resident one; a row-major file's streamed blocks take the float kernels (packing them on every
/// pass would cost more than it saves). (Decompressing block
/// i + 1 during block i's compute is not built: it needs a second slot, and on gpt2-xl a block's decode
/// compute is ~2 ms against ~11 ms to decompress it, so overlap could hide ~15% at most.)
// @unchecked: the slot changes only inside `layer(_:)`, which the model calls from its forward pass, and the model
// runs one forward pass at a time (GPT2Model's forward lock).
final class GQZLayerStreamer: LayerStreamer, @unchecked Sendable {
    private let file: GQZFile
    private let config: GPT2Config
    /// Matrices stored in the panel layout are read as they are for the integer kernels (else row-major, float kernels).
    private let keepsPanels: Bool
    private let entry: (String) throws -> GQZEntry
    private let matrix: (String, Int, Int) throws -> WeightMatrix
    private let vector: (String) throws -> FloatBuffer
    /// The block held now, once one has been asked for.
    private var slot: (index: Int, layer: GPT2Weights.Layer)?
    let matrixBytesPerToken: Int

    /// `config` must be the file's own, already checked against its tensors (`GQZFile.gpt2Config()`), since
    /// its n_layer sizes the loop below.
    init(file: GQZFile, config: GPT2Config, keepsPanels: Bool, entry: @escaping (String) throws -> GQZEntry,
         matrix: @escaping (String, Int, Int) throws -> WeightMatrix, vector: @escaping (String) throws -> FloatBuffer) {
        self.file = file
        self.config = config
        self.keepsPanels = keepsPanels
        self.entry = entry
        self.matrix = matrix
        self.vector = vector
        matrixBytesPerToken = (0..<config.layerCount).reduce(0) { sum, i in
            ["attn.c_attn.weight", "attn.c_proj.weight", "mlp.c_fc.weight", "mlp.c_proj.weight"].reduce(sum) { sum, suffix in
                sum + ((try? entry("h.\(i)." + suffix)).map { $0.rawBytes } ?? 0)
            }
        }
    }

    func layer(_ index: Int) throws -> GPT2Weights.Layer {
        precondition(index >= 0 && index < config.layerCount)
        if let held = slot, held.index == index { return held.layer }
        if let held = slot {
            slot = nil   // until the refill has fully succeeded, the slot holds no block
            if try refill(held.layer, with: index) {
                slot = (index, held.layer)
                return held.layer
            }
        }
        // First use of the slot, or block `index` is stored differently from the slot's block: allocate.
        let layer = try GPT2Weights.layer(index, config: config, matrix: matrix, vector: vector)
        slot = (index, layer)
        return layer
    }

    /// Decompresses block `index` into `layer`'s buffers; false when a tensor's scheme or size differs from
    /// what the buffers hold (nothing usable is left in them then; the caller allocates anew).
    private func refill(_ layer: GPT2Weights.Layer, with index: Int) throws -> Bool {
        let p = "h.\(index)."
        let vectors: [(String, FloatBuffer)] = [
            ("ln_1.weight", layer.norm1Gain), ("ln_1.bias", layer.norm1Bias), ("attn.c_attn.bias", layer.attentionBias),
            ("attn.c_proj.bias", layer.attentionProjectionBias), ("ln_2.weight", layer.norm2Gain), ("ln_2.bias", layer.norm2Bias),
            ("mlp.c_fc.bias", layer.feedForwardBias), ("mlp.c_proj.bias", layer.feedForwardProjectionBias),
        ]
        let matrices: [(String, WeightMatrix)] = [
            ("attn.c_attn.weight", layer.attentionWeight), ("attn.c_proj.weight", layer.attentionProjectionWeight),
            ("mlp.c_fc.weight", layer.feedForwardWeight), ("mlp.c_proj.weight", layer.feedForwardProjectionWeight),
        ]
        // Check everything first, then decompress the twelve tensors in parallel (each is its own frame).
        var jobs: [@Sendable () throws -> Void] = []
        for (suffix, buffer) in vectors {
            let entry = try entry(p + suffix)
            guard entry.weightScheme == .float32, entry.rawBytes == 4 * buffer.count, buffer.isOwned else { return false }
            jobs.append { try buffer.withUnsafeMutableBytes { try self.file.readPayload(entry, into: $0) } }
        }
        for (suffix, weight) in matrices {
            let entry = try entry(p + suffix)
            guard case .quantized(let stored) = weight, entry.weightScheme == stored.scheme, entry.rawBytes == stored.byteCount else { return false }
            if entry.layout == .panels16 && keepsPanels {
                jobs.append { try stored.overwritePacked { try self.file.readPayload(entry, into: $0, keepingLayout: true) } }
            } else {
                jobs.append { try stored.overwrite { try self.file.readPayload(entry, into: $0) } }
            }
        }
        let failures = FailureList()
        let work = jobs
        DispatchQueue.concurrentPerform(iterations: work.count) { j in
            do { try work[j]() } catch { failures.append(error) }
        }
        if let failure = failures.first { throw failure }
        return true
    }
}

/// Errors collected from concurrent work.
// @unchecked: its array is read and written under `lock` only.
final class FailureList: @unchecked Sendable {
    private let lock = NSLock()
    private var errors: [Error] = []
    func append(_ error: Error) { lock.lock(); errors.append(error); lock.unlock() }
    var first: Error? { lock.lock(); defer { lock.unlock() }; return errors.first }
}
