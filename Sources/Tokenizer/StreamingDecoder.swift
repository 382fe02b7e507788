/// Turns token bytes into text as tokens arrive, never emitting half of a UTF-8 character.
///
/// ```swift
/// var decoder = StreamingDecoder()
/// print(decoder.append(tokenizer.tokenBytes[id]), terminator: "")
/// print(decoder.finish())
/// ```
/// The concatenated output equals `tokenizer.decode(allIDs)`: an incomplete character at the end is
/// held back until the next token completes it, and anything truly invalid is replaced by U+FFFD.
public struct StreamingDecoder: Sendable {
    private var pending: [UInt8] = []

    public init() {}

    /// Adds one token's bytes and returns the text that is now complete.
    public mutating func append<Bytes: Sequence>(_ bytes: Bytes) -> String where Bytes.Element == UInt8 {
        pending += bytes
        let cut = completePrefixLength(pending)
        guard cut > 0 else { return "" }
        let text = String(decoding: pending[..<cut], as: UTF8.self)
        pending.removeFirst(cut)
        return text
    }

    /// Returns whatever is still held back, with invalid bytes replaced.
    public mutating func finish() -> String {
        defer { pending.removeAll() }
        return String(decoding: pending, as: UTF8.self)
    }

    /// The length of the prefix that can be decoded now: everything but a trailing sequence that a later byte could still complete.
    private func completePrefixLength(_ bytes: [UInt8]) -> Int {
        var lead = bytes.count - 1
        while lead >= 0 && lead >= bytes.count - 4 && bytes[lead] & 0xC0 == 0x80 { lead -= 1 }
        guard lead >= 0 && lead >= bytes.count - 4 else { return bytes.count }
        let needed: Int
        switch bytes[lead] {
        case 0xC2...0xDF: needed = 2
        case 0xE0...0xEF: needed = 3
        case 0xF0...0xF4: needed = 4
        default: needed = 1
        }
        return lead + needed > bytes.count ? lead : bytes.count
    }
}
