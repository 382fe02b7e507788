import ArgumentParser
import CLISupport
import Foundation
import GPT2Edge
import ModelCommandLine

@main
struct GPT2EdgeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gpt2-edge",
        abstract: "Run GPT-2 models on small machines.",
        discussion: ExitCodes.summary + "\n\n" + ExitCodes.sizeUnits,
        version: "gpt2-edge " + Version.line(),
        subcommands: [Generate.self, Tokenize.self, Logits.self, Bench.self, Serve.self,
                      Classify.self, Tag.self, AnswerQuestion.self, Choose.self, Embed.self],
        defaultSubcommand: Generate.self
    )

    /// Refuses arguments that are not UTF-8 before ArgumentParser sees them already decoded (see ArgumentBytes),
    /// then runs the subcommand on the main thread (`serve` runs gpt2-edge-server in this process's place). The
    /// kernel gives a Ctrl-C to the main thread first, so a read of standard input there is interrupted by it
    /// (EINTR) at once; run on a worker thread (as an async `main` does), the signal went to the idle main thread
    /// and could be handled only after a read that had just received input had returned: the prompt ran.
    static func main() {
        ArgumentBytes.refuseInvalidUTF8(program: "gpt2-edge")
        AllocatorSettings.apply()
        do {
            // `serve` and everything after it go to gpt2-edge-server untouched (its --help included).
            if CommandLine.arguments.count > 1 && CommandLine.arguments[1] == "serve" {
                try Serve.exec(Array(CommandLine.arguments.dropFirst(2)))
            }
            var command = try parseAsRoot()
            try command.run()
        } catch {
            exit(withError: error)
        }
    }
}
