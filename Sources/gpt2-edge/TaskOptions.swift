import ArgumentParser
import CLISupport

/// `--truncate` and `--max-memory`, as every task command reads them.
struct TaskOptions: ParsableArguments {
    @Flag(help: "Cut a text longer than the model's context to the tokens that fit (its start; `choose` keeps the end) instead of refusing it.")
    var truncate = false

    @Option(parsing: .unconditional, help: "Refuse to start when the memory plan exceeds this size (a unit is required: 512M, 1.5G).",
            transform: { try ByteSize(parsing: $0) })
    var maxMemory: ByteSize?
}
