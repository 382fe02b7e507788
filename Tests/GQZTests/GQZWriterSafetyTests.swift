import Foundation
import Testing
import TestSupport
@testable import GQZ

/// What `GQZWriter` does with an awkward destination (a device, a pipe, a link), with what killed writers left
/// behind, and with a disk that fills up.
@Suite struct GQZWriterSafetyTests {
    static func contents(_ folder: URL) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? []).sorted()
    }

    static func fileType(_ url: URL) -> mode_t {
        var info = stat()
        return lstat(url.path, &info) == 0 ? info.st_mode & S_IFMT : 0
    }

    /// A Unix socket bound at `url` (the descriptor is closed; the socket file stays).
    static func makeSocket(at url: URL) -> Bool {
        #if os(Linux)
        let descriptor = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        #else
        let descriptor = socket(AF_UNIX, SOCK_STREAM, 0)
        #endif
        guard descriptor >= 0 else { return false }
        defer { close(descriptor) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let path = Array(url.path.utf8CString)
        guard path.count <= MemoryLayout.size(ofValue: address.sun_path) else { return false }
        withUnsafeMutableBytes(of: &address.sun_path) { buffer in
            for (index, byte) in path.enumerated() { buffer[index] = UInt8(bitPattern: byte) }
        }
        return withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        } == 0
    }

    @Test func refusesDestinationsThatAreNotRegularFiles() throws {
        let folder = try Fixtures.temporaryDirectory("gqz-dest")   // short: a socket path must fit in 108 bytes
        defer { try? FileManager.default.removeItem(at: folder) }
        var cases: [(name: String, type: mode_t, reason: String)] = [
            ("dir", S_IFDIR, "it is a directory, not a regular file"),
            ("pipe", S_IFIFO, "it is a named pipe (FIFO), not a regular file"),
            ("link-to-pipe", S_IFLNK, "it is a symbolic link to \(folder.path)/pipe, a named pipe (FIFO), not a regular file"),
        ]
        try FileManager.default.createDirectory(at: folder.appendingPathComponent("dir"), withIntermediateDirectories: false)
        #expect(mkfifo(folder.appendingPathComponent("pipe").path, 0o644) == 0)
        #expect(symlink("pipe", folder.appendingPathComponent("link-to-pipe").path) == 0)
        if Self.makeSocket(at: folder.appendingPathComponent("sock")) {
            cases.append(("sock", S_IFSOCK, "it is a socket, not a regular file"))
        }
        // A character device like /dev/null (major 1, minor 3), made here rather than touching the real one.
        if mknod(folder.appendingPathComponent("null").path, S_IFCHR | 0o666, dev_t((1 << 8) | 3)) == 0 {
            cases.append(("null", S_IFCHR, "it is a character device, not a regular file"))
        }
        let before = Self.contents(folder)
        for (name, type, reason) in cases {
            let destination = folder.appendingPathComponent(name)
            #expect(throws: GQZError.refusedDestination(path: destination.path, reason: reason)) {
                try GQZWriter(destination: destination)
            }
            #expect(Self.fileType(destination) == type, "\(name) was replaced")
        }
        #expect(Self.contents(folder) == before)   // no temporary file either
    }

    @Test func writesThroughSymbolicLinksAndLeavesThemAsTheyWere() throws {
        let root = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: root) }
        let models = root.appendingPathComponent("models"), links = root.appendingPathComponent("links")
        for folder in [models, links] { try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: false) }
        let target = models.appendingPathComponent("real.gqz")
        try Data("an older file".utf8).write(to: target)
        let link = links.appendingPathComponent("link.gqz"), chain = links.appendingPathComponent("chain.gqz")
        #expect(symlink("../models/real.gqz", link.path) == 0)   // relative to the link's folder
        #expect(symlink("link.gqz", chain.path) == 0)

        #expect(try GQZWriter.resolveDestination(chain).path == links.path + "/../models/real.gqz")
        let payloads = try GQZFileTests.writeSample(to: chain)
        #expect(try FileManager.default.destinationOfSymbolicLink(atPath: chain.path) == "link.gqz")
        #expect(try FileManager.default.destinationOfSymbolicLink(atPath: link.path) == "../models/real.gqz")
        #expect(Self.fileType(target) == S_IFREG)
        let file = try GQZFile(path: target.path)
        for (name, payload) in payloads { #expect(try file.payload(name) == payload) }
        #expect(Self.contents(models) == ["real.gqz"])   // the temporary was beside the target, and is gone
        #expect(Self.contents(links) == ["chain.gqz", "link.gqz"])

        // A dangling link: its target is created when its folder exists, else the error says which folder is missing.
        let dangling = links.appendingPathComponent("new.gqz")
        #expect(symlink(models.path + "/fresh.gqz", dangling.path) == 0)
        _ = try GQZFileTests.writeSample(to: dangling)
        #expect(Self.fileType(dangling) == S_IFLNK)
        #expect(try GQZFile(path: models.path + "/fresh.gqz").verify().isEmpty)
        let nowhere = links.appendingPathComponent("nowhere.gqz")
        #expect(symlink(root.path + "/missing/x.gqz", nowhere.path) == 0)
        #expect(throws: GQZError.writeFailed(path: nowhere.path, reason: "it is a symbolic link to \(root.path)/missing/x.gqz, whose folder \(root.path)/missing does not exist")) {
            try GQZWriter(destination: nowhere)
        }
    }

    /// The process ID of a process that has already ended.
    static func deadProcessID() throws -> Int32 {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/true")
        try process.run()
        process.waitUntilExit()
        return process.processIdentifier
    }

    @Test func removesStaleTemporariesOfDeadProcessesOnly() throws {
        let folder = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: folder) }
        let dead = try Self.deadProcessID(), alsoDead = try Self.deadProcessID()
        #expect(kill(dead, 0) != 0 && errno == ESRCH)
        let stale = folder.appendingPathComponent(".out.gqz.tmp-\(dead)-12345")
        let live = folder.appendingPathComponent(".out.gqz.tmp-\(getpid())-67890")             // a conversion running now
        let otherFile = folder.appendingPathComponent(".other.gqz.tmp-\(dead)-11111")          // another destination's
        let locked = folder.appendingPathComponent(".out.gqz.tmp-\(alsoDead)-22222")           // dead PID, lock held (another PID namespace)
        let notOurs = folder.appendingPathComponent(".out.gqz.tmp-notes")
        for url in [stale, live, otherFile, locked, notOurs] { try Data(repeating: 7, count: 4096).write(to: url) }
        let holder = open(locked.path, O_RDONLY)
        defer { close(holder) }
        #expect(flock(holder, LOCK_EX | LOCK_NB) == 0)

        let writer = try GQZWriter(destination: folder.appendingPathComponent("out.gqz"))
        #expect(writer.removedTemporaries == [GQZWriter.StaleTemporary(path: stale.path, processID: dead)])
        #expect(writer.removedTemporaries.first?.description == "removed a stale temporary file left by an interrupted conversion (process \(dead)): \(stale.path)")
        try writer.finish(metadata: [:] as JSONValue)
        #expect(Self.contents(folder) == [live, locked, notOurs, otherFile].map(\.lastPathComponent).sorted() + ["out.gqz"])
    }

    @Test(.enabled(if: SmallFileSystem.isAvailable, "needs permission to mount a tmpfs (root)"))
    func fullDiskNamesTheDestinationAndLeavesNothing() throws {
        let disk = try #require(SmallFileSystem(bytes: 256 * 1024))
        let destination = disk.folder.appendingPathComponent("out.gqz")
        let writer = try GQZWriter(destination: destination, compressionLevel: 1)
        writer.expectedSize = 2_000_000
        var random = SystemRandomNumberGenerator()
        let incompressible = (0..<1_000_000).map { _ in UInt8.random(in: 0...255, using: &random) }
        var thrown: GQZError?
        do { try writer.add(name: "big", shape: [incompressible.count], scheme: "bytes", groupSize: nil, payload: incompressible) }
        catch let error as GQZError { thrown = error }
        let message = try #require(thrown).description
        #expect(message.hasPrefix("cannot write \(destination.path): No space left on device (after writing "), "\(message)")
        #expect(message.contains("the finished file needs up to about 1.9 MiB") && message.contains("\(disk.folder.path) has "), "\(message)")
        #expect(message.hasSuffix("the partial file was removed") && !message.contains(".tmp-") && !message.contains("NSCocoaErrorDomain"), "\(message)")
        #expect(Self.contents(disk.folder).isEmpty)
        #expect(throws: thrown!) { try writer.finish(metadata: [:] as JSONValue) }   // the writer stays failed, and says why
    }
}
