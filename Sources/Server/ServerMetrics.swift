import Foundation

/// The server's counters and gauges, rendered in Prometheus' text format for `GET /metrics`.
///
/// Counters (`_total`) only grow; rates are the scraper's to take. The two `_tokens_per_second` gauges are the
/// scheduler's own recent rates (moving averages over steps), for a glance without a Prometheus server.
final class ServerMetrics: @unchecked Sendable {
    // @unchecked: every property is read and written under `lock`.
    private let lock = NSLock()
    private var requests: [String: Int] = [:]          // by status code
    private var promptTokens = 0
    private var cachedPromptTokens = 0
    private var completionTokens = 0
    private var cancelled = 0
    private var queueDepth = 0
    private var slotsTotal = 0
    private var slotsBusy = 0
    private var prefillSeconds = 0.0
    private var prefillTokenCount = 0
    private var decodeSeconds = 0.0
    private var decodeTokenCount = 0
    private var promptRate = 0.0
    private var decodeRate = 0.0
    private var maxStallRatio = 0.0
    private var steps = 0
    /// Time to first token: upper bounds in seconds, counts per bucket (cumulative when rendered), sum and count.
    static let ttftBuckets: [Double] = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60]
    private var ttftCounts = [Int](repeating: 0, count: ttftBuckets.count + 1)
    private var ttftSum = 0.0
    private var ttftCount = 0

    func countRequest(status: Int) { lock.withLock { requests["\(status)", default: 0] += 1 } }
    /// A completion stopped because its client went away, after generating `completionTokens`.
    func countCancelled(completionTokens tokens: Int) {
        lock.withLock {
            cancelled += 1
            completionTokens += tokens
        }
    }
    func countCachedPromptTokens(_ count: Int) { lock.withLock { cachedPromptTokens += count } }
    func countFinished(promptTokens prompt: Int, completionTokens completion: Int) {
        lock.withLock {
            promptTokens += prompt
            completionTokens += completion
        }
    }
    func setQueueDepth(_ depth: Int) { lock.withLock { queueDepth = depth } }
    func setSlots(total: Int, busy: Int) { lock.withLock { slotsTotal = total; slotsBusy = busy } }

    func observeTimeToFirstToken(_ seconds: Double) {
        lock.withLock {
            let bucket = Self.ttftBuckets.firstIndex { seconds <= $0 } ?? Self.ttftBuckets.count
            ttftCounts[bucket] += 1
            ttftSum += seconds
            ttftCount += 1
        }
    }

    /// One forward step: its time is split between its decode rows and its prompt tokens in proportion to the rows.
    func recordStep(seconds: Double, decodeRows: Int, prefillTokens: Int, stallRatio: Double?) {
        lock.withLock {
            steps += 1
            let rows = Double(decodeRows + prefillTokens)
            guard rows > 0 else { return }
            let prefillPart = seconds * Double(prefillTokens) / rows
            prefillSeconds += prefillPart
            decodeSeconds += seconds - prefillPart
            prefillTokenCount += prefillTokens
            decodeTokenCount += decodeRows
            if prefillTokens > 0 { promptRate = 0.8 * promptRate + 0.2 * Double(prefillTokens) / max(prefillPart, 1e-9) }
            if decodeRows > 0 { decodeRate = 0.8 * decodeRate + 0.2 * Double(decodeRows) / seconds }
            if let stallRatio { maxStallRatio = max(maxStallRatio, stallRatio) }
        }
    }

    /// Every metric in Prometheus' text exposition format (version 0.0.4).
    func render() -> String {
        lock.withLock {
            var out = ""
            func metric(_ name: String, _ type: String, _ help: String, _ samples: [(labels: String, value: String)]) {
                out += "# HELP gpt2edge_\(name) \(help)\n# TYPE gpt2edge_\(name) \(type)\n"
                for sample in samples { out += "gpt2edge_\(name)\(sample.labels) \(sample.value)\n" }
            }
            func number(_ value: Double) -> String { value.isFinite ? String(format: "%.6g", value) : "0" }
            metric("requests_total", "counter", "HTTP requests answered, by status code.",
                   requests.sorted { $0.key < $1.key }.map { ("{code=\"\($0.key)\"}", "\($0.value)") })
            metric("prompt_tokens_total", "counter", "Prompt tokens of finished completions.", [("", "\(promptTokens)")])
            metric("prompt_tokens_cached_total", "counter", "Prompt tokens taken from a slot's cache (prefix reuse).", [("", "\(cachedPromptTokens)")])
            metric("completion_tokens_total", "counter", "Tokens generated.", [("", "\(completionTokens)")])
            metric("requests_cancelled_total", "counter", "Completions stopped because the client went away.", [("", "\(cancelled)")])
            metric("prefill_tokens_total", "counter", "Prompt tokens run through the model.", [("", "\(prefillTokenCount)")])
            metric("prefill_seconds_total", "counter", "Step time spent on prompt tokens.", [("", number(prefillSeconds))])
            metric("decode_tokens_total", "counter", "Decode rows run through the model.", [("", "\(decodeTokenCount)")])
            metric("decode_seconds_total", "counter", "Step time spent on decode rows.", [("", number(decodeSeconds))])
            metric("steps_total", "counter", "Batched forward steps.", [("", "\(steps)")])
            metric("queue_depth", "gauge", "Prompts waiting for a slot.", [("", "\(queueDepth)")])
            metric("slots_busy", "gauge", "Slots running a request.", [("", "\(slotsBusy)")])
            metric("slots_total", "gauge", "Slots (--parallel).", [("", "\(slotsTotal)")])
            metric("prompt_tokens_per_second", "gauge", "Recent prompt processing rate.", [("", number(promptRate))])
            metric("decode_tokens_per_second", "gauge", "Recent aggregate decode rate.", [("", number(decodeRate))])
            metric("prefill_stall_ratio_max", "gauge", "Largest time of a step carrying a prompt chunk over a decode-only step.",
                   [("", number(maxStallRatio))])
            var cumulative = 0
            var buckets: [(String, String)] = []
            for (bound, count) in zip(Self.ttftBuckets, ttftCounts) {
                cumulative += count
                buckets.append(("{le=\"\(number(bound))\"}", "\(cumulative)"))
            }
            buckets.append(("{le=\"+Inf\"}", "\(ttftCount)"))
            out += "# HELP gpt2edge_time_to_first_token_seconds From a request's arrival to its first token.\n"
            out += "# TYPE gpt2edge_time_to_first_token_seconds histogram\n"
            for (labels, value) in buckets { out += "gpt2edge_time_to_first_token_seconds_bucket\(labels) \(value)\n" }
            out += "gpt2edge_time_to_first_token_seconds_sum \(number(ttftSum))\n"
            out += "gpt2edge_time_to_first_token_seconds_count \(ttftCount)\n"
            return out
        }
    }
}
