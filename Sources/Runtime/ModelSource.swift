import Checkpoint
import Foundation
import GPT2
import GQZ
import Tokenizer

/// A model's files, resolved and opened once: a `.gqz` file (on disk or linked into the program) or a Hugging
/// Face GPT-2 folder. Its config (checked against its tensors) and tokenizer are read here; the memory plan,
/// the loader and the GPU path all work from this value and never go back to the path.
///
/// ```swift
/// let source = try ModelSource.open(path: "gpt2-q8.gqz")
/// let model = try LoadedModel.load(source, policy: LoadPolicy(threads: 2))
/// ```
public struct ModelSource: Sendable {
    /// What the source is made of.
    public enum Storage: Sendable {
        /// A `.gqz` file: int8/int4 or float32 tensors, config and tokenizer inside.
        case gqz(GQZFile)
        /// A Hugging Face folder (config.json, safetensors, vocab.json, merges.txt), run in float32.
        case folder(HFCheckpoint)
    }

    /// The path, or the name of a model linked into the program, for messages.
    public let name: String
    public let storage: Storage
    /// The model's config, checked against the tensors the source holds.
    public let config: GPT2Config
    /// The model's tokenizer.
    public let tokenizer: GPT2Tokenizer

    /// Opens `path`: a directory is read as a Hugging Face folder, anything else as a `.gqz` file.
    public static func open(path: String) throws -> ModelSource {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else { throw LoadedModel.LoadError.notFound(path) }
        if isDirectory.boolValue {
            let checkpoint = try HFCheckpoint(folder: URL(fileURLWithPath: path))
            let config = try checkpoint.gpt2Config()
            let tokenizer = try GPT2Tokenizer(vocabulary: checkpoint.vocabularyURL, merges: checkpoint.mergesURL)
            return ModelSource(name: path, storage: .folder(checkpoint), config: config, tokenizer: tokenizer)
        }
        return try ModelSource(file: GQZFile(path: path))
    }

    /// A `.gqz` image linked into the program (gpt2-edge's built-in model); `bytes` must outlive the source.
    /// `inReadOnlyData`: the bytes are the program's own read-only data (a mapping of its file), so the pages of
    /// each read are handed back once copied (see `GQZFile.init(staticBytes:name:mappedFromFile:)`).
    public static func embedded(_ bytes: UnsafeRawBufferPointer, name: String, inReadOnlyData: Bool = false) throws -> ModelSource {
        try ModelSource(file: GQZFile(staticBytes: bytes, name: name, mappedFromFile: inReadOnlyData))
    }

    /// An opened `.gqz` file.
    public init(file: GQZFile) throws {
        let config = try file.gpt2Config()   // its counts checked against the file's tensors before any sizes a list
        let tokenizer = try GPT2Tokenizer(vocabularyJSON: Data(try file.payload("tokenizer/vocab.json")),
                                          mergesText: Data(try file.payload("tokenizer/merges.txt")),
                                          source: (file.path + ":tokenizer/vocab.json", file.path + ":tokenizer/merges.txt"))
        self.init(name: file.path, storage: .gqz(file), config: config, tokenizer: tokenizer)
    }

    private init(name: String, storage: Storage, config: GPT2Config, tokenizer: GPT2Tokenizer) {
        self.name = name
        self.storage = storage
        self.config = config
        self.tokenizer = tokenizer
    }

    /// The `.gqz` file, when the source is one.
    public var gqzFile: GQZFile? {
        if case .gqz(let file) = storage { return file }
        return nil
    }

    /// Whether the source is a Hugging Face folder (float32 in memory, no layer streaming, no GPU path).
    public var isFolder: Bool { gqzFile == nil }
}
