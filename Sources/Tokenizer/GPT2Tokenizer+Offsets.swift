extension GPT2Tokenizer {
    /// Each token's span in `text` as character offsets, for tokens that spell `text` exactly (`encode(text)`):
    /// Unicode scalar offsets, which are Python's `str` indices, as transformers' `return_offsets_mapping` gives them.
    ///
    /// ```swift
    /// let ids = tokenizer.encode("In the beginning")      // ["In", " the", " beginning"]
    /// tokenizer.characterOffsets(of: ids, in: "In the beginning")   // [0..<2, 2..<6, 6..<16]
    /// ```
    ///
    /// A token's leading space is part of its span (GPT-2's tokenizer has no `trim_offsets` post-processor). A token
    /// holding only some bytes of a character spans the whole character, so the tokens of one character share it,
    /// as in Hugging Face `tokenizers`. Returns nil when the tokens' bytes are not `text`'s.
    public func characterOffsets(of ids: [Int], in text: String) -> [Range<Int>]? {
        // The scalar each byte of the text belongs to.
        var scalarOfByte: [Int] = []
        scalarOfByte.reserveCapacity(text.utf8.count)
        for (index, scalar) in text.unicodeScalars.enumerated() {
            scalarOfByte += repeatElement(index, count: UTF8.width(scalar))
        }
        let utf8 = Array(text.utf8)
        var offsets: [Range<Int>] = []
        offsets.reserveCapacity(ids.count)
        var byte = 0
        for id in ids {
            guard id >= 0, id < tokenBytes.count else { return nil }
            let bytes = tokenBytes[id]
            guard !bytes.isEmpty, byte + bytes.count <= utf8.count, utf8[byte..<(byte + bytes.count)].elementsEqual(bytes) else { return nil }
            offsets.append(scalarOfByte[byte]..<(scalarOfByte[byte + bytes.count - 1] + 1))
            byte += bytes.count
        }
        return byte == utf8.count ? offsets : nil
    }

    /// The words of `text` as character offsets: the pieces GPT-2's pre-tokenizer splits it into (a word keeps its
    /// leading space: ` beginning`), each special token a word of its own. What transformers' `word_to_chars` gives
    /// for the word ids of a fast tokenizer's encoding, which its question-answering pipeline widens answers to.
    ///
    /// ```swift
    /// tokenizer.words(in: "Peter went")   // [0..<5, 5..<10]  ("Peter", " went")
    /// ```
    ///
    /// Every token of `encode(text)` lies within one word, so a token's word is the one holding its offsets.
    public func words(in text: String, allowSpecialTokens: Bool = true) -> [Range<Int>] {
        var scalarOfByte: [Int] = []
        for (index, scalar) in text.unicodeScalars.enumerated() { scalarOfByte += repeatElement(index, count: UTF8.width(scalar)) }
        scalarOfByte.append(text.unicodeScalars.count)
        var byteRanges: [Range<Int>] = []
        let utf8 = Array(text.utf8)
        utf8.withUnsafeBufferPointer { bytes in
            func ordinary(_ range: Range<Int>) {
                PreTokenizer.split(UnsafeBufferPointer(rebasing: bytes[range])) { piece in
                    byteRanges.append((piece.lowerBound + range.lowerBound)..<(piece.upperBound + range.lowerBound))
                }
            }
            var segmentStart = 0, i = 0
            if allowSpecialTokens && !specialTokens.isEmpty {
                while i < bytes.count {
                    if bytes[i] == UInt8(ascii: "<"), let (length, _) = specialToken(in: bytes, at: i) {
                        ordinary(segmentStart..<i)
                        byteRanges.append(i..<(i + length))
                        i += length
                        segmentStart = i
                    } else {
                        i += 1
                    }
                }
            }
            ordinary(segmentStart..<bytes.count)
        }
        return byteRanges.map { scalarOfByte[$0.lowerBound]..<scalarOfByte[$0.upperBound - 1] + 1 }
    }

    /// A token as vocab.json spells it, in GPT-2's byte-level alphabet (a space is `Ġ`, a newline `Ċ`): what
    /// transformers' `convert_ids_to_tokens` returns, and what its token-classification pipeline reports as `word`
    /// without aggregation.
    public func spelling(of id: Int) throws -> String {
        guard id >= 0 && id < tokenBytes.count else { throw TokenizerError.unknownTokenID(id, vocabularySize: tokenBytes.count) }
        return ByteLevel.spelling(of: tokenBytes[id])
    }
}
