import Foundation
import Hummingbird
import Logging
import NIOCore
import Runtime
import ServiceLifecycle
public import UnixSignals

/// `gpt2-edge serve`: the OpenAI-compatible HTTP API over one shared model, every request batched into one forward
/// step per token by a `BatchScheduler`. The HTTP side is up while the model loads (`/health` says 503 until it is
/// ready), and SIGTERM/SIGINT stop it gracefully: no new requests, running ones finish until the deadline, then the
/// rest are cancelled, and `run` returns.
///
/// ```swift
/// let server = GPT2Server(configuration: .init(port: 8080, slotCount: 4), logger: Logger(label: "gpt2-edge"))
/// try await server.run(loading: { try LoadedModel.load(source, policy: policy) }, modelID: "gpt2-q8")
/// ```
public final class GPT2Server: Sendable {
    public struct Configuration: Sendable {
        public var host = "127.0.0.1"
        public var port = 8080
        public var slotCount: Int
        public var maxQueue = 64
        /// API keys; empty: no key needed.
        public var apiKeys: [String] = []
        public var maxBodyBytes = 1 << 20
        /// How long running requests may go on after SIGTERM before they are cancelled.
        public var shutdownDeadline: Duration = .seconds(30)
        /// The largest prompt chunk of one step.
        public var maxPrefillChunk = 256

        public init(host: String = "127.0.0.1", port: Int = 8080, slotCount: Int, maxQueue: Int = 64, apiKeys: [String] = []) {
            self.host = host
            self.port = port
            self.slotCount = slotCount
            self.maxQueue = maxQueue
            self.apiKeys = apiKeys
        }
    }

    public let configuration: Configuration
    let logger: Logger
    let metrics = ServerMetrics()
    let state = ModelState()

    public init(configuration: Configuration, logger: Logger) {
        self.configuration = configuration
        self.logger = logger
    }

    /// Serves until SIGTERM or SIGINT: binds the port (reporting it through `onListening`, the port chosen when
    /// `configuration.port` is 0), loads the model with `loading` meanwhile, then answers requests.
    /// `signals` start the graceful stop (tests pass none and cancel the task instead).
    public func run(modelID: String, loading: @escaping @Sendable () throws -> LoadedModel,
                    signals: [UnixSignal] = [.sigterm, .sigint],
                    onListening: @escaping @Sendable (_ host: String, _ port: Int) -> Void = { _, _ in }) async throws {
        let app = makeApplication(modelID: modelID, onListening: onListening)
        let loader = ModelLoaderService(server: self, modelID: modelID, loading: loading)
        // Services stop in reverse order: the loader (which owns the scheduler) drains first, while HTTP still answers.
        let group = ServiceGroup(configuration: .init(services: [.init(service: app), .init(service: loader)],
                                                      gracefulShutdownSignals: signals, logger: logger))
        try await group.run()
    }

    /// The Hummingbird application: routes and middleware (for `run`, and for tests that drive it on a loopback port).
    func makeApplication(modelID: String, onListening: @escaping @Sendable (String, Int) -> Void) -> some ApplicationProtocol {
        let router = Router()
        router.middlewares.add(ErrorAndLogMiddleware(metrics: metrics, logger: logger))
        router.middlewares.add(APIKeyMiddleware(keys: configuration.apiKeys))
        let state = state, metrics = metrics, logger = logger, configuration = configuration

        router.get("/") { _, _ in
            Response(status: .ok, headers: [.contentType: "text/html; charset=utf-8"], body: ResponseBody(byteBuffer: ByteBuffer(string: WebPage.html)))
        }
        for path in ["/health", "/v1/health"] {
            router.get(RouterPath(path)) { _, _ -> Response in
                _ = try state.scheduler()   // 503 with the reason while there is none
                return try jsonResponse(HealthResponse(status: "ok"))
            }
        }
        router.get("/v1/models") { _, _ -> Response in
            let scheduler = try state.scheduler()
            let config = scheduler.model.config
            return try jsonResponse(ModelList(data: [.init(id: modelID, created: Int(Date().timeIntervalSince1970),
                                                           meta: .init(contextLength: scheduler.model.contextLength, vocabularySize: config.vocabularySize,
                                                                       layers: config.layerCount, embeddingWidth: config.embeddingWidth,
                                                                       parallel: configuration.slotCount))]))
        }
        router.post("/v1/completions") { request, _ -> Response in
            let endpoint = CompletionsEndpoint(scheduler: try state.scheduler(), modelID: modelID, logger: logger,
                                               maxBodyBytes: configuration.maxBodyBytes)
            return try await endpoint.respond(request)
        }
        let embeddingRunner = EmbeddingRunner(maxWaiting: configuration.maxQueue)
        for path in ["/v1/embeddings", "/embeddings"] {
            router.post(RouterPath(path)) { request, _ -> Response in
                let endpoint = EmbeddingsEndpoint(model: try state.scheduler().model, modelID: modelID, maxBodyBytes: configuration.maxBodyBytes,
                                                  tokensPerPass: configuration.maxPrefillChunk, runner: embeddingRunner)
                return try await endpoint.respond(request)
            }
        }
        for path in ["/v1/chat/completions", "/chat/completions"] {
            router.post(RouterPath(path)) { _, _ -> Response in
                throw APIError.invalid("GPT-2 has no chat template: it was trained on plain web text, with no roles or turn markers, so there "
                                       + "is no faithful way to turn messages into its prompt. Send the text to continue to POST /v1/completions "
                                       + "(client.completions.create in the openai package).", param: "messages")
            }
        }
        router.post("/tokenize") { request, _ -> Response in
            let scheduler = try state.scheduler()
            let body: TokenizeRequest = try await decodeBody(request, limit: configuration.maxBodyBytes)
            let ids = scheduler.model.tokenizer.encode(body.content)
            let tokens: [TokenizeResponse.Token] = ids.map { id in
                body.withPieces == true ? .piece(id: id, piece: String(decoding: scheduler.model.tokenizer.tokenBytes[id], as: UTF8.self)) : .id(id)
            }
            return try jsonResponse(TokenizeResponse(tokens: tokens))
        }
        router.post("/detokenize") { request, _ -> Response in
            let scheduler = try state.scheduler()
            let body: DetokenizeRequest = try await decodeBody(request, limit: configuration.maxBodyBytes)
            let vocabulary = scheduler.model.vocabularySize
            if let bad = body.tokens.first(where: { $0 < 0 || $0 >= vocabulary }) {
                throw APIError.invalid("token id \(bad) is outside the vocabulary (0..<\(vocabulary))", param: "tokens")
            }
            let bytes = body.tokens.flatMap { scheduler.model.tokenizer.tokenBytes[$0] }
            return try jsonResponse(DetokenizeResponse(content: String(decoding: bytes, as: UTF8.self)))
        }
        router.get("/slots") { _, _ -> Response in try jsonResponse(try state.scheduler().slotStatuses) }
        router.get("/metrics") { _, _ -> Response in
            Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4"], body: ResponseBody(byteBuffer: ByteBuffer(string: metrics.render())))
        }

        return Application(
            router: router,
            configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: "gpt2-edge"),
            onServerRunning: { channel in
                onListening(configuration.host, channel.localAddress?.port ?? configuration.port)
            },
            logger: logger
        )
    }
}

/// Decodes a JSON body of at most `limit` bytes, naming the field at fault when it does not fit `Body`.
func decodeBody<Body: Decodable>(_ request: Request, limit: Int) async throws -> Body {
    var request = request
    let buffer = try await request.collectBody(upTo: limit)
    do { return try JSONDecoder().decode(Body.self, from: Data(buffer: buffer)) } catch { throw APIError.decoding(error) }
}

/// Where the model is: loading (the HTTP side answers 503), ready, draining, or failed to load.
final class ModelState: @unchecked Sendable {
    // @unchecked: `current` is read and written under `lock`.
    enum Phase { case loading, ready(BatchScheduler), draining, failed(String) }
    private let lock = NSLock()
    private var phase = Phase.loading

    var current: Phase {
        get { lock.withLock { phase } }
        set { lock.withLock { phase = newValue } }
    }

    /// The scheduler, or 503 while there is none.
    func scheduler() throws -> BatchScheduler {
        switch current {
        case .ready(let scheduler): return scheduler
        case .loading: throw APIError(status: .serviceUnavailable, message: "Loading model", type: "unavailable_error")
        case .draining: throw APIError(status: .serviceUnavailable, message: "the server is shutting down", type: "unavailable_error")
        case .failed(let reason): throw APIError(status: .serviceUnavailable, message: "the model failed to load: \(reason)", type: "unavailable_error")
        }
    }
}

/// Loads the model off the HTTP threads, runs the scheduler, and drains it on graceful shutdown.
struct ModelLoaderService: Service {
    let server: GPT2Server
    let modelID: String
    let loading: @Sendable () throws -> LoadedModel

    func run() async throws {
        let model: LoadedModel
        do {
            model = try await withCheckedThrowingContinuation { continuation in
                Thread.detachNewThread { continuation.resume(with: Result { try loading() }) }
            }
        } catch {
            server.logger.error("the model failed to load: \(error)")
            server.state.current = .failed("\(error)")
            throw error
        }
        var configuration = BatchScheduler.Configuration(slotCount: server.configuration.slotCount, maxQueue: server.configuration.maxQueue)
        configuration.maxPrefillChunk = server.configuration.maxPrefillChunk
        let scheduler = BatchScheduler(model: model, configuration: configuration, metrics: server.metrics)
        scheduler.start()
        server.state.current = .ready(scheduler)
        server.logger.info("model \(modelID) ready: \(server.configuration.slotCount) slots of \(model.contextLength) positions")
        try? await gracefulShutdown()
        server.logger.info("shutting down: finishing running requests (up to \(server.configuration.shutdownDeadline))")
        // First, so that /health says 503 while the running requests finish and a load balancer sends new ones elsewhere.
        server.state.current = .draining
        await scheduler.drain(deadline: server.configuration.shutdownDeadline)
    }
}
