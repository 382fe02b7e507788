import Foundation

/// Writes a `.gqz` file one payload at a time, into a temporary file beside the destination that is
/// renamed into place only by `finish`: an interrupted or failed conversion leaves nothing behind.
///
/// ```swift
/// let writer = try GQZWriter(destination: url, compressionLevel: 3)
/// try writer.add(name: "wte.weight", shape: [50257, 768], scheme: "q8", groupSize: 32, payload: bytes)
/// try writer.finish(metadata: ["model": config])
/// ```
///
/// Before anything is written the destination is checked (`resolveDestination`): a directory, device, named
/// pipe or socket is refused, and a symbolic link is written through (its final target is replaced, the link
/// is left as it was). Temporary files of earlier writers to the same file whose process is gone (killed
/// with SIGKILL, say, by the OOM killer) are removed and listed in `removedTemporaries`.
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
    private let handle: FileHandle
    private var entries: [[String: Any]] = []
    private var names: Set<String> = []
    private var offset = 0
    private var finished = false

    public init(destination: URL, compressionLevel: Int32 = 3) throws {
        self.destination = destination
        self.compressionLevel = compressionLevel
        resolvedDestination = try Self.resolveDestination(destination)
        removedTemporaries = Self.removeStaleTemporaries(of: resolvedDestination)
        let folder = resolvedDestination.deletingLastPathComponent()
        temporaryURL = folder.appendingPathComponent(Self.temporaryPrefix(for: resolvedDestination)
                                                     + "\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
        guard FileManager.default.createFile(atPath: temporaryURL.path, contents: nil),
              let handle = FileHandle(forWritingAtPath: temporaryURL.path) else {
            throw GQZError.writeFailed(path: destination.path, reason: "cannot create a file in \(folder.path) (permissions?)")
        }
        self.handle = handle
        // Held until the file is closed (or the process dies): tells a sweeping writer this file is in use.
        _ = flock(handle.fileDescriptor, LOCK_EX | LOCK_NB)
        try write([UInt8](repeating: 0, count: GQZFormat.preambleSize))   // filled in by finish
    }

    deinit {
        if !finished { discard() }
    }

    /// Compresses and appends one payload. `scheme` and `groupSize` describe it for readers (formats/GQZ.md §4).
    @discardableResult
    public func add(name: String, shape: [Int], scheme: String, groupSize: Int?, payload: [UInt8]) throws -> GQZEntry {
        precondition(!finished, "writer already finished")
        guard !names.contains(name) else { throw GQZError.writeFailed(path: destination.path, reason: "tensor \(name) added twice") }
        let frame = try ZstdFrame.compress(payload, level: compressionLevel)
        let entry = GQZEntry(name: name, shape: shape, scheme: scheme, groupSize: groupSize, offset: offset,
                             storedBytes: frame.count, rawBytes: payload.count, crc32: CRC32.checksum(payload))
        try write(frame)
        var json: [String: Any] = ["name": name, "shape": shape, "scheme": scheme, "offset": entry.offset,
                                   "stored_bytes": entry.storedBytes, "raw_bytes": entry.rawBytes, "crc32": Int(entry.crc32)]
        if let groupSize { json["group_size"] = groupSize }
        entries.append(json)
        names.insert(name)
        return entry
    }

    /// Writes the index and preamble, flushes to disk, and renames the file into place.
    public func finish(metadata: [String: Any]) throws {
        let index: [String: Any] = ["format": "gqz", "version": Int(GQZFormat.version), "required_features": [String](),
                                    "metadata": metadata, "tensors": entries]
        let json: Data
        do { json = try JSONSerialization.data(withJSONObject: index, options: [.sortedKeys]) } catch {
            throw GQZError.writeFailed(path: destination.path, reason: "index is not JSON-serializable: \(error)")
        }
        let frame = try ZstdFrame.compress(Array(json), level: compressionLevel)
        let indexOffset = offset
        try write(frame)
        var preamble = GQZFormat.magic
        func append<T: FixedWidthInteger>(_ value: T) { withUnsafeBytes(of: value.littleEndian) { preamble += $0 } }
        append(GQZFormat.version)
        append(UInt32(0))
        append(UInt64(indexOffset))
        append(UInt64(frame.count))
        append(UInt64(json.count))
        do {
            try handle.seek(toOffset: 0)
            try handle.write(contentsOf: preamble)
            try handle.synchronize()
            try handle.close()
        } catch {
            throw GQZError.writeFailed(path: temporaryURL.path, reason: "\(error)")
        }
        if rename(temporaryURL.path, resolvedDestination.path) != 0 {
            let reason = String(cString: strerror(errno))
            discard()
            throw GQZError.writeFailed(path: destination.path, reason: reason)
        }
        finished = true
    }

    /// Removes the temporary file (called automatically if the writer is dropped before `finish`).
    public func discard() {
        try? handle.close()
        try? FileManager.default.removeItem(at: temporaryURL)
        finished = true
    }

    private func write(_ bytes: [UInt8]) throws {
        do { try handle.write(contentsOf: bytes) } catch {
            throw GQZError.writeFailed(path: temporaryURL.path, reason: "\(error) (disk full?)")
        }
        offset += bytes.count
    }
}
