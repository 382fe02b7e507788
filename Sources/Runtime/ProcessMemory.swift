import Foundation

/// This process's memory use as Linux reports it in /proc/self/status.
public enum ProcessMemory {
    /// Peak resident set size (VmHWM) in bytes, or nil where /proc is not available.
    public static var peakResidentBytes: Int? { statusField("VmHWM:") }
    /// Current resident set size (VmRSS) in bytes.
    public static var residentBytes: Int? { statusField("VmRSS:") }
    /// The anonymous part of it (RssAnon: heap, stacks; not the program's or files' mapped pages).
    public static var residentAnonymousBytes: Int? { statusField("RssAnon:") }

    private static func statusField(_ name: String) -> Int? {
        guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return nil }
        for line in status.split(separator: "\n") where line.hasPrefix(name) {
            let parts = line.split(separator: " ", omittingEmptySubsequences: true)
            if parts.count >= 2, let kilobytes = Int(parts[1]) { return kilobytes * 1024 }
        }
        return nil
    }

    /// "123.4 MiB"
    public static func format(_ bytes: Int?) -> String {
        guard let bytes else { return "n/a" }
        return String(format: "%.1f MiB", Double(bytes) / 1_048_576)
    }
}
