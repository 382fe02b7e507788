import ArgumentParser
import CLISupport
import Foundation
import GPT2Edge

/// Texts given one per input: as arguments, or one per line of -f FILE or standard input, or as JSON Lines
/// objects with a "text" field.
struct TextInputOptions: ParsableArguments {
    @Option(name: [.customShort("f"), .long], help: "Read the texts from this file, one per line (default: the arguments, else standard input).")
    var file: String?

    @Flag(name: [.customLong("jsonl"), .customLong("json-lines")],
          help: "The lines are JSON objects, each with a \"text\" string (other fields are ignored).")
    var jsonLines = false

    @Argument(help: "The texts, one per argument (default: one per line of -f FILE or standard input).")
    var texts: [String] = []

    func validate() throws {
        if !texts.isEmpty && file != nil { throw ValidationError("give the texts either as arguments or with -f, not both") }
        if !texts.isEmpty && jsonLines { throw ValidationError("--jsonl reads lines from -f FILE or standard input, not arguments") }
    }

    /// Where the texts came from, for messages: "line 3 of verses.txt", "argument 2".
    func name(ofInput index: Int) -> String {
        if !texts.isEmpty { return "argument \(index + 1)" }
        return "line \(index + 1) of \(file ?? "standard input")"
    }

    /// The texts, in order. A final newline ends the last line; an empty line is an error naming it.
    func read() throws -> [String] {
        if !texts.isEmpty { return texts }
        let lines = try readTextLines(file: file, what: "texts", name: name(ofInput:))
        return try lines.enumerated().map { index, line in
            guard jsonLines else { return line }
            guard let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] else {
                throw CLIError("\(name(ofInput: index)) is not a JSON object (--jsonl wants {\"text\": ...} on each line)")
            }
            guard let text = object["text"] as? String else { throw CLIError("\(name(ofInput: index)) has no \"text\" string") }
            return text
        }
    }
}

/// The lines of `file` (nil: standard input), one text each: a final newline ends the last line and "\r\n" counts
/// as one; an empty input or an empty line is an error, named by `name(index)`.
func readTextLines(file: String?, what: String, name: (Int) -> String) throws -> [String] {
    if file == nil && isatty(STDIN_FILENO) == 1 { printError("reading the \(what) from standard input, one per line (Ctrl-D to end)") }
    let input: String
    do { input = try InputText.read(path: file).text }
    catch InputText.Failure.interrupted(let signal) { throw ExitCode(ExitCodes.interrupted(by: signal)) }
    catch let failure as InputText.Failure { throw CLIError(failure.description) }
    var lines = input.split(separator: "\n", omittingEmptySubsequences: false).map { $0.hasSuffix("\r") ? String($0.dropLast()) : String($0) }
    if lines.last == "" { lines.removeLast() }
    guard !lines.isEmpty else { throw CLIError("no \(what) given: \(file ?? "standard input") is empty (one per line)") }
    if let empty = lines.firstIndex(of: "") { throw CLIError("\(name(empty)) is empty: give one per line") }
    return lines
}
