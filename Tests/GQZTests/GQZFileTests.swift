import WeightFormat
import Foundation
import Testing
import TestSupport
@testable import GQZ
@testable import Quantization

@Suite struct GQZFileTests {
    /// A small file: a q8 matrix with a partial group, a q4 matrix, a float vector and a bytes blob.
    static func writeSample(to url: URL) throws -> [String: [UInt8]] {
        let writer = try GQZWriter(destination: url)
        var payloads: [String: [UInt8]] = [:]
        let specs: [(String, [Int], WeightScheme)] = [("a", [5, 40], .int8(groupSize: 32)), ("b", [3, 64], .int4(groupSize: 64)),
                                                             ("c", [7], .float32)]
        for (index, (name, shape, scheme)) in specs.enumerated() {
            let rows = shape.count == 2 ? shape[0] : 1, columns = shape.last!
            let payload = TensorQuantizer.quantize(rows: rows, columns: columns, scheme: scheme) { r, out in
                for c in 0..<columns { out[c] = sin(Float(index * 1000 + r * columns + c)) }
            }
            try writer.add(name: name, shape: shape, scheme: scheme.name, groupSize: scheme.groupSize, payload: payload)
            payloads[name] = payload
        }
        let blob = Array("hello, tokenizer".utf8)
        try writer.add(name: "tokenizer/blob", shape: [blob.count], scheme: "bytes", groupSize: nil, payload: blob)
        payloads["tokenizer/blob"] = blob
        try writer.finish(metadata: ["model": ["architecture": "test"], "future_key": 1] as JSONValue)
        return payloads
    }

    @Test func roundTripsEveryPayloadAndTheMetadata() throws {
        let folder = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: folder) }
        let url = folder.appendingPathComponent("sample.gqz")
        let payloads = try Self.writeSample(to: url)
        #expect(try FileManager.default.contentsOfDirectory(atPath: folder.path) == ["sample.gqz"])   // no temporary left
        let file = try GQZFile(path: url.path)
        #expect(file.entries.map(\.name) == ["a", "b", "c", "tokenizer/blob"])
        for (name, payload) in payloads { #expect(try file.payload(name) == payload) }
        #expect(file.metadata["model"]?["architecture"] == "test")
        #expect(file.verify().isEmpty)
        #expect(throws: GQZError.missingTensor(path: url.path, tensor: "zzz")) { try file.payload("zzz") }
    }

    @Test func droppedWriterLeavesNothingBehind() throws {
        let folder = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: folder) }
        do {
            let writer = try GQZWriter(destination: folder.appendingPathComponent("x.gqz"))
            try writer.add(name: "a", shape: [2], scheme: "f32", groupSize: nil, payload: [UInt8](repeating: 0, count: 8))
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: folder.path).isEmpty)
        #expect(throws: GQZError.self) { try GQZWriter(destination: URL(fileURLWithPath: "/nonexistent-folder/x.gqz")) }
    }

    /// Rewrites the file with an edited index (the payloads unchanged), as a buggy or hostile writer might.
    static func rewriteIndex(of bytes: [UInt8], _ edit: (inout [String: Any]) -> Void) throws -> [UInt8] {
        let integer = { (offset: Int) in bytes.withUnsafeBytes { Int(UInt64(littleEndian: $0.loadUnaligned(fromByteOffset: offset, as: UInt64.self))) } }
        let indexOffset = integer(16), stored = integer(24), raw = integer(32)
        let json = try ZstdFrame.decompress(Array(bytes[indexOffset..<(indexOffset + stored)]), expectedSize: raw)
        var index = try JSONSerialization.jsonObject(with: Data(json)) as! [String: Any]
        edit(&index)
        let newJSON = Array(try JSONSerialization.data(withJSONObject: index))
        let frame = try ZstdFrame.compress(newJSON)
        var result = Array(bytes[..<indexOffset]) + frame
        result.withUnsafeMutableBytes { buffer in
            buffer.storeBytes(of: UInt64(frame.count).littleEndian, toByteOffset: 24, as: UInt64.self)
            buffer.storeBytes(of: UInt64(newJSON.count).littleEndian, toByteOffset: 32, as: UInt64.self)
        }
        return result
    }

    static func openError(_ bytes: [UInt8], at url: URL) -> GQZError? {
        try? Data(bytes).write(to: url)
        do { _ = try GQZFile(path: url.path); return nil } catch let error as GQZError { return error } catch {
            Issue.record("non-GQZ error \(error)"); return nil
        }
    }

    @Test func versionsFeaturesAndUnknownKeys() throws {
        let folder = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: folder) }
        let url = folder.appendingPathComponent("s.gqz"), probe = folder.appendingPathComponent("p.gqz")
        _ = try Self.writeSample(to: url)
        let bytes = Array(try Data(contentsOf: url))
        var newer = bytes
        newer[8] = 3
        #expect(Self.openError(newer, at: probe) == .unsupportedVersion(path: probe.path, version: 3, supported: 2))
        let featured = try Self.rewriteIndex(of: bytes) { $0["required_features"] = ["sparse-tensors"] }
        #expect(Self.openError(featured, at: probe) == .unsupportedFeatures(path: probe.path, features: ["sparse-tensors"]))
        // Unknown keys, at the top level and in entries, are ignored.
        let extended = try Self.rewriteIndex(of: bytes) { index in
            index["optional_thing"] = ["x": 1]
            var tensors = index["tensors"] as! [[String: Any]]
            tensors[0]["statistics"] = [1, 2, 3]
            index["tensors"] = tensors
        }
        #expect(Self.openError(extended, at: probe) == nil)
        #expect(Self.openError(Array("not a model at all, just text".utf8) + [UInt8](repeating: 0, count: 40), at: probe) == .notGQZ(path: probe.path))
    }

    /// Lengths in the index that would overflow when multiplied or added: refused by name, never a trap.
    @Test func overflowingLengthsInTheIndexAreRefused() throws {
        let folder = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: folder) }
        let url = folder.appendingPathComponent("s.gqz"), probe = folder.appendingPathComponent("p.gqz")
        _ = try Self.writeSample(to: url)
        let bytes = Array(try Data(contentsOf: url))
        func edited(_ key: String, _ value: Any) throws -> GQZError? {
            Self.openError(try Self.rewriteIndex(of: bytes) { index in
                var tensors = index["tensors"] as! [[String: Any]]
                tensors[0][key] = value
                index["tensors"] = tensors
            }, at: probe)
        }
        func reason(_ error: GQZError?) -> String { error.map { "\($0)" } ?? "opened" }
        // rows × columns past 2^40 elements (and past Int64 in bytes for a float scheme).
        #expect(reason(try edited("shape", [999_999_999, 999_999_999])).contains("is too large"))
        // Offsets and sizes just below the 9e15 limit: their sum still fits, and the entry is outside the file.
        #expect(reason(try edited("offset", 8_999_999_999_999_999)).contains("outside the payload area"))
        #expect(reason(try edited("stored_bytes", 8_999_999_999_999_999)).contains("outside the payload area"))
        // At or past the limit (and past Int64 itself): not a count at all.
        #expect(reason(try edited("raw_bytes", 9_223_372_036_854_775_807)).contains("not a non-negative integer"))
        #expect(reason(try edited("offset", 1e300)).contains("not a non-negative integer"))
    }

    @Test func checksumErrorNamesTheTensor() throws {
        let folder = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: folder) }
        let url = folder.appendingPathComponent("s.gqz")
        _ = try Self.writeSample(to: url)
        let file = try GQZFile(path: url.path)
        let b = try file.entry("b")
        // Same bytes of b, but the index claims another CRC: the payload decompresses, the CRC check names b.
        let edited = try Self.rewriteIndex(of: Array(try Data(contentsOf: url))) { index in
            var tensors = index["tensors"] as! [[String: Any]]
            tensors[1]["crc32"] = Int(b.crc32 ^ 1)
            index["tensors"] = tensors
        }
        try Data(edited).write(to: url)
        let problems = try GQZFile(path: url.path).verify()
        #expect(problems.count == 1)
        #expect(problems.first?.description.contains("tensor b is corrupt: CRC-32") == true, "\(problems)")
    }

    /// A payload's bytes are checked by its zstd frame on every read; the index's CRC-32 of the same bytes only by
    /// verify() (formats/GQZ.md §3): a CRC that disagrees does not stop a load.
    @Test func readingLeavesTheCRCToVerify() throws {
        let folder = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: folder) }
        let url = folder.appendingPathComponent("s.gqz")
        let payloads = try Self.writeSample(to: url)
        let edited = try Self.rewriteIndex(of: Array(try Data(contentsOf: url))) { index in
            var tensors = index["tensors"] as! [[String: Any]]
            tensors[0]["crc32"] = 1
            index["tensors"] = tensors
        }
        try Data(edited).write(to: url)
        let file = try GQZFile(path: url.path)
        #expect(try file.payload("a") == payloads["a"])
        #expect(file.verify().map(\.description) == ["\(url.path): tensor a is corrupt: CRC-32 is \(String(CRC32.checksum(payloads["a"]!), radix: 16)), the index says 1"])
    }

    /// Thousands of mutations of a valid file: byte flips, truncations, extensions, and edited index values.
    /// The reader must only ever throw a GQZError (never crash, never hand out a wrong payload silently).
    @Test func mutatedFilesOnlyEverThrow() throws {
        let folder = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: folder) }
        let url = folder.appendingPathComponent("s.gqz"), probe = folder.appendingPathComponent("m.gqz")
        let payloads = try Self.writeSample(to: url)
        let original = Array(try Data(contentsOf: url))
        var state: UInt64 = 0x5EED
        func random(_ bound: Int) -> Int {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return Int((state >> 33) % UInt64(bound))
        }
        var outcomes = [String: Int]()
        func check(_ bytes: [UInt8], _ kind: String) throws {
            try Data(bytes).write(to: probe)
            do {
                let file = try GQZFile(path: probe.path)
                // Opened: every payload must either fail verification or equal the original.
                for entry in file.entries {
                    do {
                        let payload = try file.payload(entry.name)
                        if let expected = payloads[entry.name] { #expect(payload == expected || entry.rawBytes != expected.count, "\(kind): \(entry.name) decoded to different bytes") }
                    } catch is GQZError { outcomes[kind + ": payload error", default: 0] += 1 }
                }
                outcomes[kind + ": opened", default: 0] += 1
            } catch let error as GQZError {
                #expect(!error.description.isEmpty)
                outcomes[kind + ": refused", default: 0] += 1
            }
        }
        let integerKeys = ["offset", "stored_bytes", "raw_bytes", "crc32", "group_size"]
        let hostileValues: [Any] = [-1, 0, 1, 3, 40, 1 << 40, Int.max, 2.5, "7", NSNull(), [1], true]
        for iteration in 0..<2500 {
            var bytes = original
            switch iteration % 5 {
            case 0, 1:
                for _ in 0..<(1 + random(4)) { bytes[random(bytes.count)] ^= UInt8(1 << random(8)) }
                try check(bytes, "flip")
            case 2:
                try check(Array(bytes[..<random(bytes.count)]), "truncate")
            case 3:
                try check(bytes + (0..<(1 + random(64))).map { _ in UInt8(random(256)) }, "extend")
            default:
                let edited = try Self.rewriteIndex(of: bytes) { index in
                    var tensors = index["tensors"] as! [[String: Any]]
                    let i = random(tensors.count), j = random(tensors.count)
                    switch random(4) {
                    case 0:   // swap a value between two entries
                        let key = (integerKeys + ["shape", "scheme", "name"])[random(8)]
                        (tensors[i][key], tensors[j][key]) = (tensors[j][key], tensors[i][key])
                    case 1:
                        tensors[i][integerKeys[random(integerKeys.count)]] = hostileValues[random(hostileValues.count)]
                    case 2:
                        tensors[i]["shape"] = [[random(9)], [random(9), random(70)], [], [1, 2, 3], [-4, 2]][random(5)]
                    default:
                        tensors[i]["scheme"] = ["q8", "q4", "f32", "bytes", "q3", ""][random(6)]
                    }
                    index["tensors"] = tensors
                }
                try check(edited, "index")
            }
        }
        #expect((outcomes["flip: refused"] ?? 0) + (outcomes["flip: payload error"] ?? 0) > 100)
        #expect((outcomes["index: refused"] ?? 0) > 100)
    }
}

@Suite struct InMemoryGQZTests {
    @Test func memoryImageReadsLikeTheFile() throws {
        let url = Fixtures.repositoryRoot.appendingPathComponent("formats/example.gqz")
        let data = try Data(contentsOf: url)
        // The image must outlive the reader, as a linked-in model does: allocate it for the process.
        let image = UnsafeMutableRawBufferPointer.allocate(byteCount: data.count, alignment: 64)
        data.copyBytes(to: image)
        let fromMemory = try GQZFile(staticBytes: UnsafeRawBufferPointer(image), name: "<memory>")
        let fromFile = try GQZFile(path: url.path)
        #expect(fromMemory.entries == fromFile.entries)
        for entry in fromFile.entries { #expect(try fromMemory.payload(entry.name) == fromFile.payload(entry.name)) }
        #expect(fromMemory.verify().isEmpty)
        // A truncated image is refused, naming it.
        #expect(throws: GQZError.self) { try GQZFile(staticBytes: UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer(image)[0..<100]), name: "<cut>") }
    }
}

#if os(Linux)
@Suite struct MappedImageTests {
    /// Resident kilobytes of the mapping that starts at `address` (its `Rss:` line in /proc/self/smaps).
    static func residentKilobytes(ofMappingAt address: UnsafeRawPointer) throws -> Int {
        guard let handle = FileHandle(forReadingAtPath: "/proc/self/smaps"), let data = try handle.readToEnd() else {
            throw GQZError.unreadable(path: "/proc/self/smaps", reason: "cannot open it")
        }
        let lines = String(decoding: data, as: UTF8.self).split(separator: "\n")
        let target = UInt(bitPattern: address)
        func contains(_ line: Substring) -> Bool {
            let range = line.prefix { $0 != " " }.split(separator: "-")
            guard range.count == 2, let low = UInt(range[0], radix: 16), let high = UInt(range[1], radix: 16) else { return false }
            return low <= target && target < high
        }
        guard let header = lines.firstIndex(where: contains),
              let rss = lines[header...].first(where: { $0.hasPrefix("Rss:") })
        else { throw GQZError.unreadable(path: "/proc/self/smaps", reason: "no mapping holds \(String(target, radix: 16))") }
        return Int(rss.split(separator: " ", omittingEmptySubsequences: true)[1])!
    }

    /// The built-in model's file mapped read-only, as the program's .rodata holds it: read with its pages handed back,
    /// every payload is still the file's (twice: the second time from pages mapped again), and the mapping keeps far
    /// fewer pages resident than the same reads without handing them back.
    @Test func pagesHandedBackReadAgainAsTheFile() throws {
        let path = Fixtures.repositoryRoot.appendingPathComponent("Sources/CDefaultModel/default.gqz").path
        let fromFile = try GQZFile(path: path)
        var resident: [Bool: Int] = [:]
        for handsBack in [false, true] {
            let descriptor = open(path, O_RDONLY)
            #expect(descriptor >= 0)
            defer { close(descriptor) }
            let size = fromFile.fileSize
            guard let mapping = mmap(nil, size, PROT_READ, MAP_PRIVATE, descriptor, 0), mapping != MAP_FAILED else {
                Issue.record("mmap failed: \(String(cString: strerror(errno)))"); return
            }
            defer { munmap(mapping, size) }
            let image = try GQZFile(staticBytes: UnsafeRawBufferPointer(start: mapping, count: size), name: "<mapped>", mappedFromFile: handsBack)
            for _ in 0..<2 {
                for entry in fromFile.entries { #expect(try image.payload(entry.name) == fromFile.payload(entry.name), "\(entry.name)") }
            }
            resident[handsBack] = try Self.residentKilobytes(ofMappingAt: mapping)
        }
        let kept = resident[false]!, handedBack = resident[true]!
        #expect(kept > fromFile.fileSize / 1024 / 2, "without handing back, \(kept) KiB of \(fromFile.fileSize / 1024) stay resident")
        #expect(handedBack < kept / 2, "handing back kept \(handedBack) KiB resident, against \(kept) KiB without")
    }
}
#endif

@Suite struct GQZIndexTests {
    /// The index's exact text: compact, keys sorted, slashes escaped, floats as before (files written by earlier
    /// versions, which used JSONSerialization, are byte for byte what this writer writes).
    @Test func indexTextIsStable() throws {
        let folder = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: folder) }
        let url = folder.appendingPathComponent("s.gqz")
        let writer = try GQZWriter(destination: url)
        try writer.add(name: "tokenizer/x", shape: [2], scheme: "bytes", groupSize: nil, payload: [1, 2])
        try writer.add(name: "v", shape: [1, 32], scheme: "q8", groupSize: 32, payload: [UInt8](repeating: 0, count: 34))
        try writer.finish(metadata: ["model": ["config": ["layer_norm_epsilon": 1e-05, "n_embd": 768, "scale_attn_weights": true]],
                                     "quantization": ["channel_scaling": "alpha per matrix [0.25, 0.5]"]] as JSONValue)
        let bytes = Array(try Data(contentsOf: url))
        let integer = { (offset: Int) in bytes.withUnsafeBytes { Int(UInt64(littleEndian: $0.loadUnaligned(fromByteOffset: offset, as: UInt64.self))) } }
        let json = try ZstdFrame.decompress(Array(bytes[integer(16)..<(integer(16) + integer(24))]), expectedSize: integer(32))
        let file = try GQZFile(path: url.path)
        let (x, v) = (try file.entry("tokenizer/x"), try file.entry("v"))
        #expect(String(decoding: json, as: UTF8.self) == #"{"format":"gqz","metadata":{"model":{"config":{"layer_norm_epsilon":1e-05,"#
                + #""n_embd":768,"scale_attn_weights":true}},"quantization":{"channel_scaling":"alpha per matrix [0.25, 0.5]"}},"#
                + #""required_features":[],"tensors":[{"crc32":\#(x.crc32),"name":"tokenizer\/x","offset":40,"raw_bytes":2,"scheme":"bytes","#
                + #""shape":[2],"stored_bytes":\#(x.storedBytes)},{"crc32":\#(v.crc32),"group_size":32,"name":"v","offset":\#(v.offset),"#
                + #""raw_bytes":34,"scheme":"q8","shape":[1,32],"stored_bytes":\#(v.storedBytes)}],"version":1}"#)
        // What the writer wrote when it used JSONSerialization.
        #expect(Array(try JSONSerialization.data(withJSONObject: JSONSerialization.jsonObject(with: Data(json)), options: [.sortedKeys])) == json)
    }

    @Test func jsonValuesKeepTheirType() throws {
        let text = #"{"a": 1, "b": 1.5, "c": true, "d": null, "e": "x", "f": [1, "y"], "g": {"h": 2}, "i": 1e-05}"#
        let value = try JSONDecoder().decode(JSONValue.self, from: Data(text.utf8))
        #expect(value == ["a": .integer(1), "b": .number(1.5), "c": .bool(true), "d": .null, "e": "x", "f": [1, "y"], "g": ["h": 2], "i": 1e-05])
        #expect(value["g"]?["h"] == 2 && value["z"] == nil && value["a"]?["h"] == nil)
        #expect(try value.decode(JSONValue.self) == value)
        #expect("\(value["f"]!)" == "[1, y]" && "\(value["d"]!)" == "null" && "\(value["i"]!)" == "1e-05")
    }
}
