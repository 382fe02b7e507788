import ArgumentParser
import CLISupport
import GPT2Edge
import ModelCommandLine

/// What `classify` and `embed` share: many texts (`TextInputOptions`), run in batched passes of at most
/// `--batch-tokens` real tokens, with the model loaded for the largest pass they make.
struct BatchedTextOptions: ParsableArguments {
    @OptionGroup var inputs: TextInputOptions

    @Option(parsing: .unconditional, help: "Real tokens per batched pass (a text longer than that runs alone).")
    var batchTokens = LoadedModel.defaultTokensPerPass

    func validate() throws {
        guard batchTokens >= 1 else { throw ValidationError("--batch-tokens must be at least 1, got \(batchTokens)") }
    }

    /// The texts, read once `source` has been opened (so a model without the head is refused first), and the model
    /// loaded for the largest pass they make, as the memory plan sizes it.
    func readAndLoad(_ source: ModelSource, modelOptions: ModelOptions, taskOptions: TaskOptions) throws -> (texts: [String], model: LoadedModel) {
        let texts = try inputs.read()
        let context = try modelOptions.contextLength(of: source)
        let pass = largestPass(of: texts.map { source.tokenizer.encode($0) }, contextLength: context, tokensPerPass: batchTokens)
        let model = try modelOptions.loadForTask(source, passTokens: pass, options: taskOptions,
                                                 smaller: "a smaller --batch-tokens, --kv-cache int8, a 4-bit file")
        return (texts, model)
    }
}
