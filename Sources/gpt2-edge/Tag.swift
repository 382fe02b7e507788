import ArgumentParser
import CLISupport
import Foundation
import GPT2Edge
import ModelCommandLine

struct Tag: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Label each token of a text with a token-classification model (GPT2ForTokenClassification).",
        discussion: """
        As transformers' token-classification pipeline: each token's best label (softmax), and with the default \
        --aggregation simple adjacent tokens of the same tag grouped (a B- label starts a new group; the group's \
        label drops the B-/I- prefix, its score is the tokens' mean, its word their text). Tokens and groups \
        labelled O are left out (--ignore-labels). Offsets are character offsets into the text (Unicode scalars, \
        as Python's str indices) and include a token's leading space, as transformers gives them for GPT-2.

        Output: one line per group (or token, with --aggregation none): the word as a JSON string, the label, the \
        score, the start and end offsets, tab-separated. --json prints one object: {"aggregation", "entities": \
        [the pipeline's entities, with its keys], "tokens": [every token: "index", "id", "word", "text", \
        "entity", "score", "start", "end"], "truncated"}.

        Example (kjv-tokcls: Tests/Fixtures/models/heads/kjv-tokcls, a random head on the KJV model):
          gpt2-edge tag -m kjv-tokcls "Peter went to Jerusalem and Galilee."
          "Peter"     PER  0.5555  0   5
          " went to"  LOC  0.6164  5   13
          "."         LOC  0.8459  35  36

        """ + "\n" + ExitCodes.summary + " " + ExitCodes.sizeUnits
    )

    @OptionGroup var modelOptions: ModelOptions
    @OptionGroup var taskOptions: TaskOptions

    @Argument(help: "The text (default: -f FILE, else standard input).")
    var text: String?

    @Option(name: [.customShort("f"), .long], help: "Read the text from this file.")
    var file: String?

    @Option(help: "simple: group adjacent tokens of the same tag; none: every token.")
    var aggregation: Aggregation = .simple

    enum Aggregation: String, ExpressibleByArgument, CaseIterable { case simple, none }

    @Option(help: "Comma-separated labels to leave out of the output ('' keeps every label).")
    var ignoreLabels = "O"

    @Flag(help: "Print one JSON object.")
    var json = false

    func validate() throws {
        if text != nil && file != nil { throw ValidationError("give the text either as an argument or with -f, not both") }
    }

    func run() throws {
        let source = try modelOptions.openSource(requiring: .tokenClassification)
        let input = try readSingleText(text, file: file, what: "text")
        let context = try modelOptions.contextLength(of: source)
        let model = try modelOptions.loadForTask(source, passTokens: min(context, max(1, source.tokenizer.encode(input).count)),
                                                 options: taskOptions, smaller: "--kv-cache int8, a 4-bit file")
        let ignored = Set(ignoreLabels.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty })
        let tagging = try runningTask { try model.tag(input, ignoring: ignored, truncate: taskOptions.truncate) }
        let tokens = tagging.tokens(ignoring: ignored)
        if json {
            let entities: TagReport.Entities = aggregation == .simple ? .groups(tagging.groups) : .tokens(tokens)
            try StandardOutput.line(try jsonText(TagReport(aggregation: aggregation.rawValue, entities: entities, tokens: tagging.tokens,
                                                           truncated: tagging.truncated)))
            return
        }
        let lines: [String]
        switch aggregation {
        case .simple:
            lines = tagging.groups.map { [quoted($0.word), $0.entityGroup, formatScore($0.score), "\($0.start)", "\($0.end)"].joined(separator: "\t") }
        case .none:
            lines = tokens.map { [quoted($0.text), $0.entity, formatScore($0.score), "\($0.start)", "\($0.end)"].joined(separator: "\t") }
        }
        if !lines.isEmpty { try StandardOutput.line(lines.joined(separator: "\n")) }
    }
}
