/// Why a tokenizer could not be loaded or used; each case names the file or token at fault.
public enum TokenizerError: Error, CustomStringConvertible, Equatable {
    case missingFile(path: String)
    case unreadableFile(path: String, reason: String)
    case malformedVocabulary(path: String, reason: String)
    case malformedMerges(path: String, line: Int, reason: String)
    case unknownTokenID(Int, vocabularySize: Int)

    public var description: String {
        switch self {
        case .missingFile(let path):
            return "tokenizer file not found: \(path) (a GPT-2 folder needs vocab.json and merges.txt)"
        case .unreadableFile(let path, let reason):
            return "cannot read tokenizer file \(path): \(reason)"
        case .malformedVocabulary(let path, let reason):
            return "malformed vocabulary \(path): \(reason)"
        case .malformedMerges(let path, let line, let reason):
            return "malformed merges file \(path), line \(line): \(reason)"
        case .unknownTokenID(let id, let size):
            return "token id \(id) is outside the vocabulary (0..<\(size))"
        }
    }
}
