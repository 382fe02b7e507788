import Foundation
import GPT2
import Runtime
import Testing
import TestSupport

/// `POST /v1/embeddings`: OpenAI's shapes, the library's vectors (what `gpt2-edge embed` prints), and clear 400s.
@Suite(.serialized) struct EmbeddingsEndpointTests {
    static let model = Result {
        try LoadedModel.load(ModelSource.open(path: Fixtures.repositoryRoot.appendingPathComponent("Sources/CDefaultModel/default.gqz").path),
                             policy: LoadPolicy(threads: 1, layers: .resident))
    }

    func vectors(_ response: HTTPTestClient.Response) throws -> [[Float]] {
        let data = try response.json()["data"] as? [[String: Any]] ?? []
        return data.map { ($0["embedding"] as? [NSNumber] ?? []).map(\.floatValue) }
    }

    @Test func shapesAndValuesAreTheLibrarys() async throws {
        let server = try await TestServer.start(slots: 2)
        defer { Task { await server.stop() } }
        let model = try Self.model.get()
        let texts = ["In the beginning God created the heaven and the earth.", "Jesus wept."]
        let response = try await server.client.post("/v1/embeddings", json: ["model": "anything", "input": texts])
        #expect(response.status == 200, "\(response.text)")
        let json = try response.json()
        #expect(json["object"] as? String == "list")
        #expect(json["model"] as? String == "kjv-test")
        let data = json["data"] as? [[String: Any]] ?? []
        #expect(data.map { $0["index"] as? Int } == [0, 1])
        #expect(data.allSatisfy { $0["object"] as? String == "embedding" })
        let ids = texts.map { model.tokenizer.encode($0) }
        let usage = json["usage"] as? [String: Any]
        #expect(usage?["prompt_tokens"] as? Int == ids.joined().count)
        #expect(usage?["total_tokens"] as? Int == ids.joined().count)
        let expected = try model.embeddings(of: ids)
        let got = try vectors(response)
        #expect(got == expected)   // exact: JSON carries each Float's shortest decimal
        for vector in got {
            #expect(vector.count == model.config.embeddingWidth)
            #expect(abs(vector.reduce(0) { $0 + $1 * $1 } - 1) < 1e-4)
        }

        // base64 (what the openai client asks for by default): little-endian float32.
        let encoded = try await server.client.post("/v1/embeddings", json: ["input": texts[1], "encoding_format": "base64"])
        let string = ((try encoded.json()["data"] as? [[String: Any]])?.first?["embedding"] as? String) ?? ""
        let bytes = [UInt8](Data(base64Encoded: string) ?? Data())
        let decoded = stride(from: 0, to: bytes.count, by: 4).map { i in
            Float(bitPattern: UInt32(bytes[i]) | UInt32(bytes[i + 1]) << 8 | UInt32(bytes[i + 2]) << 16 | UInt32(bytes[i + 3]) << 24)
        }
        #expect(decoded == expected[1])

        // Token ids, last-token pooling, unnormalized: the library's same options.
        let raw = try await server.client.post("/v1/embeddings", json: ["input": [ids[0]], "pooling": "last", "normalize": false])
        #expect(try vectors(raw) == model.embeddings(of: [ids[0]], pooling: .last, normalize: false))
    }

    @Test func badRequestsNameTheField() async throws {
        let server = try await TestServer.start(slots: 1, contextLength: 16)
        defer { Task { await server.stop() } }
        let cases: [([String: Any], String)] = [
            (["input": [String]()], "input is empty"),
            (["input": [""]], "input[0]: the input is empty"),
            (["input": String(repeating: "And it came to pass ", count: 10)], "context holds 16"),
            (["input": [[1, 99999]]], "outside the vocabulary"),
            (["input": "x", "encoding_format": "int8"], "encoding_format"),
            (["input": "x", "pooling": "max"], "pooling must be mean or last"),
            (["input": "x", "dimensions": 8], "dimensions"),
            (["input": 5], "input"),
        ]
        for (body, message) in cases {
            let response = try await server.client.post("/v1/embeddings", json: body)
            #expect(response.status == 400, "\(body): \(response.text)")
            let error = try response.json()["error"] as? [String: Any]
            #expect((error?["message"] as? String ?? "").contains(message), "\(body): \(response.text)")
        }
        // The server still answers.
        #expect(try await server.client.post("/v1/embeddings", json: ["input": "Amen"]).status == 200)
    }
}
