import Foundation
import Testing
import TestSupport

/// `gpt2-quant convert -o` given something other than a plain file path, killed half-way, or out of disk space.
/// Device nodes are made in temporary folders; the real /dev/null is tried only after a node of our own was refused,
/// so a regression cannot replace the machine's /dev/null with a regular file.
@Suite struct ConvertOutputSafetyTests {
    static let micro = Fixtures.local.appendingPathComponent("models/micro").path
    static let kjv = Fixtures.local.appendingPathComponent("models/kjv").path

    static func contents(_ folder: URL) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? []).sorted()
    }

    static func fileType(_ path: String) -> mode_t {
        var info = stat()
        return lstat(path, &info) == 0 ? info.st_mode & S_IFMT : 0
    }

    @Test func refusesANamedPipeAndADirectory() throws {
        let folder = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: folder) }
        let pipe = folder.appendingPathComponent("pipe.gqz").path
        #expect(mkfifo(pipe, 0o644) == 0)
        let refused = try CommandRunner.run("gpt2-quant", ["convert", Self.micro, "-o", pipe])
        #expect(refused.status == 1, "\(refused.standardError)")
        #expect(refused.standardError.contains("refusing to write \(pipe): it is a named pipe (FIFO), not a regular file"), "\(refused.standardError)")
        #expect(Self.fileType(pipe) == S_IFIFO)

        let directory = try CommandRunner.run("gpt2-quant", ["convert", Self.micro, "-o", folder.path])
        #expect(directory.status == 1 && directory.standardError.contains("refusing to write \(folder.path): it is a directory"), "\(directory.standardError)")
        #expect(Self.contents(folder) == ["pipe.gqz"])
    }

    @Test func writesThroughASymbolicLink() throws {
        let root = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: root) }
        let models = root.appendingPathComponent("models"), links = root.appendingPathComponent("links")
        for folder in [models, links] { try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: false) }
        let target = models.appendingPathComponent("micro.gqz").path, link = links.appendingPathComponent("current.gqz").path
        try Data("an older model".utf8).write(to: URL(fileURLWithPath: target))
        #expect(symlink(target, link) == 0)

        let convert = try CommandRunner.run("gpt2-quant", ["convert", Self.micro, "-o", link])
        #expect(convert.status == 0, "\(convert.standardError)")
        #expect(convert.standardOutput.contains("wrote \(link): 1."), "\(convert.standardOutput)")   // its size, not the link's
        #expect(try FileManager.default.destinationOfSymbolicLink(atPath: link) == target)
        #expect(Self.fileType(target) == S_IFREG)
        let verify = try CommandRunner.run("gpt2-quant", ["verify", link])
        #expect(verify.status == 0 && verify.standardOutput.contains("OK"), "\(verify.standardError)")
        #expect(Self.contents(models) == ["micro.gqz"] && Self.contents(links) == ["current.gqz"])
    }

    @Test(.enabled(if: getuid() == 0, "mknod needs root"))
    func refusesDeviceNodesAndLeavesDevNullAlone() throws {
        let folder = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: folder) }
        let node = folder.appendingPathComponent("null").path
        try #require(mknod(node, S_IFCHR | 0o666, dev_t((1 << 8) | 3)) == 0)   // what /dev/null is: major 1, minor 3
        let own = try CommandRunner.run("gpt2-quant", ["convert", Self.micro, "-o", node])
        #expect(own.status == 1 && own.standardError.contains("refusing to write \(node): it is a character device, not a regular file"), "\(own.standardError)")
        #expect(Self.fileType(node) == S_IFCHR)
        #expect(Self.contents(folder) == ["null"])
        guard own.status == 1 && Self.fileType(node) == S_IFCHR else {
            Issue.record("a device node was not refused; not trying /dev/null")
            return
        }
        try #require(Self.fileType("/dev/null") == S_IFCHR)
        let devNull = try CommandRunner.run("gpt2-quant", ["convert", Self.micro, "-o", "/dev/null"])
        #expect(devNull.status == 1 && devNull.standardError.contains("refusing to write /dev/null: it is a character device"), "\(devNull.standardError)")
        #expect(Self.fileType("/dev/null") == S_IFCHR)
    }

    @Test func conversionKilledMidwayIsCleanedUpByTheNextOne() throws {
        let folder = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: folder) }
        let output = folder.appendingPathComponent("kjv.gqz").path
        func temporaries() -> [String] { Self.contents(folder).filter { $0.hasPrefix(".kjv.gqz.tmp-") } }
        // Killed once the temporary holds the tokenizer files and the first tensors, as the OOM killer would.
        let (run, killed) = try CommandRunner.runAndKill("gpt2-quant", ["convert", Self.kjv, "-o", output, "--level", "19", "-q"], when: {
            temporaries().contains { name in
                ((try? FileManager.default.attributesOfItem(atPath: folder.path + "/" + name)[.size] as? Int) ?? 0) > 100_000
            }
        })
        try #require(killed, "the conversion ended before it could be killed: \(run.standardError)")
        #expect(temporaries().count == 1)   // no handler runs on SIGKILL: the next conversion must deal with it

        let again = try CommandRunner.run("gpt2-quant", ["convert", Self.micro, "-o", output, "-q"])
        #expect(again.status == 0, "\(again.standardError)")
        #expect(Self.contents(folder) == ["kjv.gqz"])
    }

    @Test(.enabled(if: SmallFileSystem.isAvailable, "needs permission to mount a tmpfs (root)"))
    func fullDiskFailsWithTheOutputPathAndLeavesNothing() throws {
        let disk = try #require(SmallFileSystem(bytes: 256 * 1024))   // the micro model's file is about 1.5 MB
        let output = disk.folder.appendingPathComponent("out.gqz").path
        let convert = try CommandRunner.run("gpt2-quant", ["convert", Self.micro, "-o", output])
        #expect(convert.status == 1)
        #expect(convert.standardError.contains("cannot write \(output): No space left on device (after writing "), "\(convert.standardError)")
        #expect(convert.standardError.contains("the finished file needs up to about"), "\(convert.standardError)")
        #expect(!convert.standardError.contains("NSCocoaErrorDomain") && !convert.standardError.contains(".tmp-"), "\(convert.standardError)")
        #expect(Self.contents(disk.folder).isEmpty)
    }

    @Test(.enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/prlimit"), "needs prlimit (util-linux)"))
    func fileSizeLimitFailsWithTheOutputPathAndLeavesNothing() throws {
        let folder = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: folder) }
        let output = folder.appendingPathComponent("out.gqz").path
        let program = CommandRunner.productsFolder.appendingPathComponent("gpt2-quant").path
        // With SIGXFSZ ignored (inherited through exec), a write past the limit fails with EFBIG instead of killing.
        let convert = try CommandRunner.runTool("/bin/sh", ["-c", "trap '' XFSZ; exec /usr/bin/prlimit --fsize=200000 \"$0\" convert \"$1\" -o \"$2\"",
                                                            program, Self.micro, output])
        #expect(convert.status == 1)
        #expect(convert.standardError.contains("cannot write \(output): File too large (after writing 195.3 KiB"), "\(convert.standardError)")
        #expect(Self.contents(folder).isEmpty)
    }
}
