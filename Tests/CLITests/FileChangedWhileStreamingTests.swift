import Foundation
import Testing
import TestSupport

/// A model file that is truncated or rewritten while a `--low-memory` run streams its layers from it (a copy over
/// the file, an SD card that fails): the run stops with a message naming the tensor it could not read, exit 1.
@Suite struct FileChangedWhileStreamingTests {
    static let builtIn = Fixtures.repositoryRoot.appendingPathComponent("Sources/CDefaultModel/default.gqz")

    /// Starts a long streamed generation on a copy of the built-in model, applies `change` to the copy once the first
    /// text is out, and returns the exit status and standard error.
    static func generate(changing change: (String) throws -> Void) throws -> (status: Int32, error: String) {
        let folder = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: folder) }
        let model = folder.appendingPathComponent("kjv.gqz").path
        try FileManager.default.copyItem(atPath: builtIn.path, toPath: model)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: CommandRunner.path(of: "gpt2-edge"))
        process.arguments = ["generate", "-m", model, "--low-memory", "-p", "And God said", "-n", "240", "--ignore-eos", "--seed", "1"]
        let output = Pipe(), errors = Pipe()
        process.standardOutput = output
        process.standardError = errors
        try process.run()
        _ = output.fileHandleForReading.availableData   // blocks until the first text is printed
        try change(model)
        let errorText = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        _ = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, errorText)
    }

    @Test func truncatedFileStopsTheRunNamingTheTensor() throws {
        let run = try Self.generate { model in
            let size = try FileManager.default.attributesOfItem(atPath: model)[.size] as! Int
            #expect(truncate(model, off_t(size / 3)) == 0)
        }
        #expect(run.status == 1, "\(run.error)")
        #expect(run.error.contains("kjv.gqz") && run.error.contains("tensor h."), "\(run.error)")
        #expect(run.error.contains("truncated or replaced while in use"), "\(run.error)")
        #expect(!run.error.contains("Fatal error"), "\(run.error)")
    }

    @Test func overwrittenBytesStopTheRunNamingTheTensor() throws {
        let run = try Self.generate { model in
            // Garbage over the middle of the file, in place (same size, same inode): the frames there fail their checksums.
            let handle = try #require(FileHandle(forUpdatingAtPath: model))
            let size = try FileManager.default.attributesOfItem(atPath: model)[.size] as! Int
            try handle.seek(toOffset: UInt64(size / 4))
            try handle.write(contentsOf: Data(repeating: 0xA5, count: size / 2))
            try handle.close()
        }
        #expect(run.status == 1, "\(run.error)")
        #expect(run.error.contains("kjv.gqz") && run.error.contains("tensor h."), "\(run.error)")
        #expect(!run.error.contains("Fatal error"), "\(run.error)")
    }
}
