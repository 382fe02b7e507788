import Foundation
import Logging
import Runtime
import Server
import TestSupport

/// A `GPT2Server` on a free loopback port in this process, serving the built-in KJV model (int8), stopped by `stop()`.
final class TestServer: @unchecked Sendable {
    // @unchecked: `port` is written once by the listening callback before `start` returns, and only read after.
    let task: Task<Void, any Error>
    private let lock = NSLock()
    private var boundPort: Int?
    private init(task: Task<Void, any Error>) { self.task = task }
    private static let modelPath = Fixtures.repositoryRoot.appendingPathComponent("Sources/CDefaultModel/default.gqz").path

    var port: Int { lock.withLock { boundPort! } }
    var client: HTTPTestClient { HTTPTestClient(port: port) }

    /// Starts a server and waits until `/health` says it is ready.
    static func start(slots: Int = 2, maxQueue: Int = 8, apiKeys: [String] = [], maxBodyBytes: Int = 1 << 20,
                      maxPrefillChunk: Int = 256, contextLength: Int? = nil, loadDelay: Double = 0) async throws -> TestServer {
        var configuration = GPT2Server.Configuration(port: 0, slotCount: slots, maxQueue: maxQueue, apiKeys: apiKeys)
        configuration.maxBodyBytes = maxBodyBytes
        configuration.maxPrefillChunk = maxPrefillChunk
        configuration.shutdownDeadline = .seconds(2)
        var logger = Logger(label: "test-server")
        logger.logLevel = .warning
        let server = GPT2Server(configuration: configuration, logger: logger)
        let portBox = PortBox()
        let task = Task {
            try await server.run(modelID: "kjv-test", loading: {
                if loadDelay > 0 { Thread.sleep(forTimeInterval: loadDelay) }
                var policy = LoadPolicy(threads: 1, layers: .resident)
                policy.contextLength = contextLength
                return try LoadedModel.load(ModelSource.open(path: modelPath), policy: policy)
            }, signals: [], onListening: { _, port in portBox.set(port) })
        }
        let started = TestServer(task: task)
        for _ in 0..<500 {
            if let port = portBox.get() { started.lock.withLock { started.boundPort = port }; break }
            try await Task.sleep(for: .milliseconds(10))
        }
        guard started.lock.withLock({ started.boundPort }) != nil else { throw HTTPTestClient.ClientError("the server did not start") }
        if loadDelay == 0 { try await started.waitUntilReady() }
        return started
    }

    func waitUntilReady() async throws {
        for _ in 0..<1000 {
            if (try? await client.get("/health").status) == 200 { return }
            try await Task.sleep(for: .milliseconds(10))
        }
        throw HTTPTestClient.ClientError("the server never became ready")
    }

    func stop() async {
        task.cancel()
        _ = try? await task.value
    }

    /// Polls `/slots` until every slot is idle, for at most `seconds`.
    func waitForIdleSlots(seconds: Double) async throws -> Bool {
        let end = Date().addingTimeInterval(seconds)
        while Date() < end {
            let slots = try JSONSerialization.jsonObject(with: await client.get("/slots").body) as? [[String: Any]] ?? []
            if slots.allSatisfy({ $0["state"] as? String == "idle" }) { return true }
            try await Task.sleep(for: .milliseconds(5))
        }
        return false
    }
}

final class PortBox: @unchecked Sendable {
    // @unchecked: guarded by `lock`.
    private let lock = NSLock()
    private var port: Int?
    func set(_ value: Int) { lock.withLock { port = value } }
    func get() -> Int? { lock.withLock { port } }
}
