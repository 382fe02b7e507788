/// GPT-2's reversible map between bytes and printable characters (`bytes_to_unicode` in OpenAI's encoder.py).
///
/// vocab.json and merges.txt spell every token with these characters: printable Latin-1 bytes stand for
/// themselves and the other 68 bytes become U+0100…U+0143 (space is `Ġ`, newline `Ċ`).
enum ByteLevel {
    /// The character that stands for each byte value.
    static let characterForByte: [Unicode.Scalar] = {
        var printable = Array(0x21...0x7E) + Array(0xA1...0xAC) + Array(0xAE...0xFF)
        var scalars = [Unicode.Scalar?](repeating: nil, count: 256)
        for byte in printable { scalars[byte] = Unicode.Scalar(UInt32(byte)) }
        var next: UInt32 = 256
        for byte in 0..<256 where scalars[byte] == nil {
            scalars[byte] = Unicode.Scalar(next)
            printable.append(byte)
            next += 1
        }
        return scalars.map { $0! }
    }()

    /// The byte each mapped character stands for, or nil for a character outside the map.
    static func byte(for scalar: Unicode.Scalar) -> UInt8? {
        byteForCharacter[scalar.value]
    }

    private static let byteForCharacter: [UInt32: UInt8] = {
        var map: [UInt32: UInt8] = [:]
        for (byte, scalar) in characterForByte.enumerated() { map[scalar.value] = UInt8(byte) }
        return map
    }()

    /// Appends the raw bytes of a token spelled in the byte-level alphabet to `bytes`; false (with `bytes` as it
    /// was) if the spelling uses other characters.
    static func appendBytes(ofSpelling spelling: String, to bytes: inout [UInt8]) -> Bool {
        let start = bytes.count
        for scalar in spelling.unicodeScalars {
            guard let byte = byte(for: scalar) else {
                bytes.removeSubrange(start...)
                return false
            }
            bytes.append(byte)
        }
        return true
    }

    /// Raw bytes spelled in the byte-level alphabet, as vocab.json and merges.txt spell them.
    static func spelling<Bytes: Sequence>(of bytes: Bytes) -> String where Bytes.Element == UInt8 {
        var spelling = String.UnicodeScalarView()
        for byte in bytes { spelling.append(characterForByte[Int(byte)]) }
        return String(spelling)
    }
}
