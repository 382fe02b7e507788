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
    /// Every choice of one job has ended (`promptTokens` counts the prompt once, on its first job).
    case jobDone(promptIndex: Int, promptTokens: Int, completionTokens: Int)
    /// The request cannot go on (a model error); nothing more follows.
    case failed(APIError)
}

/// One request as the scheduler sees it: its prompts, each one or more jobs (a job runs at most `--parallel` of the
/// prompt's choices at once), and one stream of events back to the HTTP handler. Cancelled when the client goes away (the stream is dropped).
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

/// Some choices of one prompt of a request, waiting for slots or running in them (one slot per choice). A prompt with more
/// choices than there are slots is split into jobs that run one after the other; choice k has seed `seed + k` whichever
/// job runs it, and the later jobs find the prompt in a slot's cache.
struct CompletionJob: Sendable {
    let ticket: CompletionTicket
    let promptIndex: Int
    let prompt: [Int]
    /// The prompt's first choice that this job runs, and how many.
    let firstChoice: Int
    let choiceCount: Int
    var slotsNeeded: Int { choiceCount }

    /// The jobs of a request on a server with `slotCount` slots.
    static func jobs(for ticket: CompletionTicket, slotCount: Int) -> [CompletionJob] {
        let parameters = ticket.parameters
        return parameters.prompts.enumerated().flatMap { index, prompt in
            stride(from: 0, to: parameters.generatedPerPrompt, by: slotCount).map { first in
                CompletionJob(ticket: ticket, promptIndex: index, prompt: prompt, firstChoice: first,
                              choiceCount: min(slotCount, parameters.generatedPerPrompt - first))
            }
        }
    }
}
