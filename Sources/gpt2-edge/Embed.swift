import ArgumentParser
import CLISupport
import Foundation
import GPT2Edge
import ModelCommandLine

struct Embed: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print an embedding vector for each text: the model's final hidden states pooled.",
        discussion: """
        Any GPT-2 model gives them (a language model, a classifier, a bare GPT2Model): the hidden states after ln_f, \
        averaged over the text's tokens (--pooling mean, sentence-transformers' mean pooling) or taken at its last \
        token (--pooling last), scaled to unit length unless --no-normalize.

        Texts come as arguments, one per line from -f FILE or standard input, or with --jsonl as {"text": ...} \
        objects, and run in batched passes of up to --batch-tokens tokens.

        Output: one JSON array (n_embd numbers) per line, in the texts' order; --json: one object per line, \
        {"index", "embedding", "tokens", "truncated"} (tokens: how many were pooled).

        Example (kjv-base: Tests/Fixtures/models/heads/kjv-base, the KJV model saved as GPT2Model):
          gpt2-edge embed -m kjv-base "And Jesus wept." "God is love." --pooling last

        """ + "\n" + ExitCodes.summary + " " + ExitCodes.sizeUnits
    )

    @OptionGroup var modelOptions: ModelOptions
    @OptionGroup var batch: BatchedTextOptions
    @OptionGroup var taskOptions: TaskOptions

    @Option(help: "mean: the average over the text's tokens; last: the last token's state.")
    var pooling: EmbeddingPooling = .mean

    @Flag(help: "Print the pooled vectors as they are, not scaled to unit length.")
    var noNormalize = false

    @Flag(help: "Print one JSON object per text instead of a bare array.")
    var json = false

    func run() throws {
        let source = try modelOptions.openSource()
        let (texts, model) = try batch.readAndLoad(source, modelOptions: modelOptions, taskOptions: taskOptions)
        let embeddings = try runningTask(inputName: batch.inputs.name(ofInput:)) {
            try model.embed(texts, pooling: pooling, normalize: !noNormalize, truncate: taskOptions.truncate, tokensPerPass: batch.batchTokens)
        }
        for embedding in embeddings {
            try StandardOutput.line(try json ? jsonText(embedding) : jsonText(embedding.embedding))
        }
    }
}
