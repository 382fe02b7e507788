import Foundation

/// What a `LoadPolicy` decided for one source, before anything large is read: the memory plan the load will
/// follow (resident or streamed), what the machine allows, and why the load must not start, if it must not.
///
/// ```swift
/// let decision = try policy.decide(for: source, contextPositions: 512, promptTokens: 40)
/// if let refusal = decision.refusal { print(refusal) } else { print(decision.plan.description) }
/// ```
public struct LoadDecision: Sendable {
    /// The plan the load follows (`plan.streamsLayers` says whether the layers are streamed).
    public let plan: MemoryPlan
    /// The total of the plan with every block resident.
    public let residentTotal: Int
    /// The total with layer streaming, when it was worked out (asked for, or tried because resident did not fit).
    public let streamingTotal: Int?
    /// What the machine lets this process use (MemAvailable, or the cgroup's limit when lower); nil where unknown.
    public let available: Int?
    /// The policy's limit (`LoadPolicy.memoryLimit`).
    public let memoryLimit: Int?
    /// The hard memory limit of this process's cgroup (`MemoryPlan.cgroupLimit`); nil without one.
    public let cgroupLimit: Int?
    /// Layers are streamed because the resident plan did not fit (`layers: .automatic`).
    public let switchedToStreaming: Bool
    /// Why the load must not start (the plan exceeds `memoryLimit`, or the cgroup's hard limit), or nil.
    public let refusal: String?

    /// Whether the load would start.
    public var fits: Bool { refusal == nil }
    /// The bytes the decision was made against: the lower of `memoryLimit` and `available`.
    public var limit: Int? { Self.lower(memoryLimit, available) }

    /// The lower of two limits, either of which may be unknown.
    static func lower(_ a: Int?, _ b: Int?) -> Int? { [a, b].compactMap { $0 }.min() }
}

/// A context length the model cannot give.
public struct ContextLengthError: Error, CustomStringConvertible, Equatable {
    public let requested: Int
    public let modelContext: Int
    public var description: String {
        requested < 1 ? "a context of \(requested) positions is too short (at least 1)"
            : "a context of \(requested) positions is more than the model's context of \(modelContext) positions (n_positions)"
    }
}

extension LoadPolicy {
    /// The context a load of `source` gets: `contextLength` when it is within the model's n_positions.
    public func effectiveContextLength(for source: ModelSource) throws -> Int {
        guard let contextLength else { return source.config.contextLength }
        guard contextLength >= 1 && contextLength <= source.config.contextLength else {
            throw ContextLengthError(requested: contextLength, modelContext: source.config.contextLength)
        }
        return contextLength
    }

    /// Decides how `source` is loaded for a run of `sequences` sequences that each reach `contextPositions` positions
    /// (clamped to the context) with prompt passes of at most `promptTokens` tokens: plans it resident, and with `.automatic` layers, streamed
    /// when resident does not fit the lower of `memoryLimit` and `available`. Only headers are read.
    ///
    /// A plan over `memoryLimit` is refused, and so is one whose unreclaimable part is over `cgroupLimit` (the hard limit
    /// of this process's cgroup): past that the kernel's OOM killer would end the run part-way. A plan over `available`
    /// alone (MemAvailable or the cgroup's free part now, estimates that other processes change) is not refused.
    public func decide(for source: ModelSource, contextPositions: Int, promptTokens: Int, sequences: Int = 1,
                       available: Int? = MemoryPlan.availableBytes,
                       cgroupLimit: Int? = MemoryPlan.cgroupLimit) throws -> LoadDecision {
        let context = try effectiveContextLength(for: source)
        if layers == .streamed && source.isFolder { throw LoadedModel.LoadError.streamingNeedsGQZ(source.name) }
        func plan(streamed: Bool, vocabulary: Bool = true) throws -> MemoryPlan {
            var plan = try MemoryPlan.forModel(source, contextPositions: min(contextPositions, context), promptTokens: promptTokens,
                                               sequences: sequences, threads: threads, cachePrecision: cachePrecision, streamLayers: streamed,
                                               streamVocabulary: vocabulary)
            plan.modelContextLength = context
            return plan
        }
        let limit = LoadDecision.lower(memoryLimit, available) ?? .max
        let resident = try plan(streamed: false)
        var chosen = layers == .streamed ? try plan(streamed: true) : resident
        var streamingTotal = layers == .streamed ? chosen.total : nil
        var switched = false
        if layers == .automatic && resident.total > limit && !source.isFolder {
            // The blocks streamed with the vocabulary resident first (a token then decompresses only the blocks), then
            // everything streamed.
            let blocksOnly = try plan(streamed: true, vocabulary: false), streaming = try plan(streamed: true)
            streamingTotal = streaming.total
            if let fitting = [blocksOnly, streaming].first(where: { $0.total <= limit }) {
                chosen = fitting
                switched = true
            }
        }
        let refusal = memoryLimit.flatMap { Self.refusal(plan: chosen, limit: $0, named: memoryLimitName, streamingTotal: streamingTotal) }
            ?? cgroupLimit.flatMap { Self.cgroupRefusal(plan: chosen, limit: $0) }
        return LoadDecision(plan: chosen, residentTotal: resident.total, streamingTotal: streamingTotal, available: available,
                            memoryLimit: memoryLimit, cgroupLimit: cgroupLimit, switchedToStreaming: switched, refusal: refusal)
    }

    /// Why the load must not start under a cgroup's hard limit, or nil when the plan's unreclaimable part fits it.
    private static func cgroupRefusal(plan: MemoryPlan, limit: Int) -> String? {
        guard plan.unreclaimable > limit else { return nil }
        func mib(_ bytes: Int) -> String { String(format: "%.1f MiB", Double(bytes) / 1_048_576) }
        return "this run needs about \(mib(plan.unreclaimable)) but the memory limit of this process's cgroup is \(mib(limit)); nothing was loaded."
    }

    /// Why the load must not start under `limit`, or nil when the plan fits.
    private static func refusal(plan: MemoryPlan, limit: Int, named name: String, streamingTotal: Int?) -> String? {
        guard plan.total > limit else { return nil }
        func mib(_ bytes: Int) -> String { String(format: "%.1f MiB", Double(bytes) / 1_048_576) }
        var smallest = plan.streamsLayers ? " (already with layer streaming)" : ""
        if !plan.streamsLayers, let streamingTotal { smallest = "; even with layer streaming it needs about \(mib(streamingTotal))" }
        return "this run needs about \(mib(plan.total)) but \(name) allows \(mib(limit))\(smallest); nothing was loaded."
    }
}
