import Foundation
import Testing
import TestSupport
@testable import Checkpoint
@testable import Hub

/// Downloads against a hub stand-in on 127.0.0.1 (Tests/Fixtures/hub_server.py).
@Suite(.serialized) struct HubClientTests {
    static let repository = "test-org/tiny-gpt2"

    static func client(_ server: HubServer, cache: URL, offline: Bool = false) -> HubClient {
        HubClient(endpoint: server.endpoint, cache: HubCache(root: cache), offline: offline)
    }

    static func files(under url: URL) -> [String] {
        (FileManager.default.enumerator(atPath: url.path)?.allObjects as? [String] ?? []).sorted()
    }

    @Test func freshDownloadFillsTheCacheInHuggingFaceLayout() throws {
        let source = try Fixtures.hubRepositoryCopy(), cache = try Fixtures.temporaryDirectory("hub-cache")
        defer { try? FileManager.default.removeItem(at: source); try? FileManager.default.removeItem(at: cache) }
        let server = try HubServer(repositories: [Self.repository: source])
        let folder = try Self.client(server, cache: cache).resolve("test-org/tiny-gpt2")
        #expect(HubClient.isCompleteModelFolder(folder))
        for name in ["config.json", "model.safetensors", "vocab.json", "merges.txt", "generation_config.json"] {
            #expect(try Data(contentsOf: folder.appendingPathComponent(name)) == Data(contentsOf: source.appendingPathComponent(name)), "\(name)")
            let destination = try FileManager.default.destinationOfSymbolicLink(atPath: folder.appendingPathComponent(name).path)
            #expect(destination.hasPrefix("../../blobs/"), "\(name) → \(destination)")
        }
        let repo = cache.appendingPathComponent("models--test-org--tiny-gpt2")
        #expect(try String(contentsOf: repo.appendingPathComponent("refs/main"), encoding: .utf8) == "0123456789abcdef0123456789abcdef01234567")
        let digest = try HubClient.sha256(of: source.appendingPathComponent("model.safetensors"))
        #expect(FileManager.default.fileExists(atPath: repo.appendingPathComponent("blobs/\(digest)").path))
        #expect(!Self.files(under: cache).contains { $0.hasSuffix(".incomplete") })

        // A second resolve is served from the cache, even offline and with the server gone.
        let requests = server.requests.count
        #expect(try Self.client(server, cache: cache, offline: true).resolve("test-org/tiny-gpt2") == folder)
        #expect(server.requests.count == requests)
    }

    @Test func interruptedTransferResumesWithARangeRequest() throws {
        let source = try Fixtures.hubRepositoryCopy(), cache = try Fixtures.temporaryDirectory("hub-cache")
        defer { try? FileManager.default.removeItem(at: source); try? FileManager.default.removeItem(at: cache) }
        let server = try HubServer(repositories: [Self.repository: source], options: ["--cut-after", "30000"])
        let folder = try Self.client(server, cache: cache).resolve(Self.repository)
        #expect(try Data(contentsOf: folder.appendingPathComponent("model.safetensors")) == Data(contentsOf: source.appendingPathComponent("model.safetensors")))
        #expect(server.requests.contains { $0.hasPrefix("GET /cdn/") && $0.hasSuffix("range=bytes=30000-") }, "\(server.requests)")
    }

    @Test func serverIgnoringRangeStillGivesTheRightFile() throws {
        let source = try Fixtures.hubRepositoryCopy(), cache = try Fixtures.temporaryDirectory("hub-cache")
        defer { try? FileManager.default.removeItem(at: source); try? FileManager.default.removeItem(at: cache) }
        let server = try HubServer(repositories: [Self.repository: source], options: ["--cut-after", "30000", "--ignore-range"])
        let folder = try Self.client(server, cache: cache).resolve(Self.repository)
        #expect(try Data(contentsOf: folder.appendingPathComponent("model.safetensors")) == Data(contentsOf: source.appendingPathComponent("model.safetensors")))
    }

    @Test func checksumMismatchIsRejectedAndNothingIsCached() throws {
        let source = try Fixtures.hubRepositoryCopy(), cache = try Fixtures.temporaryDirectory("hub-cache")
        defer { try? FileManager.default.removeItem(at: source); try? FileManager.default.removeItem(at: cache) }
        let server = try HubServer(repositories: [Self.repository: source], options: ["--corrupt"])
        do {
            _ = try Self.client(server, cache: cache).resolve(Self.repository)
            Issue.record("expected a checksum error")
        } catch let error as HubClient.HubError {
            guard case .checksumMismatch(let file, _, _) = error else { Issue.record("wrong error \(error)"); return }
            #expect(file == "model.safetensors")
            #expect(error.description.contains("nothing was placed in the cache"))
        }
        let cached = Self.files(under: cache)
        #expect(!cached.contains { $0.hasSuffix("model.safetensors") || $0.hasSuffix(".incomplete") }, "\(cached)")
        // The small files' blobs (40-hex ETags) may be there; no 64-hex (SHA-256, LFS) blob may.
        #expect(!cached.contains { $0.hasPrefix("models--test-org--tiny-gpt2/blobs/") && $0.split(separator: "/").last!.count == 64 }, "\(cached)")
        #expect(HubCache(root: cache).completeSnapshot(repository: Self.repository, revision: "main") == nil)
    }

    /// The blob path of the fixture's model.safetensors (its ETag is its SHA-256), its folder created.
    static func modelBlob(in cache: URL, source: URL) throws -> URL {
        let digest = try HubClient.sha256(of: source.appendingPathComponent("model.safetensors"))
        let blobs = cache.appendingPathComponent("models--test-org--tiny-gpt2/blobs")
        try FileManager.default.createDirectory(at: blobs, withIntermediateDirectories: true)
        return blobs.appendingPathComponent(digest)
    }

    @Test func partialFileLeftByAKilledDownloadIsResumed() throws {
        let source = try Fixtures.hubRepositoryCopy(), cache = try Fixtures.temporaryDirectory("hub-cache")
        defer { try? FileManager.default.removeItem(at: source); try? FileManager.default.removeItem(at: cache) }
        let blob = try Self.modelBlob(in: cache, source: source)
        let content = try Data(contentsOf: source.appendingPathComponent("model.safetensors"))
        try content.prefix(25_000).write(to: URL(fileURLWithPath: blob.path + ".incomplete"))   // what SIGKILL leaves
        let server = try HubServer(repositories: [Self.repository: source])
        let folder = try Self.client(server, cache: cache).resolve(Self.repository)
        #expect(try Data(contentsOf: folder.appendingPathComponent("model.safetensors")) == content)
        #expect(server.requests.contains { $0.hasPrefix("GET /cdn/") && $0.hasSuffix("range=bytes=25000-") }, "\(server.requests)")
        #expect(!Self.files(under: cache).contains { $0.hasSuffix(".incomplete") })
    }

    @Test func partialFileThatIsNotARegularFileIsRefusedNotWrittenThrough() throws {
        let source = try Fixtures.hubRepositoryCopy(), cache = try Fixtures.temporaryDirectory("hub-cache")
        let elsewhere = try Fixtures.temporaryDirectory()
        defer { for url in [source, cache, elsewhere] { try? FileManager.default.removeItem(at: url) } }
        let incomplete = try Self.modelBlob(in: cache, source: source).path + ".incomplete"
        let victim = elsewhere.appendingPathComponent("notes.txt")
        try Data("someone's notes".utf8).write(to: victim)
        #expect(symlink(victim.path, incomplete) == 0)
        let server = try HubServer(repositories: [Self.repository: source])
        #expect(throws: HubClient.HubError.cacheWrite(path: incomplete, reason: "it is a symbolic link, not a regular file; remove it")) {
            try Self.client(server, cache: cache).resolve(Self.repository)
        }
        #expect(try String(contentsOf: victim, encoding: .utf8) == "someone's notes")
        #expect(try FileManager.default.destinationOfSymbolicLink(atPath: incomplete) == victim.path)

        try FileManager.default.removeItem(atPath: incomplete)
        #expect(mkfifo(incomplete, 0o644) == 0)
        #expect(throws: HubClient.HubError.cacheWrite(path: incomplete, reason: "it is a named pipe (FIFO), not a regular file; remove it")) {
            try Self.client(server, cache: cache).resolve(Self.repository)
        }
    }

    @Test func danglingBlobLinkIsRefusedNotReplaced() throws {
        let source = try Fixtures.hubRepositoryCopy(), cache = try Fixtures.temporaryDirectory("hub-cache")
        defer { try? FileManager.default.removeItem(at: source); try? FileManager.default.removeItem(at: cache) }
        let blob = try Self.modelBlob(in: cache, source: source).path
        let unmounted = "/nonexistent-disk/hub/" + (blob as NSString).lastPathComponent   // blobs moved to a disk that is not there
        #expect(symlink(unmounted, blob) == 0)
        let server = try HubServer(repositories: [Self.repository: source])
        #expect(throws: HubClient.HubError.cacheWrite(path: blob, reason: "it is a symbolic link to \(unmounted), which does not exist; restore its target or remove the link")) {
            try Self.client(server, cache: cache).resolve(Self.repository)
        }
        #expect(try FileManager.default.destinationOfSymbolicLink(atPath: blob) == unmounted)

        // A link to a regular file is a cached blob (used as it is, not downloaded again).
        let moved = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: moved) }
        try FileManager.default.copyItem(at: source.appendingPathComponent("model.safetensors"), to: moved.appendingPathComponent("blob"))
        try FileManager.default.removeItem(atPath: blob)
        #expect(symlink(moved.path + "/blob", blob) == 0)
        let folder = try Self.client(server, cache: cache).resolve(Self.repository)
        #expect(try Data(contentsOf: folder.appendingPathComponent("model.safetensors")) == Data(contentsOf: source.appendingPathComponent("model.safetensors")))
        #expect(!server.requests.contains { $0.hasPrefix("GET /cdn/") }, "\(server.requests)")
    }

    @Test func offlineWithEmptyCacheSaysSo() throws {
        let cache = try Fixtures.temporaryDirectory("hub-cache")
        defer { try? FileManager.default.removeItem(at: cache) }
        let client = HubClient(endpoint: URL(string: "http://127.0.0.1:9")!, cache: HubCache(root: cache), offline: true)
        #expect(throws: HubClient.HubError.offlineAndNotCached(repository: "openai-community/gpt2", cache: cache.path)) {
            try client.resolve("gpt2")
        }
    }

    @Test func unknownRepositoryAndBadIDs() throws {
        let source = try Fixtures.hubRepositoryCopy(), cache = try Fixtures.temporaryDirectory("hub-cache")
        defer { try? FileManager.default.removeItem(at: source); try? FileManager.default.removeItem(at: cache) }
        let server = try HubServer(repositories: [Self.repository: source])
        #expect(throws: HubClient.HubError.notFound(repository: "nobody/nothing", file: "config.json", status: 404)) {
            try Self.client(server, cache: cache).resolve("nobody/nothing")
        }
        for bad in ["a/b/c", "../x", "justaname", "org/..", ""] {
            #expect(throws: HubClient.HubError.invalidModelID(bad)) { try Self.client(server, cache: cache).resolve(bad) }
        }
        #expect(try HubClient.parse("gpt2-xl").repository == "openai-community/gpt2-xl")
        #expect(try HubClient.parse("distilgpt2@v1").revision == "v1")
    }

    @Test func cacheLocationFollowsTheEnvironment() {
        #expect(HubCache.fromEnvironment(["HF_HUB_CACHE": "/a"]).root.path == "/a")
        #expect(HubCache.fromEnvironment(["HF_HOME": "/b"]).root.path == "/b/hub")
        #expect(HubCache.fromEnvironment(["XDG_CACHE_HOME": "/c", "HOME": "/h"]).root.path == "/c/huggingface/hub")
        #expect(HubCache.fromEnvironment(["HOME": "/h"]).root.path == "/h/.cache/huggingface/hub")
        #expect(HubClient.fromEnvironment(["HF_HUB_OFFLINE": "1"]).offline)
        #expect(HubClient.fromEnvironment(["HF_ENDPOINT": "http://127.0.0.1:5"]).endpoint.absoluteString == "http://127.0.0.1:5")
        #expect(HubClient.normalize(etag: "W/\"abc\"") == "abc")
    }
}
