/// Why a checkpoint could not be read; every case names the file, and the tensor or field where one is involved.
public enum CheckpointError: Error, CustomStringConvertible, Equatable {
    case missingFile(path: String, hint: String)
    case unreadableFile(path: String, reason: String)
    case invalidSafetensors(path: String, reason: String)
    case invalidConfig(path: String, reason: String)
    case missingTensor(name: String, path: String)
    case wrongShape(name: String, path: String, expected: [Int], actual: [Int])
    case unsupportedDType(name: String, path: String, dtype: String)
    case onlyPickleWeights(folder: String)

    public var description: String {
        switch self {
        case .missingFile(let path, let hint):
            return "file not found: \(path)\(hint.isEmpty ? "" : " (\(hint))")"
        case .unreadableFile(let path, let reason):
            return "cannot read \(path): \(reason)"
        case .invalidSafetensors(let path, let reason):
            return "invalid safetensors file \(path): \(reason)"
        case .invalidConfig(let path, let reason):
            return "invalid config \(path): \(reason)"
        case .missingTensor(let name, let path):
            return "tensor \(name) not found in \(path)"
        case .wrongShape(let name, let path, let expected, let actual):
            return "tensor \(name) in \(path) has shape \(actual), expected \(expected)"
        case .unsupportedDType(let name, let path, let dtype):
            return "tensor \(name) in \(path) has dtype \(dtype); only F32, F16 and BF16 weights are supported"
        case .onlyPickleWeights(let folder):
            return "\(folder) has only pytorch_model.bin (a pickle file, which gpt2-edge does not execute); "
                + "convert it once with Python: `from transformers import GPT2LMHeadModel; "
                + "GPT2LMHeadModel.from_pretrained('\(folder)').save_pretrained('\(folder)', safe_serialization=True)`"
        }
    }
}
