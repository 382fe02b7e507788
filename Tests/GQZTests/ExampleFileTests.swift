import WeightFormat
import Foundation
import Testing
import TestSupport
@testable import GQZ
@testable import Quantization

/// `formats/example.gqz` and `formats/example.json` (the values it stands for) are the spec's worked example,
/// also read by the independent Python reader `tools/formats/gqz-read.py`. Regenerate both with
/// `GQZ_REGENERATE_EXAMPLE=1 swift test --filter ExampleFileTests`.
@Suite struct ExampleFileTests {
    static let gqz = Fixtures.repositoryRoot.appendingPathComponent("formats/example.gqz")
    static let expected = Fixtures.repositoryRoot.appendingPathComponent("formats/example.json")

    static let specs: [(name: String, shape: [Int], scheme: WeightScheme)] = [
        ("matrix.q8", [3, 40], .int8(groupSize: 32)),      // a partial second group
        ("matrix.q4", [2, 64], .int4(groupSize: 32)),
        ("matrix.q4.g64", [2, 70], .int4(groupSize: 64)),
        ("vector.f32", [5], .float32),
    ]

    static func values(_ index: Int, count: Int) -> [Float] {
        (0..<count).map { i in Float(sin(Double(index * 100 + i) * 0.7) * (i % 11 == 3 ? 4 : 1)) }
    }

    static func write() throws {
        let writer = try GQZWriter(destination: gqz)
        var expected: [String: Any] = [:]
        for (index, spec) in specs.enumerated() {
            let rows = spec.shape.count == 2 ? spec.shape[0] : 1, columns = spec.shape.last!
            let source = values(index, count: rows * columns)
            let payload = TensorQuantizer.quantize(rows: rows, columns: columns, scheme: spec.scheme) { r, out in
                for c in 0..<columns { out[c] = source[r * columns + c] }
            }
            try writer.add(name: spec.name, shape: spec.shape, scheme: spec.scheme.name, groupSize: spec.scheme.groupSize, payload: payload)
            expected[spec.name] = TensorQuantizer.dequantize(payload, rows: rows, columns: columns, scheme: spec.scheme).map(Double.init)
        }
        let text = Array("vocab-or-merges bytes\n".utf8)
        try writer.add(name: "tokenizer/example.txt", shape: [text.count], scheme: "bytes", groupSize: nil, payload: text)
        expected["tokenizer/example.txt"] = String(decoding: text, as: UTF8.self)
        try writer.finish(metadata: ["example": "formats/GQZ.md", "model": ["architecture": "none"]] as JSONValue)
        try JSONSerialization.data(withJSONObject: expected, options: [.sortedKeys, .prettyPrinted]).write(to: Self.expected)
    }

    @Test func exampleFileDecodesToItsDescription() throws {
        if ProcessInfo.processInfo.environment["GQZ_REGENERATE_EXAMPLE"] == "1" { try Self.write() }
        let file = try GQZFile(path: Self.gqz.path)
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
