import Kernels

/// A `[vocab, C]` matrix whose rows are tokens: the token embedding, and the LM head (the same matrix when tied).
/// Resident, or streamed from the model file a frame of rows at a time (layer streaming of a file whose vocabulary
/// matrices are stored in row frames): then the embedding reads the frames of the tokens at hand, and the LM head
/// multiplies frame by frame, so neither ever holds the whole table.
public enum VocabularyMatrix: Sendable {
    case resident(WeightMatrix)
    case streamed(any RowFrameStreamer)

    /// Bytes of weights one pass over every row reads (decompressed, when streamed).
    public var byteCount: Int {
        switch self {
        case .resident(let matrix): return matrix.byteCount
        case .streamed(let streamer): return streamer.bytesPerPass
        }
    }

    /// The matrix when it is resident.
    public var resident: WeightMatrix? {
        if case .resident(let matrix) = self { return matrix }
        return nil
    }

    /// `output[t, v] = Σ_i input[t, i] · W[v, i]` for `count` rows of `input` (the LM head, no bias).
    public func apply(input: FloatBuffer, rows count: Int, output: FloatBuffer, pool: ThreadPool) throws {
        switch self {
        case .resident(let matrix):
            matrix.apply(input: input, rows: count, bias: nil, output: output, pool: pool)
        case .streamed(let streamer):
            let vocabulary = streamer.rows
            let part = FloatBuffer(count: count * streamer.frameRows)
            try streamer.forEachFrame(Array(0..<streamer.frameCount)) { frame, matrix in
                let first = frame * streamer.frameRows, width = matrix.outFeatures
                matrix.apply(input: input, rows: count, bias: nil, output: part, pool: pool)
                for t in 0..<count { copy(part, from: t * width, to: output, at: t * vocabulary + first, count: width) }
            }
        }
    }

    /// Row `tokens[t]` of the table at `output[t · C ..< (t + 1) · C]` for every t (the token embedding).
    public func copyRows(_ tokens: [Int], into output: FloatBuffer, width: Int) throws {
        switch self {
        case .resident(let matrix):
            for (t, token) in tokens.enumerated() { matrix.copyRow(token, into: output, at: t * width) }
        case .streamed(let streamer):
            // Each frame the tokens need is decompressed once, in frame order.
            let frames = Set(tokens.map { $0 / streamer.frameRows }).sorted()
            try streamer.forEachFrame(frames) { frame, matrix in
                for (t, token) in tokens.enumerated() where token / streamer.frameRows == frame {
                    matrix.copyRow(token - frame * streamer.frameRows, into: output, at: t * width)
                }
            }
        }
    }
}

/// Supplies a vocabulary matrix's rows a frame at a time (`VocabularyMatrix.streamed`): frame k is rows
/// `k · frameRows ..< min(rows, (k + 1) · frameRows)`.
public protocol RowFrameStreamer: AnyObject, Sendable {
    /// Rows of the whole matrix (the vocabulary size).
    var rows: Int { get }
    /// Rows per frame (the last frame may have fewer).
    var frameRows: Int { get }
    /// Bytes decompressed by a pass over every frame.
    var bytesPerPass: Int { get }
    /// Loads `frames` (ascending) and calls `body` with each, in order, as a `[rows of the frame, columns]` matrix
    /// valid only during that call. Callers hold the model's forward lock (the streamer's slots are shared).
    func forEachFrame(_ frames: [Int], _ body: (_ frame: Int, _ matrix: WeightMatrix) throws -> Void) throws
}

extension RowFrameStreamer {
    public var frameCount: Int { (rows + frameRows - 1) / frameRows }
}
