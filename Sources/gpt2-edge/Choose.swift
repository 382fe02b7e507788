import ArgumentParser
import CLISupport
import Foundation
import GPT2Edge
import ModelCommandLine

struct Choose: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Score the choices of a multiple-choice question with GPT2DoubleHeadsModel's multiple-choice head.",
        discussion: """
        Each choice is the text --context followed by the choice, exactly (put the space a choice needs at its \
        start: --choice " wept."), scored at its last token as transformers does by default (mc_token_ids), and the \
        scores become probabilities by a softmax over the choices. All choices run in one batched pass. A choice \
        longer than the model's context with the context is refused, or with --truncate the context's start is \
        dropped.

        Output: one line per choice, in the order given: "*" for the most probable one (else "-"), its \
        probability, its logit (mc_logits) and the choice as a JSON string, tab-separated. --json: one object \
        {"best", "choices": [{"index", "choice", "logit", "probability", "best", "tokens"}]}.

        Example (kjv-double: Tests/Fixtures/models/heads/kjv-double, a random head on the KJV model):
          gpt2-edge choose -m kjv-double --context "And" \\
            --choice " Jesus wept" --choice " God said"
          -  0.1331  -0.8223  " Jesus wept"
          *  0.8669  1.0515   " God said"

        """ + "\n" + ExitCodes.summary + " " + ExitCodes.sizeUnits
    )

    @OptionGroup var modelOptions: ModelOptions
    @OptionGroup var taskOptions: TaskOptions

    @Option(help: "The text before every choice (default: none).")
    var context = ""

    @Option(name: .customLong("choice"), help: "A choice (repeat for each, at least two).")
    var choices: [String] = []

    @Flag(help: "Print one JSON object.")
    var json = false

    func validate() throws {
        guard choices.count >= 2 else { throw ValidationError("give at least two choices with --choice, got \(choices.count)") }
    }

    func run() throws {
        let source = try modelOptions.openSource(requiring: .multipleChoice)
        let limit = try modelOptions.contextLength(of: source)
        let tokens = choices.reduce(0) { $0 + min(limit, source.tokenizer.encode(context + $1).count) }
        let model = try modelOptions.loadForTask(source, passTokens: max(1, tokens), options: taskOptions,
                                                 smaller: "fewer or shorter choices, --kv-cache int8, a 4-bit file")
        let scores = try runningTask(inputName: { "choice \($0 + 1)" }) { try model.chooseAmong(context: context, choices: choices, truncate: taskOptions.truncate) }
        if json {
            try StandardOutput.line(try jsonText(ChooseReport(best: scores.first(where: \.best)!.index, choices: scores)))
            return
        }
        try StandardOutput.line(scores.map { score in
            [score.best ? "*" : "-", formatScore(score.probability), formatScore(Double(score.logit)), quoted(score.choice)].joined(separator: "\t")
        }.joined(separator: "\n"))
    }
}
