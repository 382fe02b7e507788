import GPT2

extension ModelSource {
    /// The task heads the source's tensors include, read from its index or safetensors headers (no weight is read),
    /// so a command can refuse a model without the head it needs before loading anything.
    ///
    /// ```swift
    /// try source.requireHead(.sequenceClassification)   // "this model has no sequence-classification head (score); …"
    /// ```
    public var heads: Set<GPT2HeadKind> {
        Set(GPT2HeadKind.allCases.filter { kind in
            switch storage {
            case .gqz(let file): return file.contains(kind.weightName)
            case .folder(let checkpoint): return checkpoint.contains(kind.weightName)
            }
        })
    }

    /// Throws `GPT2HeadError.missing` (naming the model's architectures) unless the source has the `kind` head.
    public func requireHead(_ kind: GPT2HeadKind) throws {
        guard heads.contains(kind) else { throw GPT2HeadError.missing(kind, config: config) }
    }

    /// Throws `GPT2HeadError.noLanguageModelHead` unless the model predicts tokens (`config.task.hasLanguageModelHead`).
    public func requireLanguageModelHead() throws {
        guard config.task.hasLanguageModelHead else { throw GPT2HeadError.noLanguageModelHead(config: config) }
    }
}
