import CZstd

/// One zstd frame with a content checksum: the unit every `.gqz` tensor payload is stored in.
///
/// ```swift
/// let frame = try ZstdFrame.compress(bytes, level: 3)
/// let back = try ZstdFrame.decompress(frame, expectedSize: bytes.count)
/// ```
public enum ZstdFrame {
    /// A zstd failure, with libzstd's own message.
    public struct Failure: Error, CustomStringConvertible {
        public let description: String
    }

    /// Compresses `input` into a single frame that records its content size and checksum.
    public static func compress(_ input: [UInt8], level: Int32 = 3) throws -> [UInt8] {
        guard let context = ZSTD_createCCtx() else { throw Failure(description: "zstd: cannot create a compression context") }
        defer { ZSTD_freeCCtx(context) }
        try check(ZSTD_CCtx_setParameter(context, ZSTD_c_compressionLevel, level), "set level \(level)")
        try check(ZSTD_CCtx_setParameter(context, ZSTD_c_checksumFlag, 1), "enable checksum")
        var output = [UInt8](repeating: 0, count: ZSTD_compressBound(input.count))
        let written = input.withUnsafeBytes { source in
            output.withUnsafeMutableBytes { destination in
                ZSTD_compress2(context, destination.baseAddress, destination.count, source.baseAddress, source.count)
            }
        }
        try check(written, "compress \(input.count) bytes")
        output.removeSubrange(written...)
        return output
    }

    /// Decompresses one frame, which must hold exactly `expectedSize` bytes; the checksum is verified by libzstd.
    public static func decompress(_ frame: [UInt8], expectedSize: Int) throws -> [UInt8] {
        let declared = frame.withUnsafeBytes { ZSTD_getFrameContentSize($0.baseAddress, $0.count) }
        if declared == ZSTD_CONTENTSIZE_ERROR { throw Failure(description: "zstd: not a zstd frame") }
        if declared != ZSTD_CONTENTSIZE_UNKNOWN && declared != UInt64(expectedSize) {
            throw Failure(description: "zstd: frame declares \(declared) bytes, expected \(expectedSize)")
        }
        var output = [UInt8](repeating: 0, count: expectedSize)
        let written = frame.withUnsafeBytes { source in
            output.withUnsafeMutableBytes { destination in
                ZSTD_decompress(destination.baseAddress, destination.count, source.baseAddress, source.count)
            }
        }
        try check(written, "decompress")
        guard written == expectedSize else {
            throw Failure(description: "zstd: frame holds \(written) bytes, expected \(expectedSize)")
        }
        return output
    }

    /// Decompresses one frame into `destination`, which it must fill exactly; the checksum is verified by libzstd.
    public static func decompress(_ frame: [UInt8], into destination: UnsafeMutableRawBufferPointer) throws {
        let declared = frame.withUnsafeBytes { ZSTD_getFrameContentSize($0.baseAddress, $0.count) }
        if declared == ZSTD_CONTENTSIZE_ERROR { throw Failure(description: "zstd: not a zstd frame") }
        if declared != ZSTD_CONTENTSIZE_UNKNOWN && declared != UInt64(destination.count) {
            throw Failure(description: "zstd: frame declares \(declared) bytes, expected \(destination.count)")
        }
        let written = frame.withUnsafeBytes { source in
            ZSTD_decompress(destination.baseAddress, destination.count, source.baseAddress, source.count)
        }
        try check(written, "decompress")
        guard written == destination.count else {
            throw Failure(description: "zstd: frame holds \(written) bytes, expected \(destination.count)")
        }
    }

    /// Decompresses one frame of `frameBytes` bytes that `read(offset, buffer)` delivers a piece at a time (a
    /// megabyte at most), into `destination`, which it must fill exactly: loading a tensor never holds its whole
    /// compressed frame beside it. The frame must declare a content checksum, which libzstd verifies. The stream and
    /// its read buffer come from `StreamReaders`, so a streamed run allocates none of them per frame.
    public static func decompress(frameBytes: Int, read: (_ offset: Int, _ buffer: UnsafeMutableRawBufferPointer) throws -> Void,
                                  into destination: UnsafeMutableRawBufferPointer) throws {
        let reader = try StreamReaders.shared.take()
        defer { StreamReaders.shared.give(reader) }
        try check(ZSTD_DCtx_reset(reader.stream, ZSTD_reset_session_only), "reset the decompression stream")
        var output = ZSTD_outBuffer(dst: destination.baseAddress, size: destination.count, pos: 0)
        var consumed = 0, remainingHint = 1
        while consumed < frameBytes {
            let count = min(reader.chunk.count, frameBytes - consumed)
            let chunk = UnsafeMutableRawBufferPointer(rebasing: reader.chunk[0..<count])
            try read(consumed, chunk)
            if consumed == 0 { try requireChecksummedHeader(ArraySlice(chunk.prefix(5))) }
            var input = ZSTD_inBuffer(src: chunk.baseAddress, size: count, pos: 0)
            while input.pos < input.size {
                guard remainingHint != 0 else { throw Failure(description: "zstd: \(frameBytes - consumed - input.pos) bytes after the end of the frame") }
                let before = (input.pos, output.pos)
                remainingHint = ZSTD_decompressStream(reader.stream, &output, &input)
                try check(remainingHint, "decompress")
                if (input.pos, output.pos) == before { throw Failure(description: "zstd: frame holds more than the expected \(destination.count) bytes") }
            }
            consumed += count
        }
        guard remainingHint == 0 else { throw Failure(description: "zstd: the frame is truncated") }
        guard output.pos == destination.count else {
            throw Failure(description: "zstd: frame holds \(output.pos) bytes, expected \(destination.count)")
        }
    }

    /// Checks that `bytes` start a zstd frame whose header declares a content checksum (so libzstd verifies it).
    public static func requireChecksummedHeader(_ bytes: ArraySlice<UInt8>) throws {
        guard bytes.count >= 5, bytes.starts(with: [0x28, 0xB5, 0x2F, 0xFD]) else { throw Failure(description: "not a zstd frame") }
        guard bytes[bytes.startIndex + 4] & 0x04 != 0 else { throw Failure(description: "zstd frame has no content checksum") }
    }

    /// The largest frame `compress` can produce for `size` input bytes.
    public static func compressBound(_ size: Int) -> Int { ZSTD_compressBound(size) }

    private static func check(_ code: Int, _ what: String) throws {
        if ZSTD_isError(code) != 0 {
            throw Failure(description: "zstd: \(what): \(String(cString: ZSTD_getErrorName(code)))")
        }
    }
}
