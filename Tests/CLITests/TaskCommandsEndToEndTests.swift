import Foundation
import Testing
import TestSupport

/// `gpt2-edge classify`, `tag`, `answer`, `choose` and `embed` run as a user runs them, on the heads fixtures
/// (Tests/Fixtures/models/heads, float32 folders), against the transformers references recorded there: the
/// text-classification and token-classification pipelines, the question-answering pipeline's code (transformers 4.x),
/// `GPT2DoubleHeadsModel`'s mc_logits and `GPT2Model`'s pooled hidden states. Scores within 1e-4; labels, groups,
/// words and offsets exactly.
@Suite struct TaskCommandsEndToEndTests {
    static let tolerance = 1e-4

    static func folder(_ name: String) -> String { Fixtures.local.appendingPathComponent("models/heads/\(name)").path }
    static func reference(_ name: String) throws -> [String: Any] {
        try Fixtures.json(URL(fileURLWithPath: folder(name)).appendingPathComponent("reference.json"))
    }
    static func pipeline(_ name: String, _ task: String) throws -> [String: Any] {
        (try reference(name)["pipelines"] as! [String: Any])[task] as! [String: Any]
    }
    static func object(_ line: Substring) throws -> [String: Any] { try JSONSerialization.jsonObject(with: Data(line.utf8)) as! [String: Any] }
    static func lines(_ output: String) -> [Substring] { output.split(separator: "\n") }
    static func number(_ value: Any?) -> Double { (value as! NSNumber).doubleValue }
    static func int(_ value: Any?) -> Int { (value as! NSNumber).intValue }

    /// Runs gpt2-edge and expects success with nothing on standard error.
    static func succeed(_ arguments: [String], input: String? = nil, sourceLocation: SourceLocation = #_sourceLocation) throws -> String {
        let run = try CommandRunner.run("gpt2-edge", arguments + ["-t", "2"], input: input)
        #expect(run.status == 0, "\(arguments): \(run.standardError)", sourceLocation: sourceLocation)
        #expect(run.standardError.isEmpty, "\(run.standardError)", sourceLocation: sourceLocation)
        return run.standardOutput
    }

    /// Runs gpt2-edge and expects a runtime failure (exit 1, the message, no usage, nothing on standard output).
    static func fail(_ arguments: [String], input: String? = nil, says message: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let run = try CommandRunner.run("gpt2-edge", arguments, input: input)
        #expect(run.status == 1, "\(arguments): \(run.standardError)", sourceLocation: sourceLocation)
        #expect(run.standardError.contains(message), "\(run.standardError)", sourceLocation: sourceLocation)
        #expect(!run.standardError.contains("Usage:"), sourceLocation: sourceLocation)
        #expect(run.standardOutput.isEmpty, "\(run.standardOutput)", sourceLocation: sourceLocation)
    }

    // MARK: - classify

    @Test(arguments: ["kjv-seqcls", "tiny-seqcls", "tiny-seqcls-multilabel"])
    func classifyMatchesTheTextClassificationPipeline(_ name: String) throws {
        let recorded = try Self.pipeline(name, "text-classification")["texts"] as! [[String: Any]]
        let texts = recorded.map { $0["text"] as! String }
        let json = Self.lines(try Self.succeed(["classify", "-m", Self.folder(name), "--json", "--top-k", "10", "--batch-tokens", "12"] + texts))
        #expect(json.count == texts.count)
        for (index, (line, entry)) in zip(json, recorded).enumerated() {
            let object = try Self.object(line)
            #expect(Self.int(object["index"]) == index)
            let scores = object["scores"] as! [[String: Any]], expected = entry["top_k_none"] as! [[String: Any]]
            #expect(scores.map { $0["label"] as! String } == expected.map { $0["label"] as! String }, "\(name) \(texts[index])")
            for (got, want) in zip(scores, expected) { #expect(abs(Self.number(got["score"]) - Self.number(want["score"])) < Self.tolerance) }
            #expect(object["label"] as? String == (entry["default_call"] as! [[String: Any]])[0]["label"] as? String)
            #expect(object["truncated"] as? Bool == false)
            #expect(Self.int(object["tokens"]) == (entry["input_ids"] as! [Any]).count)
        }
        // Plain: the pipeline's default (top_k=1), a label and its score per line; the same from standard input.
        let plain = try Self.succeed(["classify", "-m", Self.folder(name)] + texts)
        #expect(Self.lines(plain).count == texts.count)
        for (line, entry) in zip(Self.lines(plain), recorded) {
            let fields = line.split(separator: "\t"), top = (entry["default_call"] as! [[String: Any]])[0]
            #expect(fields.count == 2 && String(fields[0]) == top["label"] as! String, "\(line)")
            #expect(abs(Double(fields[1])! - Self.number(top["score"])) < 1e-4)   // printed to 4 places
        }
        #expect(try Self.succeed(["classify", "-m", Self.folder(name)], input: texts.joined(separator: "\n") + "\n") == plain)
        let jsonLines = texts.map { try! String(decoding: JSONSerialization.data(withJSONObject: ["text": $0, "id": 7]), as: UTF8.self) }
        #expect(try Self.succeed(["classify", "-m", Self.folder(name), "--jsonl"], input: jsonLines.joined(separator: "\n")) == plain)
    }

    @Test func classifyFunctionToApplyAndTopK() throws {
        let entry = (try Self.pipeline("kjv-seqcls", "text-classification")["texts"] as! [[String: Any]])[0]
        for key in ["sigmoid", "none"] {
            let line = try Self.succeed(["classify", "-m", Self.folder("kjv-seqcls"), "--function-to-apply", key, "--top-k", "3", entry["text"] as! String])
            let fields = line.dropLast().split(separator: "\t")
            let expected = entry[key] as! [[String: Any]]
            #expect(fields.count == 6)
            for (pair, want) in zip(stride(from: 0, to: fields.count, by: 2), expected) {
                #expect(String(fields[pair]) == want["label"] as! String)
                #expect(abs(Double(fields[pair + 1])! - Self.number(want["score"])) < 1e-4)
            }
        }
    }

    static let genre = Fixtures.local.appendingPathComponent("models/kjv-genre").path

    /// The trained 8-genre verse classifier (tools/reference/train-classifier.py), when its folder is there: the first
    /// held-out verses from its JSON Lines file, labelled as transformers labelled them with the same pooled logits.
    @Test(.enabled(if: FileManager.default.fileExists(atPath: genre + "/eval_reference.json")))
    func classifyTheTrainedGenreClassifiersHeldOutVerses() throws {
        let first = try Fixtures.json(URL(fileURLWithPath: Self.genre).appendingPathComponent("eval_reference.json"))["first"] as! [[String: Any]]
        let folder = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: folder) }
        let file = folder.appendingPathComponent("verses.jsonl")
        let lines = try first.map { String(decoding: try JSONSerialization.data(withJSONObject: ["text": $0["text"]!, "label": $0["label"]!]), as: UTF8.self) }
        try Data(lines.joined(separator: "\n").utf8).write(to: file)
        // The reference read at most 64 tokens of a verse.
        let output = try Self.succeed(["classify", "-m", Self.genre, "--jsonl", "-f", file.path, "-c", "64", "--truncate", "--json"])
        for (line, entry) in zip(Self.lines(output), first) {
            let object = try Self.object(line)
            #expect(object["label"] as? String == entry["predicted"] as? String, "\(entry["text"]!)")
            let logits = (object["logits"] as! [Any]).floats, expected = (entry["logits"] as! [Any]).floats
            #expect(zip(logits, expected).allSatisfy { abs($0 - $1) < 1e-4 }, "\(logits) \(expected)")
        }
        #expect(Self.lines(output).count == first.count)
    }

    // MARK: - tag

    @Test(arguments: ["kjv-tokcls", "tiny-tokcls"])
    func tagMatchesTheTokenClassificationPipeline(_ name: String) throws {
        for entry in try Self.pipeline(name, "token-classification")["texts"] as! [[String: Any]] {
            let text = entry["text"] as! String
            for aggregation in ["simple", "none"] {
                let report = try Self.object(Self.succeed(["tag", "-m", Self.folder(name), "--json", "--aggregation", aggregation, text])[...])
                #expect(report["aggregation"] as? String == aggregation)
                let entities = report["entities"] as! [[String: Any]], expected = entry[aggregation] as! [[String: Any]]
                let keys = aggregation == "simple" ? ["entity_group", "word"] : ["entity", "word"]
                for key in keys {
                    #expect(entities.map { $0[key] as! String } == expected.map { $0[key] as! String }, "\(name) \(text) \(aggregation) \(key)")
                }
                #expect(entities.map { [Self.int($0["start"]), Self.int($0["end"])] } == expected.map { [Self.int($0["start"]), Self.int($0["end"])] })
                if aggregation == "none" { #expect(entities.map { Self.int($0["index"]) } == expected.map { Self.int($0["index"]) }) }
                for (got, want) in zip(entities, expected) { #expect(abs(Self.number(got["score"]) - Self.number(want["score"])) < Self.tolerance) }
                let tokens = report["tokens"] as! [[String: Any]]
                #expect(tokens.map { $0["word"] as! String } == entry["tokens"] as! [String])
                #expect(tokens.map { [Self.int($0["start"]), Self.int($0["end"])] } == (entry["offsets"] as! [[Any]]).map(\.ints))
            }
            // Plain: one line per group, the word quoted, then label, score, start, end.
            let plain = Self.lines(try Self.succeed(["tag", "-m", Self.folder(name), text]))
            let simple = entry["simple"] as! [[String: Any]]
            #expect(plain.count == simple.count)
            for (line, group) in zip(plain, simple) {
                let fields = line.split(separator: "\t", omittingEmptySubsequences: false)
                #expect(try JSONSerialization.jsonObject(with: Data(fields[0].utf8), options: .fragmentsAllowed) as? String == group["word"] as? String)
                #expect(fields[1] == (group["entity_group"] as! String)[...] && Int(fields[3]) == Self.int(group["start"]) && Int(fields[4]) == Self.int(group["end"]))
            }
        }
    }

    @Test func tagKeepsEveryLabelWhenAskedAndReadsStandardInput() throws {
        let text = "Peter went to Jerusalem and Galilee."
        let all = try Self.object(Self.succeed(["tag", "-m", Self.folder("kjv-tokcls"), "--json", "--aggregation", "none", "--ignore-labels", ""], input: text + "\n")[...])
        let tokens = all["tokens"] as! [[String: Any]]
        #expect((all["entities"] as! [Any]).count == tokens.count)
        #expect(tokens.last.map { Self.int($0["end"]) } == text.unicodeScalars.count)   // the newline ending standard input is not part of the text
    }

    // MARK: - answer

    @Test(arguments: ["kjv-qa", "tiny-qa"])
    func answerMatchesTheQuestionAnsweringPipeline(_ name: String) throws {
        for example in try Self.pipeline(name, "question-answering")["examples"] as! [[String: Any]] {
            let question = example["question"] as! String, context = example["context"] as! String
            for result in example["results"] as! [[String: Any]] {
                let options = ["--top-k", "\(Self.int(result["top_k"]))", "--max-answer-length", "\(Self.int(result["max_answer_len"]))"]
                for (key, extra) in [("answers", [String]()), ("answers_token_offsets", ["--no-align-to-words"])] {
                    let output = try Self.succeed(["answer", "-m", Self.folder(name), "-q", question, "--context-text", context, "--json"] + options + extra)
                    let answers = try Self.lines(output).map(Self.object), expected = result[key] as! [[String: Any]]
                    #expect(answers.map { $0["answer"] as! String } == expected.map { $0["answer"] as! String }, "\(name) \(question) \(options) \(key)")
                    for field in ["start", "end", "start_token", "end_token"] {
                        #expect(answers.map { Self.int($0[field]) } == expected.map { Self.int($0[field]) }, "\(field)")
                    }
                    for (got, want) in zip(answers, expected) { #expect(abs(Self.number(got["score"]) - Self.number(want["score"])) < Self.tolerance) }
                }
            }
        }
        // Plain, with the context from a file: the answer quoted, its score and offsets.
        let example = (try Self.pipeline(name, "question-answering")["examples"] as! [[String: Any]])[0]
        let best = ((example["results"] as! [[String: Any]])[0]["answers"] as! [[String: Any]])[0]
        let folder = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: folder) }
        let file = folder.appendingPathComponent("context.txt")
        try Data((example["context"] as! String).utf8).write(to: file)
        let plain = try Self.succeed(["answer", "-m", Self.folder(name), "-q", example["question"] as! String, "--context", file.path])
        let fields = plain.dropLast().split(separator: "\t", omittingEmptySubsequences: false)
        #expect(fields.count == 4, "\(plain)")
        #expect(try JSONSerialization.jsonObject(with: Data(fields[0].utf8), options: .fragmentsAllowed) as? String == best["answer"] as? String)
        #expect(abs(Double(fields[1])! - Self.number(best["score"])) < 1e-4)
        #expect(Int(fields[2]) == Self.int(best["start"]) && Int(fields[3]) == Self.int(best["end"]))
    }

    // MARK: - choose

    @Test(arguments: ["kjv-double", "tiny-double"])
    func chooseScoresEachChoiceAtItsLastToken(_ name: String) throws {
        let unpadded = (try Self.reference(name)["cases"] as! [[String: Any]]).first { $0["name"] as! String == "unpadded-default-mc" }!
        let choices = (unpadded["texts"] as! [[String]])[0]
        let expected = ((unpadded["mc_logits"] as! [Any])[0] as! [Any]).floats
        let report = try Self.object(Self.succeed(["choose", "-m", Self.folder(name), "--json"] + choices.flatMap { ["--choice", $0] })[...])
        let scored = report["choices"] as! [[String: Any]]
        #expect(scored.map { $0["choice"] as! String } == choices)
        for (got, want) in zip(scored, expected) { #expect(abs(Self.number(got["logit"]) - Double(want)) < Self.tolerance) }
        let best = expected.firstIndex(of: expected.max()!)!
        #expect(Self.int(report["best"]) == best)
        let plain = Self.lines(try Self.succeed(["choose", "-m", Self.folder(name)] + choices.flatMap { ["--choice", $0] }))
        #expect(plain.map { $0.split(separator: "\t")[0] } == choices.indices.map { $0 == best ? "*" : "-" })
        let probabilities = plain.map { Double($0.split(separator: "\t")[1])! }
        #expect(abs(probabilities.reduce(0, +) - 1) < 1e-3)
    }

    // MARK: - embed

    @Test(arguments: ["kjv-base", "tiny-base"])
    func embedMatchesTheBaseModelsPooledStates(_ name: String) throws {
        for entry in try Self.reference(name)["cases"] as! [[String: Any]] where ["unpadded", "right"].contains(entry["name"] as! String) {
            let texts = entry["texts"] as! [String]
            let embeddings = entry["embeddings"] as! [String: Any]
            for (key, options) in [("mean_normalized", [String]()), ("last", ["--pooling", "last", "--no-normalize"])] {
                let lines = Self.lines(try Self.succeed(["embed", "-m", Self.folder(name)] + options, input: texts.joined(separator: "\n")))
                let expected = (embeddings[key] as! [Any]).map { ($0 as! [Any]).floats }
                #expect(lines.count == texts.count)
                for (line, want) in zip(lines, expected) {
                    let got = (try JSONSerialization.jsonObject(with: Data(line.utf8)) as! [Any]).floats
                    #expect(got.count == want.count)
                    let difference = zip(got, want).map { abs($0 - $1) }.max()!
                    #expect(difference < 1e-4, "\(name) \(key): \(difference)")
                }
            }
        }
        let object = try Self.object(Self.succeed(["embed", "-m", Self.folder(name), "--json", "And Jesus wept."])[...])
        #expect(Set(object.keys) == ["index", "embedding", "tokens", "truncated"])
        #expect(Self.int(object["tokens"]) == 4)
    }

    // MARK: - errors and help

    @Test func aModelWithoutTheHeadIsRefusedNamingItsArchitectures() throws {
        // The built-in model is a language model.
        try Self.fail(["classify", "And Jesus wept."], says: "this model has no sequence-classification head (score); its architectures are")
        try Self.fail(["tag", "-m", Self.folder("kjv-seqcls"), "x"], says: "no token-classification head (classifier); its architectures are GPT2ForSequenceClassification")
        try Self.fail(["answer", "-m", Self.folder("kjv-tokcls"), "-q", "x", "--context-text", "y"],
                      says: "no question-answering head (qa_outputs); its architectures are GPT2ForTokenClassification")
        try Self.fail(["choose", "-m", Self.folder("kjv-qa"), "--choice", "a", "--choice", "b"],
                      says: "no multiple-choice head (multiple_choice_head); its architectures are GPT2ForQuestionAnswering")
        // Before reading standard input: the refusal comes with nothing given there.
        try Self.fail(["classify", "-m", Self.folder("kjv-base")], says: "its architectures are GPT2Model")
    }

    @Test func languageModelCommandsRefuseAClassifierBeforePrintingAnything() throws {
        for arguments in [["generate", "-p", "And"], ["logits", "--text", "And"], ["bench", "-p", "4", "-n", "4", "-r", "1"], ["serve", "--dry-run"]] {
            try Self.fail(arguments + ["-m", Self.folder("kjv-seqcls")],
                          says: "this model has no language-model head; its architectures are GPT2ForSequenceClassification")
        }
        try Self.fail(["generate", "-m", Self.folder("kjv-base")], says: "its architectures are GPT2Model")   // nothing read from standard input
        // GPT2DoubleHeadsModel keeps the language-model head.
        #expect(!(try Self.succeed(["generate", "-m", Self.folder("kjv-double"), "-p", "And", "-n", "2", "--greedy", "-q"])).isEmpty)
    }

    @Test func tooLongInputIsRefusedUnlessTruncated() throws {
        let long = String(repeating: "And Jesus wept. ", count: 100)   // 401 tokens; the KJV context holds 256
        try Self.fail(["classify", "-m", Self.folder("kjv-seqcls"), long], says: "argument 1: the text has 401 tokens but the model's context holds 256 (pass --truncate")
        try Self.fail(["tag", "-m", Self.folder("kjv-tokcls"), long], says: "the text has 401 tokens but the model's context holds 256")
        try Self.fail(["embed", "-m", Self.folder("kjv-base"), "-f", "/dev/stdin"], input: "God is love.\n" + long + "\n",
                      says: "line 2 of /dev/stdin: the text has 401 tokens")
        try Self.fail(["answer", "-m", Self.folder("kjv-qa"), "-q", "Who wept?", "--context-text", long],
                      says: "the question (4 tokens) and the context (401 tokens) have 405 tokens but the model's context holds 256")
        try Self.fail(["choose", "-m", Self.folder("kjv-double"), "--context", long, "--choice", " a", "--choice", " b"],
                      says: "choice 1: the choice with the context has 402 tokens but the model's context holds 256 (pass --truncate")

        let classified = try Self.object(Self.succeed(["classify", "-m", Self.folder("kjv-seqcls"), "--truncate", "--json", long])[...])
        #expect(classified["truncated"] as? Bool == true && Self.int(classified["tokens"]) == 256)
        let tagged = try Self.object(Self.succeed(["tag", "-m", Self.folder("kjv-tokcls"), "--truncate", "--json", long])[...])
        #expect(tagged["truncated"] as? Bool == true && (tagged["tokens"] as! [Any]).count == 256)
        let answer = try Self.object(Self.succeed(["answer", "-m", Self.folder("kjv-qa"), "-q", "Who wept?", "--context-text", long, "--truncate", "--json"])[...])
        #expect(answer["truncated"] as? Bool == true && Self.int(answer["end_token"]) < 256)
        let chosen = try Self.object(Self.succeed(["choose", "-m", Self.folder("kjv-double"), "--context", long, "--choice", " a", "--choice", " b",
                                                   "--truncate", "--json"])[...])
        #expect((chosen["choices"] as! [[String: Any]]).allSatisfy { Self.int($0["tokens"]) == 256 })
        #expect(Self.lines(try Self.succeed(["embed", "-m", Self.folder("kjv-base"), "--truncate", long])).count == 1)
    }

    @Test func emptyInputIsRefused() throws {
        try Self.fail(["classify", "-m", Self.folder("kjv-seqcls"), ""], says: "argument 1: the text is empty (no tokens)")
        try Self.fail(["classify", "-m", Self.folder("kjv-seqcls")], input: "", says: "no texts given: standard input is empty")
        try Self.fail(["embed", "-m", Self.folder("kjv-base")], input: "a\n\nb\n", says: "line 2 of standard input is empty")
        try Self.fail(["classify", "-m", Self.folder("kjv-seqcls"), "--jsonl"], input: "{\"label\": 1}\n", says: "line 1 of standard input has no \"text\" string")
        try Self.fail(["tag", "-m", Self.folder("kjv-tokcls"), ""], says: "the text is empty (no tokens)")
        try Self.fail(["answer", "-m", Self.folder("kjv-qa"), "-q", "", "--context-text", "x"], says: "the question is empty")
        try Self.fail(["answer", "-m", Self.folder("kjv-qa"), "-q", "Who?"], input: "", says: "the context is empty")
        try Self.fail(["choose", "-m", Self.folder("kjv-double"), "--choice", "a", "--choice", ""], says: "choice 2: the choice is empty")
    }

    @Test func memoryLimitRefusesBeforeLoading() throws {
        try Self.fail(["classify", "-m", Self.folder("kjv-seqcls"), "--max-memory", "8M", "x"], says: "--max-memory allows 8.0 MiB; nothing was loaded")
        try Self.fail(["embed", "-m", Self.folder("kjv-base"), "--max-memory", "8M", "x"], says: "Smaller options: a smaller --batch-tokens")
    }

    @Test func helpExplainsEachCommandWithAnExample() throws {
        let expectations = [
            "classify": ["text-classification pipeline", "top_k=1", "--top-k", "Example", "--jsonl"],
            "tag": ["aggregation", "B-", "leading space", "Example"],
            "answer": ["question-answering pipeline", "p(start) × p(end)", "--max-answer-length", "Example"],
            "choose": ["mc_token_ids", "softmax over the choices", "Example"],
            "embed": ["--pooling", "unit length", "Example"],
        ]
        for (command, phrases) in expectations {
            let help = try CommandRunner.run("gpt2-edge", [command, "--help"])
            #expect(help.status == 0)
            let text = help.standardOutput.split(whereSeparator: \.isWhitespace).joined(separator: " ")
            for phrase in phrases + ["Exit codes: 0 success; 1 the run failed"] { #expect(text.contains(phrase), "\(command): \(phrase)") }
        }
        let overview = try CommandRunner.run("gpt2-edge", ["--help"]).standardOutput
        for command in expectations.keys { #expect(overview.contains("  \(command) "), "\(command)") }
    }
}
