import Foundation
import Testing
import TestSupport

/// `gpt2-edge serve` runs gpt2-edge-server in its place, so that the HTTP stack is linked into the server alone and
/// no other command maps its code.
@Suite struct ServerProgramTests {
    /// Mangled Swift symbols of `product` naming `module` (a module name is spelled `<length><name>` in them).
    static func symbolCount(in product: String, module: String) throws -> Int {
        let nm = try CommandRunner.runTool("/usr/bin/nm", ["--defined-only", CommandRunner.path(of: product)])
        try #require(nm.status == 0, "nm failed: \(nm.standardError)")
        let spelled = "\(module.utf8.count)\(module)"
        return nm.standardOutput.split(separator: "\n").filter { $0.contains(spelled) }.count
    }

    @Test func onlyTheServerLinksTheHTTPStack() throws {
        for module in ["NIOCore", "Hummingbird", "Server"] {
            #expect(try Self.symbolCount(in: "gpt2-edge", module: module) == 0, "gpt2-edge links \(module)")
            #expect(try Self.symbolCount(in: "gpt2-edge-server", module: module) > 0, "gpt2-edge-server lacks \(module)")
        }
        // Both run the same model code.
        #expect(try Self.symbolCount(in: "gpt2-edge", module: "Runtime") > 0)
    }

    @Test func serveBecomesTheServerProcess() throws {
        let server = try ServeEndToEndTests.ServerProcess([])
        let exe = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(server.process.processIdentifier)/exe")
        #expect(exe.hasSuffix("/gpt2-edge-server"), "the process started as gpt2-edge serve runs \(exe)")
        #expect(server.healthStatus() == 200)
        #expect(server.stop() == 0)   // SIGTERM to the pid that was started reaches the server itself
    }

    @Test func serveWithoutTheServerBesideItSaysWhatIsMissing() throws {
        let folder = try Fixtures.temporaryDirectory("gpt2edge-alone")
        defer { try? FileManager.default.removeItem(at: folder) }
        let alone = folder.appendingPathComponent("gpt2-edge")
        do { try FileManager.default.linkItem(atPath: CommandRunner.path(of: "gpt2-edge"), toPath: alone.path) }
        catch { try FileManager.default.copyItem(atPath: CommandRunner.path(of: "gpt2-edge"), toPath: alone.path) }
        let run = try CommandRunner.runTool(alone.path, ["serve", "--port", "0"])
        #expect(run.status == 1)
        #expect(run.standardError.contains("serve runs in gpt2-edge-server, but \(folder.path)/gpt2-edge-server is missing"),
                "\(run.standardError)")
        // The other commands do not need it.
        let generate = try CommandRunner.runTool(alone.path, ["generate", "-p", "In the beginning", "-n", "2", "--seed", "1"])
        #expect(generate.status == 0, "\(generate.standardError)")
    }
}
