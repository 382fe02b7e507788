import Foundation
import Testing
@testable import Checkpoint
@testable import Hub

@Suite struct SHA256Tests {
    static func hex(_ bytes: [UInt8]) -> String { var h = SHA256(); h.update(bytes); return h.hexDigest() }

    @Test func standardVectors() {
        #expect(Self.hex([]) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        #expect(Self.hex(Array("abc".utf8)) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(Self.hex(Array("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq".utf8))
                == "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
        #expect(Self.hex([UInt8](repeating: 0x61, count: 1_000_000)) == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
    }

    @Test func streamingInAnyPiecesGivesTheSameDigest() {
        let data = (0..<10_000).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ $0 >> 5) }
        let whole = Self.hex(data)
        for piece in [1, 3, 63, 64, 65, 1000] {
            var hash = SHA256()
            for start in stride(from: 0, to: data.count, by: piece) { hash.update(Array(data[start..<min(data.count, start + piece)])) }
            #expect(hash.hexDigest() == whole, "pieces of \(piece)")
        }
    }
}
