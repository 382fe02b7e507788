import Foundation

/// What the scheduler tells a request's handler, in order, for each of the request's prompts.
enum JobEvent: Sendable {
    /// The prompt is in the model: how many of its tokens came from a slot's cache, and the echoed prompt if asked for.
    case promptProcessed(promptIndex: Int, cachedTokens: Int, echo: [(choice: Int, piece: ChoiceDecoder.Piece)])
    /// A choice's new text (possibly empty while a stop string or a character is held back) and its token's logprobs.
    case piece(choice: Int, ChoiceDecoder.Piece)
    /// A choice ended: its reason, its tokens (and how many lie within its text: a stop string cuts the last ones), and
    /// what best_of ranks it by.
    case finished(choice: Int, reason: String, tokens: Int, tokensInText: Int, meanLogprob: Double)
    /// Every choice of one prompt has ended.
    case promptDone(promptIndex: Int, promptTokens: Int, completionTokens: Int)
    /// The request cannot go on (a model error); nothing more follows.
    case failed(APIError)
}

/// One request as the scheduler sees it: its prompts, each one job that needs `generatedPerPrompt` slots at once, and
/// one stream of events back to the HTTP handler. Cancelled when the client goes away (the stream is dropped).
final class CompletionTicket: @unchecked Sendable {
    // @unchecked: `cancelled` is read and written under `lock`; the rest is immutable.
    let id: String
    let parameters: CompletionParameters
    let submitted = Date()
    let continuation: AsyncStream<JobEvent>.Continuation
    private let lock = NSLock()
    private var cancelledFlag = false

    init(id: String, parameters: CompletionParameters, continuation: AsyncStream<JobEvent>.Continuation) {
        self.id = id
        self.parameters = parameters
        self.continuation = continuation
    }

    var isCancelled: Bool { lock.withLock { cancelledFlag } }
    func cancel() { lock.withLock { cancelledFlag = true } }
}

/// One prompt of a request, waiting for slots or running in them.
struct CompletionJob: Sendable {
    let ticket: CompletionTicket
    let promptIndex: Int
    let prompt: [Int]
    var slotsNeeded: Int { ticket.parameters.generatedPerPrompt }
}
