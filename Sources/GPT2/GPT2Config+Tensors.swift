extension GPT2Config {
    /// A count in the config that the tensors of its file contradict.
    public struct TensorMismatch: Error, CustomStringConvertible, Equatable {
        /// The config field, as spelled in a Hugging Face `config.json` (`n_layer`, `n_embd`, …).
        public let field: String
        /// What the config says and what the file holds, e.g. "n_layer is 1000000000 but the checkpoint holds 1 block (h.0)".
        public let description: String
    }

    /// Checks the config's counts against the tensors a file holds (canonical name → shape), before anything
    /// is sized from them: the number of blocks (distinct `h.N.` prefixes) must be `n_layer`, and the tensors
    /// whose shape is the same in a safetensors checkpoint and a .gqz file must match the config: wte
    /// [vocab_size, n_embd], wpe [n_positions, n_embd], ln_f.weight [n_embd], h.0.attn.c_attn.bias [3·n_embd]
    /// and h.0.mlp.c_fc.bias [n_inner]. A missing tensor is left to the per-tensor checks, which name it.
    ///
    /// ```swift
    /// try config.validate(againstTensors: ["wte.weight": [50257, 768], "h.0.ln_1.weight": [768], …])
    /// ```
    public func validate(againstTensors shapes: [String: [Int]]) throws {
        let blocks = Self.blockIndices(in: shapes.keys)
        guard blocks.count == layerCount else {
            let held = blocks.isEmpty ? "no blocks (no h.N. tensors)"
                : "\(blocks.count) block\(blocks.count == 1 ? "" : "s") (\(Self.describe(blocks)))"
            throw TensorMismatch(field: "n_layer", description: "n_layer is \(layerCount) but the checkpoint holds \(held)")
        }
        let c = embeddingWidth
        // Each dimension: the field it comes from and that field's value, how the message writes the
        // dimension, and its size.
        typealias Dimension = (field: String, setting: Int, term: String, size: Int)
        let expected: [(tensor: String, dimensions: [Dimension])] = [
            ("wte.weight", [("vocab_size", vocabularySize, "vocab_size", vocabularySize), ("n_embd", c, "n_embd", c)]),
            ("wpe.weight", [("n_positions", contextLength, "n_positions", contextLength), ("n_embd", c, "n_embd", c)]),
            ("ln_f.weight", [("n_embd", c, "n_embd", c)]),
            ("h.0.attn.c_attn.bias", [("n_embd", c, "3·n_embd", 3 * c)]),
            ("h.0.mlp.c_fc.bias", [("n_inner", innerWidth, "n_inner", innerWidth)]),
        ]
        for (tensor, dimensions) in expected {
            guard let shape = shapes[tensor] else { continue }
            let needed = dimensions.map(\.size)
            guard shape != needed else { continue }
            // Blame the first dimension that differs (the first one when even the rank differs).
            let culprit = dimensions[dimensions.indices.first { $0 >= shape.count || shape[$0] != needed[$0] } ?? 0]
            throw TensorMismatch(field: culprit.field, description: "\(culprit.field) is \(culprit.setting) but \(tensor) has shape \(shape), "
                                 + "not [\(dimensions.map(\.term).joined(separator: ", "))] = \(needed)")
        }
    }

    /// The distinct N of tensors named `h.N.…`, sorted.
    static func blockIndices(in names: some Sequence<String>) -> [Int] {
        var indices = Set<Int>()
        for name in names where name.hasPrefix("h.") {
            let rest = name.dropFirst(2)
            guard let dot = rest.firstIndex(of: "."), let index = Int(rest[..<dot]), index >= 0 else { continue }
            indices.insert(index)
        }
        return indices.sorted()
    }

    /// "h.0", "h.0 to h.47" for a run from 0, else the first few indices.
    static func describe(_ blocks: [Int]) -> String {
        if blocks == Array(0..<blocks.count) { return blocks.count == 1 ? "h.0" : "h.0 to h.\(blocks.count - 1)" }
        let shown = blocks.prefix(8).map { "h.\($0)" }.joined(separator: ", ")
        return blocks.count > 8 ? shown + ", …" : shown
    }
}
