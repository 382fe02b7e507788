import Foundation
import Testing
import TestSupport

/// `gpt2-edge generate` under a hard memory cap (its own cgroup, no swap), as on a board with that much memory: a
/// run whose plan is over the cap is refused before loading with the plan's numbers; one whose plan was wrong (the
/// test makes it wrong with GPT2EDGE_AVAILABLE_MEMORY) is ended by the kernel's OOM killer, not by a Swift trap.
/// Needs root (it creates cgroups); skipped elsewhere.
@Suite(.serialized, .enabled(if: MemoryCgroup.isAvailable, "needs permission to create a memory cgroup (root)"))
struct MemoryCapTests {
    static let cap = 64 << 20

    /// 16 prompts × 16 samples = 256 sequences of the KJV model to its full context (256 positions): a float32 KV (a folder runs in float32)
    /// cache of about 2.4 MB each, so the plan is over 600 MiB, and the caches alone pass 64 MiB after the prompts.
    static func bigJob(promptsFile: URL) -> [String] {
        ["generate", "-m", Fixtures.local.appendingPathComponent("models/kjv").path, "--prompts-file", promptsFile.path, "--num-return-sequences", "16",
         "-n", "200", "--ignore-eos", "--seed", "1", "-t", "1"]
    }

    static func promptsFile() throws -> URL {
        let folder = try Fixtures.temporaryDirectory("memory-cap")
        let file = folder.appendingPathComponent("prompts.txt")
        let verses = (1...16).map { "And it came to pass in the \($0)th year of the reign of the king, that" }
        try verses.joined(separator: "\n").write(to: file, atomically: true, encoding: .utf8)
        return file
    }

    @Test func aPlanOverTheCapIsRefusedBeforeLoadingWithItsNumbers() throws {
        let prompts = try Self.promptsFile()
        defer { try? FileManager.default.removeItem(at: prompts.deletingLastPathComponent()) }
        let group = try #require(MemoryCgroup(limit: Self.cap))
        let run = try group.run("gpt2-edge", Self.bigJob(promptsFile: prompts))
        #expect(run.status == 1, "\(run.standardError)")
        #expect(run.standardError.contains("but the memory limit of this process's cgroup is 64.0 MiB"), "\(run.standardError)")
        #expect(run.standardError.contains("nothing was loaded"))
        for line in ["weights", "KV cache", "total"] { #expect(run.standardError.contains(line), "the plan's \(line) line") }
        #expect(run.standardOutput.isEmpty)
        #expect(group.oomKills == 0)
        // The dry run says the same without trying.
        let dry = try group.run("gpt2-edge", Self.bigJob(promptsFile: prompts) + ["--dry-run"])
        #expect(dry.status == 1 && dry.standardOutput.contains("does not fit"), "\(dry.standardOutput)\(dry.standardError)")
    }

    @Test func aRunWhosePlanWasWrongIsEndedByTheOOMKillerNotATrap() throws {
        let prompts = try Self.promptsFile()
        defer { try? FileManager.default.removeItem(at: prompts.deletingLastPathComponent()) }
        let group = try #require(MemoryCgroup(limit: Self.cap))
        let run = try group.run("gpt2-edge", Self.bigJob(promptsFile: prompts),
                                environment: ["GPT2EDGE_AVAILABLE_MEMORY": "8G", "SWIFT_BACKTRACE": "enable=no"])
        #expect(group.oomKills >= 1, "the kernel killed nothing: status \(run.status), peak \(group.peakBytes ?? -1) bytes")
        #expect(run.status == SIGKILL, "status \(run.status): \(run.standardError.suffix(2000))")
        for trap in ["Fatal error", "runtime failure", "Illegal instruction", "Crash"] {
            #expect(!run.standardError.contains(trap), "\(run.standardError.suffix(2000))")
        }
    }

    @Test func pageCacheInTheCgroupIsNotCountedAsUsed() throws {
        // A cgroup whose usage is at its limit with page cache (files written inside it), as a board's is after any
        // large copy: the kernel gives those pages back on demand, so a small run still starts and finishes.
        let folder = try Fixtures.temporaryDirectory("memory-cap")
        defer { try? FileManager.default.removeItem(at: folder) }
        let group = try #require(MemoryCgroup(limit: Self.cap))
        let fill = try group.runShell("dd if=/dev/zero of=\(folder.path)/fill bs=1M count=96 status=none && sync")
        try #require(fill.status == 0, "\(fill.standardError)")
        let run = try group.run("gpt2-edge", ["generate", "-m", Fixtures.local.appendingPathComponent("models/kjv").path,
                                              "-p", "And it came to pass", "-n", "8", "--seed", "1", "-q"])
        #expect(run.status == 0, "\(run.standardError)")
        #expect(!run.standardOutput.isEmpty)
        #expect(group.oomKills == 0)
    }

    @Test func aStatedAvailableMemoryThatIsNotASizeIsRefused() throws {
        let run = try CommandRunner.run("gpt2-edge", ["generate", "-p", "Hi", "-n", "1"], environment: ["GPT2EDGE_AVAILABLE_MEMORY": "lots"])
        #expect(run.status == 1)
        #expect(run.standardError.contains("GPT2EDGE_AVAILABLE_MEMORY=lots: lots is not a size"), "\(run.standardError)")
        // Empty is unset, as CI templates leave it.
        let empty = try CommandRunner.run("gpt2-edge", ["generate", "-p", "Hi", "-n", "1", "-q"], environment: ["GPT2EDGE_AVAILABLE_MEMORY": ""])
        #expect(empty.status == 0, "\(empty.standardError)")
    }

    @Test func mappedFloat32WeightsDoNotCountAgainstTheLimit() throws {
        // A float32 folder's weights are the file's pages, mapped: the kernel can drop and reread them, so a cap
        // below the whole plan but above the rest of it still runs (flags-untied: float32 safetensors).
        let micro = Fixtures.local.appendingPathComponent("models/flags-untied").path
        let dry = try CommandRunner.run("gpt2-edge", ["generate", "-m", micro, "-p", "Hi", "-n", "1", "--dry-run", "--json"],
                                        environment: ["GPT2EDGE_AVAILABLE_MEMORY": "1G"])
        let plan = try JSONSerialization.jsonObject(with: Data(dry.standardOutput.utf8)) as? [String: Any] ?? [:]
        let total = try #require(plan["total"] as? Int, "\(dry.standardOutput)"), weights = try #require(plan["weights"] as? Int)
        #expect(plan["mapped_weights"] as? Int == weights, "flags-untied's weights are float32 safetensors: \(dry.standardOutput)")
        #expect(weights > 0 && total > weights)
        // A limit between the plan's unreclaimable part and its total is checked in-process
        // (ModelSourceTests.mappedWeightsAreOutOfTheCgroupRefusal): the window is flags-untied's 88 KB of weights, and
        // two processes plan with resident sizes a few hundred KB apart.
        let kjv = try CommandRunner.run("gpt2-edge", ["generate", "-m", Self.kjvPath, "-p", "Hi", "-n", "1", "-q"],
                                        environment: ["GPT2EDGE_AVAILABLE_MEMORY": "1M"])
        #expect(kjv.status == 1 && kjv.standardError.contains("cgroup is 1.0 MiB"), "\(kjv.standardError)")
    }

    static let kjvPath = Fixtures.local.appendingPathComponent("models/kjv").path
}
