import Foundation

/// Layer normalization of each row: `(x − mean) / sqrt(var + epsilon) · gain + bias` (biased variance, as PyTorch).
public func layerNorm(input: FloatBuffer, rows: Int, width: Int, gain: FloatBuffer, bias: FloatBuffer,
                      epsilon: Float, output: FloatBuffer) {
    precondition(input.count >= rows * width && output.count >= rows * width && gain.count == width && bias.count == width)
    for t in 0..<rows {
        let x = input.base + t * width, y = output.base + t * width
        var sum: Double = 0
        for i in 0..<width { sum += Double(x[i]) }
        let mean = Float(sum / Double(width))
        var squares: Double = 0
        for i in 0..<width { let d = Double(x[i] - mean); squares += d * d }
        let inverse = 1 / (Float(squares / Double(width)) + epsilon).squareRoot()
        for i in 0..<width { y[i] = (x[i] - mean) * inverse * gain[i] + bias[i] }
    }
}

/// `values[i] += other[i]` for the first `count` elements (the residual stream).
public func addInPlace(_ values: FloatBuffer, _ other: FloatBuffer, count: Int) {
    precondition(values.count >= count && other.count >= count)
    for i in 0..<count { values.base[i] += other.base[i] }
}

/// Copies `count` floats from `source[sourceOffset...]` to `destination[destinationOffset...]`.
public func copy(_ source: FloatBuffer, from sourceOffset: Int, to destination: FloatBuffer, at destinationOffset: Int, count: Int) {
    precondition(sourceOffset >= 0 && sourceOffset + count <= source.count && destinationOffset >= 0 && destinationOffset + count <= destination.count)
    (destination.base + destinationOffset).update(from: source.base + sourceOffset, count: count)
}

/// `output[t] = tokenTable[tokens[t]] + positionTable[positions[t]]`, each a row of `width` floats.
public func embed(tokens: [Int], positions: [Int], tokenTable: WeightMatrix, positionTable: FloatBuffer, width: Int, output: FloatBuffer) {
    precondition(tokens.count == positions.count && output.count >= tokens.count * width && tokenTable.inFeatures == width)
    for (t, (token, position)) in zip(tokens, positions).enumerated() {
        precondition(token >= 0 && token < tokenTable.outFeatures && (position + 1) * width <= positionTable.count)
        tokenTable.copyRow(token, into: output, at: t * width)
        let y = output.base + t * width, b = positionTable.base + position * width
        for i in 0..<width { y[i] += b[i] }
    }
}
