import Foundation
import Testing
import TestSupport

/// The same request with the same seed gives the same text alone, beside other requests, from a cached prefix, and
/// with its prompt prefilled in small chunks.
@Suite(.serialized) struct BatchIndependenceServerTests {
    nonisolated(unsafe) static let request: [String: Any] = ["prompt": "And God said unto Moses, Go down", "max_tokens": 32, "temperature": 0.8, "seed": 42,
                                         "ignore_eos": true]

    func text(_ response: HTTPTestClient.Response) -> String {
        ((try? response.json())?["choices"] as? [[String: Any]])?.first?["text"] as? String ?? "<\(response.status) \(response.text)>"
    }

    @Test func sameTextAloneBesideOthersAndFromTheCache() async throws {
        let server = try await TestServer.start(slots: 4)
        defer { Task { await server.stop() } }
        let client = server.client
        let alone = text(try await client.post("/v1/completions", json: Self.request))
        #expect(!alone.hasPrefix("<"))
        // Again: the slot's cache now holds this prompt, so it is reused.
        let cached = text(try await client.post("/v1/completions", json: Self.request))
        #expect(cached == alone)
        let metrics = try await client.get("/metrics").text
        #expect(!metrics.contains("gpt2edge_prompt_tokens_cached_total 0\n"))

        // Beside three others of different lengths that start at other times.
        let others: [[String: Any]] = [
            ["prompt": "In the beginning", "max_tokens": 50, "temperature": 1, "seed": 1],
            ["prompt": String(repeating: "And the LORD spake unto Moses, saying, ", count: 8), "max_tokens": 20, "temperature": 0.5, "seed": 2],
            ["prompt": "Blessed", "max_tokens": 40, "temperature": 0, "n": 1],
        ]
        let bodies = try ([Self.request] + others).map { try JSONSerialization.data(withJSONObject: $0) }
        let results = try await withThrowingTaskGroup(of: (Int, String).self) { group in
            for (index, body) in bodies.enumerated() {
                group.addTask {
                    if index == 0 { try await Task.sleep(for: .milliseconds(30)) }   // joins while the others run
                    return (index, self.text(try await client.send("POST", "/v1/completions", body: body)))
                }
            }
            var texts: [Int: String] = [:]
            for try await (index, text) in group { texts[index] = text }
            return texts
        }
        #expect(results[0] == alone)
        for index in 1...3 {
            let other = results[index] ?? "<"
            #expect(other.hasPrefix("<") == false, "\(other)")
        }

        // n = 2 shares the prompt's prefill: its first choice is the request's text.
        var two = Self.request
        two["n"] = 2
        let choices = (try await client.post("/v1/completions", json: two).json()["choices"] as? [[String: Any]]) ?? []
        #expect(choices.first?["text"] as? String == alone)
        #expect(choices.count == 2 && choices[1]["text"] as? String != alone)
    }

    @Test func sameTextWithThePromptPrefilledInSmallChunks() async throws {
        let whole = try await TestServer.start(slots: 1)
        let reference = text(try await whole.client.post("/v1/completions", json: Self.request))
        await whole.stop()
        let chunked = try await TestServer.start(slots: 1, maxPrefillChunk: 3)
        defer { Task { await chunked.stop() } }
        #expect(text(try await chunked.client.post("/v1/completions", json: Self.request)) == reference)
    }
}
