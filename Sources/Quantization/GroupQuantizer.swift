/// Reference quantization of one group of values, for both integer schemes.
///
/// The scale is chosen by a search that minimises the weighted squared error Σ wᵢ(xᵢ − d·qᵢ)² rather than
/// taking absmax / qmax: a few candidate scales around absmax each give a rounding q, and for each q the
/// least-squares d = Σwxq / Σwq² is computed; the best pair wins. Weights are per-column importances
/// (uniform without calibration data). The search is what llama.cpp's `make_qx_quants` does.
public enum GroupQuantizer {
    /// Quantizes `values` to int8: returns the fp16 scale and q ∈ [−127, 127].
    public static func quantizeInt8(_ values: UnsafeBufferPointer<Float>, weights: UnsafeBufferPointer<Float>?,
                                    search: Bool) -> (scale: Float16, quants: [Int8]) {
        let maximum = values.reduce(Float(0)) { max($0, abs($1)) }
        guard maximum > 0 else { return (0, [Int8](repeating: 0, count: values.count)) }
        var best = (error: Float.infinity, scale: Float(0))
        let steps = search ? Array(-4...4) : [0]
        for step in steps {
            let inverse = (127 + 0.5 * Float(step)) / maximum
            let scale = search ? leastSquaresScale(values, weights) { clampRound($0 * inverse, -127, 127) } : 1 / inverse
            let error = weightedError(values, weights, scale: Float(Float16(scale))) { clampRound($0 / Float(Float16(scale)), -127, 127) }
            if error < best.error { best = (error, scale) }
        }
        let scale = Float16(best.scale)
        let d = Float(scale)
        return (scale, values.map { Int8(d == 0 ? 0 : clampRound($0 / d, -127, 127)) })
    }

    /// Quantizes `values` to 4 bits: returns the fp16 scale and q ∈ [0, 15] with x ≈ d·(q − 8).
    ///
    /// As llama.cpp's q4_0, the starting scale maps the value of largest magnitude to −8, using the
    /// asymmetric range [−8, 7] fully on that side.
    public static func quantizeInt4(_ values: UnsafeBufferPointer<Float>, weights: UnsafeBufferPointer<Float>?,
                                    search: Bool) -> (scale: Float16, quants: [UInt8]) {
        var extreme: Float = 0
        for x in values where abs(x) > abs(extreme) { extreme = x }
        guard extreme != 0 else { return (0, [UInt8](repeating: 8, count: values.count)) }
        var best = (error: Float.infinity, scale: Float(0))
        let steps = search ? Array(-9...9) : [0]
        for step in steps {
            let inverse = -(8 + 0.1 * Float(step)) / extreme
            let scale = search ? leastSquaresScale(values, weights) { clampRound($0 * inverse, -8, 7) } : 1 / inverse
            let rounded = Float(Float16(scale))
            let error = weightedError(values, weights, scale: rounded) { rounded == 0 ? 0 : clampRound($0 / rounded, -8, 7) }
            if error < best.error { best = (error, scale) }
        }
        let scale = Float16(best.scale)
        let d = Float(scale)
        return (scale, values.map { UInt8(Int(d == 0 ? 0 : clampRound($0 / d, -8, 7)) + 8) })
    }

    /// d = Σ w·x·q / Σ w·q² for the rounding `quantize` gives.
    private static func leastSquaresScale(_ values: UnsafeBufferPointer<Float>, _ weights: UnsafeBufferPointer<Float>?,
                                          _ quantize: (Float) -> Float) -> Float {
        var numerator: Float = 0, denominator: Float = 0
        for (i, x) in values.enumerated() {
            let q = quantize(x), w = weights?[i] ?? 1
            numerator += w * x * q
            denominator += w * q * q
        }
        return denominator > 0 ? numerator / denominator : 0
    }

    private static func weightedError(_ values: UnsafeBufferPointer<Float>, _ weights: UnsafeBufferPointer<Float>?,
                                      scale: Float, _ quantize: (Float) -> Float) -> Float {
        var error: Float = 0
        for (i, x) in values.enumerated() {
            let difference = x - scale * quantize(x)
            error += (weights?[i] ?? 1) * difference * difference
        }
        return error
    }

    @inline(__always)
    static func clampRound(_ x: Float, _ low: Float, _ high: Float) -> Float {
        min(max(x.rounded(.toNearestOrEven), low), high)
    }
}
