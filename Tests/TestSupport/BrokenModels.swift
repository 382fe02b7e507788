import Foundation

/// Copies of committed models to break on purpose: a lying config.json, corrupt weights.
extension Fixtures {
    /// A copy of the committed model `name` (Tests/Fixtures/models, tokenizer links resolved) in a fresh
    /// temporary folder; the caller removes it.
    public static func modelCopy(_ name: String) throws -> URL {
        let folder = try temporaryDirectory("broken-\(name)")
        let source = local.appendingPathComponent("models/\(name)")
        for file in try FileManager.default.contentsOfDirectory(atPath: source.path) {
            try Data(contentsOf: source.appendingPathComponent(file)).write(to: folder.appendingPathComponent(file))
        }
        return folder
    }

    /// Rewrites `folder/config.json` through `edit`.
    public static func editConfig(of folder: URL, _ edit: (inout [String: Any]) -> Void) throws {
        let url = folder.appendingPathComponent("config.json")
        var config = try json(url)
        edit(&config)
        try JSONSerialization.data(withJSONObject: config).write(to: url)
    }

    /// Overwrites elements `elements` of tensor `name` (F32, F16 or BF16) in `folder/model.safetensors` with
    /// `value` (`name` canonical; the file's `transformer.` prefix is found either way).
    public static func overwriteFloats(of name: String, inModel folder: URL, elements: Range<Int>, with value: Float) throws {
        let url = folder.appendingPathComponent("model.safetensors")
        var data = try Data(contentsOf: url)
        let headerLength = data.prefix(8).withUnsafeBytes { Int($0.loadUnaligned(as: UInt64.self).littleEndian) }
        let header = try JSONSerialization.jsonObject(with: data.subdata(in: 8..<(8 + headerLength))) as! [String: Any]
        let encoded: [String: [UInt8]] = [
            "F32": withUnsafeBytes(of: value.bitPattern.littleEndian) { Array($0) },
            "F16": withUnsafeBytes(of: Float16(value).bitPattern.littleEndian) { Array($0) },
            "BF16": withUnsafeBytes(of: UInt16(value.bitPattern >> 16).littleEndian) { Array($0) },
        ]
        guard let tensor = (header[name] ?? header["transformer." + name]) as? [String: Any],
              let bytes = (tensor["dtype"] as? String).flatMap({ encoded[$0] }), let offsets = (tensor["data_offsets"] as? [Any])?.ints else {
            throw NSError(domain: "Fixtures", code: 1, userInfo: [NSLocalizedDescriptionKey: "no F32, F16 or BF16 tensor \(name) in \(url.path)"])
        }
        let start = 8 + headerLength + offsets[0], size = bytes.count
        precondition(start + size * elements.upperBound <= 8 + headerLength + offsets[1], "\(name) has fewer than \(elements.upperBound) elements")
        for element in elements { data.replaceSubrange((start + size * element)..<(start + size * (element + 1)), with: bytes) }
        try data.write(to: url)
    }
}
