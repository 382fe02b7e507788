// Loads a model through gpt2-edge's library product and continues a prompt greedily.
//
//     swift run HelloGPT2 PATH     (PATH: a .gqz file or a Hugging Face GPT-2 folder)
//
// Exits 1 when generation produces no text, so CI notices a library that loads but says nothing.
import Foundation
import GPT2Edge

func fail(_ message: String, status: Int32) -> Never {
    FileHandle.standardError.write(Data("HelloGPT2: \(message)\n".utf8))
    exit(status)
}

guard CommandLine.arguments.count == 2 else {
    fail("usage: HelloGPT2 MODEL (a .gqz file or a Hugging Face GPT-2 folder)", status: 2)
}
let modelPath = CommandLine.arguments[1]

do {
    let source = try ModelSource.open(path: modelPath)     // a .gqz file or HF folder
    let model = try LoadedModel.load(source, policy: LoadPolicy(threads: 2))
    var options = GenerationOptions(maxNewTokens: 20); options.sampling.temperature = 0
    let result = try TextGenerator(model: model).generate(prompt: "And God said", options: options)
    print(result.text)

    guard !result.tokens.isEmpty, !result.text.allSatisfy(\.isWhitespace) else {
        fail("no text was generated (\(result.tokens.count) tokens, finish reason \(result.finishReason))", status: 1)
    }
} catch {
    fail("\(error)", status: 1)
}
