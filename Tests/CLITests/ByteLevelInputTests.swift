import Foundation
import Testing
import TestSupport

/// Prompts and stop strings with NUL bytes, and prompts that are not UTF-8, from every place text comes in (a
/// file, standard input, a prompts file). GPT-2's byte-level vocabulary has a token for every byte, so NUL is text
/// like any other (transformers tokenizes it too): it runs. Bytes that are not UTF-8 are refused by name.
@Suite struct ByteLevelInputTests {
    static let kjv = Fixtures.local.appendingPathComponent("models/kjv").path

    @Test func nulBytesInAPromptAreTextFromAFileStandardInputAndAPromptsFile() throws {
        let folder = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: folder) }
        let prompt = "In the\u{0}beginning\u{0}"
        let file = folder.appendingPathComponent("prompt.txt")
        try Data(prompt.utf8).write(to: file)
        let fromFile = try CommandRunner.run("gpt2-edge", ["generate", "-m", Self.kjv, "-f", file.path, "-n", "4", "--greedy", "--json"])
        #expect(fromFile.status == 0, "\(fromFile.standardError)")
        let object = try JSONSerialization.jsonObject(with: Data(fromFile.standardOutput.utf8)) as? [String: Any] ?? [:]
        // Each NUL is a token of its own: two more than the text without them.
        let plain = try CommandRunner.run("gpt2-edge", ["generate", "-m", Self.kjv, "-p", "In thebeginning", "-n", "4", "--greedy", "--json"])
        let plainObject = try JSONSerialization.jsonObject(with: Data(plain.standardOutput.utf8)) as? [String: Any] ?? [:]
        #expect((object["prompt_tokens"] as? Int).map { $0 >= 2 + ((plainObject["prompt_tokens"] as? Int) ?? 99) } == true,
                "\(fromFile.standardOutput) vs \(plain.standardOutput)")
        #expect((object["tokens"] as? [Int])?.count == 4)
        let text = try CommandRunner.run("gpt2-edge", ["generate", "-m", Self.kjv, "-f", file.path, "-n", "4", "--greedy"])
        #expect(text.status == 0 && text.standardOutput.hasPrefix(prompt), "\(text.standardOutput.debugDescription)")

        let fromInput = try CommandRunner.run("gpt2-edge", ["generate", "-m", Self.kjv, "-n", "4", "--greedy", "--json"], input: prompt)
        #expect(fromInput.status == 0, "\(fromInput.standardError)")
        let inputObject = try JSONSerialization.jsonObject(with: Data(fromInput.standardOutput.utf8)) as? [String: Any] ?? [:]
        #expect(inputObject["tokens"] as? [Int] == object["tokens"] as? [Int])
        #expect(inputObject["prompt_tokens"] as? Int == object["prompt_tokens"] as? Int)

        let prompts = folder.appendingPathComponent("prompts.txt")
        try Data("\(prompt)\nAnd God said\u{0}\n".utf8).write(to: prompts)
        let batch = try CommandRunner.run("gpt2-edge", ["generate", "-m", Self.kjv, "--prompts-file", prompts.path, "-n", "4", "--greedy"])
        #expect(batch.status == 0, "\(batch.standardError)")
        #expect(batch.standardOutput.contains("In the\u{0}beginning"), "\(batch.standardOutput.debugDescription)")
    }

    @Test func aPromptThatIsNotUTF8IsRefusedByName() throws {
        let folder = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: folder) }
        let file = folder.appendingPathComponent("latin1.txt")
        try Data([0x49, 0x6E, 0x20, 0xE9, 0x74, 0xE9, 0x00]).write(to: file)   // "In été" in Latin-1, and a NUL
        let run = try CommandRunner.run("gpt2-edge", ["generate", "-m", Self.kjv, "-f", file.path, "-n", "4"])
        #expect(run.status == 1, "\(run.standardError)")
        #expect(run.standardError.contains(file.path) && run.standardError.contains("UTF-8"), "\(run.standardError)")
        #expect(run.standardOutput.isEmpty)
        let prompts = folder.appendingPathComponent("prompts.txt")
        try Data([0x41, 0x0A, 0xFF, 0xFE, 0x0A]).write(to: prompts)
        let batch = try CommandRunner.run("gpt2-edge", ["generate", "-m", Self.kjv, "--prompts-file", prompts.path, "-n", "4"])
        #expect(batch.status == 1 && batch.standardError.contains("UTF-8"), "\(batch.standardError)")
    }

    @Test func idsOutsideTheVocabularyAreRefusedByValue() throws {
        let micro = Fixtures.local.appendingPathComponent("models/micro").path
        let outside = try CommandRunner.run("gpt2-edge", ["logits", "-m", micro, "--ids", "1,99999"])
        #expect(outside.status == 1 && outside.standardError.contains("token id 99999 is outside the model's vocabulary (0..<50257)"), "\(outside.standardError)")
        for bad in ["-3", "99999999999999999999999"] {
            let run = try CommandRunner.run("gpt2-edge", ["logits", "-m", micro, "--ids", "1,\(bad)"])
            #expect(run.status == 64 && run.standardError.contains("--ids: \"\(bad)\" is not a token id"), "\(run.standardError)")
        }
    }
}
