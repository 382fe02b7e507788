import Foundation
import Testing
import TestSupport
@testable import GPT2Edge
@testable import Runtime

/// A model's files are opened once (`ModelSource`): the plan, the load and generation all work from the opened
/// source, so removing the path after opening changes nothing. And the library, not the CLI, decides whether the
/// layers stay resident or are streamed.
@Suite struct ModelSourceTests {
    static let kjv = Fixtures.local.appendingPathComponent("models/kjv")

    static func greedyText(_ model: LoadedModel) throws -> String {
        var options = GenerationOptions(maxNewTokens: 12)
        options.sampling.temperature = 0
        return try TextGenerator(model: model).generate(prompt: "And God said", options: options).text
    }

    @Test func aGQZSourceNeverGoesBackToItsPath() throws {
        let folder = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: folder) }
        let path = try Fixtures.converted("kjv", bits: 8, into: folder)
        let expected = try Self.greedyText(LoadedModel.load(path: path, threads: 1))

        let source = try ModelSource.open(path: path)
        try FileManager.default.removeItem(atPath: path)   // nothing after this line may open the path again
        let policy = LoadPolicy(threads: 1)
        for layers in [LoadPolicy.Layers.resident, .streamed] {
            var chosen = policy
            chosen.layers = layers
            let decision = try chosen.decide(for: source, contextPositions: 64, promptTokens: 4)
            let model = try LoadedModel.load(source, policy: chosen, decision: decision)
            #expect(try Self.greedyText(model) == expected, "\(layers)")
        }
    }

    @Test func aFolderSourceNeverGoesBackToItsPath() throws {
        let folder = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: folder) }
        let copy = folder.appendingPathComponent("kjv")
        try FileManager.default.createDirectory(at: copy, withIntermediateDirectories: true)
        for name in ["config.json", "model.safetensors", "vocab.json", "merges.txt"] {
            try Data(contentsOf: Self.kjv.appendingPathComponent(name)).write(to: copy.appendingPathComponent(name))
        }
        let expected = try Self.greedyText(LoadedModel.load(path: Self.kjv.path, threads: 1))
        let source = try ModelSource.open(path: copy.path)
        try FileManager.default.removeItem(at: copy)
        let model = try LoadedModel.load(source, policy: LoadPolicy(threads: 1))
        #expect(try Self.greedyText(model) == expected)
    }

    /// A float32 folder's weights are the file's pages, mapped: the kernel can drop and reread them, so a cgroup limit
    /// below the whole plan but above the rest of it is not refused; one byte under the rest is.
    @Test func mappedWeightsAreOutOfTheCgroupRefusal() throws {
        let source = try ModelSource.open(path: Fixtures.local.appendingPathComponent("models/flags-untied").path)
        let policy = LoadPolicy(threads: 1)
        let plan = try policy.decide(for: source, contextPositions: 2, promptTokens: 2, available: 1 << 40, cgroupLimit: nil).plan
        #expect(plan.mappedWeights == plan.weights && plan.weights > 0)
        let between = try policy.decide(for: source, contextPositions: 2, promptTokens: 2, available: 1 << 40,
                                        cgroupLimit: plan.total - plan.mappedWeights / 2)
        #expect(between.fits, "\(between.refusal ?? "")")
        let under = try policy.decide(for: source, contextPositions: 2, promptTokens: 2, available: 1 << 40,
                                      cgroupLimit: plan.unreclaimable - 1)
        #expect(!under.fits)
    }

    @Test func theLibraryStreamsTheLayersWhenOnlyThatFits() throws {
        let folder = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: folder) }
        let source = try ModelSource.open(path: Fixtures.converted("kjv", bits: 8, into: folder))
        let policy = LoadPolicy(threads: 1)
        let roomy = try policy.decide(for: source, contextPositions: 64, promptTokens: 4, available: 1 << 40)
        #expect(!roomy.plan.streamsLayers && !roomy.switchedToStreaming && roomy.fits)

        #expect(!(try LoadedModel.load(source, policy: policy, decision: roomy)).network.weights.residentMatrices.isEmpty)

        // Between the streamed and the resident totals: the library picks streaming, and the load follows.
        let streamingTotal = try LoadPolicy(threads: 1, layers: .streamed).decide(for: source, contextPositions: 64, promptTokens: 4).plan.total
        #expect(streamingTotal < roomy.residentTotal)
        let between = (streamingTotal + roomy.residentTotal) / 2
        let tight = try policy.decide(for: source, contextPositions: 64, promptTokens: 4, available: between)
        #expect(tight.plan.streamsLayers && tight.switchedToStreaming && tight.fits)
        let model = try LoadedModel.load(source, policy: policy, decision: tight)
        #expect(model.network.weights.residentMatrices.isEmpty)   // the blocks stay in the file
        #expect(!(try Self.greedyText(model)).isEmpty)

        // Room for the streamed blocks beside the whole vocabulary (wte in row frames): only the blocks are streamed, so a
        // token decompresses less; a byte less and the vocabulary is streamed too.
        let blocksOnlyTotal = try MemoryPlan.forModel(source, contextPositions: 64, promptTokens: 4, threads: 1, streamLayers: true,
                                                      streamVocabulary: false).total
        #expect(streamingTotal < blocksOnlyTotal && blocksOnlyTotal < roomy.residentTotal)
        let roomForBlocks = try policy.decide(for: source, contextPositions: 64, promptTokens: 4, available: blocksOnlyTotal)
        #expect(roomForBlocks.plan.streamsLayers && !roomForBlocks.plan.streamsVocabulary && roomForBlocks.switchedToStreaming)
        #expect(try LoadedModel.load(source, policy: policy, decision: roomForBlocks).network.weights.tokenEmbedding.resident != nil)
        let roomForLess = try policy.decide(for: source, contextPositions: 64, promptTokens: 4, available: blocksOnlyTotal - 1)
        #expect(roomForLess.plan.streamsLayers && roomForLess.plan.streamsVocabulary && roomForLess.fits)
        #expect(try LoadedModel.load(source, policy: policy, decision: roomForLess).network.weights.tokenEmbedding.resident == nil)

        // Under a memory limit below even the streamed plan: refused before anything is read, naming the sizes.
        var capped = policy
        capped.memoryLimit = streamingTotal / 2
        let refused = try capped.decide(for: source, contextPositions: 64, promptTokens: 4, available: 1 << 40)
        #expect(refused.refusal?.contains("even with layer streaming") == true, "\(refused.refusal ?? "no refusal")")
        #expect(throws: LoadedModel.LoadError.self) { try LoadedModel.load(source, policy: capped, decision: refused) }

        // A float32 folder has no streamed form: it stays resident whatever the machine allows.
        let folderSource = try ModelSource.open(path: Self.kjv.path)
        let folderDecision = try policy.decide(for: folderSource, contextPositions: 64, promptTokens: 4, available: 1)
        #expect(!folderDecision.plan.streamsLayers)
        #expect(throws: LoadedModel.LoadError.streamingNeedsGQZ(Self.kjv.path)) {
            try LoadPolicy(threads: 1, layers: .streamed).decide(for: folderSource, contextPositions: 64, promptTokens: 4)
        }
    }

    @Test func aContextLongerThanTheModelsIsRefused() throws {
        let source = try ModelSource.open(path: Self.kjv.path)
        let policy = LoadPolicy(threads: 1, contextLength: source.config.contextLength + 1)
        #expect(throws: ContextLengthError(requested: source.config.contextLength + 1, modelContext: source.config.contextLength)) {
            try policy.decide(for: source, contextPositions: 8, promptTokens: 1)
        }
        let shorter = try LoadedModel.load(source, policy: LoadPolicy(threads: 1, contextLength: 16))
        #expect(shorter.contextLength == 16)
    }
}
