import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A small HTTP/1.1 client on a plain loopback socket, so that tests can send what no polite client sends (broken JSON,
/// oversized bodies) and hang up in the middle of a stream.
public struct HTTPTestClient: Sendable {
    public let port: Int
    public init(port: Int) { self.port = port }

    public struct Response: Sendable {
        public var status: Int
        public var headers: [String: String]
        public var body: Data
        public var text: String { String(decoding: body, as: UTF8.self) }
        public func json() throws -> [String: Any] { try JSONSerialization.jsonObject(with: body) as? [String: Any] ?? [:] }
        /// The `data:` payloads of an event stream, in order.
        public var events: [String] {
            text.components(separatedBy: "\n\n").compactMap { event in
                event.hasPrefix("data: ") ? String(event.dropFirst(6)) : nil
            }
        }
    }

    /// One open connection (for reading a stream bit by bit, or dropping it).
    // @unchecked: a connection is used by one test at a time.
    public final class Connection: @unchecked Sendable {
        let socket: Int32
        public var buffer = Data()

        public init(port: Int) throws {
            socket = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_port = in_port_t(UInt16(port).bigEndian)
            address.sin_addr.s_addr = inet_addr("127.0.0.1")
            var timeout = timeval(tv_sec: 60, tv_usec: 0)
            setsockopt(socket, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
            let result = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(socket, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
            guard result == 0 else { Glibc.close(socket); throw ClientError("cannot connect to 127.0.0.1:\(port)") }
        }

        public func send(_ data: Data) throws {
            var offset = 0
            while offset < data.count {
                let sent = data.withUnsafeBytes { Glibc.send(socket, $0.baseAddress! + offset, data.count - offset, Int32(MSG_NOSIGNAL)) }
                guard sent > 0 else { throw ClientError("send failed") }
                offset += sent
            }
        }

        /// Reads more bytes into `buffer`; false at the end of the stream.
        public func readMore() throws -> Bool {
            var chunk = [UInt8](repeating: 0, count: 65536)
            let count = recv(socket, &chunk, chunk.count, 0)
            guard count >= 0 else { throw ClientError("receive failed or timed out (errno \(errno))") }
            buffer.append(contentsOf: chunk[0..<count])
            return count > 0
        }

        /// Reads until the received text contains `marker` at least `count` times (off the concurrency pool).
        public func read(until marker: String, count: Int = 1) async throws {
            try await offThread {
                while String(decoding: self.buffer, as: UTF8.self).components(separatedBy: marker).count <= count {
                    guard try self.readMore() else { throw ClientError("the stream ended before \(count) × '\(marker)'") }
                }
            }
        }

        private var isClosed = false
        public func close() {
            guard !isClosed else { return }   // never twice: the number may belong to another socket by then
            isClosed = true
            Glibc.close(socket)
        }
        deinit { close() }
    }

    public struct ClientError: Error, CustomStringConvertible {
        public let description: String
        public init(_ description: String) { self.description = description }
    }

    /// The raw request bytes.
    public static func requestBytes(_ method: String, _ path: String, headers: [String: String] = [:], body: Data? = nil) -> Data {
        var head = "\(method) \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
        for (name, value) in headers { head += "\(name): \(value)\r\n" }
        if let body { head += "Content-Length: \(body.count)\r\n" }
        var data = Data((head + "\r\n").utf8)
        if let body { data.append(body) }
        return data
    }

    /// Sends a request and reads the whole response (the server closes the connection after it). The socket blocks, so
    /// it runs on a thread of its own: blocking the few threads of Swift's concurrency pool would starve the server.
    public func send(_ method: String, _ path: String, headers: [String: String] = [:], body: Data? = nil) async throws -> Response {
        let port = port
        return try await offThread {
            let connection = try Connection(port: port)
            try connection.send(Self.requestBytes(method, path, headers: headers, body: body))
            while try connection.readMore() {}
            return try Self.parse(connection.buffer)
        }
    }

    public func get(_ path: String, headers: [String: String] = [:]) async throws -> Response { try await send("GET", path, headers: headers) }

    public func post(_ path: String, json: [String: Any], headers: [String: String] = [:]) async throws -> Response {
        try await send("POST", path, headers: headers.merging(["Content-Type": "application/json"]) { a, _ in a },
                       body: try JSONSerialization.data(withJSONObject: json))
    }

    /// Splits a complete response into status, headers and (de-chunked) body.
    public static func parse(_ data: Data) throws -> Response {
        guard let split = data.range(of: Data("\r\n\r\n".utf8)) else { throw ClientError("no complete response head in \(data.count) bytes") }
        let head = String(decoding: data[..<split.lowerBound], as: UTF8.self).components(separatedBy: "\r\n")
        let statusParts = head[0].split(separator: " ")
        guard statusParts.count >= 2, let status = Int(statusParts[1]) else { throw ClientError("bad status line \(head[0])") }
        var headers: [String: String] = [:]
        for line in head.dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { continue }
            headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        var body = Data(data[split.upperBound...])
        if headers["transfer-encoding"]?.lowercased() == "chunked" { body = dechunk(body) }
        return Response(status: status, headers: headers, body: body)
    }

    static func dechunk(_ data: Data) -> Data {
        var result = Data()
        var rest = data[...]
        while let lineEnd = rest.range(of: Data("\r\n".utf8)) {
            let size = Int(String(decoding: rest[..<lineEnd.lowerBound], as: UTF8.self).split(separator: ";")[0], radix: 16) ?? 0
            if size == 0 { break }
            let start = lineEnd.upperBound
            guard rest.distance(from: start, to: rest.endIndex) >= size else { break }
            let end = rest.index(start, offsetBy: size)
            result.append(rest[start..<end])
            rest = rest[rest.index(end, offsetBy: min(2, rest.distance(from: end, to: rest.endIndex)))...]
        }
        return result
    }
}

/// Runs blocking work on a new thread and waits for it without holding a concurrency-pool thread.
public func offThread<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        Thread.detachNewThread { continuation.resume(with: Result { try body() }) }
    }
}
