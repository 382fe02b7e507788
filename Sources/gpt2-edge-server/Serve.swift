import ArgumentParser
import CLISupport
import Foundation
import GPT2Edge
import Logging
import ModelCommandLine
import Server

/// `gpt2-edge serve`: this program's only command (gpt2-edge runs it with the arguments that follow `serve`).
@main
struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gpt2-edge serve",
        abstract: "Serve the model over HTTP with OpenAI's completions API (and a web page at /).",
        discussion: """
        Endpoints: POST /v1/completions (OpenAI's legacy completions, streaming with SSE), GET /v1/models, POST /tokenize, \
        POST /detokenize, GET /health, GET /metrics (Prometheus), GET /slots, GET / (a page to try the model). \
        POST /v1/chat/completions is refused: GPT-2 has no chat template.

        Every running request shares one batched forward step per token (continuous batching over --parallel slots); \
        long prompts are prefilled in chunks so running streams keep flowing; a slot keeps its last prompt's KV cache, \
        and a new prompt starting with it skips that prefix. Each slot holds --ctx-size positions (not split between \
        slots). The same request with the same seed gives the same text alone or beside others.

        SIGTERM or SIGINT: stop taking requests, let running ones finish (up to --shutdown-timeout), cancel the rest, \
        exit 0. Logs (one line per request) go to standard error.

        """ + ExitCodes.summary.replacingOccurrences(of: "130 or 143 stopped by SIGINT or SIGTERM, after printing what was produced.",
                                                     with: "SIGINT or SIGTERM are serve's normal stop: exit 0 once running requests end.")
            + " " + ExitCodes.sizeUnits,
        version: "gpt2-edge " + Version.line()
    )

    /// Refuses arguments that are not UTF-8 before ArgumentParser sees them already decoded (see ArgumentBytes).
    static func main() async {
        ArgumentBytes.refuseInvalidUTF8(program: "gpt2-edge serve")
        AllocatorSettings.apply()
        do {
            try await parse().run()   // --help and --version are thrown, and printed by exit(withError:)
        } catch {
            exit(withError: error)
        }
    }

    @OptionGroup var modelOptions: ModelOptions

    @Option(help: "Address to listen on (loopback by default; 0.0.0.0 for every interface).")
    var host = "127.0.0.1"

    @Option(parsing: .unconditional, help: "Port to listen on; 0 picks a free one (the listening line on standard error says which).")
    var port = 8080

    @Option(name: [.customLong("parallel"), .customShort("P"), .customLong("np")], parsing: .unconditional,
            help: "Sequences run at once (slots), each with its own KV cache (default: as many as the memory plan fits, at most 8).")
    var parallel: Int?

    @Option(help: "Require this API key (Authorization: Bearer KEY or X-Api-Key); a comma-separated list for several. The page and /health stay open.")
    var apiKey: String?

    @Option(help: "Read API keys from this file, one per line.")
    var apiKeyFile: String?

    @Option(parsing: .unconditional, help: "Prompts that may wait for a slot; beyond that requests get 503 with Retry-After.")
    var maxQueue = 64

    @Option(parsing: .unconditional, help: "Refuse to start when the memory plan for every slot exceeds this size (a unit is required: 512M, 1.5G).",
            transform: { try ByteSize(parsing: $0) })
    var maxMemory: ByteSize?

    @Option(parsing: .unconditional, help: "Largest request body (413 beyond it).", transform: { try ByteSize(parsing: $0) })
    var maxBody = ByteSize(bytes: 1 << 20)

    @Option(parsing: .unconditional, help: "Seconds running requests may go on after SIGTERM/SIGINT before they are cancelled.")
    var shutdownTimeout = 30

    @Option(parsing: .unconditional, help: "Largest prompt chunk of one step (smaller ones are taken while other streams decode).")
    var prefillChunk = 256

    @Option(help: "The model's id in /v1/models and in responses (default: the file's name without .gqz).")
    var alias: String?

    @Flag(help: "Print the memory plan for the slots and the verdict, and exit without loading the model: 0 if the server would start, 1 if it would refuse.")
    var dryRun = false

    @Flag(help: "With --dry-run: the plan as one JSON object (sizes in bytes).")
    var json = false

    func validate() throws {
        if let parallel, !(1...64).contains(parallel) { throw ValidationError("--parallel must be between 1 and 64, got \(parallel)") }
        guard (0...65535).contains(port) else { throw ValidationError("--port must be between 0 and 65535, got \(port)") }
        guard maxQueue >= 0 else { throw ValidationError("--max-queue must be ≥ 0, got \(maxQueue)") }
        guard shutdownTimeout >= 0 else { throw ValidationError("--shutdown-timeout must be ≥ 0, got \(shutdownTimeout)") }
        guard (1...4096).contains(prefillChunk) else { throw ValidationError("--prefill-chunk must be between 1 and 4096, got \(prefillChunk)") }
        if apiKey != nil && apiKeyFile != nil { throw ValidationError("give the API key with --api-key or --api-key-file, not both") }
        if modelOptions.device != .cpu { throw ValidationError("serve runs on the CPU: its batched step is CPU-only for now (--device \(modelOptions.device.rawValue))") }
    }

    func run() async throws {
        let keys = try apiKeys()
        let source = try modelOptions.openLanguageModel()   // a classifier is refused before anything is read or printed
        let context = try modelOptions.contextLength(of: source)
        // Slots keep their KV caches, so every slot is planned at the full context; a step's rows are one prompt chunk
        // beside a decode row per slot.
        let probe = try modelOptions.decide(source, contextPositions: context, promptTokens: prefillChunk + 8, memoryLimit: maxMemory?.bytes)
        let slots = parallel ?? ServerMemoryPlan.slotsFitting(probe, limit: probe.limit, config: source.config)
        let decision = try modelOptions.decide(source, contextPositions: context, promptTokens: prefillChunk + slots, memoryLimit: nil)
        let plan = ServerMemoryPlan.plan(decision, slots: slots, config: source.config)
        // Over --max-memory, or (what the kernel cannot reclaim) over the cgroup's hard limit, where the OOM killer
        // would end the server part-way: refused.
        let unreclaimable = plan.total - decision.plan.mappedWeights
        let limits = [maxMemory.map { ($0.bytes, plan.total, "--max-memory allows") },
                      decision.cgroupLimit.map { ($0, unreclaimable, "the memory limit of this process's cgroup is") }]
        let refusal = limits.compactMap { $0 }.first { $0.1 > $0.0 }.map { limit, needed, name in
            String(format: "%d slots of %d positions need about %.1f MiB but %@ %.1f MiB; nothing was loaded. ",
                   slots, context, Double(needed) / 1_048_576, name, Double(limit) / 1_048_576)
                + "Fewer slots (--parallel), a shorter --ctx-size, --kv-cache int8 or a 4-bit file need less."
        }
        if dryRun {
            if json {
                try StandardOutput.line(try jsonText(ServeDryRunReport(slots: slots, contextPositions: context, plan: plan, fits: refusal == nil)))
            } else {
                try StandardOutput.line("\(slots) slots × \(context) positions\n" + plan.description)
            }
            if let refusal { printError(refusal); throw ExitCode(ExitCodes.failure) }
            return
        }
        if let refusal { throw CLIError(refusal + "\n" + plan.description) }

        var logger = Logger(label: "gpt2-edge")
        logger.logLevel = .info
        var configuration = GPT2Server.Configuration(host: host, port: port, slotCount: slots, maxQueue: maxQueue, apiKeys: keys)
        configuration.maxBodyBytes = maxBody.bytes
        configuration.shutdownDeadline = .seconds(shutdownTimeout)
        configuration.maxPrefillChunk = prefillChunk
        let server = GPT2Server(configuration: configuration, logger: logger)
        let modelID = alias ?? modelName(source.name)
        let options = modelOptions
        printError(String(format: "gpt2-edge serve: %@, %d slots × %d positions, memory plan %.1f MiB", modelID, slots, context,
                          Double(plan.total) / 1_048_576))
        try await server.run(modelID: modelID, loading: {
            try options.load(source, decision: decision)
        }, onListening: { host, port in
            printError("gpt2-edge serve: listening on http://\(host):\(port)")
        })
    }

    private func apiKeys() throws -> [String] {
        if let apiKey { return apiKey.split(separator: ",").map { String($0).trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty } }
        guard let apiKeyFile else { return [] }
        guard let text = try? String(contentsOfFile: apiKeyFile, encoding: .utf8) else { throw CLIError("cannot read --api-key-file \(apiKeyFile)") }
        let keys = text.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty && !$0.hasPrefix("#") }
        guard !keys.isEmpty else { throw CLIError("--api-key-file \(apiKeyFile) holds no key") }
        return keys
    }

    private func modelName(_ name: String) -> String {
        if name == defaultModelName { return "gpt2-edge-kjv" }
        let base = URL(fileURLWithPath: name).lastPathComponent
        return base.hasSuffix(".gqz") ? String(base.dropLast(4)) : base
    }
}

