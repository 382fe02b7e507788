import Foundation
import GQZ
import Quantization
import Checkpoint
import GPT2
import Kernels
import Runtime
import Tokenizer
import WeightFormat

/// How `ModelConverter` stores a model.
public struct ConversionOptions: Sendable {
    /// 8 or 4: the scheme of every linear layer's weights.
    public var bits: Int = 8
    /// 8, 4 or 32 (float32) for the token embedding / LM head (and a separate lm_head.weight); nil means 8.
    ///
    /// The LM head is the most sensitive matrix: on the trained KJV model, int4 everywhere agrees with float32 on
    /// the next token at 91.2% of held-out positions, int4 with an int8 head at 95.3% (perplexity +1.1% → +0.0%),
    /// for 20% more file. So int4 files keep it at 8 bits unless asked (docs/measurements.md, "Quality").
    public var embeddingBits: Int? = nil

    /// Activation-aware channel scaling of the matrices that read a layer norm (`ChannelScaling`): exact in
    /// float, it moves magnitude from outlier activation channels into the weights before quantizing.
    public var channelScaling: Bool = true

    /// Measured activation statistics (`--calibrate`): used by the channel scaling and the scale search in place
    /// of the layer-norm estimate. nil: no calibration data.
    public var calibration: ActivationStatistics? = nil

    /// The embedding precision actually used.
    public var resolvedEmbeddingBits: Int { embeddingBits ?? 8 }
    /// Columns per scale: 32, 64 or 128.
    public var groupSize: Int = 32
    /// zstd level; 3 measured best for time against size on quantized payloads (see docs/measurements.md, "Conversion").
    public var compressionLevel: Int32 = 3
    /// Rows per frame of the vocabulary matrices (wte, lm_head): stored in row frames (a version-2 file), layer streaming
    /// streams them too, a frame per thread instead of the whole table (gpt2's int8 wte is 38.6 MB). nil: one frame each
    /// (a version-1 file). 1024 rows: 0.8 MB a frame for gpt2 int8, 1.6 MB for gpt2-xl.
    public var vocabularyFrameRows: Int? = ConversionOptions.defaultFrameRows
    public static let defaultFrameRows = 1024
    /// How the q8/q4 matrices' bytes are stored: in the integer kernels' panels (the default: loading skips packing, and
    /// streamed blocks run the same integer products as resident ones), or row by row (with `vocabularyFrameRows` nil,
    /// a version-1 file).
    public var layout: GQZEntry.Layout = .panels16
    /// Least-squares scale search instead of plain absmax.
    public var scaleSearch: Bool = true
    public var threads: Int = CPUInfo.physicalCoreCount

    public init(bits: Int = 8, embeddingBits: Int? = nil, groupSize: Int = 32, compressionLevel: Int32 = 3,
                scaleSearch: Bool = true, threads: Int = CPUInfo.physicalCoreCount) {
        self.bits = bits
        self.embeddingBits = embeddingBits
        self.groupSize = groupSize
        self.compressionLevel = compressionLevel
        self.scaleSearch = scaleSearch
        self.threads = threads
    }

    func scheme(bits: Int) throws -> WeightScheme {
        guard WeightScheme.supportedGroupSizes.contains(groupSize) else {
            throw ConversionError.invalidOption("group size must be one of \(WeightScheme.supportedGroupSizes), got \(groupSize)")
        }
        switch bits {
        case 32: return .float32
        case 8: return .int8(groupSize: groupSize)
        case 4: return .int4(groupSize: groupSize)
        default: throw ConversionError.invalidOption("embedding bits must be 8, 4 or 32, got \(bits)")
        }
    }
}

public enum ConversionError: Error, CustomStringConvertible, Equatable {
    case invalidOption(String)
    /// A source tensor holds `count` NaN or infinite values (a .gqz file never does).
    case nonFiniteTensor(name: String, path: String, count: Int)

    public var description: String {
        switch self {
        case .invalidOption(let message): return message
        case .nonFiniteTensor(let name, let path, let count):
            return "\(name) in \(path) holds \(count) non-finite value\(count == 1 ? "" : "s") (NaN or infinity); the checkpoint is corrupt"
        }
    }
}

/// What a conversion wrote.
public struct ConversionReport: Sendable {
    public struct Tensor: Sendable {
        public let name: String
        public let shape: [Int]
        public let scheme: String
        public let rawBytes: Int
        public let storedBytes: Int
    }
    public var tensors: [Tensor] = []
    public var outputBytes = 0
    public var seconds = 0.0
    /// Temporary files of earlier conversions to the same file that had been killed, removed before this one.
    public var removedTemporaries: [GQZWriter.StaleTemporary] = []
    /// Σ raw / Σ stored over all payloads.
    public var compressionRatio: Double {
        Double(tensors.reduce(0) { $0 + $1.rawBytes }) / Double(max(1, tensors.reduce(0) { $0 + $1.storedBytes }))
    }
}

/// Converts a Hugging Face GPT-2 folder to a `.gqz` file, one tensor at a time: each source tensor is read
/// from the mapped checkpoint, laid out as the kernels want it ([out, in] rows), quantized, compressed,
/// appended to a temporary file, and its pages released, so memory stays near one tensor. The file is
/// renamed into place only when complete.
public enum ModelConverter {
    /// Converts `folder` to `output`. `progress(done, total, name)` is called before each tensor;
    /// `temporaryFile` receives the path written until the final rename (to remove it on a signal).
    public static func convert(folder: URL, to output: URL, options: ConversionOptions,
                               temporaryFile: (URL) -> Void = { _ in },
                               progress: (Int, Int, String) -> Void = { _, _, _ in }) throws -> ConversionReport {
        let start = Date()
        guard options.bits == 8 || options.bits == 4 else { throw ConversionError.invalidOption("bits must be 8 or 4, got \(options.bits)") }
        let bodyScheme = try options.scheme(bits: options.bits)
        let embeddingScheme = try options.scheme(bits: options.resolvedEmbeddingBits)
        if options.layout == .panels16, let frameRows = options.vocabularyFrameRows, frameRows % PanelLayout.height != 0 {
            throw ConversionError.invalidOption("frame rows must be a multiple of \(PanelLayout.height) in the panel layout, got \(frameRows)")
        }

        // Headers, shapes and the tokenizer are checked before a byte is written; values (NaN, infinity) as each tensor comes up.
        let checkpoint = try HFCheckpoint(folder: folder)
        let config = try checkpoint.gpt2Config()
        // The body, then the task heads the checkpoint carries (kept in float32: see GPT2HeadKind).
        let expected = try checkpoint.validateTensors(for: config) + checkpoint.validateHeadTensors(for: config)
        let vocabulary = try readTokenizerFile(checkpoint.vocabularyURL)
        let merges = try readTokenizerFile(checkpoint.mergesURL)
        _ = try GPT2Tokenizer(vocabularyJSON: vocabulary, mergesText: merges, source: (checkpoint.vocabularyURL.path, checkpoint.mergesURL.path))

        let writer = try GQZWriter(destination: output, compressionLevel: options.compressionLevel)
        temporaryFile(writer.temporaryURL)
        // Payloads before zstd, which shrinks quantized weights little: what a failed write says the file needs.
        writer.expectedSize = GQZFormat.preambleSize + vocabulary.count + merges.count + expected.reduce(0) { total, tensor in
            let layout = storedLayout(name: tensor.0, shape: tensor.2.shape, body: bodyScheme, embedding: embeddingScheme)
            return total + layout.scheme.payloadBytes(rows: layout.rows, columns: layout.columns)
        }
        var report = ConversionReport()
        report.removedTemporaries = writer.removedTemporaries
        func record(_ entry: GQZEntry) {
            report.tensors.append(.init(name: entry.name, shape: entry.shape, scheme: entry.scheme, rawBytes: entry.rawBytes, storedBytes: entry.storedBytes))
        }
        record(try writer.add(name: "tokenizer/vocab.json", shape: [vocabulary.count], scheme: GQZFormat.bytesScheme, groupSize: nil, payload: Array(vocabulary)))
        record(try writer.add(name: "tokenizer/merges.txt", shape: [merges.count], scheme: GQZFormat.bytesScheme, groupSize: nil, payload: Array(merges)))

        // Activation-aware channel scaling (see ChannelScaling): per block, for ln_1 → c_attn and ln_2 → c_fc,
        // scales chosen when the layer norm's gain comes up (it precedes its reader in `expected`) and applied to
        // the norm's gain and bias (÷ s) and to the reader's rows (× s).
        var tensorsByName: [String: (file: SafetensorsFile, info: SafetensorsFile.TensorInfo)] = [:]
        for (name, file, info) in expected { tensorsByName[name] = (file, info) }
        var channelScales: [String: [Float]] = [:]
        var readerImportance: [String: [Float]] = [:]
        var chosenAlphas: [Float] = []
        var readerSource: (name: String, values: [Float])?
        func prepareScaling(norm: String, reader: String) throws {
            guard options.channelScaling, let (gainFile, gainInfo) = tensorsByName[norm + ".weight"],
                  let (biasFile, biasInfo) = tensorsByName[norm + ".bias"], let (readerFile, readerInfo) = tensorsByName[reader] else { return }
            let estimate = ChannelScaling.activationScales(gain: try gainFile.floats(gainInfo.name), bias: try biasFile.floats(biasInfo.name))
            let activation = options.calibration?.rootMeanSquare[norm].map { $0.map { max($0, 1e-6) } } ?? estimate
            let (inFeatures, outFeatures) = (readerInfo.shape[0], readerInfo.shape[1])
            let weights = try readerFile.floats(readerInfo.name)
            let (scales, alpha) = ChannelScaling.scales(activation: activation, weights: weights,
                                                       inFeatures: inFeatures, outFeatures: outFeatures, scheme: bodyScheme)
            chosenAlphas.append(alpha)
            readerSource = (reader, weights)   // quantized two tensors later (after the norm's bias): read once
            readerImportance[reader] = zip(activation, scales).map { ($0 / $1) * ($0 / $1) }
            guard alpha > 0 else { return }
            channelScales[norm + ".weight"] = scales
            channelScales[norm + ".bias"] = scales
            channelScales[reader] = scales
        }

        for (index, (name, file, info)) in expected.enumerated() {
            progress(index, expected.count, name)
            // Checked as each tensor comes up, so its pages are read from disk once for the check and the
            // quantization (a whole extra pass would double the reads of a large checkpoint on an SD card); a
            // throw drops the writer, which removes its temporary file, so nothing is left behind.
            let nonFinite = nonFiniteCount(file, info)
            if nonFinite > 0 { throw ConversionError.nonFiniteTensor(name: name, path: file.path, count: nonFinite) }
            if name.hasSuffix(".ln_1.weight") || name.hasSuffix(".ln_2.weight") {
                let norm = String(name.dropLast(".weight".count))
                try prepareScaling(norm: norm, reader: norm.replacingOccurrences(of: "ln_1", with: "attn.c_attn").replacingOccurrences(of: "ln_2", with: "mlp.c_fc") + ".weight")
            }
            let channelScale = channelScales[name]
            let shape = info.shape
            // Only the Conv1D matrices need the whole tensor in memory (to transpose it); everything else is
            // read row by row from the mapping, so the largest tensor (the embedding) is never copied whole.
            var whole: [Float] = []
            if GPT2Weights.isConv1DMatrix(name) {
                if let held = readerSource, held.name == name { whole = held.values } else { whole = try file.floats(info.name) }
                readerSource = nil
            }
            let source = whole
            @Sendable func readRow(_ r: Int, _ columns: Int, into out: UnsafeMutableBufferPointer<Float>) {
                file.readFloats(info, elements: (r * columns)..<((r + 1) * columns), into: out)   // dtype checked above
            }
            let (scheme, rows, columns) = storedLayout(name: name, shape: shape, body: bodyScheme, embedding: embeddingScheme)
            let payload: [UInt8]
            if GPT2Weights.isConv1DMatrix(name) {
                let (inFeatures, outFeatures) = (shape[0], shape[1])
                payload = TensorQuantizer.quantize(rows: rows, columns: columns, scheme: scheme, search: options.scaleSearch,
                                                   importance: readerImportance[name], threads: options.threads) { o, out in
                    for i in 0..<inFeatures { out[i] = source[i * outFeatures + o] * (channelScale?[i] ?? 1) }
                }
            } else {
                payload = TensorQuantizer.quantize(rows: rows, columns: columns, scheme: scheme, search: options.scaleSearch,
                                                   threads: options.threads) { r, out in
                    readRow(r, columns, into: out)
                    if let channelScale { for i in 0..<columns { out[i] /= channelScale[i] } }   // a layer norm's gain or bias
                }
            }
            let storedShape = shape.count == 1 ? shape : [rows, columns]
            let framed = name == "wte.weight" || name == "lm_head.weight"
            let panels = options.layout == .panels16 && scheme.bits != nil && storedShape.count == 2
            record(try writer.add(name: name, shape: storedShape, scheme: scheme.name, groupSize: scheme.groupSize, payload: payload,
                                  frameRows: framed ? options.vocabularyFrameRows : nil, layout: panels ? .panels16 : .rows))
            file.releasePages(of: info.name)
        }
        progress(expected.count, expected.count, "index")

        let channelScaling = options.channelScaling
            ? "activation-aware, \(options.calibration.map { "calibrated on \($0.positions) positions" } ?? "layer-norm statistics"), alpha per matrix \(chosenAlphas)"
            : "none"
        try writer.finish(metadata: GPT2FileMetadata(
            model: .init(config: config, generation: checkpoint.specialTokens),
            quantization: .init(bits: options.bits, embeddingBits: options.resolvedEmbeddingBits, groupSize: options.groupSize,
                                scaleSearch: options.scaleSearch ? "weighted-least-squares" : "absmax", channelScaling: channelScaling),
            converter: .init(source: folder.lastPathComponent, zstdLevel: Int(options.compressionLevel))),
            requiredFeatures: config.task.hasLanguageModelHead ? [] : [GQZFormat.taskHeadsFeature])
        report.outputBytes = (try? FileManager.default.attributesOfItem(atPath: writer.resolvedDestination.path)[.size] as? Int) ?? 0
        report.seconds = Date().timeIntervalSince(start)
        return report
    }

    /// How many of a tensor's values are NaN or ±infinity, read from the mapping a slice at a time.
    private static func nonFiniteCount(_ file: SafetensorsFile, _ info: SafetensorsFile.TensorInfo) -> Int {
        let slice = 1 << 16
        var values = [Float](repeating: 0, count: slice)
        var count = 0
        for start in stride(from: 0, to: info.elementCount, by: slice) {
            let end = min(start + slice, info.elementCount)
            values.withUnsafeMutableBufferPointer { file.readFloats(info, elements: start..<end, into: $0) }
            for value in values[..<(end - start)] where !value.isFinite { count += 1 }
        }
        return count
    }

    /// How a source tensor is stored: its scheme, and the rows × columns it is quantized as.
    /// Conv1D [in, out] matrices become [out, in] rows, so each output's weights are contiguous for the kernels.
    /// Everything else is already row-major: vectors (one row), wpe and wte / lm_head ([rows, C]); vectors, task heads
    /// and position embeddings (only looked up, one row per token) stay float32.
    private static func storedLayout(name: String, shape: [Int], body: WeightScheme,
                                     embedding: WeightScheme) -> (scheme: WeightScheme, rows: Int, columns: Int) {
        if GPT2Weights.isConv1DMatrix(name) { return (body, shape[1], shape[0]) }
        let keepFloat = shape.count == 1 || name == "wpe.weight" || GPT2HeadKind.owning(tensor: name) != nil
        return (keepFloat ? .float32 : embedding, shape.count == 2 ? shape[0] : 1, shape.last!)
    }

    private static func readTokenizerFile(_ url: URL) throws -> Data {
        guard FileManager.default.fileExists(atPath: url.path) else { throw TokenizerError.missingFile(path: url.path) }
        do { return try Data(contentsOf: url) } catch { throw TokenizerError.unreadableFile(path: url.path, reason: error.localizedDescription) }
    }
}
