import Foundation
import FuzzTargets
import Testing
import TestSupport

/// The committed fuzz corpus (tools/fuzz/corpus), and inputs that once crashed a reader, run through the fuzz
/// targets in the ordinary test build: a regression on a known input fails `swift test`, not only the fuzz step.
@Suite struct CorpusReplayTests {
    static let corpus = Fixtures.repositoryRoot.appendingPathComponent("tools/fuzz/corpus")

    @Test(arguments: FuzzTarget.allCases)
    func everyCommittedInputReturns(target: FuzzTarget) throws {
        let folder = Self.corpus.appendingPathComponent(target.rawValue)
        let files = try FileManager.default.contentsOfDirectory(atPath: folder.path).sorted()
        #expect(files.count >= 2, "the \(target.rawValue) corpus has \(files.count) inputs")
        for file in files {
            target.run(Array(try Data(contentsOf: folder.appendingPathComponent(file))))
        }
    }

    @Test func everyTargetHasACorpusAndTheFixtureTokenizerLoads() throws {
        for target in FuzzTarget.allCases {
            #expect(FileManager.default.fileExists(atPath: Self.corpus.appendingPathComponent(target.rawValue).path))
        }
        // The tokenizer and gqz-index targets do nothing without the files they read from the working folder
        // (`swift test` runs in the package root): make sure they found them.
        #expect(FuzzTarget.fixturesLoaded)
    }
}
