import WeightFormat
import Foundation
import Testing
import TestSupport
@testable import GQZ
@testable import Quantization

/// `formats/example.gqz` and `formats/example.json` (the values it stands for) are the spec's worked example,
/// also read by the independent Python reader `tools/formats/gqz-read.py`; `formats/example-frames.gqz` holds the same
/// tensors with the matrices in row frames (a version-2 file) and stands for the same values. Regenerate them with
/// `GQZ_REGENERATE_EXAMPLE=1 swift test --filter ExampleFileTests`.
@Suite struct ExampleFileTests {
    static let gqz = Fixtures.repositoryRoot.appendingPathComponent("formats/example.gqz")
    static let framed = Fixtures.repositoryRoot.appendingPathComponent("formats/example-frames.gqz")
    static let expected = Fixtures.repositoryRoot.appendingPathComponent("formats/example.json")

    /// Each tensor, and in example-frames.gqz the rows of its frames (nil: one frame) and its layout.
    static let specs: [(name: String, shape: [Int], scheme: WeightScheme, frameRows: Int?, layout: GQZEntry.Layout)] = [
        ("matrix.q8", [3, 40], .int8(groupSize: 32), 2, .rows),      // a partial second group; frames of 2 rows and 1
        ("matrix.q4", [2, 64], .int4(groupSize: 32), 1, .rows),
        ("matrix.q4.g64", [2, 70], .int4(groupSize: 64), 1, .rows),
        ("vector.f32", [5], .float32, nil, .rows),
        ("panels.q8", [20, 40], .int8(groupSize: 32), 16, .panels16),   // one whole panel and 4 rows, in frames of 16 and 4
        ("panels.q4.g64", [18, 70], .int4(groupSize: 64), nil, .panels16),
    ]

    static func values(_ index: Int, count: Int) -> [Float] {
        (0..<count).map { i in Float(sin(Double(index * 100 + i) * 0.7) * (i % 11 == 3 ? 4 : 1)) }
    }

    static func write(to url: URL, frames: Bool) throws {
        let writer = try GQZWriter(destination: url)
        var expected: [String: Any] = [:]
        for (index, spec) in specs.enumerated() {
            let rows = spec.shape.count == 2 ? spec.shape[0] : 1, columns = spec.shape.last!
            let source = values(index, count: rows * columns)
            let payload = TensorQuantizer.quantize(rows: rows, columns: columns, scheme: spec.scheme) { r, out in
                for c in 0..<columns { out[c] = source[r * columns + c] }
            }
            try writer.add(name: spec.name, shape: spec.shape, scheme: spec.scheme.name, groupSize: spec.scheme.groupSize, payload: payload,
                           frameRows: frames ? spec.frameRows : nil, layout: frames ? spec.layout : .rows)
            expected[spec.name] = TensorQuantizer.dequantize(payload, rows: rows, columns: columns, scheme: spec.scheme).map(Double.init)
        }
        let text = Array("vocab-or-merges bytes\n".utf8)
        try writer.add(name: "tokenizer/example.txt", shape: [text.count], scheme: "bytes", groupSize: nil, payload: text)
        expected["tokenizer/example.txt"] = String(decoding: text, as: UTF8.self)
        try writer.finish(metadata: ["example": "formats/GQZ.md", "model": ["architecture": "none"]] as JSONValue)
        try JSONSerialization.data(withJSONObject: expected, options: [.sortedKeys, .prettyPrinted]).write(to: Self.expected)
    }

    @Test(arguments: [false, true])
    func exampleFileDecodesToItsDescription(frames: Bool) throws {
        let url = frames ? Self.framed : Self.gqz
        if ProcessInfo.processInfo.environment["GQZ_REGENERATE_EXAMPLE"] == "1" { try Self.write(to: url, frames: frames) }
        let file = try GQZFile(path: url.path)
        #expect(file.version == (frames ? 2 : 1))
        #expect(file.entries.filter { !$0.frames.isEmpty }.count == (frames ? 4 : 0))
        #expect(file.entries.filter { $0.layout == .panels16 }.count == (frames ? 2 : 0))
        let expected = try Fixtures.json(Self.expected)
        #expect(file.verify().isEmpty)
        for spec in Self.specs {
            let entry = try file.entry(spec.name)
            let rows = spec.shape.count == 2 ? spec.shape[0] : 1
            let values = TensorQuantizer.dequantize(try file.payload(spec.name), rows: rows, columns: spec.shape.last!, scheme: spec.scheme)
            #expect(values == (expected[spec.name] as! [Any]).floats, "\(spec.name)")
            #expect(entry.scheme == spec.scheme.name && entry.groupSize == spec.scheme.groupSize)
        }
        #expect(String(decoding: try file.payload("tokenizer/example.txt"), as: UTF8.self) == expected["tokenizer/example.txt"] as? String)
    }
}
