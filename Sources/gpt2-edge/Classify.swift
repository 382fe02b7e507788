import ArgumentParser
import CLISupport
import Foundation
import GPT2Edge
import ModelCommandLine

struct Classify: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Classify texts with a sequence-classification model (GPT2ForSequenceClassification).",
        discussion: """
        Each text gets the labels of the model's id2label with scores as transformers' text-classification pipeline \
        computes them: softmax for single-label models (more than one label), sigmoid for multi-label models or a \
        single label, the raw logits for regression (--function-to-apply changes it). As the pipeline's default \
        (top_k=1), only the best label is printed; --top-k N prints the N best.

        Texts come as arguments, one per line from -f FILE or standard input, or with --jsonl as {"text": ...} \
        objects. They run in batched passes of up to --batch-tokens tokens; the results are in the texts' order.

        Output: one line per text, the label and its score separated by a tab (with --top-k, more pairs on the \
        same line); with --json one object per line: {"index", "label", "score", "scores": [{"label", "score", \
        "id"}], "logits", "function_to_apply", "tokens", "truncated"}.

        Example (kjv-seqcls: Tests/Fixtures/models/heads/kjv-seqcls, a random 3-label head on the KJV model):
          gpt2-edge classify -m kjv-seqcls "And Jesus wept." "God is love." --top-k 2
          positive  0.9189  neutral  0.0431
          positive  0.9724  neutral  0.0207

        """ + "\n" + ExitCodes.summary + " " + ExitCodes.sizeUnits
    )

    @OptionGroup var modelOptions: ModelOptions
    @OptionGroup var batch: BatchedTextOptions
    @OptionGroup var taskOptions: TaskOptions

    @Option(parsing: .unconditional, help: "Labels to print per text, best first (default 1: the best; more than the labels prints all).")
    var topK = 1

    @Option(help: "How logits become scores: softmax, sigmoid or none (default: as the pipeline decides from the config).")
    var functionToApply: ClassificationScoring?

    @Flag(help: "Print one JSON object per text (JSON Lines).")
    var json = false

    func validate() throws {
        guard topK >= 1 else { throw ValidationError("--top-k must be at least 1, got \(topK)") }
    }

    func run() throws {
        let source = try modelOptions.openSource(requiring: .sequenceClassification)
        let (texts, model) = try batch.readAndLoad(source, modelOptions: modelOptions, taskOptions: taskOptions)
        let results = try runningTask(inputName: batch.inputs.name(ofInput:)) {
            try model.classify(texts, scoring: functionToApply, truncate: taskOptions.truncate, tokensPerPass: batch.batchTokens)
        }
        for (index, result) in results.enumerated() {
            let shown = result.keepingTop(topK)
            if json {
                try StandardOutput.line(try jsonText(ClassifyReport(index: index, classification: shown)))
            } else {
                try StandardOutput.line(shown.scores.map { "\($0.label)\t\(formatScore($0.score))" }.joined(separator: "\t"))
            }
        }
    }
}
