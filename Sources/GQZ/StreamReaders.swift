import CZstd
import Foundation

/// Decompression streams with their read buffers, kept between frames. A streamed run decompresses every block of
/// the model on every token, a dozen frames at once on the pool's threads; creating a stream and a megabyte read
/// buffer for each frame left the allocator's heaps holding their freed memory, and the peak of a streamed gpt2
/// int4 run swung between 49 and 102 MiB from run to run. Kept here, there are only ever as many as frames
/// were read at once, and the memory stays the same from token to token.
// @unchecked: `idle` is read and written under `lock` only; a taken reader belongs to its taker until given back.
final class StreamReaders: @unchecked Sendable {
    /// One stream and its buffer.
    struct Reader: @unchecked Sendable {
        let stream: OpaquePointer
        let chunk: UnsafeMutableRawBufferPointer
    }

    static let shared = StreamReaders()
    /// Bytes of the file read at a time.
    static let chunkBytes = 1 << 20
    /// libzstd's stream: about 160 KB with its input buffer for a compressed block, and no output window (see `take`).
    /// Of the read buffer, only the pages a frame's bytes reach are resident.
    static let streamBytes = 256 << 10

    private let lock = NSLock()
    private var idle: [Reader] = []

    /// An idle reader, or a new one.
    func take() throws -> Reader {
        if let reader = lock.withLock({ idle.popLast() }) { return reader }
        guard let stream = ZSTD_createDStream() else { throw ZstdFrame.Failure(description: "zstd: cannot create a decompression stream") }
        // Stable output (ZSTD_d_stableOutBuffer, zstd 1.4.4+): the destination holds the whole frame and stays put,
        // so zstd decodes straight into it rather than through a window-sized buffer of its own. A libzstd without
        // the parameter refuses it and decodes through its buffer.
        _ = ZSTD_DCtx_setParameter(stream, ZSTD_d_experimentalParam2, 1)
        return Reader(stream: stream, chunk: .allocate(byteCount: Self.chunkBytes, alignment: 64))
    }

    /// Gives `reader` back for the next frame.
    func give(_ reader: Reader) {
        lock.withLock { idle.append(reader) }
    }
}
