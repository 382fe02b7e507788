import Testing
import WeightFormat

/// The integer kernels' panel layout as bytes: in place, the inverse of itself, and placed where §5 says.
@Suite struct PanelLayoutTests {
    static func randomPayload(_ count: Int, seed: UInt64) -> [UInt8] {
        var state = seed
        return (0..<count).map { _ in
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return UInt8(truncatingIfNeeded: state >> 33)
        }
    }

    /// 37 rows: two whole panels and 5 rows left row-major; a partial last group for 40 and 70 columns.
    @Test(arguments: [WeightScheme.int8(groupSize: 32), .int4(groupSize: 32), .int8(groupSize: 64), .int4(groupSize: 64),
                      .int8(groupSize: 128), .int4(groupSize: 128)],
          [40, 70, 256])
    func unpackUndoesPackAndTheRowsAfterTheLastPanelStay(scheme: WeightScheme, columns: Int) {
        let rows = 37
        let original = Self.randomPayload(scheme.payloadBytes(rows: rows, columns: columns), seed: UInt64(columns))
        var packed = original
        packed.withUnsafeMutableBytes { PanelLayout.pack($0, rows: rows, columns: columns, scheme: scheme, workers: 2) }
        #expect(packed != original)
        // Rows 32..<37 are row-major in both: their scales and quants are untouched.
        let (scales, quants) = scheme.byteRanges(ofRows: 32..<37, rows: rows, columns: columns)
        #expect(packed[scales] == original[scales] && packed[quants] == original[quants])
        var back = packed
        back.withUnsafeMutableBytes { PanelLayout.unpack($0, rows: rows, columns: columns, scheme: scheme, workers: 3) }
        #expect(back == original)
        #expect(PanelLayout.packedRows(rows) == 32 && PanelLayout.packedRows(15) == 0)
    }

    /// Worked by hand from the layout: int8 row r's column c of unit n sits at byte 64n + 4r + c % 4, as q + 128; its
    /// scale for group g at 16g + r of the panel's scales.
    @Test func int8BytesLandWhereTheLayoutSays() {
        let scheme = WeightScheme.int8(groupSize: 32), rows = 16, columns = 64
        let original = Self.randomPayload(scheme.payloadBytes(rows: rows, columns: columns), seed: 7)
        var packed = original
        packed.withUnsafeMutableBytes { PanelLayout.pack($0, rows: rows, columns: columns, scheme: scheme) }
        let scaleBytes = scheme.scaleBytes(rows: rows, columns: columns), rowBytes = scheme.quantBytesPerRow(columns: columns)
        for (r, c) in [(0, 0), (5, 3), (15, 63), (9, 37)] {
            #expect(packed[scaleBytes + 64 * (c / 4) + 4 * r + c % 4] == original[scaleBytes + r * rowBytes + c] ^ 0x80)
        }
        for (r, g) in [(0, 0), (3, 1), (15, 1)] {   // fp16 scales: two bytes each
            #expect(packed[2 * (16 * g + r)] == original[2 * (r * 2 + g)] && packed[2 * (16 * g + r) + 1] == original[2 * (r * 2 + g) + 1])
        }
    }
}
