import Foundation
import Testing
@testable import Checkpoint
@testable import Hub

/// The metadata answer's interpretation on its own (`HubFileMetadata.interpret`): what the hub sends, and what a
/// broken or hostile server might send instead. The same function is the `hub-response` fuzz target.
@Suite struct HubFileMetadataTests {
    static let endpoint = URL(string: "https://huggingface.co")!
    static let url = URL(string: "https://huggingface.co/gpt2/resolve/main/model.safetensors")!
    static let commit = "607a30d783dfa663caf39e06633721c8d4cfcd7e"
    static let sha = "248dfc3911869ec493c76e65bf2fcf7f615828b0254c12b473182f0f81d3a707"

    static func interpret(_ status: Int, _ headers: [String: String], required: Bool = true) throws -> HubFileMetadata? {
        try HubFileMetadata.interpret(status: status, headers: Dictionary(uniqueKeysWithValues: headers.map { ($0.key.lowercased(), $0.value) }),
                                      url: url, endpoint: endpoint, repository: "gpt2", file: "model.safetensors", required: required)
    }

    @Test func anLFSRedirectNamesTheBlobBySHAAndDropsTheTokenForTheCDN() throws {
        let found = try #require(try Self.interpret(302, [
            "X-Repo-Commit": Self.commit, "X-Linked-Etag": "\"\(Self.sha)\"", "X-Linked-Size": "548118077",
            "ETag": "\"other\"", "Content-Length": "1127", "Location": "https://cdn-lfs.huggingface.co/repos/7b/fd/x?sig=1",
        ]))
        #expect(found == HubFileMetadata(commit: Self.commit, etag: Self.sha, expectedSize: 548_118_077,
                                         contentURL: URL(string: "https://cdn-lfs.huggingface.co/repos/7b/fd/x?sig=1")!, sendsToken: false))
    }

    @Test func aRelativeRedirectStaysOnTheHubWithTheToken() throws {
        let found = try #require(try Self.interpret(307, [
            "X-Repo-Commit": Self.commit, "ETag": "W/\"1b3-ab\"", "Content-Length": "91", "Location": "/api/resolve-cache/gpt2/config.json",
        ]))
        #expect(found.etag == "1b3-ab")
        #expect(found.contentURL.absoluteString == "https://huggingface.co/api/resolve-cache/gpt2/config.json")
        #expect(found.sendsToken)
        #expect(found.expectedSize == nil, "a redirect's Content-Length is its own body's, not the file's")
        // The hub's own host with its default port written out is still the hub.
        let explicit = try #require(try Self.interpret(302, ["X-Repo-Commit": Self.commit, "ETag": "\"a1\"", "Location": "https://huggingface.co:443/x"]))
        #expect(explicit.sendsToken)
    }

    @Test func aRedirectToAnotherSchemeOrPortDoesNotGetTheToken() throws {
        for location in ["http://huggingface.co/x", "https://huggingface.co:8443/x"] {
            let found = try #require(try Self.interpret(302, ["X-Repo-Commit": Self.commit, "ETag": "\"a1\"", "Location": location]))
            #expect(found.contentURL.absoluteString == location)
            #expect(!found.sendsToken, "\(location)")
        }
        // Not a web address at all: refused, not fetched (nor the original URL asked again with the token).
        #expect(throws: HubClient.HubError.missingMetadata(url: Self.url.absoluteString, header: "a usable Location (got file:///etc/passwd)")) {
            try Self.interpret(302, ["X-Repo-Commit": Self.commit, "ETag": "\"a1\"", "Location": "file:///etc/passwd"])
        }
    }

    @Test func aMissingFileIsNilUnlessRequired() throws {
        #expect(try Self.interpret(404, [:], required: false) == nil)
        #expect(try Self.interpret(401, [:], required: false) == nil)
        #expect(throws: HubClient.HubError.notFound(repository: "gpt2", file: "model.safetensors", status: 404)) {
            try Self.interpret(404, [:])
        }
        #expect(throws: HubClient.HubError.http(url: Self.url.absoluteString, status: 500)) { try Self.interpret(500, [:], required: false) }
    }

    @Test func anETagThatIsNotAPlainFileNameIsRefused() throws {
        for etag in ["\"../../../etc/passwd\"", "\"a/b\"", "\"\"", "\".hidden\"", "\"é1\"", "\"\(String(repeating: "a", count: 129))\""] {
            #expect(throws: HubClient.HubError.self, "\(etag)") {
                try Self.interpret(200, ["X-Repo-Commit": Self.commit, "ETag": etag])
            }
        }
        #expect(throws: HubClient.HubError.missingMetadata(url: Self.url.absoluteString, header: "ETag")) {
            try Self.interpret(200, ["X-Repo-Commit": Self.commit])
        }
    }

    @Test func aCommitThatIsNotAHashIsRefused() throws {
        for commit in ["main", "../refs", String(Self.commit.dropLast()), Self.commit.uppercased() + "0"] {
            #expect(throws: HubClient.HubError.missingMetadata(url: Self.url.absoluteString, header: "X-Repo-Commit"), "\(commit)") {
                try Self.interpret(200, ["X-Repo-Commit": commit, "ETag": "\"a1\""])
            }
        }
    }

    @Test func aSizeThatIsNotACountIsRefused() throws {
        for size in ["-1", "12abc", "99999999999999999999", "0x10"] {
            #expect(throws: HubClient.HubError.missingMetadata(url: Self.url.absoluteString, header: "a usable size (got \(size))"), "\(size)") {
                try Self.interpret(200, ["X-Repo-Commit": Self.commit, "ETag": "\"a1\"", "Content-Length": size])
            }
        }
        #expect(try Self.interpret(200, ["X-Repo-Commit": Self.commit, "ETag": "\"a1\""])?.expectedSize == nil)
        #expect(try Self.interpret(200, ["X-Repo-Commit": Self.commit, "ETag": "\"a1\"", "Content-Length": "0"])?.expectedSize == 0)
        // One header sent twice, joined by the HTTP stack: the same value is that value, two values are refused.
        #expect(try Self.interpret(200, ["X-Repo-Commit": Self.commit, "ETag": "\"a1\"", "Content-Length": "665, 665"])?.expectedSize == 665)
        #expect(throws: HubClient.HubError.self) {
            try Self.interpret(200, ["X-Repo-Commit": Self.commit, "ETag": "\"a1\"", "Content-Length": "665, 700"])
        }
    }

    @Test func shardNamesThatLeaveTheSnapshotAreRefused() throws {
        let good = SafetensorsIndex(weightMap: ["a": "model-00001-of-00002.safetensors", "b": "model-00002-of-00002.safetensors"])
        #expect(try HubFileMetadata.shardNames(of: good) == ["model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"])
        for bad in ["../model.safetensors", "sub/model.safetensors", ".model.safetensors", "", "a\0b"] {
            #expect(throws: HubClient.HubError.self, "\(bad.debugDescription)") {
                try HubFileMetadata.shardNames(of: SafetensorsIndex(weightMap: ["a": bad]))
            }
        }
    }
}
