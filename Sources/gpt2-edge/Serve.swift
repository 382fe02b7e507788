import ArgumentParser
import CLISupport
import Foundation

/// `gpt2-edge serve`: runs gpt2-edge-server, the program built beside this one, with the arguments that follow
/// `serve`. The HTTP stack (SwiftNIO, Hummingbird) is linked into that program only, so no other command maps its
/// code: the built-in model's `generate` peaks 1.4–2.7 MiB lower for it (docs/measurements.md).
struct Serve: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Serve the model over HTTP with OpenAI's completions API (and a web page at /).",
        discussion: "Runs \(programName), which is built and installed beside this program, with these arguments; "
            + "`gpt2-edge serve --help` lists them."
    )

    static let programName = "gpt2-edge-server"

    @Argument(parsing: .captureForPassthrough, help: "Arguments for the server (see gpt2-edge serve --help).")
    var arguments: [String] = []

    func run() throws { try Self.exec(arguments) }

    /// Replaces this process with gpt2-edge-server: the same process id, environment, standard streams and signal
    /// dispositions, so whoever started `gpt2-edge serve` (a service manager, a test) signals the server itself.
    /// Returns only by throwing, when the program is missing or cannot be run.
    static func exec(_ arguments: [String]) throws -> Never {
        let path = serverPath()
        guard access(path, X_OK) == 0 else {
            throw CLIError("serve runs in \(programName), but \(path) is \(access(path, F_OK) == 0 ? "not executable" : "missing"): "
                           + "install it beside gpt2-edge (swift build builds both)")
        }
        var argv = ([path] + arguments).map { strdup($0) } + [nil]
        execv(path, &argv)
        throw CLIError("cannot run \(path): \(String(cString: strerror(errno)))")
    }

    /// gpt2-edge-server in the folder of this program's file (symbolic links resolved, as the kernel names it).
    static func serverPath() -> String {
        let me = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        return URL(fileURLWithPath: me).deletingLastPathComponent().appendingPathComponent(programName).path
    }
}
