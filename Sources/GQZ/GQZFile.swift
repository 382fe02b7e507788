import Foundation
import WeightFormat
#if canImport(Glibc)
import Glibc
#endif

/// A `.gqz` file opened for reading: preamble, index and every index entry are validated on open
/// (offsets and lengths inside the file, sizes consistent with each scheme); payloads are read and
/// decompressed on demand, each checked by its zstd frame's content checksum. `verify()` also checks the index's
/// CRC-32 of each payload (formats/GQZ.md §3 says why loading leaves that to zstd's checksum).
///
/// ```swift
/// let file = try GQZFile(path: "gpt2.gqz")
/// let vocabulary = try file.payload("tokenizer/vocab.json")
/// ```
// @unchecked: immutable after init; payloads are read with pread(2) at explicit offsets or from read-only bytes.
public final class GQZFile: @unchecked Sendable {
    public let path: String
    public let fileSize: Int
    public let version: UInt32
    /// Entries in file order.
    public let entries: [GQZEntry]
    /// The index's `metadata` object as written (model config, quantization settings, converter; empty when the
    /// index has none); `GPT2FileMetadata` is what gpt2-quant writes there.
    public let metadata: JSONValue
    /// The index's `required_features` (every one known to this reader, or the file was refused).
    public let requiredFeatures: [String]
    private let entryByName: [String: GQZEntry]
    private let source: ByteSource
    /// Where the bytes come from: an open file, or memory that lives as long as the program (an embedded model);
    /// `mappedFromFile`: the memory is a read-only mapping of a file (the program's own .rodata), whose pages can be
    /// handed back once read and come back from the page cache when read again.
    enum ByteSource {
        case file(Int32)
        case memory(UnsafeRawBufferPointer, mappedFromFile: Bool)
    }

    public init(path: String) throws {
        self.path = path
        let descriptor = open(path, O_RDONLY)
        guard descriptor >= 0 else { throw GQZError.unreadable(path: path, reason: String(cString: strerror(errno))) }
        var info = stat()
        guard fstat(descriptor, &info) == 0 else {
            close(descriptor)
            throw GQZError.unreadable(path: path, reason: String(cString: strerror(errno)))
        }
        source = .file(descriptor)
        fileSize = Int(info.st_size)
        do {
            (version, entries, metadata, requiredFeatures) = try Self.readIndex(source: source, path: path, fileSize: fileSize)
        } catch {
            close(descriptor)
            throw error
        }
        entryByName = Dictionary(uniqueKeysWithValues: entries.map { ($0.name, $0) })
    }

    /// A file image in memory that outlives this object (e.g. a model linked into the program); `name` labels messages.
    /// `mappedFromFile`: the bytes are a read-only mapping of a file that nothing writes (a model in the program's
    /// .rodata); then the whole pages of each read are given back to the kernel (MADV_DONTNEED) once copied, so a
    /// model read again and again (streamed layers) does not keep its compressed bytes resident beside what they
    /// decompress to. Never pass it for memory of the heap or anything written: those pages would read back as zeros.
    public init(staticBytes bytes: UnsafeRawBufferPointer, name: String, mappedFromFile: Bool = false) throws {
        path = name
        source = .memory(bytes, mappedFromFile: mappedFromFile)
        fileSize = bytes.count
        (version, entries, metadata, requiredFeatures) = try Self.readIndex(source: source, path: name, fileSize: fileSize)
        entryByName = Dictionary(uniqueKeysWithValues: entries.map { ($0.name, $0) })
    }

    deinit {
        if case .file(let descriptor) = source { close(descriptor) }
    }

    /// Memory a read of a frame of `storedBytes` holds beside its destination while it decompresses: from a file, a
    /// stream reader (a megabyte of the file at a time, whatever the frame's size); from memory, a copy of the frame.
    public func bytesHeldReading(frameOf storedBytes: Int) -> Int {
        switch source {
        case .file: return min(storedBytes, StreamReaders.chunkBytes) + StreamReaders.streamBytes
        case .memory: return storedBytes
        }
    }

    /// The entry for `name`, or an error naming the file.
    public func entry(_ name: String) throws -> GQZEntry {
        guard let entry = entryByName[name] else { throw GQZError.missingTensor(path: path, tensor: name) }
        return entry
    }

    public func contains(_ name: String) -> Bool { entryByName[name] != nil }

    /// The decompressed, checksum-verified payload of `name`.
    public func payload(_ name: String) throws -> [UInt8] {
        let entry = try entry(name)
        var bytes = [UInt8](repeating: 0, count: entry.rawBytes)
        try bytes.withUnsafeMutableBytes { try readPayload(entry, into: $0) }
        return bytes
    }

    /// Decompresses `entry`'s payload into `destination` (exactly `rawBytes` long), verified by the zstd frame's
    /// content checksum (libzstd's XXH64 of the decompressed bytes). The index's CRC-32 of the same bytes is left
    /// to `verify()`: on a gpt2-xl int8 load it cost 1.8 of 5.8 seconds and caught nothing the frame's checksum
    /// does not.
    ///
    /// A row-framed entry's frames are decompressed one by one and their scales and quants put where §5 puts them. A
    /// payload stored in the panel layout is given back row-major, unless `keepingLayout` (the integer kernels read the
    /// panels as they are: whole panels, since row frames of a panels16 entry start at multiples of 16 rows).
    public func readPayload(_ entry: GQZEntry, into destination: UnsafeMutableRawBufferPointer, keepingLayout: Bool = false) throws {
        precondition(destination.count == entry.rawBytes)
        guard !entry.frames.isEmpty, let scheme = entry.weightScheme else {
            try decompressFrame(at: entry.offset, storedBytes: entry.storedBytes, into: destination, tensor: entry.name)
            if entry.layout == .panels16 && !keepingLayout, let scheme = entry.weightScheme {
                let (rows, columns) = entry.rowsAndColumns
                PanelLayout.unpack(destination, rows: rows, columns: columns, scheme: scheme, workers: ProcessInfo.processInfo.activeProcessorCount)
            }
            return
        }
        try readFrames(entry, scheme: scheme, into: destination, keepingLayout: keepingLayout)
    }

    /// A row-framed entry's frames decompressed one by one into `destination`, each frame's scales and quants where §5
    /// puts them; `eachFrame(k, bytes)` sees every frame as read (verify checks its CRC-32 there).
    private func readFrames(_ entry: GQZEntry, scheme: WeightScheme, into destination: UnsafeMutableRawBufferPointer, keepingLayout: Bool,
                            eachFrame: (Int, UnsafeRawBufferPointer) throws -> Void = { _, _ in }) throws {
        let (rows, columns) = entry.rowsAndColumns
        let staging = UnsafeMutableRawBufferPointer.allocate(byteCount: entry.largestFrameRawBytes, alignment: 64)
        defer { staging.deallocate() }
        for k in entry.frames.indices {
            let frame = entry.frames[k]
            let part = UnsafeMutableRawBufferPointer(rebasing: staging[0..<frame.rawBytes])
            try readFrame(entry, k, into: part, keepingLayout: keepingLayout)
            try eachFrame(k, UnsafeRawBufferPointer(part))
            let (scales, quants) = scheme.byteRanges(ofRows: frame.rows, rows: rows, columns: columns)
            UnsafeMutableRawBufferPointer(rebasing: destination[scales]).copyMemory(from: UnsafeRawBufferPointer(rebasing: part[0..<scales.count]))
            UnsafeMutableRawBufferPointer(rebasing: destination[quants]).copyMemory(from: UnsafeRawBufferPointer(rebasing: part[scales.count...]))
        }
    }

    /// Decompresses frame `k` of a row-framed entry (`entry.frames[k]`): the payload of its rows alone, their scales then
    /// their quants (formats/GQZ.md §4), into `destination` (exactly the frame's `rawBytes` long); row-major unless
    /// `keepingLayout` (a panels16 entry's frame is in panels by itself).
    public func readFrame(_ entry: GQZEntry, _ k: Int, into destination: UnsafeMutableRawBufferPointer, keepingLayout: Bool = false) throws {
        let frame = entry.frames[k]
        precondition(destination.count == frame.rawBytes)
        try decompressFrame(at: frame.offset, storedBytes: frame.storedBytes, into: destination, tensor: entry.name)
        if entry.layout == .panels16 && !keepingLayout, let scheme = entry.weightScheme {
            PanelLayout.unpack(destination, rows: frame.rows.count, columns: entry.rowsAndColumns.columns, scheme: scheme)
        }
    }

    /// Decompresses the zstd frame of `storedBytes` at `offset` into `destination`, which it must fill exactly.
    private func decompressFrame(at frameOffset: Int, storedBytes: Int, into destination: UnsafeMutableRawBufferPointer, tensor: String) throws {
        do {
            switch source {
            case .memory:
                let frame = try Self.read(source: source, path: path, offset: frameOffset, count: storedBytes)
                try ZstdFrame.requireChecksummedHeader(frame[...])
                try ZstdFrame.decompress(frame, into: destination)
            case .file:
                // From the file a megabyte at a time: never the whole compressed tensor beside its decompressed bytes.
                try ZstdFrame.decompress(frameBytes: storedBytes, read: { offset, buffer in
                    try Self.read(source: source, path: path, offset: frameOffset + offset, into: buffer)
                }, into: destination)
            }
        } catch let failure as ZstdFrame.Failure {
            throw GQZError.corruptPayload(path: path, tensor: tensor, reason: failure.description)
        } catch GQZError.corruptPreamble(_, let reason) {
            // The index was checked against the file's size when it was opened: a read past the end now means the
            // file changed under us (a streamed run re-reads every block on every pass).
            throw GQZError.corruptPayload(path: path, tensor: tensor, reason: "\(reason); the file is shorter than when it was opened (truncated or replaced while in use?)")
        }
    }

    /// Reads every payload and checks it twice, by its zstd checksum and by the index's CRC-32 (which also ties
    /// the entry to its frame: an index pointing at another tensor's frame of the same size fails only here);
    /// returns the first problem found per tensor (empty when the file is sound).
    public func verify() -> [GQZError] {
        var problems: [GQZError] = []
        for entry in entries {
            do {
                // Each frame's CRC-32 as it is read, then the whole payload's: every byte decompressed once.
                func checkFrame(_ k: Int, _ part: UnsafeRawBufferPointer) throws {
                    let frame = entry.frames[k], crc = CRC32.checksum(part)
                    guard crc == frame.crc32 else {
                        throw GQZError.corruptPayload(path: path, tensor: entry.name, reason: "frame \(k) (rows \(frame.rows.lowerBound)..<\(frame.rows.upperBound)): "
                                                      + "CRC-32 is \(String(crc, radix: 16)), the index says \(String(frame.crc32, radix: 16))")
                    }
                }
                var buffer = [UInt8](repeating: 0, count: entry.rawBytes)
                try buffer.withUnsafeMutableBytes { destination in
                    if let scheme = entry.weightScheme, !entry.frames.isEmpty {
                        try readFrames(entry, scheme: scheme, into: destination, keepingLayout: true, eachFrame: checkFrame)
                    } else {
                        try readPayload(entry, into: destination, keepingLayout: true)
                    }
                }
                let crc = CRC32.checksum(buffer)
                guard crc == entry.crc32 else {
                    throw GQZError.corruptPayload(path: path, tensor: entry.name,
                                                  reason: "CRC-32 is \(String(crc, radix: 16)), the index says \(String(entry.crc32, radix: 16))")
                }
            } catch let error as GQZError {
                problems.append(error)
            } catch {
                problems.append(.corruptPayload(path: path, tensor: entry.name, reason: "\(error)"))
            }
        }
        return problems
    }

    // MARK: Reading the index

    /// The error for a file without the .gqz magic: one that says what to do when the file is another model format.
    private static func notGQZError(_ prefix: [UInt8], path: String) -> GQZError {
        guard let foreign = ForeignModelFormat(prefix: prefix) else { return .notGQZ(path: path) }
        return .foreignFormat(path: path, format: foreign.name, advice: foreign.advice)
    }

    private static func readIndex(source: ByteSource, path: String, fileSize: Int) throws -> (UInt32, [GQZEntry], JSONValue, [String]) {
        guard fileSize >= GQZFormat.preambleSize else {
            if fileSize >= 8, try read(source: source, path: path, offset: 0, count: 8) != GQZFormat.magic {
                throw notGQZError(try read(source: source, path: path, offset: 0, count: min(fileSize, 64)), path: path)
            }
            throw GQZError.corruptPreamble(path: path, reason: "file is \(fileSize) bytes, shorter than the \(GQZFormat.preambleSize)-byte preamble")
        }
        let preamble = try read(source: source, path: path, offset: 0, count: GQZFormat.preambleSize)
        guard Array(preamble[0..<8]) == GQZFormat.magic else { throw notGQZError(preamble, path: path) }
        func integer<T: FixedWidthInteger>(_ offset: Int, _: T.Type) -> T {
            preamble.withUnsafeBytes { T(littleEndian: $0.loadUnaligned(fromByteOffset: offset, as: T.self)) }
        }
        let version = integer(8, UInt32.self)
        guard version >= 1 else { throw GQZError.corruptPreamble(path: path, reason: "format version 0 does not exist") }
        guard version <= GQZFormat.version else { throw GQZError.unsupportedVersion(path: path, version: version, supported: GQZFormat.version) }
        let indexOffset = integer(16, UInt64.self), indexStored = integer(24, UInt64.self), indexRaw = integer(32, UInt64.self)
        guard indexOffset >= UInt64(GQZFormat.preambleSize), indexOffset <= UInt64(fileSize),
              indexStored > 0, indexStored <= UInt64(fileSize) - indexOffset else {
            throw GQZError.corruptPreamble(path: path, reason: "index at byte \(indexOffset), \(indexStored) bytes long, does not fit in the \(fileSize)-byte file (truncated?)")
        }
        guard indexStored <= UInt64(GQZFormat.maximumIndexBytes), indexRaw > 0, indexRaw <= UInt64(GQZFormat.maximumIndexBytes) else {
            throw GQZError.corruptPreamble(path: path, reason: "index sizes \(indexStored) / \(indexRaw) bytes are out of range")
        }
        let frame = try read(source: source, path: path, offset: Int(indexOffset), count: Int(indexStored))
        let json: [UInt8]
        do {
            try ZstdFrame.requireChecksummedHeader(frame[...])
            json = try ZstdFrame.decompress(frame, expectedSize: Int(indexRaw))
        } catch let failure as ZstdFrame.Failure {
            throw GQZError.corruptIndex(path: path, reason: failure.description)
        }
        let index: GQZIndex<JSONValue>
        do { index = try JSONDecoder().decode(GQZIndex<JSONValue>.self, from: Data(json)) } catch let problem as GQZIndexProblem {
            switch problem {
            case .corrupt(let reason): throw GQZError.corruptIndex(path: path, reason: reason)
            case .versionNotAnInteger(let found):
                throw GQZError.corruptIndex(path: path, reason: "version \(found.map { "\($0)" } ?? "missing") disagrees with the preamble's \(version)")
            case .invalidEntry(let tensor, let reason): throw GQZError.invalidEntry(path: path, tensor: tensor, reason: reason)
            }
        } catch {
            throw GQZError.corruptIndex(path: path, reason: "not a JSON object")   // not JSON at all
        }
        guard index.version == Int(version) else {
            throw GQZError.corruptIndex(path: path, reason: "version \(index.version) disagrees with the preamble's \(version)")
        }
        let unknown = index.requiredFeatures.filter { !GQZFormat.knownFeatures.contains($0) }
        if !unknown.isEmpty { throw GQZError.unsupportedFeatures(path: path, features: unknown) }

        var names = Set<String>()
        let payloadEnd = Int(indexOffset)
        for entry in index.tensors {
            let (offset, stored) = (entry.offset, entry.storedBytes)
            guard offset >= GQZFormat.preambleSize, stored > 0, offset <= payloadEnd, stored <= payloadEnd - offset else {
                throw GQZError.invalidEntry(path: path, tensor: entry.name, reason: "bytes \(offset)..<\(offset + stored) are outside "
                                            + "the payload area \(GQZFormat.preambleSize)..<\(payloadEnd)")
            }
            // A row-framed entry's frames each carry their own header and checksum: each is checked against its own bound below.
            guard !entry.frames.isEmpty || stored <= ZstdFrame.compressBound(entry.rawBytes) else {
                throw GQZError.invalidEntry(path: path, tensor: entry.name,
                                            reason: "stored_bytes \(stored) is larger than zstd can produce for \(entry.rawBytes) bytes")
            }
            if entry.needsVersion2 && version < GQZFormat.rowFramesVersion {
                let what = entry.frames.isEmpty ? "in the panels16 layout, which needs" : "in row frames, which need"
                throw GQZError.invalidEntry(path: path, tensor: entry.name,
                                            reason: "it is stored \(what) format version \(GQZFormat.rowFramesVersion); the file is version \(version)")
            }
            if let frame = entry.frames.first(where: { $0.storedBytes > ZstdFrame.compressBound($0.rawBytes) }) {
                throw GQZError.invalidEntry(path: path, tensor: entry.name, reason: "the frame of rows \(frame.rows.lowerBound)..<\(frame.rows.upperBound) "
                                            + "has stored_bytes \(frame.storedBytes), larger than zstd can produce for \(frame.rawBytes) bytes")
            }
            guard names.insert(entry.name).inserted else {
                throw GQZError.invalidEntry(path: path, tensor: entry.name, reason: "the name appears twice")
            }
        }
        let ordered = index.tensors.sorted { $0.offset < $1.offset }
        for (previous, next) in zip(ordered, ordered.dropFirst()) where next.offset < previous.offset + previous.storedBytes {
            throw GQZError.invalidEntry(path: path, tensor: next.name, reason: "its bytes overlap those of \(previous.name)")
        }
        return (version, index.tensors, index.metadata, index.requiredFeatures)
    }

    /// Fills `buffer` with the file's bytes from `offset`.
    private static func read(source: ByteSource, path: String, offset: Int, into buffer: UnsafeMutableRawBufferPointer) throws {
        guard case .file(let descriptor) = source else {
            let bytes = try read(source: source, path: path, offset: offset, count: buffer.count)
            buffer.copyBytes(from: bytes)
            return
        }
        var done = 0
        while done < buffer.count {
            let got = pread(descriptor, buffer.baseAddress! + done, buffer.count - done, off_t(offset + done))
            if got < 0 { throw GQZError.unreadable(path: path, reason: String(cString: strerror(errno))) }
            if got == 0 { throw GQZError.corruptPreamble(path: path, reason: "file ends at byte \(offset + done), expected \(buffer.count - done) more bytes") }
            done += got
        }
    }

    /// Gives back the whole pages inside `count` bytes from `start` of a clean read-only file mapping: they leave the
    /// resident set and are mapped again from the page cache when next read. Pages only partly inside are kept.
    private static func releasePages(from start: UnsafeRawPointer, count: Int) {
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let first = (Int(bitPattern: start) + page - 1) / page * page
        let end = (Int(bitPattern: start) + count) / page * page
        guard end > first, let address = UnsafeMutableRawPointer(bitPattern: first) else { return }
        _ = madvise(address, end - first, Int32(MADV_DONTNEED))   // advice: a failure only leaves the pages resident
    }

    private static func read(source: ByteSource, path: String, offset: Int, count: Int) throws -> [UInt8] {
        let descriptor: Int32
        switch source {
        case .memory(let memory, let mappedFromFile):
            guard offset >= 0, count >= 0, offset <= memory.count, count <= memory.count - offset else {
                throw GQZError.corruptPreamble(path: path, reason: "bytes \(offset)..<\(offset + count) are past the end (\(memory.count) bytes)")
            }
            let bytes = Array(UnsafeRawBufferPointer(rebasing: memory[offset..<(offset + count)]))
            if mappedFromFile, let base = memory.baseAddress { releasePages(from: base + offset, count: count) }
            return bytes
        case .file(let file):
            descriptor = file
        }
        var bytes = [UInt8](repeating: 0, count: count)
        var done = 0
        while done < count {
            let got = bytes.withUnsafeMutableBytes { pread(descriptor, $0.baseAddress! + done, count - done, off_t(offset + done)) }
            if got < 0 { throw GQZError.unreadable(path: path, reason: String(cString: strerror(errno))) }
            if got == 0 { throw GQZError.corruptPreamble(path: path, reason: "file ends at byte \(offset + done), expected \(count - done) more bytes") }
            done += got
        }
        return bytes
    }
}
