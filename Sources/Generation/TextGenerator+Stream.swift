import Foundation

/// One event of a streamed generation.
public enum GenerationEvent: Sendable {
    /// New text, final (never half a character, never part of a stop string).
    case text(String)
    /// The run ended; the result holds every token and the timings.
    case finished(GenerationResult)
}

extension TextGenerator {
    /// Generates on a background thread and delivers text as it is produced.
    ///
    /// ```swift
    /// for try await event in TextGenerator(model: model).stream(prompt: "And God said", options: options) {
    ///     if case .text(let piece) = event { print(piece, terminator: "") }
    /// }
    /// ```
    /// Cancelling the consuming task (or dropping the stream) stops generation before the next token; the
    /// stream then ends with `.finished` whose finish reason is `cancelled`, if anyone is still listening.
    public func stream(prompt: String, options: GenerationOptions) -> AsyncThrowingStream<GenerationEvent, Error> {
        stream(promptTokens: model.tokenizer.encode(prompt), options: options)
    }

    /// `stream(prompt:options:)` for already tokenized input.
    public func stream(promptTokens: [Int], options: GenerationOptions) -> AsyncThrowingStream<GenerationEvent, Error> {
        AsyncThrowingStream { continuation in
            let cancelled = CancellationFlag()
            continuation.onTermination = { _ in cancelled.set() }
            let thread = Thread {
                do {
                    let result = try self.generate(promptTokens: promptTokens, options: options,
                                                   onText: { continuation.yield(.text($0)) },
                                                   shouldContinue: { !cancelled.isSet })
                    continuation.yield(.finished(result))
                    continuation.finish()
                } catch {
                    continuation.finish(throwing: error)
                }
            }
            thread.stackSize = 4 << 20
            thread.start()
        }
    }
}

/// A flag set from one thread and read from another.
// @unchecked: its flag is read and written under `lock` only.
final class CancellationFlag: @unchecked Sendable {
    private let lock = NSLock()
    private var value = false
    func set() { lock.lock(); value = true; lock.unlock() }
    var isSet: Bool { lock.lock(); defer { lock.unlock() }; return value }
}
