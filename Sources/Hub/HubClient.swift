import Checkpoint
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// Downloads Hugging Face model files into the shared cache, as huggingface_hub does: metadata from a
/// HEAD request on `{endpoint}/{repo}/resolve/{revision}/{file}` (X-Repo-Commit, X-Linked-Etag /
/// ETag, X-Linked-Size), content streamed to `blobs/<etag>.incomplete` and resumed with a Range request
/// after an interruption, the SHA-256 checked against LFS ETags, then renamed into `blobs/` and linked
/// from `snapshots/<commit>/`. Nothing unverified is ever placed in the cache.
public struct HubClient: Sendable {
    public var endpoint: URL
    public var cache: HubCache
    /// `HF_HUB_OFFLINE`: never touch the network, use only what is cached.
    public var offline: Bool
    /// `HF_TOKEN`, sent as a bearer token to the hub (never to a CDN it redirects to).
    public var token: String?
    /// Attempts per file when a transfer is cut (each resumes where the last stopped).
    public var attempts = 4

    public init(endpoint: URL, cache: HubCache, offline: Bool = false, token: String? = nil) {
        self.endpoint = endpoint
        self.cache = cache
        self.offline = offline
        self.token = token
    }

    public static func fromEnvironment(_ environment: [String: String] = ProcessInfo.processInfo.environment) -> HubClient {
        let endpoint = environment["HF_ENDPOINT"].flatMap { $0.isEmpty ? nil : URL(string: $0) } ?? URL(string: "https://huggingface.co")!
        let offline = ["1", "ON", "YES", "TRUE"].contains((environment["HF_HUB_OFFLINE"] ?? "").uppercased())
        return HubClient(endpoint: endpoint, cache: .fromEnvironment(environment), offline: offline,
                         token: environment["HF_TOKEN"].flatMap { $0.isEmpty ? nil : $0 })
    }

    /// The short names users type, mapped to their hub repositories.
    public static let aliases = ["gpt2": "openai-community/gpt2", "gpt2-medium": "openai-community/gpt2-medium",
                                 "gpt2-large": "openai-community/gpt2-large", "gpt2-xl": "openai-community/gpt2-xl",
                                 "distilgpt2": "distilbert/distilgpt2"]

    public enum HubError: Error, CustomStringConvertible, Equatable {
        case offlineAndNotCached(repository: String, cache: String)
        case invalidModelID(String)
        case notFound(repository: String, file: String, status: Int)
        case http(url: String, status: Int)
        case network(url: String, reason: String)
        case checksumMismatch(file: String, expected: String, actual: String)
        case sizeMismatch(file: String, expected: Int64, actual: Int64)
        case missingMetadata(url: String, header: String)
        case cacheWrite(path: String, reason: String)

        public var description: String {
            switch self {
            case .offlineAndNotCached(let repository, let cache):
                return "\(repository) is not in the Hugging Face cache (\(cache)) and downloads are off (HF_HUB_OFFLINE is set); "
                    + "download it once while online, or give a local folder"
            case .invalidModelID(let id):
                return "\(id) is neither a folder nor a model id (gpt2, gpt2-medium, gpt2-large, gpt2-xl, distilgpt2, or org/name)"
            case .notFound(let repository, let file, let status):
                return "\(repository) has no \(file) (HTTP \(status)); is the model id right, and is it a GPT-2 model with safetensors weights?"
            case .http(let url, let status):
                return "HTTP \(status) from \(url)"
            case .network(let url, let reason):
                return "cannot reach \(url): \(reason) (offline? set HF_HUB_OFFLINE=1 to use only the cache)"
            case .checksumMismatch(let file, let expected, let actual):
                return "\(file): downloaded content has SHA-256 \(actual), the hub says \(expected); nothing was placed in the cache, try again"
            case .sizeMismatch(let file, let expected, let actual):
                return "\(file): downloaded \(actual) bytes, the hub says \(expected)"
            case .missingMetadata(let url, let header):
                return "\(url): the response has no \(header) header (is HF_ENDPOINT a Hugging Face hub?)"
            case .cacheWrite(let path, let reason):
                return "cannot write to the cache at \(path): \(reason)"
            }
        }
    }

    /// Progress of one file: (file name, bytes so far, total bytes).
    public typealias Progress = (String, Int64, Int64) -> Void

    /// A local folder for `modelID` ("gpt2", "org/name", optionally "@revision"): the cached snapshot when
    /// it is complete, else downloaded (unless offline).
    public func resolve(_ modelID: String, progress: Progress = { _, _, _ in }) throws -> URL {
        let (repository, revision) = try Self.parse(modelID)
        if let folder = cache.completeSnapshot(repository: repository, revision: revision) { return folder }
        guard !offline else { throw HubError.offlineAndNotCached(repository: repository, cache: cache.root.path) }
        return try download(repository: repository, revision: revision, progress: progress)
    }

    static func parse(_ modelID: String) throws -> (repository: String, revision: String) {
        let parts = modelID.split(separator: "@", maxSplits: 1).map(String.init)
        let name = parts.first ?? ""
        let repository = aliases[name] ?? name
        let pieces = repository.split(separator: "/", omittingEmptySubsequences: false)
        let valid = pieces.count == 2 && pieces.allSatisfy { piece in
            !piece.isEmpty && piece != "." && piece != ".." && piece.allSatisfy { $0.isLetter || $0.isNumber || "-_.".contains($0) }
        }
        guard valid else { throw HubError.invalidModelID(modelID) }
        return (repository, parts.count == 2 && !parts[1].isEmpty ? parts[1] : "main")
    }

    /// Whether a folder has what gpt2-edge needs: config, tokenizer, and safetensors weights (single or every shard).
    public static func isCompleteModelFolder(_ folder: URL) -> Bool {
        let manager = FileManager.default
        func has(_ name: String) -> Bool { manager.fileExists(atPath: folder.appendingPathComponent(name).path) }
        guard has("config.json"), has("vocab.json"), has("merges.txt") else { return false }
        if has("model.safetensors") { return true }
        guard let index = try? SafetensorsIndex(contentsOf: folder.appendingPathComponent(SafetensorsIndex.fileName)) else { return false }
        return index.shardNames.allSatisfy(has)
    }

    func download(repository: String, revision: String, progress: Progress) throws -> URL {
        var commit: String?
        func fetch(_ file: String, required: Bool = true) throws -> Bool {
            let fileCommit = try downloadFile(repository: repository, revision: revision, file: file, required: required, progress: progress)
            if commit == nil { commit = fileCommit }
            return fileCommit != nil
        }
        _ = try fetch("config.json")
        _ = try fetch("generation_config.json", required: false)
        _ = try fetch("vocab.json")
        _ = try fetch("merges.txt")
        if try !fetch("model.safetensors", required: false) {
            guard try fetch(SafetensorsIndex.fileName, required: false) else {
                throw HubError.notFound(repository: repository, file: "model.safetensors (or model.safetensors.index.json)", status: 404)
            }
            let folder = cache.snapshotFolder(repository: repository, commit: commit!)
            let index = try SafetensorsIndex(contentsOf: folder.appendingPathComponent(SafetensorsIndex.fileName))
            for shard in try HubFileMetadata.shardNames(of: index) {
                _ = try fetch(shard)
            }
        }
        if !HubCache.isCommitHash(revision), let commit { try writeRef(repository: repository, revision: revision, commit: commit) }
        return cache.snapshotFolder(repository: repository, commit: commit!)
    }

    /// Downloads one file into the cache (or finds its blob there) and links it into the snapshot.
    /// Returns the commit, or nil when the file does not exist and was not required.
    func downloadFile(repository: String, revision: String, file: String, required: Bool, progress: Progress) throws -> String? {
        let url = endpoint.appendingPathComponent(repository).appendingPathComponent("resolve")
            .appendingPathComponent(revision).appendingPathComponent(file)
        var headers = ["Accept-Encoding": "identity"]
        if let token { headers["Authorization"] = "Bearer \(token)" }
        let metadata: HTTPTransfer.Response
        do { metadata = try HTTPTransfer.head(url, headers: headers) } catch {
            throw HubError.network(url: url.absoluteString, reason: error.localizedDescription)
        }
        guard let found = try HubFileMetadata.interpret(status: metadata.status, headers: metadata.headers, url: url, endpoint: endpoint,
                                                        repository: repository, file: file, required: required) else { return nil }
        let (commit, etag, expectedSize, contentURL) = (found.commit, found.etag, found.expectedSize, found.contentURL)
        var contentHeaders = headers
        if !found.sendsToken { contentHeaders.removeValue(forKey: "Authorization") }

        let repositoryFolder = cache.repositoryFolder(repository)
        let blob = repositoryFolder.appendingPathComponent("blobs/\(etag)")
        try createFolder(blob.deletingLastPathComponent())
        if try !Self.blobIsCached(blob) {
            try fetchBlob(from: contentURL, headers: contentHeaders, to: blob, file: file, etag: etag, expectedSize: expectedSize, progress: progress)
        }
        let link = cache.snapshotFolder(repository: repository, commit: commit).appendingPathComponent(file)
        try createFolder(link.deletingLastPathComponent())
        try linkAtomically(link, to: "../../blobs/\(etag)")
        return commit
    }

    /// Whether `blob` is in the cache: a regular file, or a symbolic link to one (a cache whose blobs were moved
    /// elsewhere and linked back). A dangling link or anything else at that path is an error rather than
    /// something to replace: downloading over it would destroy the link (and quietly fill this disk instead).
    static func blobIsCached(_ blob: URL) throws -> Bool {
        var info = stat()
        guard lstat(blob.path, &info) == 0 else {
            let code = errno
            guard code == ENOENT else { throw HubError.cacheWrite(path: blob.path, reason: String(cString: strerror(code))) }
            return false
        }
        if info.st_mode & S_IFMT == S_IFLNK {
            let target = (try? FileManager.default.destinationOfSymbolicLink(atPath: blob.path)) ?? "?"
            guard stat(blob.path, &info) == 0 else {
                throw HubError.cacheWrite(path: blob.path, reason: "it is a symbolic link to \(target), which does not exist; restore its target or remove the link")
            }
            if let kind = HubCache.nonRegularKind(info.st_mode) {
                throw HubError.cacheWrite(path: blob.path, reason: "it is a symbolic link to \(target), \(kind), not a regular file; remove the link")
            }
            return true
        }
        if let kind = HubCache.nonRegularKind(info.st_mode) {
            throw HubError.cacheWrite(path: blob.path, reason: "it is \(kind), not a regular file; remove it")
        }
        return true
    }

    /// Streams the content into `blobs/<etag>.incomplete` and renames it to the blob once its size and (for LFS
    /// files) SHA-256 match.
    ///
    /// Partial files are resumed, not swept: one left by an interrupted download, even of a process killed with
    /// SIGKILL, is continued by the next download of the same blob with a Range request from its current size;
    /// the size and SHA-256 checks catch one that does not match (it is removed and the error says so). The
    /// partial file must be a regular file of the cache's own: a link, pipe or device there is refused, never
    /// written through.
    private func fetchBlob(from url: URL, headers: [String: String], to blob: URL, file: String, etag: String,
                           expectedSize: Int64?, progress: Progress) throws {
        let incomplete = URL(fileURLWithPath: blob.path + ".incomplete")
        var info = stat()
        if lstat(incomplete.path, &info) == 0 {
            if let kind = HubCache.nonRegularKind(info.st_mode) {
                throw HubError.cacheWrite(path: incomplete.path, reason: "it is \(kind), not a regular file; remove it")
            }
        } else {
            let descriptor = open(incomplete.path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
            guard descriptor >= 0 else {
                throw HubError.cacheWrite(path: incomplete.path, reason: "cannot create the file: \(String(cString: strerror(errno)))")
            }
            close(descriptor)
        }
        func currentSize() -> Int64 { Int64((try? FileManager.default.attributesOfItem(atPath: incomplete.path)[.size] as? Int) ?? 0) }
        var lastError: Error?
        for _ in 0..<max(1, attempts) {
            let have = currentSize()
            if let expectedSize, have == expectedSize { lastError = nil; break }
            guard let handle = FileHandle(forUpdatingAtPath: incomplete.path) else {
                throw HubError.cacheWrite(path: incomplete.path, reason: "cannot open the file")
            }
            handle.seekToEndOfFile()
            var requestHeaders = headers
            if have > 0 { requestHeaders["Range"] = "bytes=\(have)-" }   // resume where the last attempt stopped
            do {
                let response = try withoutActuallyEscaping(progress) { progress in
                    try HTTPTransfer.download(url, headers: requestHeaders, to: handle, accept: [200, 206]) { received, restarted in
                        progress(file, (restarted ? 0 : have) + received, expectedSize ?? -1)
                    }
                }
                try? handle.close()
                switch response.status {
                case 200, 206:
                    break   // a 200 to a Range request restarted the file from byte 0 (HTTPTransfer truncates it)
                case 416:
                    try Data().write(to: incomplete)   // our partial file is longer than the resource: start over
                    lastError = HubError.http(url: url.absoluteString, status: 416)
                    continue
                default:
                    throw HubError.http(url: url.absoluteString, status: response.status)
                }
                if let expectedSize, currentSize() < expectedSize {
                    lastError = HubError.sizeMismatch(file: file, expected: expectedSize, actual: currentSize())
                    continue
                }
                lastError = nil
                break
            } catch let error as HubError {
                try? handle.close()
                throw error
            } catch {
                try? handle.close()
                lastError = HubError.network(url: url.absoluteString, reason: error.localizedDescription)   // resume on the next attempt
            }
        }
        if let lastError { throw lastError }

        let size = Int64((try? FileManager.default.attributesOfItem(atPath: incomplete.path)[.size] as? Int) ?? -1)
        if let expectedSize, size != expectedSize {
            try? FileManager.default.removeItem(at: incomplete)
            throw HubError.sizeMismatch(file: file, expected: expectedSize, actual: size)
        }
        if etag.count == 64 {   // LFS files: the ETag is the content's SHA-256
            let actual = try Self.sha256(of: incomplete)
            guard actual == etag else {
                try? FileManager.default.removeItem(at: incomplete)
                throw HubError.checksumMismatch(file: file, expected: etag, actual: actual)
            }
        }
        guard rename(incomplete.path, blob.path) == 0 else {
            throw HubError.cacheWrite(path: blob.path, reason: String(cString: strerror(errno)))
        }
    }

    /// huggingface_hub's ETag normalization: drop a weak `W/` prefix and the quotes.
    static func normalize(etag: String) -> String { HubFileMetadata.normalize(etag: etag) }

    private func createFolder(_ url: URL) throws {
        do { try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true) } catch {
            throw HubError.cacheWrite(path: url.path, reason: error.localizedDescription)
        }
    }

    private func linkAtomically(_ link: URL, to target: String) throws {
        let temporary = link.deletingLastPathComponent().appendingPathComponent(".\(link.lastPathComponent).link-\(UInt32.random(in: 0...UInt32.max))")
        guard symlink(target, temporary.path) == 0, rename(temporary.path, link.path) == 0 else {
            let reason = String(cString: strerror(errno))
            try? FileManager.default.removeItem(at: temporary)
            throw HubError.cacheWrite(path: link.path, reason: reason)
        }
    }

    private func writeRef(repository: String, revision: String, commit: String) throws {
        let ref = cache.repositoryFolder(repository).appendingPathComponent("refs/\(revision)")
        try createFolder(ref.deletingLastPathComponent())
        do { try Data(commit.utf8).write(to: ref, options: .atomic) } catch {
            throw HubError.cacheWrite(path: ref.path, reason: error.localizedDescription)
        }
    }
}
