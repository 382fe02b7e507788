import Checkpoint
import Foundation

/// What the hub's answer to a file's metadata request (a HEAD on `resolve/{revision}/{file}`, redirects not
/// followed) says about the file: the commit it belongs to, the blob's ETag, its size, and where its content is.
/// A pure function of the status and headers, so that hostile or broken answers can be tested and fuzzed without
/// a network (tools/fuzz: the `hub-response` target).
package struct HubFileMetadata: Equatable, Sendable {
    /// The commit the revision resolved to (40 hex digits).
    package let commit: String
    /// The blob's name in the cache: the ETag without quotes or a weak prefix (letters, digits and `-` only).
    package let etag: String
    /// The content's size from X-Linked-Size or Content-Length, when the answer gave one.
    package let expectedSize: Int64?
    /// Where the content comes from: the request's URL, or the redirect's target (a CDN).
    package let contentURL: URL
    /// Whether the token may be sent to `contentURL` (not to another host).
    package let sendsToken: Bool

    /// Interprets one metadata answer. Returns nil when the file does not exist (404, or 401 as the hub answers
    /// for a file it will not name) and `required` is false; throws the error the user sees otherwise.
    package static func interpret(status: Int, headers: [String: String], url: URL, endpoint: URL,
                                  repository: String, file: String, required: Bool) throws -> HubFileMetadata? {
        func header(_ name: String) -> String? { headers[name.lowercased()] }
        if status == 404 || status == 401 {
            if required { throw HubClient.HubError.notFound(repository: repository, file: file, status: status) }
            return nil
        }
        guard (200..<400).contains(status) else { throw HubClient.HubError.http(url: url.absoluteString, status: status) }
        guard let commit = header("X-Repo-Commit"), HubCache.isCommitHash(commit) else {
            throw HubClient.HubError.missingMetadata(url: url.absoluteString, header: "X-Repo-Commit")
        }
        guard let rawETag = header("X-Linked-Etag") ?? header("ETag") else {
            throw HubClient.HubError.missingMetadata(url: url.absoluteString, header: "ETag")
        }
        let etag = normalize(etag: rawETag)
        // The ETag names a file in the cache: nothing that could climb out of blobs/ or hide ("..", "/", ".x").
        guard !etag.isEmpty, etag.count <= 128, etag.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-") }) else {
            throw HubClient.HubError.missingMetadata(url: url.absoluteString, header: "a usable ETag (got \(rawETag.prefix(200)))")
        }
        // The content's size: X-Linked-Size (LFS files), else the answer's own Content-Length, which describes the
        // file only when the answer is not a redirect (a redirect's Content-Length is its own empty body's).
        let isRedirect = (300..<400).contains(status)
        var expectedSize: Int64?
        if let rawSize = header("X-Linked-Size") ?? (isRedirect ? nil : header("Content-Length")) {
            // A header sent twice arrives joined with ", ": the same value twice is that value.
            let values = Set(rawSize.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) })
            guard values.count == 1, let size = Int64(values.first!), size >= 0 else {
                throw HubClient.HubError.missingMetadata(url: url.absoluteString, header: "a usable size (got \(rawSize.prefix(200)))")
            }
            expectedSize = size
        }
        // Content comes from the redirect target when there is one (a CDN: no token sent to another host).
        var contentURL = url
        var sendsToken = true
        if isRedirect, let location = header("Location") {
            guard let target = URL(string: location, relativeTo: endpoint)?.absoluteURL,
                  let scheme = target.scheme?.lowercased(), scheme == "http" || scheme == "https", target.host != nil else {
                throw HubClient.HubError.missingMetadata(url: url.absoluteString, header: "a usable Location (got \(location.prefix(200)))")
            }
            contentURL = target
            sendsToken = target.host?.lowercased() == endpoint.host?.lowercased() && scheme == endpoint.scheme?.lowercased()
                && effectivePort(target) == effectivePort(endpoint)
        }
        return HubFileMetadata(commit: commit, etag: etag, expectedSize: expectedSize, contentURL: contentURL, sendsToken: sendsToken)
    }

    /// The port a URL connects to: its own, or its scheme's default (so https://h and https://h:443 are one place).
    private static func effectivePort(_ url: URL) -> Int? {
        url.port ?? (url.scheme?.lowercased() == "https" ? 443 : url.scheme?.lowercased() == "http" ? 80 : nil)
    }

    /// huggingface_hub's ETag normalization: drop a weak `W/` prefix and the quotes.
    package static func normalize(etag: String) -> String {
        var value = etag.trimmingCharacters(in: .whitespaces)
        if value.hasPrefix("W/") { value.removeFirst(2) }
        return value.trimmingCharacters(in: CharacterSet(charactersIn: "\""))
    }

    /// The shard files a model.safetensors.index.json names, refused when one is not a plain file name in the
    /// snapshot (a path or a hidden name would be fetched and linked outside it).
    package static func shardNames(of index: SafetensorsIndex) throws -> [String] {
        let names = index.shardNames
        for shard in names where shard.isEmpty || shard.contains("/") || shard.contains("\0") || shard.hasPrefix(".") {
            throw HubClient.HubError.invalidModelID("shard name \(shard.debugDescription)")
        }
        return names
    }
}
