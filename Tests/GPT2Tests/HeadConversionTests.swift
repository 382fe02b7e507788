import Foundation
import Testing
import TestSupport
@testable import GPT2Edge

/// What the converter and loader do with the task heads: kept in float32 with the config that shapes them, no
/// language-model head invented for a classifier, and clear errors for a head that is missing or does not fit.
@Suite struct HeadConversionTests {
    static func folder(_ name: String) -> URL { HeadsReferenceTests.folder(name) }

    func convert(_ folder: URL, into directory: URL, bits: Int = 8) throws -> GQZFile {
        let output = directory.appendingPathComponent(folder.lastPathComponent + ".gqz")
        _ = try ModelConverter.convert(folder: folder, to: output, options: ConversionOptions(bits: bits, threads: 2))
        return try GQZFile(path: output.path)
    }

    @Test func aClassifierKeepsItsHeadAndConfigAndGetsNoLanguageModelHead() throws {
        let directory = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let source = try ModelSource.open(path: Self.folder("tiny-seqcls").path)
        let file = try convert(Self.folder("tiny-seqcls"), into: directory, bits: 4)
        let score = try file.entry("score.weight")
        #expect(score.scheme == "f32" && score.shape == [3, source.config.embeddingWidth])
        #expect(!file.entries.contains { $0.name == "lm_head.weight" })
        #expect(file.requiredFeatures == [GQZFormat.taskHeadsFeature])
        let config = try file.gpt2Config()
        #expect(config.task == source.config.task)
        #expect(config.task.architectures == ["GPT2ForSequenceClassification"])
        #expect(config.task.labels == ["negative", "neutral", "positive"])
        #expect(config.task.padTokenID == 0)

        let model = try LoadedModel.load(path: file.path, threads: 1)
        #expect(model.network.weights.languageModelHead == nil)
        #expect(model.network.weights.heads[.sequenceClassification]?.rows == 3)
        #expect(throws: GPT2HeadError.noLanguageModelHead(config: config)) { try model.network.forward(tokens: [1, 2], cache: model.network.makeCache()) }
        let message = GPT2HeadError.noLanguageModelHead(config: config).description
        #expect(message.contains("no language-model head") && message.contains("GPT2ForSequenceClassification"))
        // The head it does not have, named with its architectures.
        let batch = try PaddedBatch(padding: [[1, 2, 3]], padID: 0)
        #expect(throws: GPT2HeadError.missing(.questionAnswering, config: config)) { try model.network.answerSpanLogits(batch) }
        #expect(GPT2HeadError.missing(.questionAnswering, config: config).description
            .hasPrefix("this model has no question-answering head (qa_outputs); its architectures are GPT2ForSequenceClassification"))
    }

    @Test func aDoubleHeadsModelKeepsBothHeadsAndNeedsNoFeature() throws {
        let directory = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let file = try convert(Self.folder("kjv-double"), into: directory)
        #expect(file.requiredFeatures.isEmpty)   // older readers run it as the language model it also is
        let model = try LoadedModel.load(path: file.path, threads: 1)
        #expect(model.network.weights.languageModelHead != nil)
        #expect(model.network.weights.heads[.multipleChoice]?.rows == 1)
        #expect(try file.entry("multiple_choice_head.summary.bias").scheme == "f32")
        _ = try model.network.forward(tokens: [1, 2], cache: model.network.makeCache())
    }

    @Test func aBareBodyConvertsWithoutAnyHead() throws {
        let directory = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let file = try convert(Self.folder("tiny-base"), into: directory)
        #expect(file.requiredFeatures == [GQZFormat.taskHeadsFeature])
        let model = try LoadedModel.load(path: file.path, threads: 1)
        #expect(model.network.weights.heads.isEmpty && model.network.weights.languageModelHead == nil)
        let vectors = try model.embeddings(of: [[5, 6, 7]])
        #expect(vectors.count == 1 && vectors[0].count == model.config.embeddingWidth)
    }

    @Test func anUntiedClassifierWithoutLmHeadConverts() throws {
        let folder = try Fixtures.modelCopy("heads/tiny-seqcls")
        defer { try? FileManager.default.removeItem(at: folder) }
        try Fixtures.editConfig(of: folder) { $0["tie_word_embeddings"] = false }
        let directory = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let file = try convert(folder, into: directory)
        #expect(!file.entries.contains { $0.name == "lm_head.weight" })
        _ = try LoadedModel.load(path: folder.path, threads: 1)   // the folder loads too
    }

    @Test func labelsThatDisagreeWithTheHeadAreRefusedByName() throws {
        let folder = try Fixtures.modelCopy("heads/tiny-seqcls")
        defer { try? FileManager.default.removeItem(at: folder) }
        try Fixtures.editConfig(of: folder) {
            $0["id2label"] = ["0": "a", "1": "b"]
            $0["label2id"] = ["a": 0, "b": 1]
        }
        let directory = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        #expect {
            _ = try self.convert(folder, into: directory)
        } throws: { error in
            "\(error)".contains("score.weight has 3 rows but id2label names 2 labels") && "\(error)".contains("config.json")
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory.path).isEmpty)   // nothing left behind
        #expect(throws: (any Error).self) { _ = try LoadedModel.load(path: folder.path, threads: 1) }

        try Fixtures.editConfig(of: folder) { $0["id2label"] = ["0": "a", "5": "b"] }
        #expect { _ = try ModelSource.open(path: folder.path) } throws: { "\($0)".contains("id2label") && "\($0)".contains("ids must be 0 to 1") }
    }
}
