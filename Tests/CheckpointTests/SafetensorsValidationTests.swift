import Foundation
import Testing
import TestSupport
@testable import Checkpoint

/// Bad files must give an error that names the file and the problem, before any tensor is touched.
@Suite struct SafetensorsValidationTests {
    /// Writes a safetensors file from a header object and a data section.
    static func write(header: [String: Any], data: [UInt8], to url: URL, declaredLength: UInt64? = nil, rawHeader: String? = nil) throws {
        var json = try rawHeader.map { Array($0.utf8) } ?? Array(JSONSerialization.data(withJSONObject: header))
        while json.count % 8 != 0 { json.append(0x20) }
        var bytes: [UInt8] = []
        withUnsafeBytes(of: (declaredLength ?? UInt64(json.count)).littleEndian) { bytes += $0 }
        bytes += json + data
        try Data(bytes).write(to: url)
    }

    static func expectInvalid(_ url: URL, containing fragment: String, sourceLocation: SourceLocation = #_sourceLocation) {
        do {
            _ = try SafetensorsFile(path: url.path)
            Issue.record("expected \(url.lastPathComponent) to be rejected", sourceLocation: sourceLocation)
        } catch let error as CheckpointError {
            let message = error.description
            #expect(message.contains(url.path), "message must name the file: \(message)", sourceLocation: sourceLocation)
            #expect(message.contains(fragment), "message must say '\(fragment)': \(message)", sourceLocation: sourceLocation)
        } catch {
            Issue.record("unexpected error type \(error)", sourceLocation: sourceLocation)
        }
    }

    let directory = try! Fixtures.temporaryDirectory()

    func url(_ name: String) -> URL { directory.appendingPathComponent(name) }

    nonisolated(unsafe) static let validHeader: [String: Any] = [   // never mutated
        "a": ["dtype": "F32", "shape": [2, 3], "data_offsets": [0, 24]],
        "b": ["dtype": "F16", "shape": [4], "data_offsets": [24, 32]],
        "__metadata__": ["format": "pt"],
    ]

    @Test func validFileReadsBack() throws {
        var data: [UInt8] = []
        for value: Float in [1, 2, 3, 4, 5, 6] { withUnsafeBytes(of: value.bitPattern.littleEndian) { data += $0 } }
        for half: UInt16 in [0x3C00, 0xC000, 0x0000, 0x7BFF] { withUnsafeBytes(of: half.littleEndian) { data += $0 } }  // 1, -2, 0, 65504
        try Self.write(header: Self.validHeader, data: data, to: url("ok.safetensors"))
        let file = try SafetensorsFile(path: url("ok.safetensors").path)
        #expect(try file.floats("a") == [1, 2, 3, 4, 5, 6])
        #expect(try file.floats("b") == [1, -2, 0, 65504])
        #expect(file.metadata == ["format": "pt"])
        #expect(throws: CheckpointError.missingTensor(name: "c", path: url("ok.safetensors").path)) { try file.floats("c") }
    }

    @Test func truncatedDataIsRejected() throws {
        try Self.write(header: Self.validHeader, data: [UInt8](repeating: 0, count: 20), to: url("truncated.safetensors"))
        Self.expectInvalid(url("truncated.safetensors"), containing: "truncated")
    }

    @Test func fileShorterThanTheLengthField() throws {
        try Data([1, 2, 3]).write(to: url("tiny.safetensors"))
        Self.expectInvalid(url("tiny.safetensors"), containing: "shorter than the 8-byte header length")
    }

    @Test func headerLengthBeyondTheFile() throws {
        try Self.write(header: Self.validHeader, data: [UInt8](repeating: 0, count: 32), to: url("long.safetensors"), declaredLength: 1_000_000)
        Self.expectInvalid(url("long.safetensors"), containing: "runs past the end of the file")
        try Self.write(header: Self.validHeader, data: [], to: url("huge.safetensors"), declaredLength: UInt64.max)
        Self.expectInvalid(url("huge.safetensors"), containing: "exceeds")
    }

    @Test func overlappingSpansAreRejected() throws {
        let header: [String: Any] = ["a": ["dtype": "F32", "shape": [4], "data_offsets": [0, 16]],
                                     "b": ["dtype": "F32", "shape": [4], "data_offsets": [8, 24]]]
        try Self.write(header: header, data: [UInt8](repeating: 0, count: 24), to: url("overlap.safetensors"))
        Self.expectInvalid(url("overlap.safetensors"), containing: "overlap")
    }

    @Test func spanThatDisagreesWithShapeIsRejected() throws {
        let header: [String: Any] = ["a": ["dtype": "F32", "shape": [3, 3], "data_offsets": [0, 32]]]
        try Self.write(header: header, data: [UInt8](repeating: 0, count: 32), to: url("span.safetensors"))
        Self.expectInvalid(url("span.safetensors"), containing: "tensor a has shape [3, 3] × F32 = 36 bytes, but its span is 32 bytes")
    }

    @Test func malformedHeadersAreRejected() throws {
        try Self.write(header: [:], data: [], to: url("json.safetensors"), rawHeader: "{not json")
        Self.expectInvalid(url("json.safetensors"), containing: "not a JSON object")
        try Self.write(header: ["a": ["dtype": "Q4", "shape": [1], "data_offsets": [0, 1]]], data: [0], to: url("dtype.safetensors"))
        Self.expectInvalid(url("dtype.safetensors"), containing: "unknown dtype Q4")
        try Self.write(header: ["a": ["dtype": "F32", "shape": [-1], "data_offsets": [0, 4]]], data: [0, 0, 0, 0], to: url("shape.safetensors"))
        Self.expectInvalid(url("shape.safetensors"), containing: "not a non-negative integer")
        try Self.write(header: ["a": ["dtype": "F32", "shape": [1], "data_offsets": [4, 0]]], data: [0, 0, 0, 0], to: url("offsets.safetensors"))
        Self.expectInvalid(url("offsets.safetensors"), containing: "malformed data_offsets")
    }

    /// Lengths read from the header that overflow 64-bit arithmetic: refused with a message, never a trap.
    @Test func overflowingShapesAndOffsetsAreRefused() throws {
        // Elements overflow Int.
        try Self.write(header: ["a": ["dtype": "F32", "shape": [100_000_000_000_000, 1_000_000], "data_offsets": [0, 4]]],
                       data: [0, 0, 0, 0], to: url("elements.safetensors"))
        Self.expectInvalid(url("elements.safetensors"), containing: "overflows")
        // Elements fit (3e18) but their bytes do not (× 4): the message itself must not overflow either.
        try Self.write(header: ["a": ["dtype": "F32", "shape": [300_000_000_000_000, 10_000], "data_offsets": [0, 4]]],
                       data: [0, 0, 0, 0], to: url("bytes.safetensors"))
        Self.expectInvalid(url("bytes.safetensors"), containing: "more bytes than a 64-bit size holds")
        // Offsets at the edge of Int64.
        try Self.write(header: ["a": ["dtype": "F32", "shape": [1], "data_offsets": [Int64.max - 1, Int64.max]]],
                       data: [0, 0, 0, 0], to: url("offsets-max.safetensors"))
        Self.expectInvalid(url("offsets-max.safetensors"), containing: "holds only 4 bytes")
    }

    @Test func missingFileIsNamed() {
        #expect(throws: CheckpointError.missingFile(path: url("none.safetensors").path, hint: "")) {
            try SafetensorsFile(path: url("none.safetensors").path)
        }
    }

    @Test func everyTruncationOfARealFileIsRejectedCleanly() throws {
        // Cut a real model file at many lengths: each must throw, never crash.
        let source = try Data(contentsOf: Fixtures.local.appendingPathComponent("models/flags-untied/model.safetensors"))
        var lengths = Array(0..<64) + stride(from: 64, to: source.count, by: 997).map { $0 }
        lengths.append(source.count - 1)
        for length in lengths {
            try source.prefix(length).write(to: url("cut.safetensors"))
            #expect(throws: CheckpointError.self) { try SafetensorsFile(path: url("cut.safetensors").path) }
        }
        try source.write(to: url("whole.safetensors"))
        #expect(try SafetensorsFile(path: url("whole.safetensors").path).tensors.count == 17)
    }
}
