import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

extension GQZWriter {
    /// A temporary file of an earlier writer whose process no longer exists, removed by a new writer to the same file.
    public struct StaleTemporary: Sendable, Equatable, CustomStringConvertible {
        public let path: String
        /// The process that created it (from its name, `.NAME.tmp-PID-RANDOM`).
        public let processID: Int32

        public var description: String {
            "removed a stale temporary file left by an interrupted conversion (process \(processID)): \(path)"
        }
    }

    /// The file a writer to `destination` replaces: `destination` itself when it is a regular file or does not
    /// exist yet, the final target when it is a symbolic link (chains followed; a dangling link gives its target
    /// path when that folder exists).
    ///
    /// ```swift
    /// try GQZWriter.resolveDestination(URL(fileURLWithPath: "/dev/full"))
    /// // GQZError.refusedDestination: "refusing to write /dev/full: it is a character device, not a regular file"
    /// ```
    ///
    /// Throws `GQZError.refusedDestination` for a directory, a character or block device, a named pipe or a
    /// socket (renaming over one would destroy it, and writing into it would not make a file), and
    /// `GQZError.writeFailed` when the folder does not exist. Nothing is created or changed.
    public static func resolveDestination(_ destination: URL) throws -> URL {
        var path = destination.path
        var followedLink = false
        for _ in 0..<40 {   // Linux's own limit on symbolic links in a path
            let folder = (path as NSString).deletingLastPathComponent
            var info = stat()
            guard lstat(path, &info) == 0 else {
                let code = errno
                guard code == ENOENT else {
                    throw GQZError.writeFailed(path: destination.path, reason: "cannot examine \(path): \(String(cString: strerror(code)))")
                }
                var isDirectory: ObjCBool = false
                guard FileManager.default.fileExists(atPath: folder.isEmpty ? "." : folder, isDirectory: &isDirectory), isDirectory.boolValue else {
                    throw GQZError.writeFailed(path: destination.path, reason: followedLink
                        ? "it is a symbolic link to \(path), whose folder \(folder) does not exist"
                        : "folder \(folder) does not exist")
                }
                return URL(fileURLWithPath: path)
            }
            if info.st_mode & S_IFMT == S_IFLNK {
                guard let target = try? FileManager.default.destinationOfSymbolicLink(atPath: path) else {
                    throw GQZError.writeFailed(path: destination.path, reason: "cannot read the symbolic link \(path)")
                }
                path = target.hasPrefix("/") ? target : (folder as NSString).appendingPathComponent(target)
                followedLink = true
                continue
            }
            if let kind = nonRegularKind(info.st_mode) {
                throw GQZError.refusedDestination(path: destination.path, reason: followedLink
                    ? "it is a symbolic link to \(path), \(kind), not a regular file"
                    : "it is \(kind), not a regular file")
            }
            return URL(fileURLWithPath: path)
        }
        throw GQZError.writeFailed(path: destination.path, reason: "too many levels of symbolic links")
    }

    /// "a directory", "a character device", ... for what is not a regular file; nil for a regular file.
    static func nonRegularKind(_ mode: mode_t) -> String? {
        switch mode & S_IFMT {
        case S_IFREG: return nil
        case S_IFDIR: return "a directory"
        case S_IFCHR: return "a character device"
        case S_IFBLK: return "a block device"
        case S_IFIFO: return "a named pipe (FIFO)"
        case S_IFSOCK: return "a socket"
        case S_IFLNK: return "a symbolic link"
        default: return "not a file (mode \(String(mode, radix: 8)))"
        }
    }

    /// The start of the temporary file names of writers to `target`: `.NAME.tmp-`.
    static func temporaryPrefix(for target: URL) -> String {
        ".\(target.lastPathComponent).tmp-"
    }

    /// Removes `.NAME.tmp-PID-RANDOM` files beside `target` whose process is gone (kill(PID, 0) fails with
    /// ESRCH) and that no one holds locked; returns what it removed.
    ///
    /// A live process's file is left alone: it may be a conversion running now. The lock (every writer holds
    /// one on its temporary file until it finishes or dies) covers a writer in another PID namespace, a
    /// container sharing the folder, whose process ID means nothing here. A PID reused by an unrelated
    /// process keeps its stale file until that process ends.
    static func removeStaleTemporaries(of target: URL) -> [StaleTemporary] {
        let folder = target.deletingLastPathComponent()
        let prefix = temporaryPrefix(for: target)
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: folder.path) else { return [] }
        var removed: [StaleTemporary] = []
        for name in names.sorted() where name.hasPrefix(prefix) {
            let parts = name.dropFirst(prefix.count).split(separator: "-", omittingEmptySubsequences: false)
            guard parts.count == 2, let processID = Int32(parts[0]), processID > 0,
                  !parts[1].isEmpty, parts[1].allSatisfy({ $0.isASCII && $0.isNumber }) else { continue }
            guard kill(processID, 0) != 0 && errno == ESRCH else { continue }   // alive (EPERM: alive, another user's)
            let path = folder.appendingPathComponent(name).path
            let descriptor = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC)
            guard descriptor >= 0 else { continue }
            defer { close(descriptor) }
            var info = stat()
            guard fstat(descriptor, &info) == 0, info.st_mode & S_IFMT == S_IFREG,
                  flock(descriptor, LOCK_EX | LOCK_NB) == 0 else { continue }
            if unlink(path) == 0 { removed.append(StaleTemporary(path: path, processID: processID)) }
        }
        return removed
    }
}
