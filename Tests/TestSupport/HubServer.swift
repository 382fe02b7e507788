import Foundation

/// Runs `Tests/Fixtures/hub_server.py` (a hub stand-in on 127.0.0.1) for the lifetime of a test.
public final class HubServer {
    public let port: Int
    public let log: URL
    private let process: Process

    /// Serves each `repository → folder`; `options` are the script's test switches (e.g. "--cut-after", "20000").
    public init(repositories: [String: URL], options: [String] = []) throws {
        log = FileManager.default.temporaryDirectory.appendingPathComponent("hub-log-\(UUID().uuidString)")
        process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", Fixtures.local.appendingPathComponent("hub_server.py").path, "--log", log.path, "--lifetime", "120"]
            + repositories.flatMap { ["--repo", "\($0.key)=\($0.value.path)"] } + options
        let output = Pipe()
        process.standardOutput = output
        try process.run()
        let line = output.fileHandleForReading.availableDataLine()
        guard let port = Int(line.trimmingCharacters(in: .whitespacesAndNewlines)) else {
            process.terminate()
            throw NSError(domain: "HubServer", code: 1, userInfo: [NSLocalizedDescriptionKey: "hub_server.py did not print a port (python3 missing?)"])
        }
        self.port = port
    }

    public var endpoint: URL { URL(string: "http://127.0.0.1:\(port)")! }

    /// Lines the server logged ("GET /path range=…").
    public var requests: [String] {
        ((try? String(contentsOf: log, encoding: .utf8)) ?? "").split(separator: "\n").map(String.init)
    }

    deinit {
        kill(process.processIdentifier, SIGKILL)   // cannot be blocked, unlike the SIGTERM of terminate()
        process.waitUntilExit()
        try? FileManager.default.removeItem(at: log)
    }
}

extension FileHandle {
    /// Reads until a newline (the server's first line is its port).
    func availableDataLine() -> String {
        var bytes: [UInt8] = []
        while true {
            let data = readData(ofLength: 1)
            if data.isEmpty || data.first == UInt8(ascii: "\n") { break }
            bytes.append(data.first!)
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
