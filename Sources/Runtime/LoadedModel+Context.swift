extension LoadedModel {
    /// This model with its context cut to `positions` (at most the model's n_positions): the KV cache, the longest
    /// prompt and context shift all follow, as with llama.cpp's `-c`. Weights, threads and the GPU are shared.
    public func limitingContext(to positions: Int) -> LoadedModel {
        LoadedModel(network: network.limitingContext(to: positions), tokenizer: tokenizer, source: source, loadSeconds: loadSeconds,
                    accelerator: accelerator, notices: notices)
    }
}
