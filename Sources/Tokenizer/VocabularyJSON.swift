/// vocab.json read in one pass over its bytes, without building a JSON object tree (which for GPT-2's 50,257
/// entries costs more memory than the whole tokenizer it feeds): each entry's spelling, its JSON escapes decoded,
/// and its id go to `body` in file order. Strict JSON: one object whose values are non-negative integers.
enum VocabularyJSON {
    /// Why the bytes are not a vocabulary, in words for the user.
    struct Failure: Error {
        let reason: String
    }

    /// Calls `body(spelling, id)` for each entry; ids are below `largestID`.
    static func forEachEntry(in bytes: UnsafeBufferPointer<UInt8>, largestID: Int,
                             _ body: (_ spelling: String, _ id: Int) throws -> Void) throws {
        var reader = Reader(bytes: bytes)
        reader.skipSpace()
        guard reader.take(UInt8(ascii: "{")) else { throw Failure(reason: "not a JSON object of token → id") }
        reader.skipSpace()
        if !reader.take(UInt8(ascii: "}")) {
            while true {
                reader.skipSpace()
                guard reader.take(UInt8(ascii: "\"")) else { throw reader.failure("expected a token in quotes") }
                let spelling = try reader.string()
                reader.skipSpace()
                guard reader.take(UInt8(ascii: ":")) else { throw reader.failure("expected : after token \(spelling.debugDescription)") }
                reader.skipSpace()
                let id = try reader.identifier(of: spelling, below: largestID)
                try body(spelling, id)
                reader.skipSpace()
                if reader.take(UInt8(ascii: ",")) { continue }
                if reader.take(UInt8(ascii: "}")) { break }
                throw reader.failure("expected , or } after the id of token \(spelling.debugDescription)")
            }
        }
        reader.skipSpace()
        guard reader.atEnd else { throw reader.failure("more after the end of the object") }
    }

    private struct Reader {
        let bytes: UnsafeBufferPointer<UInt8>
        var offset = 0
        var scratch: [UInt8] = []

        var atEnd: Bool { offset >= bytes.count }

        func failure(_ what: String) -> Failure {
            Failure(reason: "not a JSON object of token → id (byte \(offset): \(what))")
        }

        mutating func skipSpace() {
            while offset < bytes.count, [0x20, 0x09, 0x0A, 0x0D].contains(bytes[offset]) { offset += 1 }
        }

        mutating func take(_ byte: UInt8) -> Bool {
            guard offset < bytes.count, bytes[offset] == byte else { return false }
            offset += 1
            return true
        }

        /// The rest of a string whose opening quote was taken: escapes decoded, UTF-8 checked.
        mutating func string() throws -> String {
            scratch.removeAll(keepingCapacity: true)
            while true {
                guard offset < bytes.count else { throw failure("a token's quotes are not closed") }
                let byte = bytes[offset]
                offset += 1
                switch byte {
                case UInt8(ascii: "\""):
                    guard let text = String(validating: scratch, as: UTF8.self) else { throw failure("a token is not UTF-8") }
                    return text
                case UInt8(ascii: "\\"):
                    try escape()
                case 0..<0x20:
                    throw failure("a control character inside a token (JSON needs it escaped)")
                default:
                    scratch.append(byte)
                }
            }
        }

        private mutating func escape() throws {
            guard offset < bytes.count else { throw failure("a token ends inside an escape") }
            let byte = bytes[offset]
            offset += 1
            switch byte {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): scratch.append(byte)
            case UInt8(ascii: "b"): scratch.append(0x08)
            case UInt8(ascii: "f"): scratch.append(0x0C)
            case UInt8(ascii: "n"): scratch.append(0x0A)
            case UInt8(ascii: "r"): scratch.append(0x0D)
            case UInt8(ascii: "t"): scratch.append(0x09)
            case UInt8(ascii: "u"):
                var value = try hex4()
                if (0xD800..<0xDC00).contains(value) {   // a high surrogate: its low half must follow as \uXXXX
                    guard take(UInt8(ascii: "\\")), take(UInt8(ascii: "u")) else { throw failure("a lone surrogate \\u\(String(value, radix: 16))") }
                    let low = try hex4()
                    guard (0xDC00..<0xE000).contains(low) else { throw failure("a lone surrogate \\u\(String(value, radix: 16))") }
                    value = 0x10000 + ((value - 0xD800) << 10) + (low - 0xDC00)
                }
                guard let scalar = Unicode.Scalar(value) else { throw failure("a lone surrogate \\u\(String(value, radix: 16))") }
                scratch.append(contentsOf: String(Character(scalar)).utf8)
            default:
                throw failure("an unknown escape \\\(Character(Unicode.Scalar(byte)))")
            }
        }

        private mutating func hex4() throws -> UInt32 {
            guard offset + 4 <= bytes.count else { throw failure("a token ends inside \\u") }
            var value: UInt32 = 0
            for _ in 0..<4 {
                let byte = bytes[offset]
                offset += 1
                let digit: UInt8
                switch byte {
                case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = byte - UInt8(ascii: "0")
                case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = byte - UInt8(ascii: "a") + 10
                case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = byte - UInt8(ascii: "A") + 10
                default: throw failure("\\u needs four hex digits")
                }
                value = value << 4 | UInt32(digit)
            }
            return value
        }

        /// A token's id: digits only, below `limit` (a sign, a fraction, an exponent or a string is refused).
        mutating func identifier(of spelling: String, below limit: Int) throws -> Int {
            let start = offset
            var value = 0
            while offset < bytes.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[offset]) {
                if value < limit { value = value * 10 + Int(bytes[offset] - UInt8(ascii: "0")) }
                offset += 1
            }
            // The whole value as written, for the message: up to the next , } or space.
            var end = offset
            while end < bytes.count, ![UInt8(ascii: ","), UInt8(ascii: "}"), 0x20, 0x0A, 0x0D, 0x09].contains(bytes[end]) { end += 1 }
            if offset == start || end != offset || value >= limit {
                let written = String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<min(end, start + 40)]), as: UTF8.self)
                throw Failure(reason: "token \(spelling.debugDescription) has id \(written), not a small non-negative integer")
            }
            return value
        }
    }
}
