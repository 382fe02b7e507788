import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// Blocking HTTP requests for the hub client: metadata requests that do not follow redirects (the hub puts
/// file metadata on the redirect response itself), and downloads streamed to a file as they arrive.
// @unchecked: URLSession calls the delegate on its one serial queue; the caller waits on a semaphore until it is done.
final class HTTPTransfer: NSObject, URLSessionDataDelegate, @unchecked Sendable {
    struct Response {
        let status: Int
        let headers: [String: String]   // lower-cased names
        func header(_ name: String) -> String? { headers[name.lowercased()] }
    }

    private var followRedirects = true
    private var response: HTTPURLResponse?
    private var error: Error?
    private var sink: FileHandle?
    private var acceptStatuses: Set<Int> = []
    private var received: Int64 = 0
    private var progress: ((Int64, Bool) -> Void)?
    private var restarted = false
    private let done = DispatchSemaphore(value: 0)
    private var writeError: Error?

    /// A HEAD request; redirects are returned, not followed.
    static func head(_ url: URL, headers: [String: String], timeout: TimeInterval = 30) throws -> Response {
        let transfer = HTTPTransfer()
        transfer.followRedirects = false
        var request = URLRequest(url: url, timeoutInterval: timeout)
        request.httpMethod = "HEAD"
        for (name, value) in headers { request.setValue(value, forHTTPHeaderField: name) }
        return try transfer.run(request)
    }

    /// A GET whose body, when the status is one of `accept`, is appended to `file`; redirects are followed.
    /// A 200 answer (the whole resource) empties the file first, so a server that ignores Range cannot corrupt it.
    /// `progress(bytes received, whether the file was restarted)`.
    static func download(_ url: URL, headers: [String: String], to file: FileHandle, accept: Set<Int>,
                         timeout: TimeInterval = 60, progress: @escaping (Int64, Bool) -> Void) throws -> Response {
        let transfer = HTTPTransfer()
        transfer.sink = file
        transfer.acceptStatuses = accept
        transfer.progress = progress
        var request = URLRequest(url: url, timeoutInterval: timeout)
        for (name, value) in headers { request.setValue(value, forHTTPHeaderField: name) }
        return try transfer.run(request)
    }

    private func run(_ request: URLRequest) throws -> Response {
        let session = URLSession(configuration: .ephemeral, delegate: self, delegateQueue: nil)
        session.dataTask(with: request).resume()
        done.wait()
        // The session keeps its delegate until it is invalidated, later; the caller's closure and file must not outlive this call.
        progress = nil
        sink = nil
        session.finishTasksAndInvalidate()
        if let writeError { throw writeError }
        if let error { throw error }
        guard let response else { throw URLError(.badServerResponse) }
        var headers: [String: String] = [:]
        for (key, value) in response.allHeaderFields {
            if let key = key as? String, let value = value as? String { headers[key.lowercased()] = value }
        }
        return Response(status: response.statusCode, headers: headers)
    }

    func urlSession(_ session: URLSession, task: URLSessionTask, willPerformHTTPRedirection response: HTTPURLResponse,
                    newRequest request: URLRequest, completionHandler: @escaping (URLRequest?) -> Void) {
        completionHandler(followRedirects ? request : nil)
    }

    func urlSession(_ session: URLSession, dataTask: URLSessionDataTask, didReceive response: URLResponse,
                    completionHandler: @escaping (URLSession.ResponseDisposition) -> Void) {
        self.response = response as? HTTPURLResponse
        if let sink, self.response?.statusCode == 200 {
            do {
                try sink.truncate(atOffset: 0)
                restarted = true
            } catch { writeError = error }
        }
        completionHandler(.allow)
    }

    func urlSession(_ session: URLSession, dataTask: URLSessionDataTask, didReceive data: Data) {
        guard let sink, let status = response?.statusCode, acceptStatuses.contains(status), writeError == nil else { return }
        do {
            try sink.write(contentsOf: data)
            received += Int64(data.count)
            progress?(received, restarted)
        } catch {
            writeError = error
            dataTask.cancel()
        }
    }

    func urlSession(_ session: URLSession, task: URLSessionTask, didCompleteWithError error: Error?) {
        self.error = error
        done.signal()
    }
}
