/// GPT-2's pre-tokenization, written out from its regular expression:
///
///     's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
///
/// Alternatives are tried in that order at each position; `\s` is Unicode White_Space, `\p{L}` the
/// letter categories and `\p{N}` the number categories. Pieces are returned as byte ranges of the
/// UTF-8 input, so BPE can run on them without copying strings.
enum PreTokenizer {
    enum CharacterClass: UInt8 { case letter, number, space, otherWhitespace, other }

    /// Splits UTF-8 `bytes` into pieces and calls `body` with each piece's byte range, in order.
    static func split(_ bytes: UnsafeBufferPointer<UInt8>, _ body: (Range<Int>) -> Void) {
        var classes: [CharacterClass] = []
        var starts: [Int] = []
        classes.reserveCapacity(bytes.count)
        starts.reserveCapacity(bytes.count + 1)
        var offset = 0
        while offset < bytes.count {
            let (scalar, length) = decodeScalar(bytes, at: offset)
            classes.append(characterClass(of: scalar))
            starts.append(offset)
            offset += length
        }
        starts.append(bytes.count)
        let n = classes.count

        func isWhitespace(_ i: Int) -> Bool { classes[i] == .space || classes[i] == .otherWhitespace }
        func byte(_ i: Int) -> UInt8 { bytes[starts[i]] }  // first byte of scalar i
        func run(from i: Int, while matches: (CharacterClass) -> Bool) -> Int {
            var end = i
            while end < n && matches(classes[end]) { end += 1 }
            return end
        }

        var i = 0
        while i < n {
            var end = i
            if byte(i) == UInt8(ascii: "'"), let length = contractionLength(after: i) {
                end = i + 1 + length
            } else {
                // ` ?X+` for X = letters, numbers, then "neither whitespace, letter nor number".
                let body = (classes[i] == .space && i + 1 < n) ? i + 1 : i
                let classOfBody = classes[body]
                if classOfBody == .letter || classOfBody == .number || classOfBody == .other {
                    end = run(from: body) { $0 == classOfBody }
                }
                if end == i {
                    // Whitespace: `\s+(?!\S)` backs off one character before a non-space, else `\s+`.
                    let runEnd = run(from: i) { $0 == .space || $0 == .otherWhitespace }
                    if runEnd == n || runEnd - i == 1 { end = runEnd } else { end = runEnd - 1 }
                }
            }
            body(starts[i]..<starts[end])
            i = end
        }

        /// Length (in scalars, after the apostrophe) of a lower-case contraction at `i`, if one starts there.
        func contractionLength(after i: Int) -> Int? {
            guard i + 1 < n else { return nil }
            let first = byte(i + 1)
            if first == UInt8(ascii: "s") || first == UInt8(ascii: "t") || first == UInt8(ascii: "m") || first == UInt8(ascii: "d") {
                return 1
            }
            guard i + 2 < n else { return nil }
            let second = byte(i + 2)
            switch (first, second) {
            case (UInt8(ascii: "r"), UInt8(ascii: "e")), (UInt8(ascii: "v"), UInt8(ascii: "e")), (UInt8(ascii: "l"), UInt8(ascii: "l")):
                return 2
            default:
                return nil
            }
        }
    }

    private static let asciiClasses: [CharacterClass] = (0..<128).map { characterClass(ofNonASCII: Unicode.Scalar(UInt8($0))) }

    static func characterClass(of scalar: Unicode.Scalar) -> CharacterClass {
        scalar.value < 128 ? asciiClasses[Int(scalar.value)] : characterClass(ofNonASCII: scalar)
    }

    private static func characterClass(ofNonASCII scalar: Unicode.Scalar) -> CharacterClass {
        if scalar == " " { return .space }
        let properties = scalar.properties
        if properties.isWhitespace { return .otherWhitespace }
        switch properties.generalCategory {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter:
            return .letter
        case .decimalNumber, .letterNumber, .otherNumber:
            return .number
        default:
            return .other
        }
    }

    /// Decodes the scalar at `offset` of valid UTF-8 (the input comes from a Swift String).
    @inline(__always)
    private static func decodeScalar(_ bytes: UnsafeBufferPointer<UInt8>, at offset: Int) -> (Unicode.Scalar, Int) {
        let lead = UInt32(bytes[offset])
        if lead < 0x80 { return (Unicode.Scalar(UInt8(lead)), 1) }
        func continuation(_ k: Int) -> UInt32 { UInt32(bytes[offset + k]) & 0x3F }
        let value: UInt32
        let length: Int
        if lead < 0xE0 {
            value = (lead & 0x1F) << 6 | continuation(1); length = 2
        } else if lead < 0xF0 {
            value = (lead & 0x0F) << 12 | continuation(1) << 6 | continuation(2); length = 3
        } else {
            value = (lead & 0x07) << 18 | continuation(1) << 12 | continuation(2) << 6 | continuation(3); length = 4
        }
        return (Unicode.Scalar(value) ?? "\u{FFFD}", length)
    }
}
