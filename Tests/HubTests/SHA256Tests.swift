import Foundation
import Testing
import TestSupport
@testable import Checkpoint
@testable import Hub

/// `HubClient.sha256(of:)`, the streamed digest that downloads are checked with (swift-crypto underneath), on
/// FIPS 180-4's vectors and read back in pieces of every awkward size.
@Suite struct SHA256Tests {
    static func hex(_ bytes: [UInt8], chunkSize: Int = 1 << 22) throws -> String {
        let folder = try Fixtures.temporaryDirectory("sha256")
        defer { try? FileManager.default.removeItem(at: folder) }
        let file = folder.appendingPathComponent("content")
        try Data(bytes).write(to: file)
        return try HubClient.sha256(of: file, chunkSize: chunkSize)
    }

    @Test func standardVectors() throws {
        #expect(try Self.hex([]) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        #expect(try Self.hex(Array("abc".utf8)) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(try Self.hex(Array("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq".utf8))
                == "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
        #expect(try Self.hex([UInt8](repeating: 0x61, count: 1_000_000)) == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
    }

    @Test func streamingInAnyPiecesGivesTheSameDigest() throws {
        let data = (0..<10_000).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ $0 >> 5) }
        let whole = try Self.hex(data)
        for piece in [1, 3, 63, 64, 65, 1000] {
            #expect(try Self.hex(data, chunkSize: piece) == whole, "pieces of \(piece)")
        }
        // The 1,000,000 × "a" vector again, read in pieces that straddle SHA-256's 64-byte blocks.
        #expect(try Self.hex([UInt8](repeating: 0x61, count: 1_000_000), chunkSize: 4093)
                == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
    }

    @Test func missingFileIsAnErrorNotADigest() {
        #expect(throws: HubClient.HubError.self) {
            try HubClient.sha256(of: URL(fileURLWithPath: "/nonexistent/gpt2edge-sha256-test"))
        }
    }
}
