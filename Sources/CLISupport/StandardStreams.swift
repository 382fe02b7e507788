#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Writes to standard output and standard error through `write(2)`, so a failed write is an error the command
/// reports ("cannot write the output: No space left on device", exit 1) instead of output lost silently.
///
/// Nothing is buffered: each call reaches the file descriptor before it returns, so a streamed token is visible
/// at once and a full disk is noticed at the first write that fails.
public enum StandardOutput {
    /// Writes `text` to standard output, all of it, or throws naming the system's reason.
    public static func write(_ text: String) throws {
        if let reason = writeAll(Array(text.utf8), to: STDOUT_FILENO) {
            throw CLIError("cannot write the output: \(reason)")
        }
    }

    /// Writes `text` and a newline to standard output.
    public static func line(_ text: String) throws { try write(text + "\n") }
}

/// Writes a line to standard error; a failure there has nowhere to be reported, so it is ignored.
public func printError(_ text: String) {
    _ = writeAll(Array((text + "\n").utf8), to: STDERR_FILENO)
}

/// Writes every byte to `descriptor`, retrying after signals and short writes; the system's reason on failure.
func writeAll(_ bytes: [UInt8], to descriptor: Int32) -> String? {
    var written = 0
    while written < bytes.count {
        let count = bytes.withUnsafeBytes { buffer in
            #if canImport(Glibc)
            Glibc.write(descriptor, buffer.baseAddress! + written, buffer.count - written)
            #else
            Darwin.write(descriptor, buffer.baseAddress! + written, buffer.count - written)
            #endif
        }
        if count < 0 {
            if errno == EINTR { continue }
            return String(cString: strerror(errno))
        }
        written += count
    }
    return nil
}
