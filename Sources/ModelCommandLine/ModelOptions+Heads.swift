import ArgumentParser
import CLISupport
import Foundation
import GPT2Edge

extension ModelOptions {
    /// The model's files, refused at once (before any input is read or weight loaded) when they lack the `kind` head.
    public func openSource(requiring kind: GPT2HeadKind) throws -> ModelSource {
        let source = try openSource()
        do { try source.requireHead(kind) } catch let error as GPT2HeadError { throw CLIError(error.description) }
        return source
    }

    /// The model's files, refused at once when the model has no language-model head (a classifier, a bare GPT2Model).
    public func openLanguageModel() throws -> ModelSource {
        let source = try openSource()
        do { try source.requireLanguageModelHead() } catch let error as GPT2HeadError { throw CLIError(error.description) }
        return source
    }
}
