/// A runtime failure of a command (exit code 1), shown to the user as its message alone.
///
/// Mistakes in the command line itself are `ValidationError`s thrown from `validate()` (exit code 64, with the
/// subcommand's usage); see `ExitCodes`.
public struct CLIError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}
