import Foundation
import Testing
import TestSupport

/// The endpoints on a live loopback port, against the built-in model.
@Suite(.serialized) struct ServerEndpointTests {
    @Test func healthModelsTokenizeSlotsMetricsAndPage() async throws {
        let server = try await TestServer.start(slots: 3)
        defer { Task { await server.stop() } }
        let client = server.client
        #expect(try await client.get("/health").json()["status"] as? String == "ok")

        let models = try await client.get("/v1/models").json()
        let model = (models["data"] as? [[String: Any]])?.first
        #expect(model?["id"] as? String == "kjv-test")
        #expect((model?["meta"] as? [String: Any])?["parallel"] as? Int == 3)

        let tokens = try await client.post("/tokenize", json: ["content": "And God said"]).json()["tokens"] as? [Int] ?? []
        #expect(tokens.count >= 3)
        let text = try await client.post("/detokenize", json: ["tokens": tokens]).json()["content"] as? String
        #expect(text == "And God said")
        let pieces = try await client.post("/tokenize", json: ["content": "And God", "with_pieces": true]).json()["tokens"] as? [[String: Any]] ?? []
        #expect(pieces.map { $0["piece"] as? String ?? "" }.joined() == "And God")

        let slots = try JSONSerialization.jsonObject(with: await client.get("/slots").body) as? [[String: Any]] ?? []
        #expect(slots.count == 3 && slots.allSatisfy { $0["state"] as? String == "idle" && $0["n_ctx"] as? Int == 256 })

        _ = try await client.post("/v1/completions", json: ["prompt": "And God said", "max_tokens": 4, "temperature": 0])
        let metrics = try await client.get("/metrics")
        #expect(metrics.headers["content-type"]?.hasPrefix("text/plain") == true)
        for name in ["gpt2edge_requests_total{code=\"200\"}", "gpt2edge_prompt_tokens_total 3", "gpt2edge_completion_tokens_total 4",
                     "gpt2edge_queue_depth 0", "gpt2edge_slots_busy 0", "gpt2edge_slots_total 3", "gpt2edge_decode_tokens_per_second",
                     "gpt2edge_time_to_first_token_seconds_count 1"] {
            #expect(metrics.text.contains(name), "missing \(name)")
        }
        let page = try await client.get("/")
        #expect(page.status == 200 && page.headers["content-type"]?.hasPrefix("text/html") == true)
        #expect(page.text.contains("<textarea"))
    }

    @Test func completionShapeUsageAndFinishReasons() async throws {
        let server = try await TestServer.start()
        defer { Task { await server.stop() } }
        let response = try await server.client.post("/v1/completions", json: ["model": "anything", "prompt": "And God said", "max_tokens": 5, "temperature": 0])
        #expect(response.status == 200)
        let json = try response.json()
        #expect(json["object"] as? String == "text_completion")
        #expect((json["id"] as? String)?.hasPrefix("cmpl-") == true)
        let choice = (json["choices"] as? [[String: Any]])?.first
        #expect(choice?["finish_reason"] as? String == "length")
        let text = choice?["text"] as? String ?? ""
        #expect(text.isEmpty == false)
        let usage = json["usage"] as? [String: Int]
        #expect(usage == ["prompt_tokens": 3, "completion_tokens": 5, "total_tokens": 8])

        // A stop string ends the text before it, with finish reason "stop"; it never appears.
        let stopped = try await server.client.post("/v1/completions", json: ["prompt": "And God said", "max_tokens": 40, "temperature": 0, "stop": [","]]).json()
        let stoppedChoice = (stopped["choices"] as? [[String: Any]])?.first
        #expect(stoppedChoice?["finish_reason"] as? String == "stop")
        let stoppedText = stoppedChoice?["text"] as? String ?? ","
        #expect(stoppedText.contains(",") == false)
    }

    @Test func streamedTextEqualsWholeText() async throws {
        let server = try await TestServer.start()
        defer { Task { await server.stop() } }
        let request: [String: Any] = ["prompt": "And God said", "max_tokens": 40, "temperature": 0.9, "seed": 11, "stop": ["LORD"]]
        let whole = try await server.client.post("/v1/completions", json: request).json()
        let wholeText = ((whole["choices"] as? [[String: Any]])?.first?["text"] as? String) ?? ""
        var streamRequest = request
        streamRequest["stream"] = true
        streamRequest["stream_options"] = ["include_usage": true]
        let streamed = try await server.client.post("/v1/completions", json: streamRequest)
        #expect(streamed.headers["content-type"] == "text/event-stream")
        let events = streamed.events
        #expect(events.last == "[DONE]")
        var text = "", finish: String?
        var usage: [String: Int]?
        for event in events.dropLast() {
            let chunk = try JSONSerialization.jsonObject(with: Data(event.utf8)) as! [String: Any]
            let choices = chunk["choices"] as! [[String: Any]]
            for choice in choices {
                text += choice["text"] as? String ?? ""
                if let reason = choice["finish_reason"] as? String { finish = reason }
            }
            if choices.isEmpty { usage = chunk["usage"] as? [String: Int] }
        }
        #expect(!wholeText.isEmpty)
        #expect(text == wholeText)
        #expect(finish == ((whole["choices"] as? [[String: Any]])?.first?["finish_reason"] as? String))
        #expect(usage == whole["usage"] as? [String: Int])
    }

    @Test func nChoicesLogprobsAndEcho() async throws {
        let server = try await TestServer.start(slots: 2)
        defer { Task { await server.stop() } }
        // Five choices on two slots: three batches, choice k seeded seed + k whichever batch runs it.
        let request: [String: Any] = ["prompt": "And God said", "max_tokens": 6, "n": 5, "seed": 5, "ignore_eos": true]
        let several = try await server.client.post("/v1/completions", json: request).json()
        let choices = several["choices"] as? [[String: Any]] ?? []
        #expect(choices.map { $0["index"] as? Int } == [0, 1, 2, 3, 4])
        #expect((several["usage"] as? [String: Int]) == ["prompt_tokens": 3, "completion_tokens": 30, "total_tokens": 33])
        var fourth = request
        fourth["n"] = 1
        fourth["seed"] = 8
        let alone = try await server.client.post("/v1/completions", json: fourth).json()
        #expect((alone["choices"] as? [[String: Any]])?.first?["text"] as? String == choices[3]["text"] as? String)

        // lm-evaluation-harness's scoring call: token ids, echo, one new token, logprobs, greedy.
        let prompt = try await server.client.post("/tokenize", json: ["content": "And God said unto Moses"]).json()["tokens"] as! [Int]
        let scored = try await server.client.post("/v1/completions", json: ["prompt": prompt, "max_tokens": 1, "echo": true, "logprobs": 2, "temperature": 0]).json()
        let choice = (scored["choices"] as! [[String: Any]])[0]
        let logprobs = choice["logprobs"] as! [String: Any]
        let values = logprobs["token_logprobs"] as! [Any]
        let tops = logprobs["top_logprobs"] as! [Any]
        let offsets = logprobs["text_offset"] as! [Int]
        #expect(values.count == prompt.count + 1 && tops.count == prompt.count + 1)
        #expect(values[0] is NSNull)
        for value in values.dropFirst() { #expect((value as! Double) <= 0) }
        for top in tops.dropFirst() { #expect((1...3).contains((top as! [String: Double]).count)) }
        #expect(offsets == offsets.sorted() && offsets[0] == 0)
        #expect((choice["text"] as! String).hasPrefix("And God said unto Moses"))
        // The greedy token is the most likely one: its logprob is the largest of its top_logprobs.
        let last = tops.last as! [String: Double]
        #expect(abs((values.last as! Double) - last.values.max()!) < 1e-6)
    }
}
