import Foundation
import HTTPTypes
import Hummingbird
import Logging

/// The outermost piece: every error becomes OpenAI's JSON error body with a status that means it, every request is
/// counted by status, and every request but a completion (which logs itself when its stream ends) is logged in one line.
struct ErrorAndLogMiddleware<Context: RequestContext>: RouterMiddleware {
    let metrics: ServerMetrics
    let logger: Logger

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let start = ContinuousClock.now
        var response: Response
        do {
            response = try await next(request, context)
        } catch let error as APIError {
            response = error.response
        } catch let error as any HTTPResponseError {
            response = Self.apiError(for: error, request: request).response
        } catch {
            response = APIError(status: .internalServerError, message: "\(error)", type: "server_error").response
        }
        metrics.countRequest(status: response.status.code)
        if response.headers[.gpt2EdgeLogged] == nil {
            let milliseconds = Int((ContinuousClock.now - start).seconds * 1000)
            logger.info("\(request.method) \(request.uri.path) \(response.status.code) \(milliseconds) ms")
        }
        response.headers[.gpt2EdgeLogged] = nil
        return response
    }

    /// Hummingbird's own errors (no route, a body over the limit) in OpenAI's shape.
    static func apiError(for error: any HTTPResponseError, request: Request) -> APIError {
        switch error.status {
        case .notFound:
            return APIError(status: .notFound, message: "no endpoint \(request.method) \(request.uri.path); see GET / for the page and the API list",
                            type: "not_found_error")
        case .contentTooLarge:
            return APIError(status: .contentTooLarge, message: "the request body is larger than this server accepts (--max-body)",
                            type: "invalid_request_error")
        case .methodNotAllowed:
            return APIError(status: .methodNotAllowed, message: "\(request.method) is not allowed on \(request.uri.path)", type: "invalid_request_error")
        default:
            return APIError(status: error.status, message: "\(error)", type: error.status.code >= 500 ? "server_error" : "invalid_request_error")
        }
    }
}

/// API keys (`--api-key`): every endpoint but the page and the health check needs `Authorization: Bearer KEY` or
/// `X-Api-Key: KEY`, as llama-server accepts them.
struct APIKeyMiddleware<Context: RequestContext>: RouterMiddleware {
    let keys: [String]
    static var openPaths: Set<String> { ["/", "/health", "/v1/health"] }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard !keys.isEmpty, !Self.openPaths.contains(request.uri.path) else { return try await next(request, context) }
        var offered = request.headers[.xAPIKey]
        if let authorization = request.headers[.authorization] {
            let parts = authorization.split(separator: " ", maxSplits: 1)
            if parts.count == 2 && parts[0].lowercased() == "bearer" { offered = String(parts[1]) }
        }
        guard let offered else {
            throw APIError(status: .unauthorized, message: "an API key is required: send Authorization: Bearer KEY", type: "authentication_error")
        }
        guard keys.contains(where: { Self.constantTimeEqual($0, offered) }) else {
            throw APIError(status: .unauthorized, message: "the API key is not valid", type: "authentication_error")
        }
        return try await next(request, context)
    }

    /// Compares without stopping at the first difference, so the time taken does not tell how much of a key was right.
    static func constantTimeEqual(_ a: String, _ b: String) -> Bool {
        let (x, y) = (Array(a.utf8), Array(b.utf8))
        var difference = UInt8(x.count == y.count ? 0 : 1)
        for i in 0..<max(x.count, y.count) { difference |= (i < x.count ? x[i] : 0) ^ (i < y.count ? y[i] : 0) }
        return difference == 0
    }
}

extension HTTPField.Name {
    static let xAPIKey = HTTPField.Name("X-Api-Key")!
    /// Set by a handler that logs its own line (a completion, when its stream ends); removed before the response goes out.
    static let gpt2EdgeLogged = HTTPField.Name("X-Gpt2edge-Logged")!
}

extension APIError {
    /// The error as a JSON response (with Retry-After when there is one).
    var response: Response {
        var response = (try? jsonResponse(body, status: status))
            ?? Response(status: status, headers: [.contentType: "application/json"],
                        body: ResponseBody(byteBuffer: ByteBuffer(string: #"{"error":{"message":"error"}}"#)))
        if let retryAfter { response.headers[.retryAfter] = "\(retryAfter)" }
        return response
    }
}
