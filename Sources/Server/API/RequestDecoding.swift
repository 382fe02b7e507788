import Foundation
import Tokenizer

/// The server's reading of request bodies without the HTTP around it: the JSON decoding and the checks of
/// `POST /v1/completions` exactly as CompletionsEndpoint runs them, and the decoding of `POST /v1/embeddings`.
/// What the `server-request` fuzz target drives; each failure is the APIError the client would get.
package enum RequestDecoding {
    /// Decodes and checks a completions body against a model of `contextLength` positions and `tokenizer`'s vocabulary.
    package static func completion(body: [UInt8], tokenizer: GPT2Tokenizer, contextLength: Int, slotCount: Int) throws(APIError) {
        let request: CompletionRequest
        do { request = try JSONDecoder().decode(CompletionRequest.self, from: Data(body)) } catch { throw APIError.decoding(error) }
        let limits = CompletionParameters.Limits(contextLength: contextLength, vocabularySize: tokenizer.vocabularySize,
                                                 slotCount: slotCount, endOfText: tokenizer.endOfText ?? 0)
        do { _ = try CompletionParameters(request, tokenizer: tokenizer, limits: limits, randomSeed: { 0 }) } catch let error as APIError {
            throw error
        } catch {
            throw APIError.decoding(error)
        }
    }

    /// Decodes an embeddings body.
    package static func embeddings(body: [UInt8]) throws(APIError) {
        do { _ = try JSONDecoder().decode(EmbeddingRequest.self, from: Data(body)) } catch { throw APIError.decoding(error) }
    }
}
