import Foundation
import HTTPTypes
import Hummingbird
import Logging

/// `POST /v1/completions`: checks the request, hands it to the scheduler, and answers with one JSON object or an SSE
/// stream of chunks made from the same events, so both carry the same text.
struct CompletionsEndpoint: Sendable {
    let scheduler: BatchScheduler
    let modelID: String
    let logger: Logger
    let maxBodyBytes: Int

    func respond(_ request: Request) async throws -> Response {
        let decoded: CompletionRequest = try await decodeBody(request, limit: maxBodyBytes)
        let parameters = try CompletionParameters(decoded, tokenizer: scheduler.model.tokenizer, limits: scheduler.limits,
                                                  randomSeed: { UInt64.random(in: 0...UInt64.max) })
        let id = "cmpl-" + String(UInt64.random(in: 0...UInt64.max), radix: 36)
        let created = Int(Date().timeIntervalSince1970)
        let (events, ticket, jobs) = try scheduler.submit(parameters, id: id)
        let summary = RequestSummary(id: id, stream: parameters.stream, logger: logger)
        if parameters.stream {
            return stream(events, ticket: ticket, jobs: jobs, parameters: parameters, id: id, created: created, summary: summary)
        }
        let completion = try await withTaskCancellationHandler {
            try await collect(events, jobs: jobs, parameters: parameters, id: id, created: created, summary: summary)
        } onCancel: { ticket.cancel() }
        var response = try jsonResponse(completion)
        response.headers[.gpt2EdgeLogged] = "1"
        summary.log(status: 200)
        return response
    }

    /// The whole response: every choice's pieces joined; with best_of, the n choices of each prompt with the highest
    /// mean log-probability per token.
    private func collect(_ events: AsyncStream<JobEvent>, jobs: Int, parameters: CompletionParameters, id: String, created: Int,
                         summary: RequestSummary) async throws -> Completion {
        let generated = parameters.prompts.count * parameters.generatedPerPrompt
        var texts = [String](repeating: "", count: generated)
        var logprobs = [Completion.Logprobs?](repeating: parameters.logprobs == nil ? nil : Completion.Logprobs(), count: generated)
        var echoed = [Int](repeating: 0, count: generated)
        var finished = [(reason: String, tokensInText: Int, mean: Double)?](repeating: nil, count: generated)
        var usage = Completion.Usage(promptTokens: 0, completionTokens: 0)
        var jobsDone = 0
        for await event in events {
            switch event {
            case .promptProcessed(_, let cached, let echo):
                summary.cachedTokens += cached
                for (choice, piece) in echo {
                    texts[choice] += piece.text
                    if let part = piece.logprobs { logprobs[choice]?.append(part); echoed[choice] = part.tokens.count }
                }
            case .piece(let choice, let piece):
                texts[choice] += piece.text
                if let part = piece.logprobs { logprobs[choice]?.append(part) }
            case .finished(let choice, let reason, _, let tokensInText, let mean):
                finished[choice] = (reason, tokensInText, mean)
            case .jobDone(_, let promptTokens, let completionTokens):
                usage.promptTokens += promptTokens
                usage.completionTokens += completionTokens
                jobsDone += 1
            case .failed(let error):
                summary.log(status: error.status.code)
                throw error
            }
            if jobsDone == jobs { break }
        }
        guard jobsDone == jobs else {
            throw APIError(status: .serviceUnavailable, message: "the request was cancelled before it finished", type: "unavailable_error")
        }
        summary.usage = usage
        var choices: [Completion.Choice] = []
        for prompt in 0..<parameters.prompts.count {
            var candidates = Array(prompt * parameters.generatedPerPrompt..<(prompt + 1) * parameters.generatedPerPrompt)
            if parameters.generatedPerPrompt > parameters.choicesPerPrompt {
                candidates.sort { (finished[$0]?.mean ?? -.infinity) > (finished[$1]?.mean ?? -.infinity) }
                candidates = Array(candidates.prefix(parameters.choicesPerPrompt))
            }
            for choice in candidates {
                // A stop string cut the text: the tokens past it are not part of the answer.
                var choiceLogprobs = logprobs[choice]
                if var all = choiceLogprobs, let kept = finished[choice].map({ echoed[choice] + $0.tokensInText }), kept < all.tokens.count {
                    all.tokens.removeSubrange(kept...)
                    all.tokenLogprobs.removeSubrange(kept...)
                    all.topLogprobs.removeSubrange(kept...)
                    all.textOffset.removeSubrange(kept...)
                    choiceLogprobs = all
                }
                choices.append(Completion.Choice(text: texts[choice], index: choices.count, finishReason: finished[choice]?.reason ?? "stop",
                                                 logprobs: choiceLogprobs))
            }
        }
        return Completion(id: id, created: created, model: modelID, choices: choices, usage: usage)
    }

    /// Server-Sent Events: `data: {chunk}\n\n` per piece, a finish chunk per choice, the usage chunk when asked for,
    /// then `data: [DONE]`. A failed write (the client went away) drops the event stream, which cancels the request;
    /// the scheduler frees its slots at the next step.
    private func stream(_ events: AsyncStream<JobEvent>, ticket: CompletionTicket, jobs: Int, parameters: CompletionParameters, id: String, created: Int,
                        summary: RequestSummary) -> Response {
        let modelID = modelID
        let body = ResponseBody { writer in
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
            func send(_ choices: [Completion.Choice], usage: Completion.Usage? = nil) async throws {
                let chunk = Completion(id: id, created: created, model: modelID, choices: choices, usage: usage)
                try await writer.write(ByteBuffer(string: "data: " + String(decoding: try encoder.encode(chunk), as: UTF8.self) + "\n\n"))
            }
            var usage = Completion.Usage(promptTokens: 0, completionTokens: 0)
            var jobsDone = 0
            var status = 200
            do {
                for await event in events {
                    switch event {
                    case .promptProcessed(_, let cached, let echo):
                        summary.cachedTokens += cached
                        for (choice, piece) in echo {
                            try await send([.init(text: piece.text, index: choice, finishReason: nil, logprobs: piece.logprobs)])
                        }
                    case .piece(let choice, let piece):
                        try await send([.init(text: piece.text, index: choice, finishReason: nil, logprobs: piece.logprobs)])
                    case .finished(let choice, let reason, _, _, _):
                        try await send([.init(text: "", index: choice, finishReason: reason, logprobs: nil)])
                    case .jobDone(_, let promptTokens, let completionTokens):
                        usage.promptTokens += promptTokens
                        usage.completionTokens += completionTokens
                        jobsDone += 1
                    case .failed(let error):
                        status = error.status.code
                        let data = try encoder.encode(error.body)
                        try await writer.write(ByteBuffer(string: "data: " + String(decoding: data, as: UTF8.self) + "\n\n"))
                    }
                    if jobsDone == jobs || status != 200 { break }
                }
                if status == 200 && jobsDone == jobs {
                    if parameters.includeUsage { try await send([], usage: usage) }
                    try await writer.write(ByteBuffer(string: "data: [DONE]\n\n"))
                }
                try await writer.finish(nil)
                summary.usage = usage
                summary.log(status: status)
            } catch {
                ticket.cancel()
                summary.log(status: 499, note: "client went away: \(error)")
                throw error
            }
        }
        var headers: HTTPFields = [.contentType: "text/event-stream", .cacheControl: "no-cache"]
        headers[.gpt2EdgeLogged] = "1"
        headers[HTTPField.Name("X-Accel-Buffering")!] = "no"   // nginx: pass the events on as they come
        return Response(status: .ok, headers: headers, body: body)
    }
}

/// The one log line of a completion, written when it ends (for a stream: when its last event is sent).
final class RequestSummary: @unchecked Sendable {
    // @unchecked: written by the one task that answers the request, then read once by `log`.
    let id: String
    let stream: Bool
    let logger: Logger
    let start = ContinuousClock.now
    var cachedTokens = 0
    var usage: Completion.Usage?

    init(id: String, stream: Bool, logger: Logger) {
        self.id = id
        self.stream = stream
        self.logger = logger
    }

    func log(status: Int, note: String? = nil) {
        let milliseconds = Int((ContinuousClock.now - start).seconds * 1000)
        let tokens = usage.map { " prompt_tokens=\($0.promptTokens) cached=\(cachedTokens) completion_tokens=\($0.completionTokens)" } ?? ""
        logger.info("POST /v1/completions \(status) \(milliseconds) ms \(id)\(stream ? " stream" : "")\(tokens)\(note.map { " (\($0))" } ?? "")")
    }
}

/// A JSON response of an Encodable value.
func jsonResponse<Value: Encodable>(_ value: Value, status: HTTPResponse.Status = .ok) throws -> Response {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
    return Response(status: status, headers: [.contentType: "application/json"],
                    body: ResponseBody(byteBuffer: ByteBuffer(bytes: try encoder.encode(value))))
}
