import Foundation
import Generation
import Runtime
import Tokenizer

/// Runs every active request in one batched forward step per token (continuous batching), on one thread of its own.
///
/// Each step takes one token from every decoding choice and a chunk of each prompt still being prefilled, runs them
/// through `LoadedModel.forward(steps:)` together (decode is memory-bound: a step with 8 rows reads the weights once),
/// and hands each choice its logits. A new request joins at the next step. A prompt's chunk is sized so that a step
/// costs about `stallFactor` decode steps more than a decode-only one, which bounds the stall a long prompt causes the
/// streams already running. Slots keep their KV cache after a request; a prompt that starts with what a free slot
/// holds continues from there.
///
/// ```swift
/// let scheduler = BatchScheduler(model: model, configuration: .init(slotCount: 4, maxQueue: 16), metrics: metrics)
/// scheduler.start()
/// let events = try scheduler.submit(parameters, id: "cmpl-1")
/// for await event in events { … }
/// ```
final class BatchScheduler: @unchecked Sendable {
    // @unchecked: the waiting queue, the free-slot count, `accepting` and the slot snapshot are guarded by `condition`;
    // the slots and running jobs belong to the scheduler thread alone.

    struct Configuration: Sendable {
        var slotCount: Int
        /// Prompts that may wait for a slot; past that a request gets 503.
        var maxQueue: Int
        /// The largest prompt chunk of one step (when no stream is decoding, this is all the stall there is to bound).
        var maxPrefillChunk = 256
        /// The smallest chunk while streams decode, so that a long prompt still makes progress.
        var minPrefillChunk = 4
        /// A step with a prompt chunk costs at most about (1 + stallFactor) decode steps.
        var stallFactor = 1.0
    }

    let model: LoadedModel
    let configuration: Configuration
    /// The chunk of a prompt scored for echo + logprobs: 32 positions of logits (6.4 MB with GPT-2's vocabulary).
    static let scoredChunk = 32
    let metrics: ServerMetrics
    private let endOfText: Int

    private let condition = NSCondition()
    private var waiting: [CompletionJob] = []
    private var freeSlots: Int
    private var accepting = true
    private var stopping = false
    private var stopped = false
    private var slotSnapshot: [SlotStatus]

    private let slots: [Slot]
    private var running: [RunningJob] = []
    private var timing = StepTiming()
    private var stepCount = 0

    init(model: LoadedModel, configuration: Configuration, metrics: ServerMetrics) {
        self.model = model
        self.configuration = configuration
        self.metrics = metrics
        endOfText = model.endOfTextToken ?? model.tokenizer.endOfText ?? 50256
        slots = (0..<configuration.slotCount).map(Slot.init)
        freeSlots = configuration.slotCount
        slotSnapshot = (0..<configuration.slotCount).map {
            SlotStatus(id: $0, state: .idle, cacheTokens: 0, contextLength: model.contextLength)
        }
        metrics.setSlots(total: configuration.slotCount, busy: 0)
    }

    /// Starts the scheduler's thread.
    func start() {
        let thread = Thread { [self] in loop() }
        thread.name = "gpt2-edge scheduler"
        thread.stackSize = 8 << 20
        thread.start()
    }

    /// The limits requests are checked against.
    var limits: CompletionParameters.Limits {
        .init(contextLength: model.contextLength, vocabularySize: model.vocabularySize, slotCount: configuration.slotCount, endOfText: endOfText)
    }

    /// Queues one job per prompt of the request and returns the stream of their events; the request is cancelled when
    /// the stream is dropped. Throws 503 (with Retry-After) when the queue is full or the server is stopping.
    func submit(_ parameters: CompletionParameters, id: String) throws -> (events: AsyncStream<JobEvent>, ticket: CompletionTicket, jobs: Int) {
        let (stream, continuation) = AsyncStream.makeStream(of: JobEvent.self)
        let ticket = CompletionTicket(id: id, parameters: parameters, continuation: continuation)
        let jobs = CompletionJob.jobs(for: ticket, slotCount: configuration.slotCount)
        // Jobs that can start at once do not wait; the rest must fit the queue: first as if the server were idle (a
        // request that could never fit is the client's to change), then as things stand.
        func waitingCount(queued: [CompletionJob], free: Int) -> Int {
            var free = free, count = 0
            for job in queued {
                if count == 0 && job.slotsNeeded <= free { free -= job.slotsNeeded } else { count += 1 }
            }
            return count
        }
        let alone = waitingCount(queued: jobs, free: configuration.slotCount)
        guard alone <= configuration.maxQueue else {
            continuation.finish()
            throw APIError.invalid("this request runs as \(jobs.count) batches of at most \(configuration.slotCount) sequences (\(parameters.prompts.count) "
                                   + "prompts × \(parameters.generatedPerPrompt) choices), more than the queue holds (--max-queue \(configuration.maxQueue)); "
                                   + "send fewer prompts or choices per request", param: parameters.prompts.count > 1 ? "prompt" : "n")
        }
        try condition.withLock {
            guard accepting else {
                var error = APIError(status: .serviceUnavailable, message: "the server is shutting down", type: "unavailable_error")
                error.retryAfter = 5
                throw error
            }
            // Jobs already queued but not yet admitted take the free slots first.
            let mustWait = waitingCount(queued: waiting + jobs, free: freeSlots)
            guard mustWait <= configuration.maxQueue else {
                let queued = waitingCount(queued: waiting, free: freeSlots)
                var error = APIError(status: .serviceUnavailable,
                                     message: "the server is busy: every slot is taken and the queue is full (\(queued) waiting, --max-queue \(configuration.maxQueue)); retry later",
                                     type: "unavailable_error")
                error.retryAfter = 1
                throw error
            }
            waiting += jobs
            metrics.setQueueDepth(waiting.count)
            condition.signal()
        }
        continuation.onTermination = { @Sendable _ in ticket.cancel() }
        return (stream, ticket, jobs.count)
    }

    /// What each slot is doing (`GET /slots`).
    var slotStatuses: [SlotStatus] { condition.withLock { slotSnapshot } }

    /// Whether nothing runs and nothing waits.
    var isIdle: Bool { condition.withLock { waiting.isEmpty && freeSlots == configuration.slotCount } }

    /// Stops taking requests, lets the running ones finish until `deadline`, cancels what is left, stops the thread.
    func drain(deadline: Duration) async {
        condition.withLock { accepting = false }
        let clock = ContinuousClock()
        let end = clock.now + deadline
        while !isIdle && clock.now < end { try? await Task.sleep(for: .milliseconds(20)) }
        condition.withLock {
            stopping = true
            condition.signal()
        }
        while !condition.withLock({ stopped }) { try? await Task.sleep(for: .milliseconds(10)) }
    }

    // MARK: The scheduler thread

    private func loop() {
        while true {
            var admitted: [CompletionJob] = []
            var cancelAll = false
            condition.lock()
            while waiting.isEmpty && running.isEmpty && !stopping { condition.wait() }
            if stopping {
                cancelAll = true
            } else {
                while let job = waiting.first {
                    if job.ticket.isCancelled { waiting.removeFirst(); continue }
                    guard job.slotsNeeded <= freeSlots else { break }
                    waiting.removeFirst()
                    freeSlots -= job.slotsNeeded
                    admitted.append(job)
                }
            }
            metrics.setQueueDepth(waiting.count)
            condition.unlock()

            if cancelAll {
                let cancelled = waiting + running.map(\.job)
                for job in cancelled {
                    job.ticket.continuation.yield(.failed(APIError(status: .serviceUnavailable,
                                                                  message: "the server stopped before this request finished",
                                                                  type: "unavailable_error")))
                    job.ticket.continuation.finish()
                }
                for job in running { release(job) }
                condition.withLock {
                    waiting.removeAll()
                    stopped = true
                }
                return
            }
            for job in admitted { start(job) }
            // Read each flag once: a client may go away between two reads, and a job must be released exactly when removed.
            let cancelled = Set(running.filter { $0.job.ticket.isCancelled }.map(ObjectIdentifier.init))
            for job in running where cancelled.contains(ObjectIdentifier(job)) {
                metrics.countCancelled(completionTokens: job.choices.reduce(0) { $0 + $1.generated.count })
                release(job)
            }
            running.removeAll { cancelled.contains(ObjectIdentifier($0)) }
            if !running.isEmpty { step() }
            publishSnapshot()
        }
    }

    /// Gives a job its slots: the first (the one its prompt is prefilled on) is the free slot sharing the longest
    /// prefix with the prompt; the others (for n > 1) are the least useful free ones, overwritten by a fork later.
    private func start(_ job: CompletionJob) {
        let parameters = job.ticket.parameters
        var free = slots.filter { !$0.isBusy }
        let primary = free.max { a, b in
            let (sa, sb) = (a.sharedPrefix(with: job.prompt), b.sharedPrefix(with: job.prompt))
            return sa != sb ? sa < sb : a.releasedAtStep > b.releasedAtStep
        }!
        free.removeAll { $0 === primary }
        free.sort { a, b in a.tokens.count != b.tokens.count ? a.tokens.count < b.tokens.count : a.releasedAtStep < b.releasedAtStep }
        let others = Array(free.prefix(job.slotsNeeded - 1))
        let jobSlots = [primary] + others
        for slot in jobSlots { slot.isBusy = true }

        // Echo with logprobs needs the logits after every prompt position, so nothing of the prompt may come from the cache.
        let scoresPrompt = parameters.echo && parameters.logprobs != nil
        var reused = scoresPrompt ? 0 : min(primary.sharedPrefix(with: job.prompt), job.prompt.count - 1)
        do {
            if primary.sequence == nil { primary.sequence = try model.makeSequence(.batched) }
            try primary.sequence!.truncate(to: reused)
            primary.tokens.removeSubrange(reused...)
        } catch {
            reused = 0
            primary.sequence = try? model.makeSequence(.batched)
            primary.tokens = []
        }
        let choices = (0..<job.choiceCount).map { offset in
            ChoiceDecoder(index: job.promptIndex * parameters.generatedPerPrompt + job.firstChoice + offset, prompt: job.prompt,
                          parameters: parameters, seedOffset: job.firstChoice + offset, tokenizer: model.tokenizer, endOfText: endOfText)
        }
        running.append(RunningJob(job: job, slots: jobSlots, choices: choices, prefilled: reused, cachedTokens: reused,
                                  scoresPrompt: scoresPrompt))
        metrics.countCachedPromptTokens(reused)
    }

    /// One batched forward step over every running job.
    private func step() {
        stepCount += 1
        var steps: [LoadedModel.Step] = []
        /// What each row of `steps` belongs to: a decoding choice, or a prompt chunk of a job.
        enum Owner { case choice(job: RunningJob, index: Int), prompt(job: RunningJob, tokens: Int) }
        var owners: [Owner] = []
        for job in running where !job.isPrefilling {
            for (index, choice) in job.choices.enumerated() where !choice.isFinished {
                steps.append(LoadedModel.Step(sequence: job.slots[index].sequence!, tokens: [choice.lastToken!]))
                owners.append(.choice(job: job, index: index))
            }
        }
        let decodeRows = steps.count
        var budget = decodeRows == 0 ? configuration.maxPrefillChunk
            : timing.prefillBudget(minimum: configuration.minPrefillChunk, maximum: configuration.maxPrefillChunk, stallFactor: configuration.stallFactor)
        for job in running where job.isPrefilling && budget > 0 {
            // A scored prompt's chunk returns logits for every position (vocabulary floats each): kept small.
            let take = min(job.job.prompt.count - job.prefilled, budget, job.scoresPrompt ? Self.scoredChunk : .max)
            budget -= take
            let chunk = Array(job.job.prompt[job.prefilled..<(job.prefilled + take)])
            steps.append(LoadedModel.Step(sequence: job.slots[0].sequence!, tokens: chunk, allPositions: job.scoresPrompt))
            owners.append(.prompt(job: job, tokens: take))
        }
        guard !steps.isEmpty else { return }
        let prefillTokens = steps.count > decodeRows ? steps[decodeRows...].reduce(0) { $0 + $1.tokens.count } : 0

        let started = ContinuousClock.now
        let results: [[Float]]
        do {
            results = try model.forward(steps: steps)
        } catch {
            let failure = APIError(status: .internalServerError, message: "the model failed: \(error)", type: "server_error")
            for job in running {
                job.job.ticket.continuation.yield(.failed(failure))
                release(job)
            }
            running.removeAll()
            return
        }
        let seconds = (ContinuousClock.now - started).seconds
        timing.record(seconds: seconds, decodeRows: decodeRows, prefillTokens: prefillTokens)
        metrics.recordStep(seconds: seconds, decodeRows: decodeRows, prefillTokens: prefillTokens,
                           stallRatio: decodeRows > 0 && prefillTokens > 0 ? timing.stallRatio(seconds) : nil)

        let vocabulary = model.vocabularySize
        for (owner, logits) in zip(owners, results) {
            switch owner {
            case .choice(let job, let index):
                job.slots[index].tokens.append(job.choices[index].lastToken!)
                emit(job, index, job.choices[index].step(logits: logits))
            case .prompt(let job, let tokens):
                let chunk = job.job.prompt[job.prefilled..<(job.prefilled + tokens)]
                job.slots[0].tokens += chunk
                if job.scoresPrompt {
                    // Row r holds the logits after position prefilled + r, which score the prompt's next token.
                    let top = job.job.ticket.parameters.logprobs ?? 0
                    for row in 0..<tokens where job.prefilled + row + 1 < job.job.prompt.count {
                        let next = job.job.prompt[job.prefilled + row + 1]
                        job.promptScores.append(ChoiceDecoder.logprobs(of: next, in: Array(logits[row * vocabulary..<(row + 1) * vocabulary]),
                                                                       top: top, tokenizer: model.tokenizer))
                    }
                }
                job.prefilled += tokens
                if !job.isPrefilling { beginDecoding(job, lastLogits: Array(logits.suffix(vocabulary))) }
            }
        }
        for job in running where job.choices.allSatisfy(\.isFinished) {
            let generated = job.choices.reduce(0) { $0 + $1.generated.count }
            let promptTokens = job.job.firstChoice == 0 ? job.job.prompt.count : 0
            job.job.ticket.continuation.yield(.jobDone(promptIndex: job.job.promptIndex, promptTokens: promptTokens, completionTokens: generated))
            metrics.countFinished(promptTokens: promptTokens, completionTokens: generated)
            release(job)
        }
        running.removeAll { $0.choices.allSatisfy(\.isFinished) }
    }

    /// The prompt is in: the echo, the forks for n > 1 (each choice gets its own copy of the prompt's cache), and every
    /// choice's first token from the prompt's last logits.
    private func beginDecoding(_ job: RunningJob, lastLogits: [Float]) {
        let ticket = job.job.ticket
        var echoes: [(choice: Int, piece: ChoiceDecoder.Piece)] = []
        if ticket.parameters.echo {
            for index in job.choices.indices {
                echoes.append((job.choices[index].index,
                               job.choices[index].echo(prompt: job.job.prompt, scores: job.scoresPrompt ? job.promptScores : nil)))
            }
        }
        job.promptScores = []
        ticket.continuation.yield(.promptProcessed(promptIndex: job.job.promptIndex, cachedTokens: job.cachedTokens, echo: echoes))
        metrics.observeTimeToFirstToken(Date().timeIntervalSince(ticket.submitted))
        for index in job.choices.indices.dropFirst() where !job.choices[index].isFinished {
            do {
                job.slots[index].sequence = try job.slots[0].sequence!.fork()
                job.slots[index].tokens = job.slots[0].tokens
            } catch {
                ticket.continuation.yield(.failed(APIError(status: .internalServerError, message: "could not fork the prompt: \(error)", type: "server_error")))
                ticket.cancel()
                return
            }
        }
        for index in job.choices.indices where !job.choices[index].isFinished {
            emit(job, index, job.choices[index].step(logits: lastLogits))
        }
        for index in job.choices.indices where job.choices[index].isFinished && !job.reported[index] {
            report(job, index)
        }
    }

    private func emit(_ job: RunningJob, _ index: Int, _ piece: ChoiceDecoder.Piece) {
        let choice = job.choices[index]
        if !piece.text.isEmpty || piece.logprobs != nil {
            job.job.ticket.continuation.yield(.piece(choice: choice.index, piece))
        }
        if choice.isFinished { report(job, index) }
    }

    private func report(_ job: RunningJob, _ index: Int) {
        guard !job.reported[index] else { return }
        job.reported[index] = true
        let choice = job.choices[index]
        let tokens = choice.generated.count
        job.job.ticket.continuation.yield(.finished(choice: choice.index, reason: choice.finishReason ?? "stop", tokens: tokens,
                                                    tokensInText: choice.tokensWithinText, meanLogprob: tokens > 0 ? choice.logprobSum / Double(tokens) : 0))
    }

    /// Frees a job's slots (their caches keep what they hold, for the next prompt's prefix).
    private func release(_ job: RunningJob) {
        for slot in job.slots {
            slot.isBusy = false
            slot.releasedAtStep = stepCount
        }
        condition.withLock { freeSlots += job.slots.count }
    }

    private func publishSnapshot() {
        var statuses = slots.map { SlotStatus(id: $0.id, state: .idle, cacheTokens: $0.tokens.count, contextLength: model.contextLength) }
        for job in running {
            for (index, slot) in job.slots.enumerated() {
                statuses[slot.id].state = job.isPrefilling ? .prefill : .decode
                statuses[slot.id].requestID = job.job.ticket.id
                statuses[slot.id].promptTokens = job.job.prompt.count
                statuses[slot.id].cachedPromptTokens = job.cachedTokens
                statuses[slot.id].generatedTokens = job.choices[index].generated.count
            }
        }
        let busy = slots.filter(\.isBusy).count
        condition.withLock { slotSnapshot = statuses }
        metrics.setSlots(total: slots.count, busy: busy)
    }
}

/// A job in its slots: the prompt's progress through the model and each choice's decoder (choice i runs in slot i).
final class RunningJob {
    let job: CompletionJob
    let slots: [Slot]
    var choices: [ChoiceDecoder]
    var reported: [Bool]
    /// Prompt tokens already in the first slot's cache.
    var prefilled: Int
    /// Of those, how many came from the cache (prefix reuse).
    let cachedTokens: Int
    /// Echo with logprobs: every prompt position's logits are kept.
    let scoresPrompt: Bool
    /// Each prompt token's log-probability and top alternatives (after the first), as the prompt goes through.
    var promptScores: [(value: Float, top: [String: Float])] = []

    init(job: CompletionJob, slots: [Slot], choices: [ChoiceDecoder], prefilled: Int, cachedTokens: Int, scoresPrompt: Bool) {
        self.job = job
        self.slots = slots
        self.choices = choices
        self.reported = choices.map { _ in false }
        self.prefilled = prefilled
        self.cachedTokens = cachedTokens
        self.scoresPrompt = scoresPrompt
    }

    var isPrefilling: Bool { prefilled < job.prompt.count }
}

/// Running estimates of what a step costs, for sizing prompt chunks.
struct StepTiming {
    /// Seconds of a step with decode rows only (exponential moving average).
    private(set) var decodeStep: Double?
    /// Seconds per prompt token beyond the decode rows of the same step.
    private(set) var prefillPerToken: Double?

    mutating func record(seconds: Double, decodeRows: Int, prefillTokens: Int) {
        func average(_ old: Double?, _ new: Double) -> Double { old.map { 0.8 * $0 + 0.2 * new } ?? new }
        if prefillTokens == 0 {
            decodeStep = average(decodeStep, seconds)
        } else {
            let decodePart = decodeRows > 0 ? (decodeStep ?? 0) : 0
            prefillPerToken = average(prefillPerToken, max(seconds - decodePart, seconds * 0.1) / Double(prefillTokens))
        }
    }

    /// Prompt tokens a step may add to the decode rows so that it costs about `stallFactor` decode steps more.
    func prefillBudget(minimum: Int, maximum: Int, stallFactor: Double) -> Int {
        guard let decodeStep, let prefillPerToken, prefillPerToken > 0 else { return minimum }
        return min(maximum, max(minimum, Int(stallFactor * decodeStep / prefillPerToken)))
    }

    /// A mixed step's time over a decode step's.
    func stallRatio(_ seconds: Double) -> Double? { decodeStep.map { seconds / $0 } }
}

extension Duration {
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) * 1e-18 }
}
