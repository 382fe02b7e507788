import ArgumentParser
import CLISupport
import Foundation
import GPT2Edge

/// `gpt2-quant eval`: perplexity on a text, and the distance from a reference model.
struct Eval: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Perplexity of a model on a text (sliding window), and its distance from a reference model.",
        discussion: """
        Windows of --ctx tokens start every --stride tokens; each scores only tokens the previous one did not, \
        exactly as Hugging Face's perplexity guide computes it. With --ref (usually the float32 Hugging Face \
        folder), every scored position also compares the two next-token distributions: mean and max \
        KL(ref ‖ model), top-1 agreement, top-5 overlap and the largest logit difference.

        The text to score is a UTF-8 file given with -f (as -f in gpt2-edge generate, logits and tokenize).

        For a sequence classifier (GPT2ForSequenceClassification), --labels FILE scores labelled texts instead: one \
        JSON object per line, {"text": "...", "label": "<a name of the model's id2label>"}. It prints the accuracy \
        (overall and per label) and, with --ref, the reference's accuracy on the same texts, how often the two \
        predict the same label and the largest pooled-logit difference:

          gpt2-quant eval -m genre-q8.gqz --labels heldout.jsonl --ref kjv-genre/

        """ + ExitCodes.summary
    )

    @Option(name: [.short, .long], help: "The model: a .gqz file or a Hugging Face GPT-2 folder.")
    var model: String

    @Option(name: [.customShort("f"), .long], help: "A UTF-8 text file to score (required).")
    var file: String?

    /// Before 0.1.0 the file came with --text, which in gpt2-edge logits is the text itself; refused by name so
    /// that neither meaning is guessed.
    @Option(name: .customLong("text"), help: .hidden)
    var oldTextOption: String?

    @Option(help: "Labelled texts for a sequence classifier, one JSON object per line: {\"text\": ..., \"label\": ...}.")
    var labels: String?

    @Flag(help: "With --labels: cut texts longer than the context to their first tokens instead of refusing them.")
    var truncate = false

    @Option(help: "A reference model (a .gqz file or a Hugging Face folder) to compare with.")
    var ref: String?

    @Option(parsing: .unconditional, help: "Window length in tokens, at least 2 (default: the model's context).")
    var ctx: Int?

    @Option(parsing: .unconditional, help: "Tokens between window starts, at least 1 (default: half the window).")
    var stride: Int?

    @Option(name: [.long, .customLong("cache-type")], help: "KV cache precision of the evaluated model: f32 (default, so only the weights are measured), f16 or int8 (q8_0).")
    var kvCache: KVCache.Precision = .f32

    @Option(name: [.short, .long], parsing: .unconditional, help: "Threads, 1 to 256 (default: physical cores).")
    var threads: Int?

    @Flag(help: "Print one JSON object.")
    var json = false

    func validate() throws {
        if let oldTextOption { throw ValidationError("eval reads the text to score from a file given with -f: -f \(oldTextOption)") }
        if file != nil && labels != nil { throw ValidationError("give either -f FILE (perplexity) or --labels FILE (classification), not both") }
        guard file != nil || labels != nil else { throw ValidationError("give the text to score with -f FILE (or labelled texts with --labels FILE)") }
        if let threads, !(1...256).contains(threads) { throw ValidationError("--threads must be between 1 and 256, got \(threads)") }
        if let ctx, ctx < 2 { throw ValidationError("--ctx must be at least 2, got \(ctx)") }
        if let stride, stride < 1 { throw ValidationError("--stride must be at least 1, got \(stride)") }
    }

    func run() throws {
        if let labels { return try evaluateClassifier(labels: labels) }
        guard let file else { throw ValidationError("give the text to score with -f FILE") }   // validate() saw to it
        let content: String
        do { content = try InputText.read(path: file).text }
        catch let failure as InputText.Failure { throw CLIError(failure.description) }
        let threadCount = threads ?? CPUInfo.physicalCoreCount
        // The reference keeps a float32 cache; the model's is float32 unless asked, so by default the
        // comparison measures the weights alone. The library decides resident or streamed layers for each.
        let loaded = try LoadedModel.load(ModelSource.open(path: model), policy: LoadPolicy(threads: threadCount, cachePrecision: kvCache))
        let reference = try ref.map { try LoadedModel.load(ModelSource.open(path: $0), policy: LoadPolicy(threads: threadCount, cachePrecision: .f32)) }
        let tokens = loaded.tokenizer.encode(content)
        let progress = TerminalProgress(enabled: !json)
        let started = Date()
        let report = try ModelEvaluator(model: loaded, reference: reference).evaluate(tokens: tokens, contextLength: ctx, stride: stride) { done, total in
            progress.show("\(done) / \(total) tokens", force: done == total)
        }
        progress.clear()
        let window = ctx ?? loaded.config.contextLength
        var object = EvalReport(model: model, text: file, tokens: tokens.count, scoredTokens: report.scoredTokens, windows: report.windows,
                                perplexity: report.perplexity, contextLength: window, stride: stride ?? max(1, window / 2),
                                seconds: Date().timeIntervalSince(started))
        if let ref, let referencePerplexity = report.referencePerplexity {
            object.reference = ref
            object.referencePerplexity = referencePerplexity
            object.perplexityChange = report.perplexity / referencePerplexity - 1
            object.meanKL = report.meanKL
            object.maxKL = report.maxKL
            object.top1Agreement = report.top1Agreement
            object.top5Overlap = report.top5Overlap
            object.maxLogitError = report.maxLogitError
        }
        if json { try StandardOutput.line(try jsonText(object)); return }
        var lines = [String(format: "perplexity %.4f over %d scored tokens in %d windows", report.perplexity, report.scoredTokens, report.windows)]
        if let referencePerplexity = report.referencePerplexity {
            lines.append(String(format: "reference perplexity %.4f (%+.2f%%)", referencePerplexity, 100 * (report.perplexity / referencePerplexity - 1)))
            lines.append(String(format: "KL(ref ‖ model) mean %.6f, max %.4f nats; top-1 agreement %.2f%%; top-5 overlap %.2f%%; max logit error %.4f",
                                report.meanKL!, report.maxKL!, 100 * report.top1Agreement!, 100 * report.top5Overlap!, report.maxLogitError!))
        }
        try StandardOutput.line(lines.joined(separator: "\n"))
    }

    /// `--labels`: accuracy of a sequence classifier, and its agreement with `--ref`.
    func evaluateClassifier(labels path: String) throws {
        let content: String
        do { content = try InputText.read(path: path).text }
        catch let failure as InputText.Failure { throw CLIError(failure.description) }
        var examples: [(text: String, label: String)] = []
        for (number, line) in content.split(separator: "\n", omittingEmptySubsequences: false).enumerated()
            where !line.trimmingCharacters(in: .whitespaces).isEmpty {
            guard let example = try? JSONDecoder().decode(LabelledText.self, from: Data(line.utf8)) else {
                throw CLIError("\(path):\(number + 1): expected a JSON object {\"text\": ..., \"label\": ...}")
            }
            examples.append((example.text, example.label))
        }
        let threadCount = threads ?? CPUInfo.physicalCoreCount
        let loaded = try LoadedModel.load(ModelSource.open(path: model), policy: LoadPolicy(threads: threadCount, cachePrecision: kvCache))
        let reference = try ref.map { try LoadedModel.load(ModelSource.open(path: $0), policy: LoadPolicy(threads: threadCount, cachePrecision: .f32)) }
        let progress = TerminalProgress(enabled: !json)
        let report: ClassifierEvaluator.Report
        do {
            report = try ClassifierEvaluator(model: loaded, reference: reference).evaluate(examples, truncate: truncate) { done, total in
                progress.show("\(done) / \(total) texts", force: done == total)
            }
        } catch let error as ClassifierEvaluator.DataError {
            throw CLIError("\(path): \(error.description)")
        } catch let error as LoadedModel.TaskInputError {
            throw CLIError("\(path): \(error.description)" + (error.truncation.map { " (pass --truncate to \($0))" } ?? ""))
        }
        progress.clear()
        if json { try StandardOutput.line(try jsonText(report)); return }
        var lines = [String(format: "accuracy %.2f%% (%d of %d)", 100 * report.accuracy, report.correct, report.examples)]
        if let referenceAccuracy = report.referenceAccuracy, let agreement = report.agreement, let difference = report.maxLogitDifference {
            lines.append(String(format: "reference accuracy %.2f%% (%+.2f points); same label on %.2f%%; max logit difference %.4f",
                                100 * referenceAccuracy, 100 * (report.accuracy - referenceAccuracy), 100 * agreement, difference))
        }
        for count in report.perClass where count.examples > 0 {
            lines.append("  \(count.label): " + String(format: "%.2f%% of %d", 100 * Double(count.correct) / Double(count.examples), count.examples))
        }
        if report.truncated > 0 { lines.append("\(report.truncated) texts were cut to the context") }
        try StandardOutput.line(lines.joined(separator: "\n"))
    }
}

/// One line of `--labels`.
struct LabelledText: Decodable {
    var text: String
    var label: String
}
