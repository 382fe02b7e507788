import Foundation

/// A memory cgroup (v2, or v1 as older Debian mounts it) with a hard limit and no swap, to run a command as a
/// board with that much memory would: past the limit the kernel's OOM killer ends it with SIGKILL. Creating one
/// needs root; where it is not allowed `isAvailable` is false and the tests that need one are skipped.
public final class MemoryCgroup {
    /// The cgroup's folder under /sys/fs/cgroup.
    public let path: String
    /// The hard limit in bytes.
    public let limit: Int
    private let isVersion2: Bool

    /// Creates a cgroup limited to `limit` bytes (swap included); nil when this machine does not allow it.
    public init?(limit: Int) {
        #if os(Linux)
        let name = "gpt2-edge-test-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        isVersion2 = FileManager.default.fileExists(atPath: "/sys/fs/cgroup/cgroup.controllers")
        path = isVersion2 ? "/sys/fs/cgroup/\(name)" : "/sys/fs/cgroup/memory/\(name)"
        self.limit = limit
        guard mkdir(path, 0o755) == 0 else { return nil }
        let written = isVersion2
            ? Self.write("\(limit)", to: "\(path)/memory.max") && (Self.write("0", to: "\(path)/memory.swap.max") || true)
            : Self.write("\(limit)", to: "\(path)/memory.limit_in_bytes")
                && (Self.write("\(limit)", to: "\(path)/memory.memsw.limit_in_bytes") || true)
        guard written else { rmdir(path); return nil }
        #else
        return nil
        #endif
    }

    /// Whether this machine lets the tests create a memory cgroup (tried once).
    public static let isAvailable: Bool = MemoryCgroup(limit: 64 << 20) != nil

    /// How many times the kernel's OOM killer has killed a process of this cgroup.
    public var oomKills: Int {
        let file = isVersion2 ? "\(path)/memory.events" : "\(path)/memory.oom_control"
        let text = (try? String(contentsOfFile: file, encoding: .utf8)) ?? ""
        let line = text.split(separator: "\n").first { $0.hasPrefix("oom_kill ") }
        return line.flatMap { Int($0.split(separator: " ")[1]) } ?? 0
    }

    /// The cgroup's peak memory use in bytes (v2 kernels before 5.19 do not record it: nil).
    public var peakBytes: Int? {
        let file = isVersion2 ? "\(path)/memory.peak" : "\(path)/memory.max_usage_in_bytes"
        return (try? String(contentsOfFile: file, encoding: .utf8)).flatMap { Int($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
    }

    /// Runs `product` inside the cgroup (a shell moves itself in, then executes the program in its place), with
    /// `environment` added to this process's.
    public func run(_ product: String, _ arguments: [String], environment: [String: String] = [:]) throws -> CommandRunner.Output {
        let settings = environment.map { "\($0.key)=\($0.value)" }
        return try CommandRunner.runTool("/bin/sh", ["-c", "echo $$ > \"$0\"/cgroup.procs && exec env \"$@\"", path]
                                             + settings + [CommandRunner.path(of: product)] + arguments)
    }

    /// Writes a control file in place (cgroup files cannot be replaced, only written).
    /// Runs a shell command line inside the cgroup.
    public func runShell(_ script: String) throws -> CommandRunner.Output {
        try CommandRunner.runTool("/bin/sh", ["-c", "echo $$ > \"$0\"/cgroup.procs && exec /bin/sh -c \"$1\"", path, script])
    }

    private static func write(_ text: String, to file: String) -> Bool {
        let descriptor = open(file, O_WRONLY)
        guard descriptor >= 0 else { return false }
        defer { close(descriptor) }
        let bytes = Array(text.utf8)
        return Foundation.write(descriptor, bytes, bytes.count) == bytes.count
    }

    deinit {
        // The program has exited; its cgroup can go (rmdir fails while a process is still in it).
        for _ in 0..<50 where rmdir(path) != 0 && errno == EBUSY { usleep(20_000) }
    }
}
