import Foundation
import Hummingbird

/// An error as the OpenAI API reports it: an HTTP status and `{"error": {"message", "type", "code", "param"}}`.
///
/// ```swift
/// throw APIError.invalid("temperature must be between 0 and 2, got 5", param: "temperature")
/// ```
public struct APIError: Error, CustomStringConvertible, Sendable {
    public let status: HTTPResponse.Status
    public let message: String
    /// OpenAI's error type: invalid_request_error, authentication_error, not_found_error, server_error, …
    public let type: String
    /// The request field at fault, when one is.
    public let param: String?
    /// Seconds a client should wait before retrying (503 with a full queue).
    public var retryAfter: Int? = nil

    public init(status: HTTPResponse.Status, message: String, type: String, param: String? = nil) {
        self.status = status
        self.message = message
        self.type = type
        self.param = param
    }

    public var description: String { "\(status.code) \(type): \(message)" }

    /// 400: the request itself is wrong; `param` names the field.
    public static func invalid(_ message: String, param: String? = nil) -> APIError {
        APIError(status: .badRequest, message: message, type: "invalid_request_error", param: param)
    }

    /// The JSON body of the error.
    public var body: Body {
        Body(error: .init(message: message, type: type, code: code, param: param))
    }

    /// OpenAI sends a string code or null; llama-server the HTTP status. The status is the one thing every client can
    /// read the same way.
    var code: Int { status.code }

    public struct Body: Codable, Sendable {
        public struct Detail: Codable, Sendable {
            public var message: String
            public var type: String
            public var code: Int
            public var param: String?

            public func encode(to encoder: any Encoder) throws {
                var json = encoder.container(keyedBy: CodingKeys.self)
                try json.encode(message, forKey: .message)
                try json.encode(type, forKey: .type)
                try json.encode(code, forKey: .code)
                try json.encode(param, forKey: .param)   // null when absent, as OpenAI sends it
            }
        }
        public var error: Detail
    }
}

extension APIError {
    /// A JSON decoding failure, described by the field it happened at and what was expected there.
    static func decoding(_ error: any Error) -> APIError {
        func path(_ codingPath: [any CodingKey]) -> String {
            codingPath.map { key in key.intValue.map { "[\($0)]" } ?? ".\(key.stringValue)" }.joined().trimmingCharacters(in: ["."])
        }
        guard let error = error as? DecodingError else { return .invalid("the body is not valid JSON: \(error)") }
        switch error {
        case .typeMismatch(let type, let context):
            let field = path(context.codingPath)
            return .invalid("field '\(field)': expected \(describe(type)); \(context.debugDescription)", param: field)
        case .valueNotFound(let type, let context):
            let field = path(context.codingPath)
            return .invalid("field '\(field)': expected \(describe(type)), got null", param: field)
        case .keyNotFound(let key, let context):
            let field = path(context.codingPath + [key])
            return .invalid("field '\(field)' is required", param: field)
        case .dataCorrupted(let context):
            let field = path(context.codingPath)
            if field.isEmpty {
                let underlying = (context.underlyingError as? NSError)?.userInfo[NSDebugDescriptionErrorKey] as? String
                return .invalid("the body is not valid JSON: \(underlying ?? context.debugDescription)")
            }
            return .invalid("field '\(field)': \(context.debugDescription)", param: field)
        @unknown default:
            return .invalid("the body could not be decoded: \(error)")
        }
    }

    private static func describe(_ type: Any.Type) -> String {
        switch type {
        case is String.Type: return "a string"
        case is Int.Type, is Int64.Type, is UInt64.Type: return "an integer"
        case is Double.Type, is Float.Type: return "a number"
        case is Bool.Type: return "true or false"
        case is [Any].Type: return "an array"
        default: return "\(type)"
        }
    }
}
