import Foundation
import Testing
import TestSupport

/// `gpt2-edge serve` as a process: the memory plan for its slots before loading, the peak it predicts, memory that
/// stays flat over many requests, and a graceful stop that lets a running stream finish and exits 0.
@Suite(.serialized) struct ServeEndToEndTests {
    /// A running `gpt2-edge serve` and its standard error.
    final class ServerProcess: @unchecked Sendable {
        // @unchecked: the error pipe's text is appended by its reading thread under `lock`.
        let process = Process()
        private let lock = NSLock()
        private var errorText = ""
        private(set) var port = 0

        init(_ arguments: [String]) throws {
            process.executableURL = URL(fileURLWithPath: CommandRunner.path(of: "gpt2-edge"))
            process.arguments = ["serve", "--port", "0"] + arguments
            let errors = Pipe()
            process.standardError = errors
            process.standardOutput = FileHandle.nullDevice
            errors.fileHandleForReading.readabilityHandler = { [weak self] handle in
                let data = handle.availableData
                guard let self, !data.isEmpty else { return }
                self.lock.withLock { self.errorText += String(decoding: data, as: UTF8.self) }
            }
            try process.run()
            let deadline = Date().addingTimeInterval(60)
            while Date() < deadline && process.isRunning {
                if let range = standardError.range(of: #"listening on http://127\.0\.0\.1:(\d+)"#, options: .regularExpression) {
                    port = Int(standardError[range].split(separator: ":").last!)!
                    break
                }
                Thread.sleep(forTimeInterval: 0.02)
            }
            guard port != 0 else { throw HTTPTestClient.ClientError("serve did not start: \(standardError)") }
            for _ in 0..<500 {
                if healthStatus() == 200 { return }
                Thread.sleep(forTimeInterval: 0.02)
            }
            throw HTTPTestClient.ClientError("serve never became ready: \(standardError)")
        }

        var standardError: String { lock.withLock { errorText } }
        var client: HTTPTestClient { HTTPTestClient(port: port) }

        /// A line of /proc/PID/status, in bytes (VmHWM: the peak resident size; VmRSS: now).
        func memory(_ field: String) throws -> Int {
            let value = try #require(CommandRunner.statusField(field, of: process.processIdentifier), "no \(field) in /proc/PID/status")
            return try #require(Int(value.split(separator: " ")[0]), "\(field): \(value)") * 1024
        }

        func stop() -> Int32 {
            if process.isRunning { process.terminate() }
            process.waitUntilExit()
            return process.terminationStatus
        }

        /// GET /health, synchronously (this runs before any test code awaits).
        func healthStatus() -> Int? {
            guard let connection = try? HTTPTestClient.Connection(port: port),
                  (try? connection.send(HTTPTestClient.requestBytes("GET", "/health"))) != nil else { return nil }
            while (try? connection.readMore()) == true {}
            return try? HTTPTestClient.parse(connection.buffer).status
        }
    }

    static func object(_ text: String) throws -> [String: Any] { try JSONSerialization.jsonObject(with: Data(text.utf8)) as! [String: Any] }

    @Test func thePlanCountsEverySlotAndRefusesBeforeLoading() throws {
        let one = try Self.object(try CommandRunner.run("gpt2-edge", ["serve", "--parallel", "1", "-c", "128", "--dry-run", "--json"]).standardOutput)
        let four = try Self.object(try CommandRunner.run("gpt2-edge", ["serve", "--parallel", "4", "-c", "128", "--dry-run", "--json"]).standardOutput)
        #expect(four["slots"] as? Int == 4 && four["context_positions"] as? Int == 128)
        let (kv1, kv4) = ((one["plan"] as! [String: Any])["kv_cache"] as! Int, (four["plan"] as! [String: Any])["kv_cache"] as! Int)
        #expect(kv4 == 4 * kv1)
        let total4 = (four["plan"] as! [String: Any])["total"] as! Int
        // Each process plans with its own resident size, which differs from run to run by less than a megabyte; a slot
        // adds at least its KV cache (4.5 MiB here), so half of that apart from the 4-slot plan is clearly over or under.
        let margin = kv1 / 2
        let refused = try CommandRunner.run("gpt2-edge", ["serve", "--parallel", "4", "-c", "128", "--max-memory", "\(total4 - margin)B"])
        #expect(refused.status == 1)
        #expect(refused.standardError.contains("4 slots of 128 positions") && refused.standardError.contains("nothing was loaded"), "\(refused.standardError)")
        #expect(!refused.standardError.contains("listening"))
        // Without --parallel, the slots are as many as fit the limit (at least one, at most 8).
        let fitted = try Self.object(try CommandRunner.run("gpt2-edge", ["serve", "-c", "128", "--max-memory", "\(total4 + margin)B", "--dry-run", "--json"]).standardOutput)
        #expect(fitted["slots"] as? Int == 4, "\(fitted)")
    }

    @Test func peakWithinThePlanAndFlatOverManyRequests() async throws {
        let arguments = ["--parallel", "2", "-c", "256", "-t", "1"]
        let plan = try Self.object(try CommandRunner.run("gpt2-edge", ["serve"] + arguments + ["--dry-run", "--json"]).standardOutput)
        let planned = (plan["plan"] as! [String: Any])["total"] as! Int
        let server = try ServerProcess(arguments)
        defer { _ = server.stop() }
        let client = server.client
        // Both slots filled to their whole context: a 200-token prompt and 56 new tokens each, at the same time.
        let prompt = [Int](repeating: 0, count: 200).enumerated().map { 11 + ($0.offset * 37) % 4000 }
        let body = try JSONSerialization.data(withJSONObject: ["prompt": prompt, "max_tokens": 56, "ignore_eos": true, "temperature": 1, "seed": 3])
        async let first = client.send("POST", "/v1/completions", body: body)
        async let second = client.send("POST", "/v1/completions", body: body)
        #expect(try await first.status == 200)
        #expect(try await second.status == 200)
        let peak = try server.memory("VmHWM")
        #expect(abs(Double(peak) / Double(planned) - 1) < 0.15, "planned \(planned), peak \(peak)")

        // Many more requests of every kind: the resident size settles and stays.
        func burst(_ count: Int) async throws {
            for index in 0..<count {
                let request: [String: Any] = ["prompt": "And God said \(index)", "max_tokens": 12, "n": 1 + index % 3, "logprobs": index % 2 == 0 ? 2 : 0,
                                              "echo": index % 4 == 0, "stream": index % 2 == 1]
                #expect(try await client.post("/v1/completions", json: request).status == 200)
            }
        }
        try await burst(30)
        let settled = try server.memory("VmRSS")
        try await burst(90)
        let after = try server.memory("VmRSS")
        #expect(after - settled < 3 << 20, "resident size grew from \(settled) to \(after) over 90 requests")
    }

    @Test func sigtermLetsTheRunningStreamFinishAndExitsZero() async throws {
        let server = try ServerProcess(["--parallel", "1", "--shutdown-timeout", "20"])
        let connection = try HTTPTestClient.Connection(port: server.port)
        try connection.send(HTTPTestClient.requestBytes("POST", "/v1/completions", body: Data("""
            {"prompt": "And God said", "max_tokens": 240, "ignore_eos": true, "stream": true}
            """.utf8)))
        try await connection.read(until: "data: ")
        kill(server.process.processIdentifier, SIGTERM)
        // While the stream finishes, the health check already turns new traffic away.
        var health: Int?
        for _ in 0..<100 where health != 503 {
            health = try? await server.client.get("/health").status
            try await Task.sleep(for: .milliseconds(5))
        }
        #expect(health == 503)
        try await connection.read(until: "data: [DONE]")
        let status = server.stop()
        #expect(status == 0, "\(server.standardError)")
        let events = String(decoding: connection.buffer, as: UTF8.self).components(separatedBy: "data: ").count - 1
        #expect(events >= 241, "a finish chunk and [DONE] after 240 tokens")
        #expect(server.standardError.contains("shutting down"))
    }
}
