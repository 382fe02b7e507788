import Foundation
import WeightFormat
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Writes a `.gqz` file one payload at a time, into a temporary file beside the destination that is
/// renamed into place only by `finish`: an interrupted or failed conversion leaves nothing behind.
///
/// ```swift
/// let writer = try GQZWriter(destination: url, compressionLevel: 3)
/// try writer.add(name: "wte.weight", shape: [50257, 768], scheme: "q8", groupSize: 32, payload: bytes)
/// try writer.finish(metadata: ["model": ["architecture": "gpt2"]] as JSONValue)   // or any Encodable
/// ```
///
/// Before anything is written the destination is checked (`resolveDestination`): a directory, device, named
/// pipe or socket is refused, and a symbolic link is written through (its final target is replaced, the link
/// is left as it was). Temporary files of earlier writers to the same file whose process is gone (killed
/// with SIGKILL, say, by the OOM killer) are removed and listed in `removedTemporaries`.
/// A failed write (disk full, file too large, I/O error) throws an error naming the destination and the
/// system's reason, and removes the temporary file.
public final class GQZWriter {
    /// The path as given.
    public let destination: URL
    /// The file that `finish` replaces: `destination`, or the final target when `destination` is a symbolic link.
    public let resolvedDestination: URL
    /// Where the file is written until `finish` renames it: `.NAME.tmp-PID-RANDOM` beside `resolvedDestination`.
    public let temporaryURL: URL
    public let compressionLevel: Int32
    /// Temporary files of earlier, dead writers to the same file, removed before this one started.
    public let removedTemporaries: [StaleTemporary]
    /// An upper estimate of the finished file's size (payloads before compression, say), if the caller knows
    /// one; used only to say how much room a failed write needed.
    public var expectedSize: Int?

    private var descriptor: Int32
    private var entries: [GQZEntry] = []
    private var names: Set<String> = []
    private var offset = 0
    private var finished = false
    private var failure: GQZError?

    public init(destination: URL, compressionLevel: Int32 = 3) throws {
        self.destination = destination
        self.compressionLevel = compressionLevel
        resolvedDestination = try Self.resolveDestination(destination)
        removedTemporaries = Self.removeStaleTemporaries(of: resolvedDestination)
        let folder = resolvedDestination.deletingLastPathComponent()
        temporaryURL = folder.appendingPathComponent(Self.temporaryPrefix(for: resolvedDestination)
                                                     + "\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
        descriptor = open(temporaryURL.path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o666)
        guard descriptor >= 0 else {
            throw GQZError.writeFailed(path: destination.path, reason: "cannot create a file in \(folder.path): \(String(cString: strerror(errno)))")
        }
        // Held until the descriptor is closed (or the process dies): tells a sweeping writer this file is in use.
        _ = flock(descriptor, LOCK_EX | LOCK_NB)
        try write([UInt8](repeating: 0, count: GQZFormat.preambleSize))   // filled in by finish
    }

    deinit {
        if !finished { discard() }
    }

    /// Compresses and appends one payload, given in §5's row-major layout. `scheme` and `groupSize` describe it for
    /// readers (formats/GQZ.md §4). With `frameRows` (a two-dimensional f32, q8 or q4 tensor with more rows), the payload
    /// is stored as row frames of that many rows, each the payload of its rows alone, so a reader can decompress any
    /// frame by itself. With `layout: .panels16` (q8/q4, frameRows a multiple of 16), the payload, or each frame, is
    /// stored in the integer kernels' panel layout. Either makes the file version 2.
    @discardableResult
    public func add(name: String, shape: [Int], scheme: String, groupSize: Int?, payload: [UInt8], frameRows: Int? = nil,
                    layout: GQZEntry.Layout = .rows) throws -> GQZEntry {
        if let failure { throw failure }
        precondition(!finished, "writer already finished")
        guard !names.contains(name) else { throw GQZError.writeFailed(path: destination.path, reason: "tensor \(name) added twice") }
        let weightScheme = WeightScheme(name: scheme, groupSize: groupSize)
        precondition(layout == .rows || (weightScheme?.bits != nil && shape.count == 2 && (frameRows ?? 16) % 16 == 0),
                     "the panel layout is for two-dimensional q8/q4 tensors, in frames of a multiple of 16 rows")
        /// The bytes as stored for rows `rows` of the payload: their part of it, in panels when asked.
        func stored(_ part: [UInt8], rows: Int) -> [UInt8] {
            guard layout == .panels16, let weightScheme else { return part }
            var packed = part
            packed.withUnsafeMutableBytes { PanelLayout.pack($0, rows: rows, columns: shape[1], scheme: weightScheme) }
            return packed
        }
        guard let frameRows, let weightScheme, shape.count == 2, shape[0] > frameRows else {
            let bytes = stored(payload, rows: shape.count == 2 ? shape[0] : 1)
            let frame = try ZstdFrame.compress(bytes, level: compressionLevel)
            let entry = GQZEntry(name: name, shape: shape, scheme: scheme, groupSize: groupSize, offset: offset,
                                 storedBytes: frame.count, rawBytes: bytes.count, crc32: CRC32.checksum(bytes), layout: layout)
            try write(frame)
            entries.append(entry)
            names.insert(name)
            return entry
        }
        precondition(frameRows >= 1 && payload.count == weightScheme.payloadBytes(rows: shape[0], columns: shape[1]))
        let start = offset
        var frames: [GQZEntry.Frame] = []
        var whole = [UInt8](repeating: 0, count: payload.count)   // the payload as stored, for its CRC-32
        for first in stride(from: 0, to: shape[0], by: frameRows) {
            let rows = first..<min(shape[0], first + frameRows)
            let (scales, quants) = weightScheme.byteRanges(ofRows: rows, rows: shape[0], columns: shape[1])
            let part = stored(Array(payload[scales]) + Array(payload[quants]), rows: rows.count)
            whole.replaceSubrange(scales, with: part[..<scales.count])
            whole.replaceSubrange(quants, with: part[scales.count...])
            let frame = try ZstdFrame.compress(part, level: compressionLevel)
            frames.append(GQZEntry.Frame(rows: rows, offset: offset, storedBytes: frame.count, rawBytes: part.count, crc32: CRC32.checksum(part)))
            try write(frame)
        }
        let entry = GQZEntry(name: name, shape: shape, scheme: scheme, groupSize: groupSize, offset: start, storedBytes: offset - start,
                             rawBytes: payload.count, crc32: CRC32.checksum(whole), frameRows: frameRows, frames: frames, layout: layout)
        entries.append(entry)
        names.insert(name)
        return entry
    }

    /// Writes the index with `metadata` as its `metadata` object, and the preamble, flushes to disk, and renames the
    /// file into place.
    ///
    /// The index is compact JSON, keys sorted by UTF-8 code unit. Files written before were sorted by
    /// JSONSerialization, which compares without case and numbers by value; for the index's keys and those of
    /// `GPT2FileMetadata` (lowercase words joined by underscores, no two of an object first differing at a digit)
    /// the two orders agree, and numbers print the same, so gpt2-quant writes the same bytes as before.
    public func finish<Metadata: Encodable>(metadata: Metadata, requiredFeatures: [String] = []) throws {
        if let failure { throw failure }
        precondition(!finished, "writer already finished")
        // Version 1 unless an entry needs version 2 (row frames, the panel layout), so files without them stay readable by version-1 readers.
        let version = entries.contains { $0.needsVersion2 } ? GQZFormat.rowFramesVersion : 1
        let index = GQZIndex(format: "gqz", version: Int(version), requiredFeatures: requiredFeatures, metadata: metadata, tensors: entries)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let json: Data
        do { json = try encoder.encode(index) } catch {
            throw GQZError.writeFailed(path: destination.path, reason: "index is not JSON-serializable: \(error)")
        }
        let frame = try ZstdFrame.compress(Array(json), level: compressionLevel)
        let indexOffset = offset
        try write(frame)
        var preamble = GQZFormat.magic
        func append<T: FixedWidthInteger>(_ value: T) { withUnsafeBytes(of: value.littleEndian) { preamble += $0 } }
        append(version)
        append(UInt32(0))
        append(UInt64(indexOffset))
        append(UInt64(frame.count))
        append(UInt64(json.count))
        try write(preamble, at: 0)
        // fsync and close report what the kernel could not write back (a full disk on NFS, an I/O error).
        if fsync(descriptor) != 0 { throw failWrite(errno: errno, written: offset) }
        let closed = close(descriptor)
        descriptor = -1
        if closed != 0 { throw failWrite(errno: errno, written: offset) }
        if rename(temporaryURL.path, resolvedDestination.path) != 0 {
            let reason = String(cString: strerror(errno))
            discard()
            throw GQZError.writeFailed(path: destination.path, reason: reason)
        }
        finished = true
        Self.synchronizeFolder(resolvedDestination.deletingLastPathComponent())
    }

    /// Removes the temporary file (called automatically if the writer is dropped before `finish`).
    public func discard() {
        if descriptor >= 0 { close(descriptor) }
        descriptor = -1
        unlink(temporaryURL.path)
        finished = true
    }

    /// Appends `bytes` with write(2), retrying short writes and EINTR, so a failure carries its errno.
    private func write(_ bytes: [UInt8]) throws {
        let written = bytes.withUnsafeBytes { writeFully(descriptor, $0, at: nil) }
        if let code = written.error { throw failWrite(errno: code, written: offset + written.count) }
        offset += bytes.count
    }

    /// Overwrites `bytes` at `position` with pwrite(2) (the preamble, once the index is known).
    private func write(_ bytes: [UInt8], at position: Int) throws {
        let written = bytes.withUnsafeBytes { writeFully(descriptor, $0, at: position) }
        if let code = written.error { throw failWrite(errno: code, written: offset) }
    }

    /// Removes the temporary file and describes the failed write for the person who asked for `destination`.
    private func failWrite(errno code: Int32, written: Int) -> GQZError {
        discard()
        let folder = resolvedDestination.deletingLastPathComponent().path
        var details = ["after writing \(Self.describe(bytes: written))"]
        if let expectedSize { details.append("the finished file needs up to about \(Self.describe(bytes: expectedSize))") }
        if code == ENOSPC || code == EDQUOT, let free = Self.freeBytes(in: folder) {
            details.append("\(folder) has \(Self.describe(bytes: free)) free")
        }
        if code == EFBIG { details.append("the file system or a process limit (ulimit -f) caps the file size") }
        let reason = "\(String(cString: strerror(code))) (\(details.joined(separator: "; "))); the partial file was removed"
        let error = GQZError.writeFailed(path: destination.path, reason: reason)
        failure = error
        return error
    }

    /// Bytes available to this user in the file system holding `folder`.
    static func freeBytes(in folder: String) -> Int? {
        var info = statvfs()
        guard statvfs(folder, &info) == 0 else { return nil }
        return Int(info.f_bavail) * Int(info.f_frsize)
    }

    /// "812 bytes", "195.3 KiB", "1.9 MiB", "1.62 GiB" (powers of 1024, as every size the programs print).
    static func describe(bytes: Int) -> String {
        let value = Double(bytes)
        if bytes < 1024 { return "\(bytes) bytes" }
        if bytes < 1 << 20 { return String(format: "%.1f KiB", value / 1024) }
        if bytes < 1 << 30 { return String(format: "%.1f MiB", value / 1_048_576) }
        return String(format: "%.2f GiB", value / 1_073_741_824)
    }

    /// Makes the rename durable (best effort: some file systems cannot sync a directory).
    private static func synchronizeFolder(_ folder: URL) {
        let descriptor = open(folder.path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { return }
        _ = fsync(descriptor)
        close(descriptor)
    }
}

/// Writes all of `buffer` to `descriptor` (appending, or at `position` with pwrite), retrying short writes and
/// EINTR. Returns how many bytes were written and, if it stopped early, the errno.
private func writeFully(_ descriptor: Int32, _ buffer: UnsafeRawBufferPointer, at position: Int?) -> (count: Int, error: Int32?) {
    var done = 0
    while done < buffer.count {
        let pointer = buffer.baseAddress! + done, remaining = buffer.count - done
        let result = position.map { pwrite(descriptor, pointer, remaining, off_t($0 + done)) } ?? write(descriptor, pointer, remaining)
        if result > 0 { done += result; continue }
        if result < 0 && errno == EINTR { continue }
        return (done, result < 0 ? errno : EIO)   // 0 bytes for a non-empty write: the device took nothing
    }
    return (done, nil)
}
