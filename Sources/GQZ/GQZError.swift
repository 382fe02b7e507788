/// Why a `.gqz` file could not be read or written; each case names the file, and the tensor or byte
/// offset where one is involved.
public enum GQZError: Error, CustomStringConvertible, Equatable {
    case unreadable(path: String, reason: String)
    case notGQZ(path: String)
    /// Another model format (GGUF, safetensors, a PyTorch checkpoint), with what to do instead.
    case foreignFormat(path: String, format: String, advice: String)
    case unsupportedVersion(path: String, version: UInt32, supported: UInt32)
    case unsupportedFeatures(path: String, features: [String])
    case corruptPreamble(path: String, reason: String)
    case corruptIndex(path: String, reason: String)
    case invalidEntry(path: String, tensor: String, reason: String)
    case corruptPayload(path: String, tensor: String, reason: String)
    case missingTensor(path: String, tensor: String)
    case writeFailed(path: String, reason: String)
    /// The destination exists and is not a regular file (a directory, device, named pipe or socket): nothing was written.
    case refusedDestination(path: String, reason: String)

    public var description: String {
        switch self {
        case .unreadable(let path, let reason):
            return "cannot read \(path): \(reason)"
        case .notGQZ(let path):
            return "\(path) is not a .gqz file (wrong magic bytes)"
        case .foreignFormat(let path, let format, let advice):
            return "\(path) is \(format), not a .gqz file; \(advice)"
        case .unsupportedVersion(let path, let version, let supported):
            return "\(path) uses .gqz format version \(version); this gpt2-edge reads version \(supported) (upgrade gpt2-edge, or convert the model again)"
        case .unsupportedFeatures(let path, let features):
            return "\(path) requires format features this gpt2-edge does not know: \(features.joined(separator: ", ")) (upgrade gpt2-edge)"
        case .corruptPreamble(let path, let reason):
            return "\(path): corrupt preamble: \(reason)"
        case .corruptIndex(let path, let reason):
            return "\(path): corrupt index: \(reason)"
        case .invalidEntry(let path, let tensor, let reason):
            return "\(path): index entry for tensor \(tensor) is invalid: \(reason)"
        case .corruptPayload(let path, let tensor, let reason):
            return "\(path): tensor \(tensor) is corrupt: \(reason)"
        case .missingTensor(let path, let tensor):
            return "\(path) has no tensor \(tensor)"
        case .writeFailed(let path, let reason):
            return "cannot write \(path): \(reason)"
        case .refusedDestination(let path, let reason):
            return "refusing to write \(path): \(reason)"
        }
    }
}
