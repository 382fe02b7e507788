import Foundation
import GPT2
import Hummingbird
import Runtime

/// `POST /v1/embeddings`: each input's final hidden states pooled (`LoadedModel.embeddings(of:)`, the code of
/// `gpt2-edge embed`), in OpenAI's request and response shapes.
///
/// Requests run one at a time on their own thread, in passes of at most `--prefill-chunk` tokens: each pass takes the
/// model's forward lock between two scheduler steps, so running completions are held up by one pass at most.
struct EmbeddingsEndpoint: Sendable {
    let model: LoadedModel
    let modelID: String
    let maxBodyBytes: Int
    let tokensPerPass: Int
    let runner: EmbeddingRunner

    /// OpenAI's limit on inputs per request.
    static let maxInputs = 2048

    func respond(_ request: Request) async throws -> Response {
        let body: EmbeddingRequest = try await decodeBody(request, limit: maxBodyBytes)
        let inputs = try tokenized(body.input)
        let pooling: EmbeddingPooling
        switch body.pooling {
        case nil: pooling = .mean
        case let name?:
            guard let known = EmbeddingPooling(rawValue: name) else {
                throw APIError.invalid("pooling must be mean or last, got \(name)", param: "pooling")
            }
            pooling = known
        }
        let base64: Bool
        switch body.encodingFormat {
        case nil, "float": base64 = false
        case "base64": base64 = true
        case let other?: throw APIError.invalid("encoding_format must be float or base64, got \(other)", param: "encoding_format")
        }
        let width = model.config.embeddingWidth
        if let dimensions = body.dimensions, dimensions != width {
            throw APIError.invalid("this model's embeddings have \(width) dimensions (n_embd); dimensions \(dimensions) cannot be given "
                                   + "(GPT-2 was not trained to be cut shorter)", param: "dimensions")
        }
        let model = model, tokensPerPass = tokensPerPass, normalize = body.normalize ?? true
        let vectors = try await runner.run { try model.embeddings(of: inputs, pooling: pooling, normalize: normalize, tokensPerPass: tokensPerPass) }
        let tokens = inputs.reduce(0) { $0 + $1.count }
        let items = vectors.enumerated().map { index, vector in
            EmbeddingResponse.Item(index: index, embedding: base64 ? .base64(of: vector) : .floats(vector))
        }
        return try jsonResponse(EmbeddingResponse(data: items, model: modelID, usage: .init(promptTokens: tokens, totalTokens: tokens)))
    }

    /// Each input as token ids, checked: at most `maxInputs`, none empty, ids in the vocabulary, none longer than the
    /// context (OpenAI refuses too-long inputs rather than cutting them).
    func tokenized(_ input: CompletionRequest.Prompt) throws -> [[Int]] {
        let lists: [[Int]]
        switch input {
        case .text(let text): lists = [model.tokenizer.encode(text)]
        case .texts(let texts): lists = texts.map { model.tokenizer.encode($0) }
        case .tokens(let ids): lists = [ids]
        case .tokenLists(let ids): lists = ids
        }
        guard !lists.isEmpty else { throw APIError.invalid("input is empty: give a string or a list of strings", param: "input") }
        guard lists.count <= Self.maxInputs else {
            throw APIError.invalid("input has \(lists.count) items; at most \(Self.maxInputs) per request", param: "input")
        }
        let vocabulary = model.vocabularySize
        for (index, ids) in lists.enumerated() {
            if let bad = ids.first(where: { $0 < 0 || $0 >= vocabulary }) {
                throw APIError.invalid("input[\(index)]: token id \(bad) is outside the vocabulary (0..<\(vocabulary))", param: "input")
            }
        }
        do { return try model.checkedInputs(lists, truncate: false) } catch let error as LoadedModel.TaskInputError {
            throw APIError.invalid("input[\(error.index ?? 0)]: \(error.reason)", param: "input")
        }
    }
}

/// Runs embedding requests one after another on one thread of their own (off the HTTP event loops and the
/// concurrency pool: a pass blocks for as long as the model takes), refusing more than `maxWaiting` at a time.
final class EmbeddingRunner: @unchecked Sendable {
    // @unchecked: `waiting` is read and written under `lock`; `queue` is serial.
    private let queue = DispatchQueue(label: "gpt2-edge.embeddings")
    private let lock = NSLock()
    private var waiting = 0
    let maxWaiting: Int

    init(maxWaiting: Int) { self.maxWaiting = maxWaiting }

    func run<Value: Sendable>(_ work: @escaping @Sendable () throws -> Value) async throws -> Value {
        let admitted = lock.withLock { () -> Bool in
            guard waiting < maxWaiting else { return false }
            waiting += 1
            return true
        }
        guard admitted else {
            var error = APIError(status: .serviceUnavailable, message: "\(maxWaiting) embedding requests are already waiting (--max-queue)",
                                 type: "unavailable_error")
            error.retryAfter = 1
            throw error
        }
        defer { lock.withLock { waiting -= 1 } }
        return try await withCheckedThrowingContinuation { continuation in
            queue.async { continuation.resume(with: Result { try work() }) }
        }
    }
}
