import Checkpoint
import Foundation

/// The Hugging Face cache layout that huggingface_hub and transformers share:
/// `<root>/models--<org>--<name>/{blobs/<etag>, refs/<revision>, snapshots/<commit>/<file> → ../../blobs/<etag>}`.
public struct HubCache: Sendable {
    /// `HF_HUB_CACHE`, else `HF_HOME/hub`, else `$XDG_CACHE_HOME/huggingface/hub`, else `~/.cache/huggingface/hub`.
    public let root: URL

    public init(root: URL) { self.root = root }

    public static func fromEnvironment(_ environment: [String: String] = ProcessInfo.processInfo.environment) -> HubCache {
        if let cache = environment["HF_HUB_CACHE"], !cache.isEmpty { return HubCache(root: URL(fileURLWithPath: cache)) }
        if let home = environment["HF_HOME"], !home.isEmpty { return HubCache(root: URL(fileURLWithPath: home).appendingPathComponent("hub")) }
        let base = environment["XDG_CACHE_HOME"].flatMap { $0.isEmpty ? nil : $0 }
            ?? (environment["HOME"] ?? NSHomeDirectory()) + "/.cache"
        return HubCache(root: URL(fileURLWithPath: base).appendingPathComponent("huggingface/hub"))
    }

    public func repositoryFolder(_ repository: String) -> URL {
        root.appendingPathComponent("models--" + repository.replacingOccurrences(of: "/", with: "--"))
    }

    /// The commit a revision (branch, tag or commit hash) points to in the cache, if known.
    public func commit(repository: String, revision: String) -> String? {
        if Self.isCommitHash(revision) { return revision }
        let ref = repositoryFolder(repository).appendingPathComponent("refs/\(revision)")
        return (try? String(contentsOf: ref, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    public func snapshotFolder(repository: String, commit: String) -> URL {
        repositoryFolder(repository).appendingPathComponent("snapshots/\(commit)")
    }

    /// The cached snapshot of `revision` if it holds a loadable GPT-2 folder.
    public func completeSnapshot(repository: String, revision: String) -> URL? {
        guard let commit = commit(repository: repository, revision: revision) else { return nil }
        let folder = snapshotFolder(repository: repository, commit: commit)
        return HubClient.isCompleteModelFolder(folder) ? folder : nil
    }

    /// "a directory", "a named pipe (FIFO)", ... for a file mode that is not a regular file; nil for a regular file.
    static func nonRegularKind(_ mode: mode_t) -> String? {
        switch mode & S_IFMT {
        case S_IFREG: return nil
        case S_IFDIR: return "a directory"
        case S_IFLNK: return "a symbolic link"
        case S_IFCHR: return "a character device"
        case S_IFBLK: return "a block device"
        case S_IFIFO: return "a named pipe (FIFO)"
        case S_IFSOCK: return "a socket"
        default: return "not a file (mode \(String(mode, radix: 8)))"
        }
    }

    static func isCommitHash(_ text: String) -> Bool {
        text.count == 40 && text.allSatisfy { $0.isHexDigit && !$0.isUppercase }
    }
}
