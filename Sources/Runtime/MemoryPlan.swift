import Foundation
import GPT2
import GQZ
import Kernels

/// What a run will hold in memory, worked out before anything large is loaded: weights as the kernels keep
/// them, the KV cache at the context the run can reach, activations of the largest forward pass, the
/// tokenizer, and the program itself; and what this machine allows (MemAvailable, or the cgroup's limit when
/// lower).
public struct MemoryPlan: Sendable {
    public var weights: Int
    public var kvCache: Int
    public var activations: Int
    public var tokenizer: Int
    /// The program, the Swift runtime and libraries (`runtimeBytes`: measured in this process at its first plan).
    public var runtime: Int
    /// Positions the KV cache is planned for (at most `modelContextLength`).
    public var contextPositions: Int
    /// The model's context (n_positions), from its header.
    public var modelContextLength: Int
    public var cachePrecision: KVCache.Precision
    /// Whether the plan is for layer streaming (one block resident instead of all).
    public var streamsLayers = false
    /// Whether layer streaming streams the vocabulary matrices too (a file whose wte / lm_head are stored in row frames).
    public var streamsVocabulary = false
    /// Sequences the run holds at once, each with its own KV cache (several prompts, samples or beams).
    public var sequences = 1

    /// Weight bytes mapped from the model's files rather than copied (float32 safetensors): counted in `weights`,
    /// but the kernel can drop and reread those pages, so they do not count against a cgroup's hard limit.
    public var mappedWeights = 0

    public var total: Int { weights + kvCache + activations + tokenizer + runtime }
    /// What the kernel cannot reclaim: `total` less `mappedWeights`. A hard memory limit below it ends the run.
    public var unreclaimable: Int { total - mappedWeights }

    /// The program itself, measured where it runs: its resident pages the first time it plans a model
    /// (`ProgramBaseline`: the code and libraries faulted in so far, the runtime's heap, the model's index) plus
    /// `runGrowthBytes`. So one plan fits whichever program makes it (gpt2-edge, gpt2-edge-server, an app linking the
    /// library: its own memory counts as runtime) and however it was built (dynamic, the static board build, debug);
    /// `fallbackRuntimeBytes` where /proc is not available.
    /// The tokenizer is parsed when a source is opened, before any plan, so the resident pages include it; it is
    /// counted in `tokenizer` and taken out of them here (`tokenizerBytes`).
    public static func runtimeBytes(tokenizerBytes: Int) -> Int {
        guard let resident = ProgramBaseline.measured?.resident else { return fallbackRuntimeBytes + runGrowthBytes }
        return max(0, resident - tokenizerBytes) + runGrowthBytes
    }
    /// What a run faults in beyond the resident pages at its first plan and the plan's other parts: the code of loading,
    /// the forward pass, sampling and output, the allocator's slack. Measured: the built-in
    /// and kjv models' runs (resident, streamed, float32 folder; -n 8 and 100) peak 0–1.0 MiB above their plans
    /// without it, in the dynamic, static board and debug builds alike.
    public static let runGrowthBytes = 1 << 20
    /// The runtime where this process's resident size cannot be read (not Linux), where it is not measured; on Linux
    /// the built-in model's plan finds 24.4 MiB in the release build and 15.6 in the board build.
    public static let fallbackRuntimeBytes = 20 << 20
    /// Measured resident cost of a byte-level BPE tokenizer per vocabulary entry (token bytes, merges, and the files'
    /// bytes while they are read): GPT-2's 50,257 entries add 5.3 MB to the peak of `gpt2-edge tokenize` (32.4 MB
    /// against 27.0 for the built-in model's small vocabulary, release build). It was 340 before the tables were
    /// compacted (a JSON tree and an array per token: 20 MB).
    public static let tokenizerBytesPerEntry = 110

    /// The plan for `source` (only headers are read), generating up to `contextPositions` positions (clamped to the
    /// model's context) with prompt passes of at most `promptTokens` tokens; with `streamLayers` (a .gqz only), one
    /// block resident instead of all, and unless `streamVocabulary` is false, a frame of each row-framed vocabulary matrix.
    public static func forModel(_ source: ModelSource, contextPositions: Int, promptTokens: Int, sequences: Int = 1, threads: Int,
                                cachePrecision: KVCache.Precision? = nil, streamLayers: Bool = false,
                                streamVocabulary: Bool = true) throws -> MemoryPlan {
        switch source.storage {
        case .gqz(let file):
            return forModel(in: file, config: source.config, contextPositions: contextPositions, promptTokens: promptTokens,
                            sequences: sequences, threads: threads, cachePrecision: cachePrecision, streamLayers: streamLayers,
                            streamVocabulary: streamVocabulary)
        case .folder(let checkpoint):
            // float32 in memory: mapped in place when the file is float32, converted otherwise; 4 bytes each either way.
            // A float16/bfloat16 file is converted from its mapped pages, which are resident while that runs: counted
            // too, as mapped (reclaimable) bytes. Measured: the kjv folder (7.0 MB of float16) peaked 6.6 MiB above a plan without them.
            let tensors = try checkpoint.validateTensors(for: source.config)
            let converted = tensors.filter { $0.info.dtype != .f32 }.reduce(0) { $0 + $1.info.byteRange.count }
            let weights = tensors.reduce(0) { $0 + 4 * $1.info.elementCount } + converted
            var result = plan(config: source.config, weights: weights, contextPositions: contextPositions, promptTokens: promptTokens,
                              sequences: sequences, threads: threads, cachePrecision: cachePrecision ?? .f32)
            result.mappedWeights = tensors.filter { $0.info.dtype == .f32 }.reduce(0) { $0 + 4 * $1.info.elementCount } + converted
            return result
        }
    }

    /// The plan for an opened .gqz file whose config (`config`, checked against its tensors: n_layer sizes the loop
    /// below) is known; with `streamLayers`, only one block (the largest) is counted, plus what each
    /// thread's read of a frame holds (`GQZFile.bytesHeldReading(frameOf:)`).
    static func forModel(in file: GQZFile, config: GPT2Config, contextPositions: Int, promptTokens: Int, sequences: Int = 1, threads: Int,
                         cachePrecision: KVCache.Precision? = nil, streamLayers: Bool = false, streamVocabulary: Bool = true) -> MemoryPlan {
        let outsideBlocks = file.entries.filter { !$0.name.hasPrefix("h.") }
        // Streaming also streams the vocabulary matrices stored in row frames: a frame per thread instead of the table.
        let framed = streamLayers && streamVocabulary
            ? outsideBlocks.filter { ["wte.weight", "lm_head.weight"].contains($0.name) && !$0.frames.isEmpty && $0.weightScheme != nil } : []
        var weights = residentBytes(of: outsideBlocks.filter { !framed.contains($0) })
            + framed.reduce(0) { $0 + GQZRowFrameStreamer.residentBytes(of: $1, slots: threads) }
        if streamLayers {
            let blocks = (0..<config.layerCount).map { i in residentBytes(of: file.entries.filter { $0.name.hasPrefix("h.\(i).") }) }
            let largestFrame = file.entries.filter { $0.name.hasPrefix("h.") }.map(\.storedBytes).max() ?? 0
            weights += (blocks.max() ?? 0) + threads * file.bytesHeldReading(frameOf: largestFrame)
        } else {
            weights += residentBytes(of: file.entries.filter { $0.name.hasPrefix("h.") })
        }
        var result = plan(config: config, weights: weights, contextPositions: contextPositions, promptTokens: promptTokens,
                          sequences: sequences, threads: threads, cachePrecision: cachePrecision ?? .f16)
        result.streamsLayers = streamLayers
        result.streamsVocabulary = !framed.isEmpty
        return result
    }

    /// The plan for a model whose config and resident weight bytes are known; `sequences` KV caches of
    /// `contextPositions` each, prompt passes of at most `promptTokens` tokens (all sequences' prompts together).
    public static func plan(config: GPT2Config, weights: Int, contextPositions: Int, promptTokens: Int, sequences: Int = 1, threads: Int,
                            cachePrecision: KVCache.Precision) -> MemoryPlan {
        let positions = min(config.contextLength, max(1, contextPositions))
        let cachePositions = min(config.contextLength, (positions + KVCache.growthChunk - 1) / KVCache.growthChunk * KVCache.growthChunk)
        let c = config.embeddingWidth, inner = config.innerWidth, vocabulary = config.vocabularySize
        let sequences = max(1, sequences)
        let rows = min(max(1, promptTokens), positions * sequences)
        // One forward pass: residual, normed, qkv (3c), attended, projected, hidden (inner) per row; each sequence's
        // logits; a few vocabulary-sized arrays while sampling; each thread's prompt scratch (16 rows of the widest input).
        let forward = 4 * rows * (7 * c + inner)
        let logits = 4 * vocabulary * (3 + sequences)
        let scratch = threads * 16 * max(c, inner) * 4
        var plan = MemoryPlan(weights: weights,
                              kvCache: sequences * KVCache.bytes(config: config, positions: cachePositions, precision: cachePrecision),
                              activations: forward + logits + scratch, tokenizer: vocabulary * tokenizerBytesPerEntry,
                              runtime: runtimeBytes(tokenizerBytes: vocabulary * tokenizerBytesPerEntry), contextPositions: positions, modelContextLength: config.contextLength,
                              cachePrecision: cachePrecision)
        plan.sequences = sequences
        return plan
    }

    /// Bytes the kernels keep for a .gqz file's tensors: each payload is decompressed as it is into the memory
    /// the kernels read (quantized matrices: scales + padded quants; float32 tensors: 4 bytes an element), so it
    /// is the payloads' raw size; the tokenizer payloads are parsed, not kept.
    static func residentBytes(of entries: [GQZEntry]) -> Int {
        entries.filter { !$0.name.hasPrefix("tokenizer/") }.reduce(0) { $0 + $1.rawBytes }
    }

    /// What this machine lets a process use now: MemAvailable, or the cgroup (v2 or v1) limit less what the cgroup
    /// holds that the kernel cannot reclaim (its usage less its page cache), when that is lower; GPT2EDGE_AVAILABLE_MEMORY
    /// instead when it is set. nil where none can be read.
    /// Both estimates leave out what this process already holds; a plan's `runtime` counts what it held at its first
    /// plan (`ProgramBaseline`), so the anonymous pages of then are added back: an app with a large heap is not counted
    /// twice, and a second model's plan still finds the first model's weights out of what is free.
    public static var availableBytes: Int? {
        if let stated = statedAvailableBytes() { return stated }
        return freeBytes.map { $0 + (ProgramBaseline.measured?.anonymous ?? 0) }
    }

    /// MemAvailable or the cgroup's free part, the lower.
    private static var freeBytes: Int? {
        var candidates: [Int] = []
        if let meminfo = try? String(contentsOfFile: "/proc/meminfo", encoding: .utf8),
           let line = meminfo.split(separator: "\n").first(where: { $0.hasPrefix("MemAvailable:") }),
           let kilobytes = Int(line.split(separator: " ", omittingEmptySubsequences: true)[1]) {
            candidates.append(kilobytes * 1024)
        }
        candidates += cgroupLimits().map { max(0, $0.limit - max(0, $0.usage - $0.pageCache)) }
        return candidates.min()
    }

    /// The hard memory limit of this process's cgroup (v2 or v1; the tightest this process can read), or
    /// GPT2EDGE_AVAILABLE_MEMORY when it is set; nil without a limit. Past it the kernel's OOM killer ends the process,
    /// so a plan whose unreclaimable part is over it is refused before loading.
    public static var cgroupLimit: Int? {
        if let stated = statedAvailableBytes() { return stated }
        return cgroupLimits().map(\.limit).min()
    }

    /// GPT2EDGE_AVAILABLE_MEMORY as bytes ("512M", "2G", "1.5GiB", "4096B"): what the plan takes as this machine's
    /// memory instead of MemAvailable and the cgroup's limit (for a container whose limit cannot be read, and for
    /// tests that make the plan wrong on purpose). Unset, empty or not a size: nil (`gpt2-edge` refuses a value that
    /// is not a size with its own message).
    public static func statedAvailableBytes(_ environment: [String: String] = ProcessInfo.processInfo.environment) -> Int? {
        guard let text = environment["GPT2EDGE_AVAILABLE_MEMORY"]?.trimmingCharacters(in: .whitespaces).uppercased(), !text.isEmpty else { return nil }
        let gib = 1_073_741_824.0, mib = 1_048_576.0, kib = 1024.0
        let units: [(String, Double)] = [("GIB", gib), ("MIB", mib), ("KIB", kib), ("GB", gib), ("MB", mib),
                                         ("KB", kib), ("G", gib), ("M", mib), ("K", kib), ("B", 1)]
        guard let (suffix, factor) = units.first(where: { text.hasSuffix($0.0) }),
              let number = Double(text.dropLast(suffix.count).trimmingCharacters(in: .whitespaces)),
              number.isFinite, number > 0, number * factor < 4e18 else { return nil }
        return Int(number * factor)
    }

    /// The memory limits (below 2^60), usages and page cache of this process's cgroup, from /proc/self/cgroup: v2
    /// ("0::/path": memory.max, memory.current, memory.stat's `file`) and v1 ("N:memory:/path":
    /// memory.limit_in_bytes, memory.usage_in_bytes, memory.stat's `total_cache`).
    static func cgroupLimits() -> [(limit: Int, usage: Int, pageCache: Int)] {
        var groups: [(limit: String, usage: String, stat: String, cacheKey: String)] = []
        if let lines = try? String(contentsOfFile: "/proc/self/cgroup", encoding: .utf8) {
            for line in lines.split(separator: "\n") {
                let parts = line.split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false)
                guard parts.count == 3 else { continue }
                let path = String(parts[2])
                if parts[0] == "0" && parts[1].isEmpty {
                    let folder = "/sys/fs/cgroup\(path)"
                    groups.append(("\(folder)/memory.max", "\(folder)/memory.current", "\(folder)/memory.stat", "file"))
                } else if parts[1].split(separator: ",").contains("memory") {
                    let folder = "/sys/fs/cgroup/memory\(path)"
                    groups.append(("\(folder)/memory.limit_in_bytes", "\(folder)/memory.usage_in_bytes", "\(folder)/memory.stat", "total_cache"))
                }
            }
        }
        func number(_ path: String) -> Int? {
            (try? String(contentsOfFile: path, encoding: .utf8)).flatMap { Int($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
        }
        func statValue(_ path: String, _ key: String) -> Int? {
            let lines = (try? String(contentsOfFile: path, encoding: .utf8))?.split(separator: "\n") ?? []
            return lines.lazy.compactMap { line -> Int? in
                let fields = line.split(separator: " ")
                return fields.count == 2 && fields[0] == key ? Int(fields[1]) : nil
            }.first
        }
        return groups.compactMap { group in
            guard let limit = number(group.limit), limit < (1 << 60) else { return nil }   // "max", or v1's "no limit" value
            return (limit, number(group.usage) ?? 0, statValue(group.stat, group.cacheKey) ?? 0)
        }
    }

    /// A table of the plan, in MiB.
    public var description: String {
        func mib(_ bytes: Int) -> String { String(format: "%8.1f MiB", Double(bytes) / 1_048_576) }
        return """
        weights      \(mib(weights))\(streamsLayers ? "  (layer streaming: one block resident\(streamsVocabulary ? ", the vocabulary a frame at a time" : ""))" : "")
        KV cache     \(mib(kvCache))  (\(cachePrecision.rawValue), \(contextPositions) positions\(sequences > 1 ? " × \(sequences) sequences" : ""))
        activations  \(mib(activations))
        tokenizer    \(mib(tokenizer))
        runtime      \(mib(runtime))
        total        \(mib(total))
        """
    }

}

/// The plan as JSON, sizes in bytes: `{"activations": …, "context_positions": 1024, "kv_cache": …,
/// "kv_cache_type": "f16", "layer_streaming": false, "runtime": …, "sequences": 1, "tokenizer": …, "total": …, "weights": …}`.
extension MemoryPlan: Encodable {
    enum CodingKeys: String, CodingKey {
        case weights, activations, tokenizer, runtime, total
        case kvCache = "kv_cache"
        case contextPositions = "context_positions"
        case cachePrecision = "kv_cache_type"
        case streamsLayers = "layer_streaming"
        case streamsVocabulary = "vocabulary_streaming"
        case sequences
        case mappedWeights = "mapped_weights"
    }

    public func encode(to encoder: any Encoder) throws {
        var json = encoder.container(keyedBy: CodingKeys.self)
        try json.encode(weights, forKey: .weights)
        try json.encode(kvCache, forKey: .kvCache)
        try json.encode(activations, forKey: .activations)
        try json.encode(tokenizer, forKey: .tokenizer)
        try json.encode(runtime, forKey: .runtime)
        try json.encode(total, forKey: .total)
        try json.encode(contextPositions, forKey: .contextPositions)
        try json.encode(cachePrecision.rawValue, forKey: .cachePrecision)
        try json.encode(streamsLayers, forKey: .streamsLayers)
        try json.encode(streamsVocabulary, forKey: .streamsVocabulary)
        try json.encode(sequences, forKey: .sequences)
        try json.encode(mappedWeights, forKey: .mappedWeights)
    }
}

/// This process's resident size, and its anonymous part (heap, stacks), the first time it plans a model: what the
/// program itself holds. Taken once, so every plan a process makes counts the same runtime: a decision compares a
/// resident plan with streamed ones, the server fits its slots to one plan and checks another, and reads of the
/// resident size a moment apart differ by what other threads did meanwhile (by megabytes in a test process).
enum ProgramBaseline {
    static let measured: (resident: Int, anonymous: Int)? = ProcessMemory.residentBytes.map {
        (resident: $0, anonymous: ProcessMemory.residentAnonymousBytes ?? 0)
    }
}
