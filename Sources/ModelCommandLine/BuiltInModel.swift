import CDefaultModel
import GPT2Edge

/// The default model's bytes, linked into this program; read-only for the program's lifetime.
nonisolated(unsafe) let defaultModelBytes = UnsafeRawBufferPointer(start: gpt2edge_default_model_bytes(), count: gpt2edge_default_model_size())
public let defaultModelName = "<built-in KJV model>"

/// The built-in model; its pages are handed back as they are read (they are this program's read-only data).
public func openBuiltInModel() throws -> ModelSource {
    try ModelSource.embedded(defaultModelBytes, name: defaultModelName, inReadOnlyData: true)
}
