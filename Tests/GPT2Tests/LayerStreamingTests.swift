import Foundation
import Testing
import TestSupport
@testable import GPT2Edge

/// Layer streaming (`--low-memory`): the same logits as the resident model, blocks decompressed on demand, and
/// damage in a block found when that block is first needed.
@Suite struct LayerStreamingTests {
    /// Each model with its vocabulary matrices in row frames (streamed too: 1024 rows a frame, or 96 rows for the
    /// small vocabularies, a partial last frame each time) and in one frame (kept resident), with either kernels: the
    /// file stores the integer kernels' panels, so streamed blocks run the same products as resident ones.
    @Test(arguments: [("kjv", 8, 1024), ("micro", 4, 1024), ("flags-untied", 8, 96), ("kjv", 8, 0), ("flags-untied", 8, 0)],
          [MatrixKernel.float, .integer])
    func streamingGivesTheResidentModelsLogits(model: (String, Int, Int), kernel: MatrixKernel) throws {
        let (model, bits, frameRows) = model
        let directory = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = try Fixtures.converted(model, bits: bits, into: directory, frameRows: frameRows > 0 ? frameRows : nil)
        let resident = try LoadedModel.load(path: path, threads: 2, kernel: kernel)
        let streamed = try LoadedModel.load(path: path, threads: 2, streamLayers: true, kernel: kernel)
        #expect(streamed.network.weights.layers.isEmpty && streamed.network.weights.streamer != nil)
        #expect((streamed.network.weights.tokenEmbedding.resident == nil) == (frameRows > 0))
        #expect((streamed.network.weights.languageModelHead?.resident == nil) == (frameRows > 0))
        #expect(resident.network.weights.tokenEmbedding.resident != nil)
        if case .quantized(let matrix) = try streamed.network.weights.layer(0).attentionWeight {
            #expect((matrix.packedRows > 0) == (kernel == .integer))   // the stored panels, read as they are
        }
        #expect(streamed.network.weights.bytesPerToken == resident.network.weights.bytesPerToken)
        let vocabulary = resident.config.vocabularySize
        let tokens = (0..<12).map { ($0 * 37 + 5) % vocabulary }
        let a = resident.network.makeCache(), b = streamed.network.makeCache()
        // A prompt pass, then single tokens: every block is reloaded into its slot each pass.
        #expect(try resident.network.forward(tokens: tokens, cache: a) == streamed.network.forward(tokens: tokens, cache: b))
        for token in [11 % vocabulary, 262 % vocabulary, 3] {
            #expect(try resident.network.forward(tokens: [token], cache: a) == streamed.network.forward(tokens: [token], cache: b))
        }
    }

    /// A checkpoint converted with its matrices in panels gives, resident, exactly the logits of the same checkpoint
    /// converted row by row and packed at load: the panels in the file are the bytes packing makes.
    @Test(arguments: [("kjv", 8), ("micro", 4)])
    func storedPanelsAreWhatPackingAtLoadMakes(model: String, bits: Int) throws {
        let directory = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let panels = try Fixtures.converted(model, bits: bits, into: directory)
        let rowsFolder = directory.appendingPathComponent("rows")
        try FileManager.default.createDirectory(at: rowsFolder, withIntermediateDirectories: true)
        var options = ConversionOptions(bits: bits, threads: 2)
        options.vocabularyFrameRows = nil
        options.layout = .rows
        let rowsPath = rowsFolder.appendingPathComponent("m.gqz")
        _ = try ModelConverter.convert(folder: Fixtures.local.appendingPathComponent("models/\(model)"), to: rowsPath, options: options)
        let rowsFile = try GQZFile(path: rowsPath.path)
        #expect(rowsFile.version == 1 && rowsFile.entries.allSatisfy { $0.layout == .rows && $0.frames.isEmpty })
        let a = try LoadedModel.load(path: panels, threads: 2, kernel: .integer)
        let b = try LoadedModel.load(path: rowsPath.path, threads: 2, kernel: .integer)
        let tokens = (0..<10).map { ($0 * 53 + 3) % a.config.vocabularySize }
        #expect(try a.network.forward(tokens: tokens, cache: a.network.makeCache(), logits: .allPositions)
                == b.network.forward(tokens: tokens, cache: b.network.makeCache(), logits: .allPositions))
    }

    /// With wte in row frames the streamed plan holds a frame per thread instead of the table, and says so.
    @Test func streamingTheVocabularyShrinksThePlan() throws {
        let directory = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let framed = try ModelSource.open(path: Fixtures.converted("kjv", bits: 8, into: directory))
        let plain = try ModelSource.open(path: Fixtures.converted("kjv", bits: 8, into: directory, frameRows: nil))
        func plan(_ source: ModelSource, streaming: Bool = true) throws -> MemoryPlan {
            try MemoryPlan.forModel(source, contextPositions: 64, promptTokens: 8, threads: 2, streamLayers: streaming)
        }
        let wte = try framed.gqzFile!.entry("wte.weight")
        #expect(wte.frames.count == 4 && wte.largestFrameRawBytes == 1024 * (192 + 2 * 6))
        #expect(try plan(framed).streamsVocabulary && !(try plan(plain).streamsVocabulary))
        #expect(try plan(plain).weights - plan(framed).weights == wte.rawBytes - 2 * wte.largestFrameRawBytes)
        #expect(try plan(framed, streaming: false).weights == plan(plain, streaming: false).weights)   // resident: the same
        #expect(try plan(framed).description.contains("the vocabulary a frame at a time"))
    }

    /// A damaged frame of the streamed embedding is found when a token of that frame is looked up, naming wte.weight.
    @Test func damageInAVocabularyFrameIsReportedWhenItIsNeeded() throws {
        let directory = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = try Fixtures.converted("kjv", bits: 8, into: directory)
        let frame = try GQZFile(path: path).entry("wte.weight").frames[2]   // tokens 2048..<3072
        var bytes = try Data(contentsOf: URL(fileURLWithPath: path))
        bytes[frame.offset + frame.storedBytes / 2] ^= 0x5A
        try bytes.write(to: URL(fileURLWithPath: path))
        let streamed = try LoadedModel.load(path: path, threads: 2, streamLayers: true)
        #expect {
            _ = try streamed.network.forward(tokens: [5, 2500], cache: streamed.network.makeCache())
        } throws: { error in
            "\(error)".contains("wte.weight")
        }
    }

    @Test func damageInABlockIsReportedWhenItIsNeeded() throws {
        let directory = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = try Fixtures.converted("kjv", bits: 8, into: directory)
        let entry = try GQZFile(path: path).entry("h.3.mlp.c_fc.weight")
        var bytes = try Data(contentsOf: URL(fileURLWithPath: path))
        bytes[entry.offset + entry.storedBytes / 2] ^= 0x5A
        try bytes.write(to: URL(fileURLWithPath: path))
        let streamed = try LoadedModel.load(path: path, threads: 2, streamLayers: true)   // blocks are not read yet
        #expect {
            _ = try streamed.network.forward(tokens: [5, 6, 7], cache: streamed.network.makeCache())
        } throws: { error in
            "\(error)".contains("h.3.mlp.c_fc.weight")
        }
        #expect(throws: LoadedModel.LoadError.self) {
            try LoadedModel.load(path: Fixtures.local.appendingPathComponent("models/kjv").path, threads: 1, streamLayers: true)
        }
    }
}
