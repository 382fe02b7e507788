#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation

/// Text read from standard input or a file without holding more of it than a run can use.
///
/// A prompt longer than `limit` bytes cannot fit the context (no token is shorter than a byte, and the caller
/// sizes the limit from the longest token), so reading stops there: with `keepTail`, the reader streams the
/// rest and keeps only the last `limit` bytes (a 50 MB prompt costs `2 × limit` bytes of memory, not 50 MB);
/// without it, the rest is not read at all and `wasCut` tells the caller to refuse the prompt.
public struct InputText {
    /// The text kept, valid UTF-8 (a character split by the cut is dropped); empty when cut without `keepTail`.
    public let text: String
    /// Bytes of input seen (all of it with `keepTail`; `limit + 1` at most otherwise).
    public let bytesRead: Int
    /// Whether input was left out: not read past `limit`, or its start dropped with `keepTail`.
    public let wasCut: Bool

    /// Why input could not be read.
    public enum Failure: Error, CustomStringConvertible {
        case unreadable(source: String, reason: String)
        case notUTF8(source: String)
        case interrupted(signal: Int32)

        public var description: String {
            switch self {
            case .unreadable(let source, let reason): return "cannot read \(source): \(reason)"
            case .notUTF8(let source): return "\(source) is not UTF-8 text"
            case .interrupted(let signal): return "interrupted by signal \(signal) while reading the input"
            }
        }
    }

    /// Reads standard input (`path` nil) or the file at `path`. `limit`: the most bytes worth keeping (nil: all).
    public static func read(path: String?, limit: Int? = nil, keepTail: Bool = false) throws -> InputText {
        let source = path ?? "standard input"
        var descriptor = STDIN_FILENO
        if let path {
            var status = stat()
            if stat(path, &status) == 0 && (status.st_mode & S_IFMT) == S_IFDIR {
                throw Failure.unreadable(source: path, reason: "it is a folder, not a text file")
            }
            descriptor = open(path, O_RDONLY | O_CLOEXEC)
            guard descriptor >= 0 else { throw Failure.unreadable(source: path, reason: String(cString: strerror(errno))) }
        }
        defer { if path != nil { close(descriptor) } }
        let chunk = 1 << 16
        var kept: [UInt8] = []
        var total = 0, dropped = false
        var buffer = [UInt8](repeating: 0, count: chunk)
        while true {
            // Wait in short polls: a signal may be handled on another thread and then interrupts no read here.
            var ready = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
            while true {
                if let signal = Termination.signal { throw Failure.interrupted(signal: signal) }
                let result = poll(&ready, 1, 100)
                if result > 0 || (result < 0 && errno != EINTR) { break }   // readable, at its end, or a real error for read to report
            }
            let count = buffer.withUnsafeMutableBytes { Foundation.read(descriptor, $0.baseAddress!, chunk) }
            if count < 0 {
                if errno == EINTR {
                    if let signal = Termination.signal { throw Failure.interrupted(signal: signal) }
                    continue
                }
                throw Failure.unreadable(source: source, reason: String(cString: strerror(errno)))
            }
            if count == 0 { break }
            total += count
            kept += buffer[0..<count]
            guard let limit else { continue }
            if kept.count > limit {
                if !keepTail { break }   // more than can fit: the caller refuses it, so the rest is not read
                if kept.count >= 2 * limit {   // compact rarely, so streaming stays linear
                    kept.removeFirst(kept.count - limit)
                    dropped = true
                }
            }
        }
        // A signal handled on another thread while the last read was under way: stop here, not after the run starts.
        if let signal = Termination.signal { throw Failure.interrupted(signal: signal) }
        if let limit, !keepTail, kept.count > limit {
            return InputText(text: "", bytesRead: total, wasCut: true)   // refused by the caller: no text to check
        }
        if let limit, kept.count > limit {
            kept.removeFirst(kept.count - limit)
            dropped = true
        }
        if dropped {
            // The cut may have split a character: drop continuation bytes at the start.
            let skip = kept.prefix(3).prefix { $0 & 0xC0 == 0x80 }.count
            kept.removeFirst(skip)
        }
        guard let text = String(validating: kept, as: UTF8.self) else { throw Failure.notUTF8(source: source) }
        return InputText(text: text, bytesRead: total, wasCut: dropped)
    }
}
