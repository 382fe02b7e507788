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

    /// Runs `product` (e.g. "gpt2-edge") with `arguments`, feeding `input` on standard input; a program still
    /// running after `timeout` seconds is killed (SIGKILL) and reported as `timedOut`.
    public static func run(_ product: String, _ arguments: [String], input: String? = nil,
                           interruptAfter delay: Double? = nil, environment: [String: String] = [:],
                           directory: URL? = nil, timeout: Double? = nil) throws -> Output {
        let executable = productsFolder.appendingPathComponent(product)
        guard FileManager.default.isExecutableFile(atPath: executable.path) else {
            throw NSError(domain: "CommandRunner", code: 1, userInfo: [NSLocalizedDescriptionKey: "\(executable.path) not built; run `swift build` before the tests"])
        }
        return try launch(executable, arguments, input: input, interruptAfter: delay, environment: environment, directory: directory,
                          timeout: timeout)
    }

    /// Runs a system tool (e.g. /usr/bin/nm) by path.
    public static func runTool(_ path: String, _ arguments: [String]) throws -> Output {
        try launch(URL(fileURLWithPath: path), arguments, input: nil, interruptAfter: nil, environment: [:], directory: nil, timeout: nil)
    }

    private static func launch(_ executable: URL, _ arguments: [String], input: String?, interruptAfter delay: Double?,
                               environment: [String: String], directory: URL?, timeout: Double?) throws -> Output {
        let process = Process()
        process.executableURL = executable
        process.arguments = arguments
        if !environment.isEmpty { process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 } }
        if let directory { process.currentDirectoryURL = directory }
        let stdout = Pipe(), stderr = Pipe(), stdin = Pipe()
        process.standardOutput = stdout
        process.standardError = stderr
        process.standardInput = stdin
        try process.run()
        final class Flag: @unchecked Sendable { var isSet = false }   // written before the kill, read after the exit
        let killed = Flag()
        let pid = process.processIdentifier
        let watchdog = DispatchWorkItem { killed.isSet = true; kill(pid, SIGKILL) }
        if let timeout { DispatchQueue.global().asyncAfter(deadline: .now() + timeout, execute: watchdog) }
        if let delay {
            // Interrupt while the program is still waiting for its standard input.
            usleep(UInt32(delay * 1_000_000))
            kill(process.processIdentifier, SIGINT)
        }
        if let input { stdin.fileHandleForWriting.write(Data(input.utf8)) }
        try stdin.fileHandleForWriting.close()
        // Read both pipes fully before waiting, so a chatty process cannot block on a full pipe.
        final class Box: @unchecked Sendable { var data = Data() }
        let errorData = Box()
        let errorReader = Thread { errorData.data = stderr.fileHandleForReading.readDataToEndOfFile() }
        errorReader.start()
        let outputData = stdout.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        watchdog.cancel()
        while !errorReader.isFinished { usleep(1000) }
        return Output(status: process.terminationStatus,
                      standardOutput: String(decoding: outputData, as: UTF8.self),
                      standardError: String(decoding: errorData.data, as: UTF8.self), timedOut: killed.isSet)
    }
}
