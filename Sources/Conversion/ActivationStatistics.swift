import Foundation
import GPT2
import Runtime

/// Per-channel root-mean-square of the layer-norm outputs that each block's first matrices read, measured by
/// running a float32 model over calibration text: what `--calibrate` gives the converter's channel scaling
/// instead of the data-free estimate √(gain² + bias²).
public struct ActivationStatistics: Sendable {
    /// "h.3.ln_1" → RMS per channel (the names of the layer norms whose outputs were measured).
    public var rootMeanSquare: [String: [Float]]
    /// Positions the statistics are over.
    public var positions: Int

    /// Runs `model` over `tokens` in windows of at most `window` tokens (each window a fresh context) and
    /// accumulates the squares of every channel.
    public static func measure(model: LoadedModel, tokens: [Int], window: Int = 128) throws -> ActivationStatistics {
        let network = model.network, width = model.config.embeddingWidth
        var squares: [String: [Double]] = [:]
        var positions = 0
        let observer: GPT2Model.ActivationObserver = { layer, point, values, rows in
            let name = "h.\(layer)." + (point == .attentionInput ? "ln_1" : "ln_2")
            var sums = squares[name] ?? [Double](repeating: 0, count: width)
            let all = values.array(0..<(rows * width))
            for r in 0..<rows { for i in 0..<width { let v = Double(all[r * width + i]); sums[i] += v * v } }
            squares[name] = sums
        }
        var start = 0
        let length = max(1, min(window, model.config.contextLength))
        while start < tokens.count {
            let piece = Array(tokens[start..<min(start + length, tokens.count)])
            _ = try network.forward(tokens: piece, cache: network.makeCache(), observer: observer)
            positions += piece.count
            start += length
        }
        let rms = squares.mapValues { sums in sums.map { Float(($0 / Double(max(positions, 1))).squareRoot()) } }
        return ActivationStatistics(rootMeanSquare: rms, positions: positions)
    }
}
