import Foundation
import Testing
@testable import Kernels

/// The 16-lane exp and tanh against Double references over their whole useful range.
@Suite struct VectorMathTests {
    static func lanes(_ values: [Float]) -> [SIMD16<Float>] {
        stride(from: 0, to: values.count, by: 16).map { start in
            var v = SIMD16<Float>(repeating: 0)
            for i in 0..<16 where start + i < values.count { v[i] = values[start + i] }
            return v
        }
    }

    @Test func expIsWithinFourUlpOfDouble() {
        let xs = stride(from: -87.0, through: 88.0, by: 0.0137).map { Float($0) }
        for (index, v) in Self.lanes(xs).enumerated() {
            let e = vectorExp(v)
            for i in 0..<16 where index * 16 + i < xs.count {
                let expected = Foundation.exp(Double(v[i]))
                #expect(abs(Double(e[i]) - expected) <= 4 * Double(Float(expected).ulp), "exp(\(v[i])) = \(e[i]), expected \(expected)")
            }
        }
        let edges = vectorExp(SIMD16(-200, -88, 89, 200, 0, 1, -1, 0.5, 0, 0, 0, 0, 0, 0, 0, 0))
        #expect(edges[0] == 0 && edges[1] < 1e-38 && edges[2] == .infinity && edges[3] == .infinity && edges[4] == 1)
    }

    @Test func tanhIsWithinTwoMillionthsOfDouble() {
        let xs = stride(from: -12.0, through: 12.0, by: 0.00731).map { Float($0) } + [1e-8, -1e-8, 0.0624, 0.0626, 30, -30]
        for (index, v) in Self.lanes(xs).enumerated() {
            let t = vectorTanh(v)
            for i in 0..<16 where index * 16 + i < xs.count {
                let expected = Foundation.tanh(Double(v[i]))
                #expect(abs(Double(t[i]) - expected) <= 2e-6 * max(abs(expected), 1e-3), "tanh(\(v[i])) = \(t[i]), expected \(expected)")
            }
        }
    }
}
