import GPT2Edge

/// `serve --dry-run --json`: the slots, their context and the memory plan for all of them.
struct ServeDryRunReport: Encodable {
    var slots: Int
    var contextPositions: Int
    var plan: MemoryPlan
    var fits: Bool

    enum CodingKeys: String, CodingKey {
        case slots, plan, fits
        case contextPositions = "context_positions"
    }
}
