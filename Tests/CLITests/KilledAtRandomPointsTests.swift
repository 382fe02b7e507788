import Foundation
import Testing
import TestSupport

/// A conversion or a download killed with SIGKILL (as the OOM killer or a pulled plug ends it: no handler runs) at
/// points drawn at random, several times over: nothing is ever left at the destination, only a temporary or a
/// partial download that the next run removes or resumes, and the next run succeeds.
@Suite(.serialized) struct KilledAtRandomPointsTests {
    /// A small seeded generator, so a failing draw can be replayed from the seed in the message.
    struct SplitMix: RandomNumberGenerator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }

    static func size(_ path: String) -> Int { (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? 0 }
    static func files(under url: URL) -> [String] {
        (FileManager.default.enumerator(atPath: url.path)?.allObjects as? [String] ?? []).sorted()
    }

    @Test func aConversionKilledAtRandomPointsLeavesNoOutputAndTheNextOneSucceeds() throws {
        let folder = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: folder) }
        let kjv = Fixtures.local.appendingPathComponent("models/kjv").path
        let output = folder.appendingPathComponent("kjv.gqz").path
        func temporaries() -> [String] { ((try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? []).filter { $0.hasPrefix(".kjv.gqz.tmp-") } }
        // The finished file's size, to draw kill points across the whole write.
        let reference = try CommandRunner.run("gpt2-quant", ["convert", kjv, "-o", folder.appendingPathComponent("reference.gqz").path, "-q"])
        try #require(reference.status == 0, "\(reference.standardError)")
        let finished = Self.size(folder.appendingPathComponent("reference.gqz").path)
        try FileManager.default.removeItem(at: folder.appendingPathComponent("reference.gqz"))

        let seed = UInt64.random(in: 0...UInt64(UInt32.max))
        var random = SplitMix(state: seed)
        var kills = 0
        for attempt in 0..<4 {
            let threshold = Int.random(in: 0..<finished, using: &random)
            let (run, killed) = try CommandRunner.runAndKill("gpt2-quant", ["convert", kjv, "-o", output, "--level", "19", "-q"], when: {
                temporaries().contains { Self.size(folder.path + "/" + $0) > threshold }
            })
            // A run may finish before its point comes (a point near the end, on a fast machine): then it must be whole.
            if !killed {
                #expect(run.status == 0, "seed \(seed), attempt \(attempt): \(run.standardError)")
                try? FileManager.default.removeItem(atPath: output)
                continue
            }
            kills += 1
            #expect(!FileManager.default.fileExists(atPath: output), "seed \(seed), attempt \(attempt): killed after \(threshold) bytes, yet \(output) exists")
            #expect(temporaries().count == 1, "seed \(seed), attempt \(attempt): \(temporaries())")   // the last one's; earlier ones were removed
        }
        #expect(kills >= 2, "seed \(seed): only \(kills) of 4 runs could be killed before they finished")
        let again = try CommandRunner.run("gpt2-quant", ["convert", kjv, "-o", output, "-q"])
        #expect(again.status == 0, "\(again.standardError)")
        #expect(((try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? []) == ["kjv.gqz"])
        let verify = try CommandRunner.run("gpt2-quant", ["verify", output])
        #expect(verify.status == 0, "\(verify.standardOutput)\(verify.standardError)")
    }

    @Test func aDownloadKilledAtRandomPointsLeavesNoFileAndIsResumed() throws {
        let repository = try Fixtures.hubRepositoryCopy()
        let home = try Fixtures.temporaryDirectory("hf-home"), work = try Fixtures.temporaryDirectory()
        defer { for url in [repository, home, work] { try? FileManager.default.removeItem(at: url) } }
        let weights = Self.size(repository.appendingPathComponent("model.safetensors").path)
        // About 1.5 s for the weights, 4 KiB at a time, so each kill lands mid-transfer.
        let server = try HubServer(repositories: ["test-org/tiny-gpt2": repository], options: ["--throttle", "60000"])
        let environment = ["HF_ENDPOINT": server.endpoint.absoluteString, "HF_HOME": home.path]
        let output = work.appendingPathComponent("tiny.gqz").path
        let blobs = home.appendingPathComponent("hub/models--test-org--tiny-gpt2/blobs")
        // The weights' partial download: blobs/<SHA-256>.incomplete (LFS files are named by their content's hash).
        let digest = try CommandRunner.runTool("/usr/bin/sha256sum", [repository.appendingPathComponent("model.safetensors").path])
        let sha = try #require(digest.standardOutput.split(separator: " ").first.map(String.init))
        func partial() -> String? {
            let path = blobs.appendingPathComponent(sha + ".incomplete").path
            return FileManager.default.fileExists(atPath: path) ? path : nil
        }

        let seed = UInt64.random(in: 0...UInt64(UInt32.max))
        var random = SplitMix(state: seed)
        var last = 0, kills = 0
        for attempt in 0..<3 where last < weights - 8192 {
            // Each point past the last one's (a resumed download starts where the last stopped).
            let threshold = Int.random(in: last..<(last + (weights - last) / 2), using: &random)
            let (run, killed) = try CommandRunner.runAndKill("gpt2-quant", ["convert", "test-org/tiny-gpt2", "-o", output, "-q"],
                                                             environment: environment, when: { partial().map { Self.size($0) > threshold } ?? false })
            try #require(killed, "seed \(seed), attempt \(attempt): the download ended first: \(run.standardError)")
            kills += 1
            let have = partial().map(Self.size) ?? -1
            // All of it may be there, killed before the checksum and the rename: still a partial file, never the blob.
            #expect(have > threshold && have <= weights, "seed \(seed), attempt \(attempt): partial file of \(have) bytes")
            last = max(last, have)
            #expect(!FileManager.default.fileExists(atPath: output))
            let cached = Self.files(under: home)
            #expect(!cached.contains { $0.hasSuffix("model.safetensors") }, "seed \(seed): a snapshot link to unfinished weights: \(cached)")
            #expect(cached.filter { $0.hasSuffix(".incomplete") }.count == 1, "\(cached)")
        }
        let again = try CommandRunner.run("gpt2-quant", ["convert", "test-org/tiny-gpt2", "-o", output, "-q"], environment: environment)
        #expect(again.status == 0, "\(again.standardError)")
        #expect(FileManager.default.fileExists(atPath: output))
        #expect(!Self.files(under: home).contains { $0.hasSuffix(".incomplete") })
        // Resumed, not restarted: every run after the first asked for the weights from where the last one stopped.
        let ranges = server.requests.filter { $0.hasPrefix("GET /cdn/") && !$0.hasSuffix("range=None") }
        #expect(ranges.count >= kills, "\(server.requests)")
        #expect(kills >= 2, "seed \(seed): only \(kills) kills landed")
    }
}
