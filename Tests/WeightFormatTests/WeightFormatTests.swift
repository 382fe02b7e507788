import Testing
import WeightFormat

/// The leaf's sizes and group layout, against values worked out by hand from formats/GQZ.md §4.
@Suite struct WeightFormatTests {
    @Test func namesParseBackAndUnsupportedGroupsAreRefused() {
        for scheme in [WeightScheme.float32, .int8(groupSize: 32), .int4(groupSize: 64), .int8(groupSize: 128)] {
            #expect(WeightScheme(name: scheme.name, groupSize: scheme.groupSize) == scheme)
        }
        #expect(WeightScheme(name: "q4", groupSize: 48) == nil)
        #expect(WeightScheme(name: "q8", groupSize: nil) == nil)
        #expect(WeightScheme(name: "f16", groupSize: nil) == nil)
        #expect(WeightScheme(bits: .four, groupSize: 32) == .int4(groupSize: 32))
    }

    @Test func payloadSizesPadTheLastGroup() {
        // 2 rows × 40 columns in groups of 32: 2 groups a row (the second partial), 4 fp16 scales = 8 bytes.
        #expect(WeightScheme.int8(groupSize: 32).payloadBytes(rows: 2, columns: 40) == 8 + 2 * 64)
        #expect(WeightScheme.int4(groupSize: 32).payloadBytes(rows: 2, columns: 40) == 8 + 2 * 32)
        #expect(WeightScheme.float32.payloadBytes(rows: 2, columns: 40) == 320)
        #expect(IntegerBits.four.groupBytes(groupSize: 64) == 32)
    }

    @Test func int4GroupsPackValueKWithValueKPlusHalf() {
        var bytes = [UInt8](repeating: 0, count: 16)
        let quants: [UInt8] = (0..<20).map { UInt8($0 % 16) }   // a partial group of 20 out of 32
        QuantizedGroup.packInt4(quants, groupSize: 32, into: &bytes)
        #expect(bytes[0] == 0x00 | 0x00 << 4)                  // value 0 (0) and value 16 (16 % 16 = 0)
        #expect(bytes[3] == 0x03 | 0x03 << 4)                  // value 3 and value 19
        #expect(bytes[4] == 0x04 | QuantizedGroup.int4Padding << 4)   // value 20 is missing: padded with 8
        for index in 0..<20 {
            #expect(QuantizedGroup.value(bits: .four, bytes: bytes, groupSize: 32, index: index) == Int(quants[index]) - 8)
        }
        #expect(QuantizedGroup.value(bits: .four, bytes: bytes, groupSize: 32, index: 25) == 0)
    }

    @Test func int8ValuesAreSignedBytes() {
        let bytes: [UInt8] = [0, 0x7F, 0x81, 0xFF]
        #expect((0..<4).map { QuantizedGroup.value(bits: .eight, bytes: bytes, groupSize: 32, index: $0) } == [0, 127, -127, -1])
    }
}
