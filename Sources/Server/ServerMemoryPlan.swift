import GPT2
import Runtime

/// The memory plan of a server: the model's plan for one sequence, with a KV cache per slot (each kept at up to the
/// full context for prefix reuse, so all of them are counted) and the activations of the largest step (a prompt chunk
/// beside one decode row per other slot), plus what the HTTP side holds.
public enum ServerMemoryPlan {
    /// The HTTP side: SwiftNIO's event loops (one thread per core) and their buffers, Hummingbird, swift-log and the
    /// server's own threads, on top of `MemoryPlan.runtimeBytes` (the server program's resident size when it plans,
    /// which already holds its code pages). Measured: `serve --parallel 2 -c 256` of the built-in model with both
    /// slots filled to the context peaks at 46.7 MiB against a plan of 47.0 (debug build, 2 cores); ServeEndToEndTests
    /// holds it to 15%.
    public static let httpBytes = 9 << 20

    /// The plan for `slots` sequences of `decision.plan.contextPositions` positions each.
    public static func plan(_ decision: LoadDecision, slots: Int, config: GPT2Config) -> MemoryPlan {
        var plan = decision.plan
        plan.kvCache = slots * KVCache.bytes(config: config, positions: cachePositions(plan), precision: plan.cachePrecision)
        // Every row of a step carries a vocabulary of logits out of the model and into its choice's sampler.
        plan.activations += slots * config.vocabularySize * 4 * 2
        plan.runtime += httpBytes
        return plan
    }

    /// How many slots fit in `limit` bytes (at least 1, at most `maximum`), for `--parallel`'s default.
    public static func slotsFitting(_ decision: LoadDecision, limit: Int?, config: GPT2Config, maximum: Int = 8) -> Int {
        guard let limit else { return maximum }
        let one = plan(decision, slots: 1, config: config).total
        let perSlot = plan(decision, slots: 2, config: config).total - one
        return max(1, min(maximum, 1 + (limit - one) / max(1, perSlot)))
    }

    private static func cachePositions(_ plan: MemoryPlan) -> Int {
        min(plan.modelContextLength, (plan.contextPositions + KVCache.growthChunk - 1) / KVCache.growthChunk * KVCache.growthChunk)
    }
}
