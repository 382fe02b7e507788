import Testing
@testable import GQZ

@Suite struct ZstdFrameTests {
    @Test func roundTripsAndShrinksRepetitiveData() throws {
        let input = (0..<100_000).map { UInt8(truncatingIfNeeded: $0 % 7) }
        let frame = try ZstdFrame.compress(input)
        #expect(frame.count < input.count / 10)
        #expect(try ZstdFrame.decompress(frame, expectedSize: input.count) == input)
    }

    @Test func corruptedFrameIsRejectedNotReturned() throws {
        let input = (0..<4096).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ $0 / 5) }
        var frame = try ZstdFrame.compress(input)
        frame[frame.count - 1] ^= 0xFF  // last byte is inside the content checksum
        #expect(throws: ZstdFrame.Failure.self) { try ZstdFrame.decompress(frame, expectedSize: input.count) }
    }

    @Test func wrongExpectedSizeIsAnError() throws {
        let frame = try ZstdFrame.compress([1, 2, 3])
        #expect(throws: ZstdFrame.Failure.self) { try ZstdFrame.decompress(frame, expectedSize: 4) }
    }
}
