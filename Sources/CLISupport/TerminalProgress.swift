#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation

/// One line of progress on standard error, redrawn in place at most ten times a second, and nothing at all when
/// standard error is not a terminal (a log file gets no carriage returns).
///
/// ```swift
/// let progress = TerminalProgress(enabled: !quiet)
/// progress.bar(done: 3, total: 148, label: "h.0.attn.c_attn.weight")
/// progress.clear()
/// ```
public final class TerminalProgress {
    /// Whether anything is drawn: asked for, and standard error is a terminal.
    public let isShown: Bool
    private var lastDraw = Date.distantPast

    public init(enabled: Bool = true) {
        isShown = enabled && isatty(STDERR_FILENO) == 1
    }

    /// Replaces the line with `text`; skipped when the last draw was under 0.1 s ago, unless `force`.
    public func show(_ text: String, force: Bool = false) {
        guard isShown, force || Date().timeIntervalSince(lastDraw) >= 0.1 else { return }
        lastDraw = Date()
        FileHandle.standardError.write(Data("\r\u{1B}[K\(text)".utf8))
    }

    /// A bar of `done` out of `total`, then the count and `label`.
    public func bar(done: Int, total: Int, label: String) {
        let width = 30, filled = width * min(done, total) / max(total, 1)
        show("[" + String(repeating: "█", count: filled) + String(repeating: "·", count: width - filled) + "] \(done)/\(total) \(label)",
             force: done == total)
    }

    /// Removes the line, leaving the cursor where it began.
    public func clear() {
        guard isShown else { return }
        FileHandle.standardError.write(Data("\r\u{1B}[K".utf8))
    }
}
