import Crypto
import Foundation

extension HubClient {
    /// The SHA-256 of a file as 64 lower-case hex characters (what the Hugging Face hub's LFS ETags are),
    /// streamed through swift-crypto's `SHA256` in pieces of `chunkSize` bytes, so a multi-gigabyte checkpoint
    /// is never held in memory.
    static func sha256(of url: URL, chunkSize: Int = 1 << 22) throws -> String {
        guard let handle = FileHandle(forReadingAtPath: url.path) else { throw HubError.cacheWrite(path: url.path, reason: "cannot read back") }
        defer { try? handle.close() }
        var hash = SHA256()
        while true {
            let chunk = handle.readData(ofLength: chunkSize)
            if chunk.isEmpty { break }
            hash.update(data: chunk)
        }
        return hexDigest(hash.finalize())
    }

    /// A digest as lower-case hex, two characters a byte.
    static func hexDigest(_ digest: SHA256.Digest) -> String {
        let hex = Array("0123456789abcdef".utf8)
        var text: [UInt8] = []
        text.reserveCapacity(2 * SHA256.byteCount)
        for byte in digest {
            text.append(hex[Int(byte >> 4)])
            text.append(hex[Int(byte & 0x0f)])
        }
        return String(decoding: text, as: UTF8.self)
    }
}
