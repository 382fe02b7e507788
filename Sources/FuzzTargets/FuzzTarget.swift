import Checkpoint
import Foundation
import GPT2
import GQZ
import Hub
import Server
import Tokenizer

/// The readers of untrusted bytes, each as one function of arbitrary input that must return (with or without an
/// error) and never trap. `gpt2-fuzz` runs them under libFuzzer with AddressSanitizer (tools/fuzz/run.sh), and the
/// test suite replays the committed corpus through them (Tests/FuzzTests).
package enum FuzzTarget: String, CaseIterable, Sendable {
    /// A .gqz file: preamble, index, and every tensor's zstd frame (decompressed and CRC-checked by `verify()`).
    case gqz
    /// A .gqz index as JSON, written as a file around formats/example.gqz's tensor frames: the index decoder
    /// (entries, shapes, schemes, offsets, features) reached on every input, not only when a mutation of the raw
    /// file happens to leave its zstd frame intact.
    case gqzIndex = "gqz-index"
    /// A .safetensors file: header, dtypes, shapes and spans, then every small tensor's values.
    case safetensors
    /// config.json: the model config (sizes, flags, task heads) and the special token ids.
    case config
    /// The tokenizer on the fixture vocabulary: encode the input as text, decode it as ids (in and out of the
    /// vocabulary), stream those ids' bytes, and map tokens back to character offsets.
    case tokenizer
    /// vocab.json and merges.txt (the input split at its first NUL byte: the vocabulary before it, the merges after)
    /// read into a tokenizer as a .gqz's or a folder's are, which then encodes and decodes a text.
    case vocabulary
    /// An HTTP request body to the server: `POST /v1/completions` decoded and checked as the endpoint does (prompts
    /// tokenized, ids against the vocabulary, every option's range), and `POST /v1/embeddings` decoded.
    case serverRequest = "server-request"
    /// An answer from the hub as the server sends it (status line, headers, blank line, body): the metadata request's
    /// status and headers interpreted as `HubClient` does (commit, ETag as a cache file name, size, redirect target,
    /// whether the token follows it), and the body as a model.safetensors.index.json with its shard names checked.
    case hubResponse = "hub-response"

    /// Runs the target on one input.
    package func run(_ bytes: [UInt8]) {
        switch self {
        case .gqz: Self.gqz(bytes)
        case .gqzIndex: Self.gqzIndex(bytes)
        case .safetensors: Self.safetensors(bytes)
        case .config: Self.config(bytes)
        case .tokenizer: Self.tokenizer(bytes)
        case .vocabulary: Self.vocabulary(bytes)
        case .serverRequest: Self.serverRequest(bytes)
        case .hubResponse: Self.hubResponse(bytes)
        }
    }

    /// Payloads larger than this are skipped (a valid index may claim gigabytes; allocating them is not a bug).
    static let largestPayload = 1 << 24

    static func gqz(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { raw in
            guard let file = try? GQZFile(staticBytes: raw, name: "<fuzz input>") else { return }
            guard file.entries.allSatisfy({ $0.rawBytes <= largestPayload }) else { return }
            _ = file.verify()
            for entry in file.entries { _ = try? file.payload(entry.name) }
        }
    }

    static func gqzIndex(_ json: [UInt8]) {
        guard let payloadArea = examplePayloadArea, let frame = try? ZstdFrame.compress(json, level: 1) else { return }
        var file = [UInt8]()
        func append<T: FixedWidthInteger>(_ value: T) { withUnsafeBytes(of: value.littleEndian) { file += $0 } }
        file += GQZFormat.magic
        // The preamble says the version the index says (when it says one this reader knows), so both versions' checks run.
        let stated = (try? JSONSerialization.jsonObject(with: Data(json))).flatMap { ($0 as? [String: Any])?["version"] as? Int }
        append(stated.flatMap { (1...Int(GQZFormat.version)).contains($0) ? UInt32($0) : nil } ?? GQZFormat.version)
        append(UInt32(0))
        append(UInt64(GQZFormat.preambleSize + payloadArea.count))
        append(UInt64(frame.count))
        append(UInt64(json.count))
        file += payloadArea + frame
        gqz(file)
    }

    /// The tensor frames of formats/example.gqz (between its preamble and its index), loaded once.
    static let examplePayloadArea: [UInt8]? = {
        let root = ProcessInfo.processInfo.environment["GPT2EDGE_FUZZ_ROOT", default: "."]
        guard let data = FileManager.default.contents(atPath: root + "/formats/example.gqz"), data.count > GQZFormat.preambleSize else { return nil }
        let bytes = [UInt8](data)
        let indexOffset = bytes.withUnsafeBytes { Int(UInt64(littleEndian: $0.loadUnaligned(fromByteOffset: 16, as: UInt64.self))) }
        guard indexOffset > GQZFormat.preambleSize, indexOffset <= bytes.count else { return nil }
        return Array(bytes[GQZFormat.preambleSize..<indexOffset])
    }()

    static func safetensors(_ bytes: [UInt8]) {
        // SafetensorsFile maps a path: the input goes to a file in memory (/dev/shm) first.
        let path = scratchPath("safetensors")
        guard FileManager.default.createFile(atPath: path, contents: Data(bytes)) else { return }
        defer { unlink(path) }
        guard let file = try? SafetensorsFile(path: path) else { return }
        for info in file.tensors.values where info.dtype.isLoadableWeight && info.elementCount <= largestPayload / 4 {
            _ = try? file.floats(info.name)
        }
    }

    static func config(_ bytes: [UInt8]) {
        let data = Data(bytes)
        if let config = try? JSONDecoder().decode(GPT2Config.self, from: data) {
            _ = config.headDim
            for layer in 0..<min(config.layerCount, 64) { _ = config.attentionScale(layer: layer) }
            _ = try? JSONEncoder().encode(config)
        }
        _ = try? JSONDecoder().decode(SpecialTokenIDs.self, from: data)
    }

    static func tokenizer(_ bytes: [UInt8]) {
        guard let tokenizer = fixtureTokenizer else { return }
        let text = String(decoding: bytes, as: UTF8.self)
        let ids = tokenizer.encode(text)
        _ = tokenizer.characterOffsets(of: ids, in: text)
        _ = tokenizer.words(in: text)
        _ = tokenizer.tokenCount(of: ids, within: bytes.count / 2)
        // The same bytes as ids, two bytes each: some beyond the vocabulary, which must be refused, not read.
        let vocabulary = tokenizer.vocabularySize
        let arbitrary = stride(from: 0, to: bytes.count - 1, by: 2).map { (Int(bytes[$0]) << 8 | Int(bytes[$0 + 1])) % (vocabulary + 16) }
        _ = try? tokenizer.decode(arbitrary)
        var decoder = StreamingDecoder()
        for id in arbitrary where id < vocabulary { _ = decoder.append(tokenizer.tokenBytes[id]) }
        _ = decoder.finish()
        for id in arbitrary.prefix(8) { _ = try? tokenizer.spelling(of: id) }
    }

    static func vocabulary(_ bytes: [UInt8]) {
        let split = bytes.firstIndex(of: 0) ?? bytes.endIndex
        let merges = split < bytes.endIndex ? Data(bytes[(split + 1)...]) : Data("#version: 0.2\n".utf8)
        guard let tokenizer = try? GPT2Tokenizer(vocabularyJSON: Data(bytes[..<split]), mergesText: merges, source: ("vocab.json", "merges.txt")) else { return }
        let ids = tokenizer.encode("Hello world, <|endoftext|> 123 été")
        _ = try? tokenizer.decode(ids + [tokenizer.vocabularySize - 1])
        for id in ids.prefix(4) { _ = try? tokenizer.spelling(of: id) }
    }

    static func serverRequest(_ bytes: [UInt8]) {
        guard let tokenizer = fixtureTokenizer else { return }
        do { try RequestDecoding.completion(body: bytes, tokenizer: tokenizer, contextLength: 1024, slotCount: 4) } catch {
            _ = "\(error)"   // the message the client gets is built too
        }
        do { try RequestDecoding.embeddings(body: bytes) } catch { _ = "\(error)" }
    }

    static func hubResponse(_ bytes: [UInt8]) {
        // Split as an HTTP/1.1 client does: the head ends at the first empty line; header lines are "Name: value".
        let text = String(decoding: bytes, as: UTF8.self)
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false).map { $0.hasSuffix("\r") ? $0.dropLast() : $0 }
        let headEnd = lines.firstIndex(where: \.isEmpty) ?? lines.endIndex
        let status = lines.first.flatMap { $0.split(separator: " ").dropFirst().first }.flatMap { Int($0) } ?? 200
        var headers: [String: String] = [:]
        for line in lines[lines.startIndex..<headEnd].dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { continue }
            let name = line[..<colon].lowercased(), value = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
            headers[name] = headers[name].map { "\($0), \(value)" } ?? value   // repeated headers joined, as URLSession does
        }
        let endpoint = URL(string: "https://huggingface.co")!
        let url = URL(string: "https://huggingface.co/gpt2/resolve/main/model.safetensors")!
        for required in [true, false] {
            do {
                if let found = try HubFileMetadata.interpret(status: status, headers: headers, url: url, endpoint: endpoint,
                                                             repository: "gpt2", file: "model.safetensors", required: required) {
                    // What the client then builds from it: the blob's path in the cache, and the content's address.
                    _ = URL(fileURLWithPath: "/cache/blobs").appendingPathComponent(found.etag).path
                    _ = found.contentURL.absoluteString
                }
            } catch { _ = "\(error)" }
        }
        let body = lines.index(headEnd, offsetBy: 1, limitedBy: lines.endIndex).map { lines[$0...].joined(separator: "\n") } ?? ""
        if let index = try? JSONDecoder().decode(SafetensorsIndex.self, from: Data(body.utf8)) {
            do { _ = try HubFileMetadata.shardNames(of: index) } catch { _ = "\(error)" }
        }
    }

    /// The fixture tokenizer (Tests/Fixtures/tokenizer from the working folder, or GPT2EDGE_FUZZ_TOKENIZER), loaded once.
    static let fixtureTokenizer: GPT2Tokenizer? = {
        let environment = ProcessInfo.processInfo.environment
        let folder = environment["GPT2EDGE_FUZZ_TOKENIZER"] ?? environment["GPT2EDGE_FUZZ_ROOT", default: "."] + "/Tests/Fixtures/tokenizer"
        return tokenizerForTests(folder: URL(fileURLWithPath: folder))
    }()

    /// The tokenizer of `folder`, or nil when it does not load.
    static func tokenizerForTests(folder: URL) -> GPT2Tokenizer? { try? GPT2Tokenizer(folder: folder) }

    /// Whether the targets found what they read from the working folder: the tokenizer's vocabulary and the
    /// example file's frames (without them those targets do nothing).
    package static var fixturesLoaded: Bool { fixtureTokenizer != nil && examplePayloadArea != nil }

    private static func scratchPath(_ what: String) -> String {
        let folder = FileManager.default.fileExists(atPath: "/dev/shm") ? "/dev/shm" : NSTemporaryDirectory()
        return "\(folder)/gpt2-fuzz-\(getpid())-\(what)"
    }
}
