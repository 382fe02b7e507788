import ArgumentParser
import CLISupport
import Foundation
import GPT2Edge
import ModelCommandLine

/// `gpt2-edge answer` (named apart from the library's `Answer`, its result).
struct AnswerQuestion: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "answer",
        abstract: "Find the answer to a question in a context with a question-answering model (GPT2ForQuestionAnswering).",
        discussion: """
        As transformers' question-answering pipeline (4.x; version 5 removed it): the model reads the question's \
        tokens followed by the context's (GPT-2 puts nothing between them), start and end probabilities are softmaxes \
        over the context's tokens, a span scores p(start) × p(end) with at most --max-answer-length tokens, and the \
        answer is widened to the words around its first and last token (a word keeps its leading space; \
        --no-align-to-words keeps the tokens' own offsets). Offsets are character offsets into the context.

        The context comes from --context FILE, --context-text TEXT, or standard input. A question and context \
        longer than the model's context are refused, or with --truncate the context's end is dropped (the pipeline \
        would read it in overlapping windows instead).

        Output: one line per answer, best first: the answer as a JSON string, its score, its start and end offsets, \
        tab-separated. --json: one object per answer: {"answer", "score", "start", "end", "start_token", \
        "end_token", "truncated"} (token positions count the question's tokens first).

        Example (kjv-qa: Tests/Fixtures/models/heads/kjv-qa, a random head on the KJV model):
          gpt2-edge answer -m kjv-qa -q "Where did Peter go?" \\
            --context-text "Peter went to Jerusalem and Galilee."
          " went"  0.3490  5  10

        """ + "\n" + ExitCodes.summary + " " + ExitCodes.sizeUnits
    )

    @OptionGroup var modelOptions: ModelOptions
    @OptionGroup var taskOptions: TaskOptions

    @Option(name: [.short, .long], help: "The question.")
    var question: String

    @Option(help: "Read the context from this file (default: --context-text, else standard input).")
    var context: String?

    @Option(help: "The context itself.")
    var contextText: String?

    @Option(parsing: .unconditional, help: "The longest answer, in tokens.")
    var maxAnswerLength = 15

    @Option(parsing: .unconditional, help: "Answers to print, best first.")
    var topK = 1

    @Flag(inversion: .prefixedNo, help: "Widen an answer to whole words, as the pipeline's align_to_words.")
    var alignToWords = true

    @Flag(help: "Print one JSON object per answer (JSON Lines).")
    var json = false

    func validate() throws {
        if context != nil && contextText != nil { throw ValidationError("give the context either with --context FILE or with --context-text, not both") }
        guard maxAnswerLength >= 1 else { throw ValidationError("--max-answer-length must be at least 1, got \(maxAnswerLength)") }
        guard topK >= 1 else { throw ValidationError("--top-k must be at least 1, got \(topK)") }
    }

    func run() throws {
        let source = try modelOptions.openSource(requiring: .questionAnswering)
        let contextText = try readSingleText(self.contextText, file: context, what: "context")
        let limit = try modelOptions.contextLength(of: source)
        let tokens = source.tokenizer.encode(question).count + source.tokenizer.encode(contextText).count
        let model = try modelOptions.loadForTask(source, passTokens: min(limit, max(1, tokens)), options: taskOptions,
                                                 smaller: "--kv-cache int8, a 4-bit file")
        let answers = try runningTask {
            try model.answers(question: question, context: contextText, topK: topK, maxAnswerLength: maxAnswerLength,
                              alignToWords: alignToWords, truncate: taskOptions.truncate)
        }
        for answer in answers {
            if json {
                try StandardOutput.line(try jsonText(answer))
            } else {
                try StandardOutput.line([quoted(answer.answer), formatScore(answer.score), "\(answer.start)", "\(answer.end)"].joined(separator: "\t"))
            }
        }
    }
}
