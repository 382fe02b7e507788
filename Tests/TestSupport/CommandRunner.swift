import Foundation

/// Runs the package's own executables the way a user would, for end-to-end tests.
public enum CommandRunner {
    public struct Output: Sendable {
        public let status: Int32
        public let standardOutput: String
        public let standardError: String
        /// Whether the program ran past its `timeout` and was killed.
        public var timedOut = false
    }

    /// The build folder holding the test bundle, and so the executables built with it.
    public static let productsFolder: URL = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().deletingLastPathComponent()

    /// Runs `product` (e.g. "gpt2-edge") with `arguments`, feeding `input` on standard input. With
    /// `interruptAfter`, `signal` (SIGINT unless given) is sent that many seconds after the start, and not before
    /// the program has installed its handler for it (on Linux; a slow start would otherwise meet the default
    /// action, or a disposition inherited from the test runner, instead of the program's handling); with
    /// `standardOutputPath`, standard output goes to that file (e.g. /dev/full) instead of a pipe; a program still
    /// running after `timeout` seconds is killed (SIGKILL) and reported as `timedOut`.
    public static func run(_ product: String, _ arguments: [String], input: String? = nil,
                           interruptAfter delay: Double? = nil, signal: Int32 = SIGINT, environment: [String: String] = [:],
                           directory: URL? = nil, standardOutputPath: String? = nil, timeout: Double? = nil) throws -> Output {
        let executable = productsFolder.appendingPathComponent(product)
        guard FileManager.default.isExecutableFile(atPath: executable.path) else {
            throw NSError(domain: "CommandRunner", code: 1, userInfo: [NSLocalizedDescriptionKey: "\(executable.path) not built; run `swift build` before the tests"])
        }
        return try launch(executable, arguments, input: input, interruptAfter: delay, signal: signal, environment: environment,
                          directory: directory, standardOutputPath: standardOutputPath, timeout: timeout)
    }

    /// The path of a built product, for commands run through another program (e.g. `script` for a terminal).
    public static func path(of product: String) -> String { productsFolder.appendingPathComponent(product).path }

    /// Runs a system tool (e.g. /usr/bin/nm) by path.
    public static func runTool(_ path: String, _ arguments: [String], input: String? = nil) throws -> Output {
        try launch(URL(fileURLWithPath: path), arguments, input: input, interruptAfter: nil, signal: SIGINT, environment: [:], directory: nil,
                   standardOutputPath: nil, timeout: nil)
    }

    /// Runs `product` and kills it with SIGKILL, as the OOM killer does (no handler runs), as soon as `condition`
    /// holds (checked every 5 ms). `killed` is false when the program ended first; after `timeout` seconds it is
    /// killed anyway and `killed` is false too.
    public static func runAndKill(_ product: String, _ arguments: [String], environment: [String: String] = [:],
                                  when condition: @escaping () -> Bool, timeout: Double = 60) throws -> (output: Output, killed: Bool) {
        let executable = productsFolder.appendingPathComponent(product)
        guard FileManager.default.isExecutableFile(atPath: executable.path) else {
            throw NSError(domain: "CommandRunner", code: 1, userInfo: [NSLocalizedDescriptionKey: "\(executable.path) not built; run `swift build` before the tests"])
        }
        var killed = false
        let output = try launch(executable, arguments, input: nil, interruptAfter: nil, signal: SIGINT, environment: environment, directory: nil,
                                standardOutputPath: nil, timeout: nil) { process in
            let deadline = Date().addingTimeInterval(timeout)
            while process.isRunning && Date() < deadline {
                if condition() {
                    killed = kill(process.processIdentifier, SIGKILL) == 0
                    return
                }
                usleep(5000)
            }
            if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        }
        return (output, killed)
    }

    /// The value of `field` (e.g. "VmHWM", "SigCgt") in /proc/PID/status, as written; nil where /proc cannot tell.
    public static func statusField(_ field: String, of pid: Int32) -> String? {
        guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
              let line = status.split(separator: "\n").first(where: { $0.hasPrefix(field + ":") })
        else { return nil }
        return line.dropFirst(field.count + 1).trimmingCharacters(in: .whitespaces)
    }

    /// Waits until `pid` catches `signal` (its bit in /proc/PID/status `SigCgt`), at most `seconds`; returns at
    /// once where /proc cannot tell.
    static func waitForHandler(of pid: Int32, for signal: Int32, upTo seconds: Double) {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            guard let mask = statusField("SigCgt", of: pid).flatMap({ UInt64($0, radix: 16) }) else { return }
            if mask & (1 << UInt64(signal - 1)) != 0 { return }
            usleep(5_000)
        }
    }

    private static func launch(_ executable: URL, _ arguments: [String], input: String?, interruptAfter delay: Double?, signal: Int32,
                               environment: [String: String], directory: URL?, standardOutputPath: String?, timeout: Double?,
                               whileRunning: ((Process) -> Void)? = nil) throws -> Output {
        let process = Process()
        process.executableURL = executable
        process.arguments = arguments
        if !environment.isEmpty { process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 } }
        if let directory { process.currentDirectoryURL = directory }
        let stdout = Pipe(), stderr = Pipe(), stdin = Pipe()
        var outputFile: FileHandle?
        if let standardOutputPath {
            guard let handle = FileHandle(forWritingAtPath: standardOutputPath) else {
                throw NSError(domain: "CommandRunner", code: 2, userInfo: [NSLocalizedDescriptionKey: "cannot open \(standardOutputPath)"])
            }
            outputFile = handle
            process.standardOutput = handle
        } else {
            process.standardOutput = stdout
        }
        process.standardError = stderr
        process.standardInput = stdin
        try process.run()
        final class Flag: @unchecked Sendable { var isSet = false }   // written before the kill, read after the exit
        let killed = Flag()
        let pid = process.processIdentifier
        let watchdog = DispatchWorkItem { killed.isSet = true; kill(pid, SIGKILL) }
        if let timeout { DispatchQueue.global().asyncAfter(deadline: .now() + timeout, execute: watchdog) }
        if let delay {
            // The signal comes before any input is written: while the program waits for it, or already runs (-p).
            usleep(UInt32(delay * 1_000_000))
            waitForHandler(of: pid, for: signal, upTo: 30)
            kill(process.processIdentifier, signal)
        }
        if let input { stdin.fileHandleForWriting.write(Data(input.utf8)) }
        try stdin.fileHandleForWriting.close()
        whileRunning?(process)
        // Read both pipes fully before waiting, so a chatty process cannot block on a full pipe.
        final class Box: @unchecked Sendable { var data = Data() }
        let errorData = Box()
        let errorReader = Thread { errorData.data = stderr.fileHandleForReading.readDataToEndOfFile() }
        errorReader.start()
        if outputFile != nil { try stdout.fileHandleForWriting.close() }   // unused: its reader ends at once
        let outputData = stdout.fileHandleForReading.readDataToEndOfFile()
        try outputFile?.close()
        process.waitUntilExit()
        watchdog.cancel()
        while !errorReader.isFinished { usleep(1000) }
        return Output(status: process.terminationStatus,
                      standardOutput: String(decoding: outputData, as: UTF8.self),
                      standardError: String(decoding: errorData.data, as: UTF8.self), timedOut: killed.isSet)
    }
}
