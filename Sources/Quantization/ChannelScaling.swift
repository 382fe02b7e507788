import WeightFormat
import Foundation

/// Activation-aware channel scaling without calibration data, in the spirit of AWQ and SmoothQuant.
///
/// A linear layer that reads a layer norm sees, on input channel i, values of root-mean-square
/// aᵢ = √(gᵢ² + bᵢ²) (the normalized input has mean 0 and variance 1). Multiplying row i of the weights by sᵢ
/// and dividing gᵢ and bᵢ by sᵢ leaves the float function unchanged, but changes what quantization loses:
/// the output error is Σᵢ (aᵢ/sᵢ)² · (error of weight i)², so channels with large activations (GPT-2's outlier
/// features) want larger weights. `scales` tries sᵢ = (aᵢ / wᵢ)^α, wᵢ = max |W[i, ·]|, for a few α (α = 0 is
/// no change) and keeps the α whose rounding error, weighted by the activations, is smallest.
public enum ChannelScaling {
    /// The α tried; 0 keeps the weights as they are, so the choice never measures worse than not scaling.
    public static let candidates: [Float] = [0, 0.25, 0.5, 0.75]

    /// Root-mean-square of a layer norm's output per channel: √(gain² + bias²).
    public static func activationScales(gain: [Float], bias: [Float]) -> [Float] {
        zip(gain, bias).map { max(($0 * $0 + $1 * $1).squareRoot(), 1e-6) }
    }

    /// Chooses per-input-channel scales for `weights` stored `[inFeatures, outFeatures]` (Conv1D) that will be
    /// quantized with `scheme` along the input dimension. Returns the scales (geometric mean 1) and the α chosen.
    public static func scales(activation a: [Float], weights: [Float], inFeatures: Int, outFeatures: Int,
                              scheme: WeightScheme) -> (scales: [Float], alpha: Float) {
        precondition(a.count == inFeatures && weights.count == inFeatures * outFeatures)
        guard scheme.groupSize != nil else { return ([Float](repeating: 1, count: inFeatures), 0) }
        var rowMaximum = [Float](repeating: 0, count: inFeatures)
        for i in 0..<inFeatures {
            for o in 0..<outFeatures { rowMaximum[i] = max(rowMaximum[i], abs(weights[i * outFeatures + o])) }
            rowMaximum[i] = max(rowMaximum[i], 1e-8)
        }
        // Score on up to 256 evenly spaced output rows (a kernel row is one output's weights over every input).
        let sampled = Swift.stride(from: 0, to: outFeatures, by: max(1, outFeatures / 256)).map { $0 }
        var best = (error: Float.infinity, alpha: Float(0), scales: [Float](repeating: 1, count: inFeatures))
        for alpha in candidates {
            var s = (0..<inFeatures).map { i in powf(a[i] / rowMaximum[i], alpha) }
            let logMean = s.reduce(Float(0)) { $0 + logf($1) } / Float(inFeatures)
            let normalizer = expf(logMean)
            s = s.map { min(max($0 / normalizer, 1e-2), 1e2) }
            let importance: [Float] = (0..<inFeatures).map { i in let v = a[i] / s[i]; return v * v }
            var error: Float = 0
            for o in sampled {
                let row = (0..<inFeatures).map { weights[$0 * outFeatures + o] * s[$0] }
                let payload = TensorQuantizer.quantize(rows: 1, columns: inFeatures, scheme: scheme, search: false, importance: importance) { _, out in
                    for i in 0..<inFeatures { out[i] = row[i] }
                }
                let restored = TensorQuantizer.dequantize(payload, rows: 1, columns: inFeatures, scheme: scheme)
                for i in 0..<inFeatures { let d = row[i] - restored[i]; error += importance[i] * d * d }
            }
            if error < best.error { best = (error, alpha, s) }
        }
        return (best.scales, best.alpha)
    }
}
