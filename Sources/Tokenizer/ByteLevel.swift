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

    /// The raw bytes of a token spelled in the byte-level alphabet, or nil if it uses other characters.
    static func bytes(ofSpelling spelling: String) -> [UInt8]? {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(spelling.unicodeScalars.count)
        for scalar in spelling.unicodeScalars {
            guard let byte = byte(for: scalar) else { return nil }
            bytes.append(byte)
        }
        return bytes
    }
}
