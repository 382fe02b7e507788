import Foundation

/// Where test data lives: `Tests/Fixtures` in this repository (always there), and the project's
/// shared fixtures (`../shared/fixtures` beside the clone, or `$GPT2EDGE_SHARED_FIXTURES`) for extra checks.
public enum Fixtures {
    /// The repository root, found from this source file's location.
    public static let repositoryRoot: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// `Tests/Fixtures`, committed with the repository.
    public static let local: URL = repositoryRoot.appendingPathComponent("Tests/Fixtures")

    /// The shared fixtures folder, when this checkout has one beside it.
    public static let shared: URL? = {
        let candidates: [String?] = [ProcessInfo.processInfo.environment["GPT2EDGE_SHARED_FIXTURES"],
                          repositoryRoot.deletingLastPathComponent().appendingPathComponent("shared/fixtures").path]
        for case let path? in candidates where FileManager.default.fileExists(atPath: path + "/README.md") {
            return URL(fileURLWithPath: path)
        }
        return nil
    }()

    /// The GPT-2 tokenizer files (vocab.json, merges.txt) committed under Tests/Fixtures/tokenizer.
    public static var tokenizerFolder: URL { local.appendingPathComponent("tokenizer") }

    /// A plain copy (tokenizer links resolved) of a committed model, laid out as a hub repository serves it.
    public static func hubRepositoryCopy(of model: String = "flags-untied") throws -> URL {
        let folder = try temporaryDirectory("hub-repo")
        let source = local.appendingPathComponent("models/\(model)")
        for name in ["config.json", "generation_config.json", "model.safetensors", "vocab.json", "merges.txt"] {
            try Data(contentsOf: source.appendingPathComponent(name)).write(to: folder.appendingPathComponent(name))
        }
        return folder
    }

    /// Parses a JSON Lines file into one dictionary per line.
    public static func jsonLines(_ url: URL) throws -> [[String: Any]] {
        let text = try String(contentsOf: url, encoding: .utf8)
        return try text.split(separator: "\n").map { line in
            try JSONSerialization.jsonObject(with: Data(line.utf8)) as! [String: Any]
        }
    }

    /// Parses a JSON file into a dictionary.
    public static func json(_ url: URL) throws -> [String: Any] {
        try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as! [String: Any]
    }

    /// A fresh empty temporary directory, removed by the caller with `cleanUp`.
    public static func temporaryDirectory(_ label: String = "gpt2edge-test") throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("\(label)-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }
}

extension Array where Element == Any {
    /// JSON numbers as Ints (JSONSerialization gives NSNumber).
    public var ints: [Int] { map { ($0 as! NSNumber).intValue } }
    /// JSON numbers as Floats, parsed as double then rounded to float32 as the fixtures specify.
    public var floats: [Float] { map { Float(($0 as! NSNumber).doubleValue) } }
}
