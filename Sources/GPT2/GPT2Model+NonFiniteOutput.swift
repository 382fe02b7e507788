import Kernels

extension GPT2Model {
    /// A forward pass produced NaN or infinity, and where it first appeared: the sign of corrupt weights
    /// (sampling from such logits would print tokens as if nothing were wrong).
    ///
    /// ```swift
    /// do { _ = try model.forward(tokens: ids, cache: cache) }
    /// catch let error as GPT2Model.NonFiniteOutput { print(error.layer ?? "logits", error.position) }
    /// ```
    public struct NonFiniteOutput: Error, CustomStringConvertible, Equatable {
        /// What produced it: "wte+wpe" (the embeddings), "h.N" (block N's output, the residual stream after it)
        /// or "ln_f/lm_head" (the logits); nil when only the logits were checked (the GPU path).
        public let layer: String?
        /// The sequence position (0-based, counting the cached ones) of the first row holding it.
        public let position: Int
        /// The value found: "NaN", "infinity" or "-infinity".
        public let value: String

        public init(layer: String?, position: Int, value: Float) {
            self.layer = layer
            self.position = position
            self.value = value.isNaN ? "NaN" : value > 0 ? "infinity" : "-infinity"
        }

        public var description: String {
            guard let layer else {
                return "the model's output is not finite: the logits at position \(position) hold \(value) "
                    + "(the GPU path checks only the logits; the weights may be corrupt; check the source checkpoint)"
            }
            let source = layer.hasPrefix("h.") ? "block \(layer)" : layer == "wte+wpe" ? "the embeddings (wte+wpe)"
                : "the final norm and LM head (\(layer))"
            let owner = layer.hasPrefix("h.") ? "its" : "their"
            return "the model's output is not finite: \(source) produced \(value) at position \(position) "
                + "(\(owner) weights may be corrupt; check the source checkpoint)"
        }
    }

    /// Throws `NonFiniteOutput` for the first non-finite value among `rows` rows of `width` in `values`;
    /// `position(row)` is the sequence position of a row.
    func checkFinite(_ values: FloatBuffer, rows: Int, width: Int, producedBy layer: String, position: (Int) -> Int) throws {
        guard let index = firstNonFinite(in: values, count: rows * width) else { return }
        throw NonFiniteOutput(layer: layer, position: position(index / width), value: values[index])
    }
}
