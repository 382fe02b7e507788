/// The exit-code contract of both programs, written once: `--help` of each shows `ExitCodes.summary`, the README
/// repeats it, and `Tests/CLITests/ExitCodeContractTests.swift` checks it for every subcommand.
public enum ExitCodes {
    /// The command ran to its end (its output, if any, was written completely).
    public static let success: Int32 = 0
    /// The run failed: a missing or corrupt file, a prompt longer than the context, a memory limit, an output that
    /// could not be written. Nothing half-written is left behind.
    public static let failure: Int32 = 1
    /// The command line is wrong whatever the files hold: an unknown option, a value out of range, two options
    /// that exclude each other. The subcommand's usage follows the message (sysexits' EX_USAGE).
    public static let usage: Int32 = 64
    /// Stopped by SIGINT (130) or SIGTERM (143) after writing what was produced so far.
    public static func interrupted(by signal: Int32) -> Int32 { 128 + signal }

    /// The contract as the `--help` pages show it.
    public static let summary = "Exit codes: 0 success; 1 the run failed (a missing or corrupt file, a prompt longer than the context, "
        + "a memory limit, output that could not be written); 64 the command line is wrong (unknown option, value out of range, "
        + "options that exclude each other); 130 or 143 stopped by SIGINT or SIGTERM, after printing what was produced."

    /// How every size option is read, for the `--help` pages.
    public static let sizeUnits = "Sizes take a unit: B, K, M, G (powers of 1024; KiB, MiB, GiB, KB, MB, GB read the same), e.g. 512M or 1.5G."
}
