import ArgumentParser
import CLISupport
import Foundation
import GPT2Edge
import ModelCommandLine

// What the task commands (classify, tag, answer, choose, embed) share: where their texts come from, the model
// opened with the head the task needs, the run sized by the memory plan, and the library's errors as messages.

extension EmbeddingPooling: ExpressibleByArgument {}
extension ClassificationScoring: ExpressibleByArgument {}

/// One text from an argument, -f FILE or standard input, for the commands that take a single text.
func readSingleText(_ text: String?, file: String?, what: String) throws -> String {
    if let text { return text }
    if file == nil && isatty(STDIN_FILENO) == 1 { printError("reading the \(what) from standard input (Ctrl-D to end)") }
    let input: String
    do { input = try InputText.read(path: file).text }
    catch InputText.Failure.interrupted(let signal) { throw ExitCode(ExitCodes.interrupted(by: signal)) }
    catch let failure as InputText.Failure { throw CLIError(failure.description) }
    // A terminal or `echo` ends standard input with a newline that is not part of the text; a file is taken as it is.
    return file == nil && input.hasSuffix("\n") ? String(input.dropLast()) : input
}

/// A text as a JSON string, so that its spaces and newlines show in plain output.
func quoted(_ text: String) -> String { (try? jsonText(text)) ?? "\"\(text)\"" }

/// A probability or logit as the plain outputs print it.
func formatScore(_ value: Double) -> String { String(format: "%.4f", value) }

extension ModelOptions {
    /// Loads `source` for passes of at most `passTokens` tokens (the largest pass the run makes), sized by the memory
    /// plan as `generate` sizes its prompt; a plan over `--max-memory` is refused before loading, naming `smaller`.
    func loadForTask(_ source: ModelSource, passTokens: Int, options: TaskOptions, smaller: String) throws -> LoadedModel {
        let limit = options.maxMemory?.bytes
        let decision = try decide(source, contextPositions: passTokens, promptTokens: passTokens, memoryLimit: limit)
        if let refusal = decision.refusal {
            throw CLIError(refusal + "\n" + decision.plan.description + "\nSmaller options: \(smaller).")
        }
        return try load(source, decision: decision, memoryLimit: limit)
    }
}

/// `body` with the library's input and head errors as messages (exit code 1), with `--truncate` named where it would
/// help; `inputName` names input i in them ("line 3 of verses.txt"; nil: the command has one input, which the
/// message need not name).
func runningTask<T>(inputName: ((Int) -> String)? = nil, _ body: () throws -> T) throws -> T {
    do { return try body() }
    catch let error as LoadedModel.TaskInputError { throw CLIError(message(for: error, inputName: inputName)) }
    catch let error as GPT2HeadError { throw CLIError(error.description) }
}

/// The CLI's message for an input the library refused: which input, why, and the flag that would make it fit.
func message(for error: LoadedModel.TaskInputError, inputName: ((Int) -> String)? = nil) -> String {
    var text = error.reason
    if let index = error.index, let inputName { text = "\(inputName(index)): \(error.reason)" }
    if let truncation = error.truncation { text += " (pass --truncate to \(truncation))" }
    return text
}

/// The tokens of the largest pass `inputs` make, each cut to `contextLength`: what the memory plan is sized for.
func largestPass(of inputs: [[Int]], contextLength: Int, tokensPerPass: Int) -> Int {
    let clamped = inputs.map { Array($0.prefix(contextLength)) }
    return LoadedModel.passes(over: clamped, tokensPerPass: tokensPerPass)
        .map { range in clamped[range].reduce(0) { $0 + $1.count } }.max() ?? 1
}
