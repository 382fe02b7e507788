import WeightFormat
import Foundation
import Testing
import TestSupport
@testable import GQZ
@testable import Quantization

/// Row frames (formats/GQZ.md §4, version 2): an entry stored as runs of rows, each frame the payload of its rows
/// alone, put back together by `readPayload` and read one by one by `readFrame`.
@Suite struct RowFramesTests {
    static let specs: [(name: String, shape: [Int], scheme: WeightScheme, frameRows: Int)] = [
        ("q8", [37, 40], .int8(groupSize: 32), 8),      // a partial last frame and a partial last group
        ("q4", [5, 64], .int4(groupSize: 64), 2),
        ("f32", [9, 3], .float32, 4),
        ("small", [3, 32], .int8(groupSize: 32), 3),    // no more rows than a frame: stored as one frame
        ("one-row frames", [40, 32], .int8(groupSize: 32), 1),   // 40 frames: together more than zstd's bound for one
    ]

    static func payload(_ index: Int, rows: Int, columns: Int, scheme: WeightScheme) -> [UInt8] {
        TensorQuantizer.quantize(rows: rows, columns: columns, scheme: scheme) { r, out in
            for c in 0..<columns { out[c] = sin(Float(index * 1000 + r * columns + c)) * Float(1 + r % 3) }
        }
    }

    static func writeSample(to url: URL) throws -> [String: [UInt8]] {
        let writer = try GQZWriter(destination: url)
        var payloads: [String: [UInt8]] = [:]
        for (index, spec) in specs.enumerated() {
            let payload = payload(index, rows: spec.shape[0], columns: spec.shape[1], scheme: spec.scheme)
            try writer.add(name: spec.name, shape: spec.shape, scheme: spec.scheme.name, groupSize: spec.scheme.groupSize,
                           payload: payload, frameRows: spec.frameRows)
            payloads[spec.name] = payload
        }
        try writer.finish(metadata: ["model": ["architecture": "test"]] as JSONValue)
        return payloads
    }

    /// What opening `bytes` says once its index's first entry is edited (and, given `version`, the index's and the
    /// preamble's version set to it): the error, or "opened".
    static func openErrorWithFirstEntry(of bytes: [UInt8], edited edit: @escaping (inout [String: Any]) -> Void, version: Int?,
                                        at probe: URL) throws -> String {
        var changed = try GQZFileTests.rewriteIndex(of: bytes) { index in
            var tensors = index["tensors"] as! [[String: Any]]
            edit(&tensors[0])
            index["tensors"] = tensors
            if let version { index["version"] = version }
        }
        if let version { changed[8] = UInt8(version) }
        return GQZFileTests.openError(changed, at: probe).map { "\($0)" } ?? "opened"
    }

    @Test func framesHoldTheirRowsAloneAndPutTogetherGiveThePayload() throws {
        let folder = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: folder) }
        let url = folder.appendingPathComponent("framed.gqz")
        let payloads = try Self.writeSample(to: url)
        let file = try GQZFile(path: url.path)
        #expect(file.version == 2)
        for (index, spec) in Self.specs.enumerated() {
            let entry = try file.entry(spec.name)
            #expect(try file.payload(spec.name) == payloads[spec.name], "\(spec.name)")
            guard spec.shape[0] > spec.frameRows else {
                #expect(entry.frames.isEmpty && entry.frameRows == nil)
                continue
            }
            #expect(entry.frameRows == spec.frameRows && entry.frames.count == (spec.shape[0] + spec.frameRows - 1) / spec.frameRows)
            #expect(entry.frames.map(\.storedBytes).reduce(0, +) == entry.storedBytes)
            for (k, frame) in entry.frames.enumerated() {
                var bytes = [UInt8](repeating: 0, count: frame.rawBytes)
                try bytes.withUnsafeMutableBytes { try file.readFrame(entry, k, into: $0) }
                // The frame is exactly what quantizing its rows by themselves gives (each row's scales are its own).
                let alone = TensorQuantizer.quantize(rows: frame.rows.count, columns: spec.shape[1], scheme: spec.scheme) { r, out in
                    for c in 0..<spec.shape[1] { out[c] = sin(Float(index * 1000 + (frame.rows.lowerBound + r) * spec.shape[1] + c)) * Float(1 + (frame.rows.lowerBound + r) % 3) }
                }
                #expect(bytes == alone, "\(spec.name) frame \(k)")
            }
        }
        #expect(file.verify().isEmpty)
    }

    /// The panel layout: stored in panels (each frame by itself), given back row-major unless the layout is kept, and
    /// kept it is the same bytes `PanelLayout.pack` gives the whole matrix.
    @Test func panelsAreStoredAsPackedAndReadBackRowMajor() throws {
        let folder = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: folder) }
        let url = folder.appendingPathComponent("panels.gqz")
        let writer = try GQZWriter(destination: url)
        let scheme = WeightScheme.int4(groupSize: 32), rows = 70, columns = 64
        let payload = Self.payload(9, rows: rows, columns: columns, scheme: scheme)
        try writer.add(name: "framed", shape: [rows, columns], scheme: "q4", groupSize: 32, payload: payload, frameRows: 32, layout: .panels16)
        try writer.add(name: "whole", shape: [rows, columns], scheme: "q4", groupSize: 32, payload: payload, layout: .panels16)
        try writer.finish(metadata: [:] as JSONValue)
        let file = try GQZFile(path: url.path)
        #expect(file.version == 2 && file.verify().isEmpty)
        var packed = payload
        packed.withUnsafeMutableBytes { PanelLayout.pack($0, rows: rows, columns: columns, scheme: scheme) }
        for name in ["framed", "whole"] {
            let entry = try file.entry(name)
            #expect(entry.layout == .panels16)
            #expect(try file.payload(name) == payload, "\(name)")
            var kept = [UInt8](repeating: 0, count: entry.rawBytes)
            try kept.withUnsafeMutableBytes { try file.readPayload(entry, into: $0, keepingLayout: true) }
            #expect(kept == packed, "\(name)")
        }
        // A frame by itself: rows 32..<64 packed as a matrix of their own.
        let framed = try file.entry("framed")
        var frame = [UInt8](repeating: 0, count: framed.frames[1].rawBytes)
        try frame.withUnsafeMutableBytes { try file.readFrame(framed, 1, into: $0, keepingLayout: true) }
        let (scales, quants) = scheme.byteRanges(ofRows: 32..<64, rows: rows, columns: columns)
        var alone = Array(payload[scales]) + Array(payload[quants])
        alone.withUnsafeMutableBytes { PanelLayout.pack($0, rows: 32, columns: columns, scheme: scheme) }
        #expect(frame == alone)
        // Refused: the layout in a version-1 file, on a float tensor, with frames that do not start at whole panels, unknown.
        let bytes = Array(try Data(contentsOf: url))
        func edited(_ edit: @escaping (inout [String: Any]) -> Void, version: Int? = nil) throws -> String {
            try Self.openErrorWithFirstEntry(of: bytes, edited: edit, version: version, at: folder.appendingPathComponent("p.gqz"))
        }
        #expect(try edited({ _ in }) == "opened")
        #expect(try edited({ _ in }, version: 1).contains("framed"))
        #expect(try edited({ $0["layout"] = "tiles" }).contains("layout \"tiles\" is not one of"))
        #expect(try edited({ $0["frame_rows"] = 24; $0["frames"] = Array(($0["frames"] as! [Any]).prefix(3)) })
            .contains("frame_rows must be a multiple of 16"))
        let whole = try GQZFileTests.rewriteIndex(of: bytes) { index in
            var tensors = index["tensors"] as! [[String: Any]]
            tensors.removeFirst()
            index["tensors"] = tensors
            index["version"] = 1
        }
        var v1 = whole
        v1[8] = 1
        #expect(GQZFileTests.openError(v1, at: folder.appendingPathComponent("p.gqz")).map { "\($0)" }?.contains("in the panels16 layout, which needs format version 2") == true)
    }

    @Test func aFileWithoutFramesIsVersionOne() throws {
        let folder = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: folder) }
        let url = folder.appendingPathComponent("plain.gqz")
        _ = try GQZFileTests.writeSample(to: url)
        let bytes = Array(try Data(contentsOf: url))
        let file = try GQZFile(path: url.path)
        #expect(bytes[8] == 1 && file.version == 1)
    }

    /// Indexes a buggy or hostile writer might produce: each refused on open with the tensor named, never a trap.
    @Test func inconsistentFramesAreRefused() throws {
        let folder = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: folder) }
        let url = folder.appendingPathComponent("s.gqz"), probe = folder.appendingPathComponent("p.gqz")
        _ = try Self.writeSample(to: url)
        let bytes = Array(try Data(contentsOf: url))
        func edited(_ edit: @escaping (inout [String: Any]) -> Void, version: Int? = nil) throws -> String {
            try Self.openErrorWithFirstEntry(of: bytes, edited: edit, version: version, at: probe)
        }
        #expect(try edited({ _ in }, version: 1).contains("need format version 2; the file is version 1"))
        #expect(try edited({ $0["frame_rows"] = 0 }).contains("frame_rows is 0"))
        #expect(try edited({ $0["frame_rows"] = 16 }).contains("frames must list 3 frames"))
        #expect(try edited({ $0["frames"] = Array(($0["frames"] as! [Any]).dropLast()) }).contains("frames must list 5 frames"))
        #expect(try edited({ $0.removeValue(forKey: "frame_rows") }).contains("frame_rows is missing"))
        #expect(try edited({ entry in
            var frames = entry["frames"] as! [[String: Any]]
            frames[1]["stored_bytes"] = (frames[1]["stored_bytes"] as! Int) + 1
            entry["frames"] = frames
        }).contains("its frames hold more than its stored_bytes"))
        #expect(try edited({ entry in
            var frames = entry["frames"] as! [[String: Any]]
            frames[1]["stored_bytes"] = 0
            entry["frames"] = frames
        }).contains("frame 1 needs a stored_bytes above 0"))
        #expect(try edited({ entry in
            var frames = entry["frames"] as! [[String: Any]]
            frames[0]["stored_bytes"] = (frames[0]["stored_bytes"] as! Int) - 1
            frames[1]["stored_bytes"] = (frames[1]["stored_bytes"] as! Int) + 1
            entry["frames"] = frames
        }) == "opened")   // the split is wrong, but only decompressing the frames can tell (next test)
        #expect(try edited({ $0["shape"] = [37 * 40]; $0["scheme"] = "f32"; $0.removeValue(forKey: "group_size"); $0["raw_bytes"] = 37 * 40 * 4 })
            .contains("only a two-dimensional f32, q8 or q4 tensor can be stored in row frames"))
    }

    @Test func aDamagedFrameIsNamedByVerifyAndByReading() throws {
        let folder = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: folder) }
        let url = folder.appendingPathComponent("s.gqz")
        _ = try Self.writeSample(to: url)
        let entry = try GQZFile(path: url.path).entry("q8")
        // A frame's CRC-32 in the index that does not match its bytes: verify names the frame's rows.
        let bytes = Array(try Data(contentsOf: url))
        let wrongCRC = try GQZFileTests.rewriteIndex(of: bytes) { index in
            var tensors = index["tensors"] as! [[String: Any]]
            var frames = tensors[0]["frames"] as! [[String: Any]]
            frames[2]["crc32"] = ((frames[2]["crc32"] as! Int) + 1) % (1 << 32)
            tensors[0]["frames"] = frames
            index["tensors"] = tensors
        }
        try Data(wrongCRC).write(to: url)
        let problems = try GQZFile(path: url.path).verify()
        #expect(problems.count == 1 && "\(problems[0])".contains("q8") && "\(problems[0])".contains("frame 2 (rows 16..<24)"))
        // A damaged byte inside frame 3: reading that frame, or the whole payload, fails naming the tensor.
        var damaged = bytes
        damaged[entry.frames[3].offset + entry.frames[3].storedBytes / 2] ^= 0x5A
        try Data(damaged).write(to: url)
        let file = try GQZFile(path: url.path)
        var part = [UInt8](repeating: 0, count: entry.frames[3].rawBytes)
        #expect { try part.withUnsafeMutableBytes { try file.readFrame(entry, 3, into: $0) } } throws: { "\($0)".contains("q8") }
        #expect { _ = try file.payload("q8") } throws: { "\($0)".contains("q8") }
        var first = [UInt8](repeating: 0, count: entry.frames[0].rawBytes)
        try first.withUnsafeMutableBytes { try file.readFrame(entry, 0, into: $0) }   // the others still read
    }
}
