import Foundation
import Testing
import TestSupport

/// `gpt2-quant` as a user runs it: convert (from a folder and from a hub id), inspect, verify, and the result in gpt2-edge.
@Suite struct GPT2QuantEndToEndTests {
    static let micro = Fixtures.local.appendingPathComponent("models/micro").path

    static func json(_ text: String) throws -> [String: Any] {
        try JSONSerialization.jsonObject(with: Data(text.utf8)) as! [String: Any]
    }

    @Test func convertInspectVerifyAndGenerate() throws {
        let directory = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let output = directory.appendingPathComponent("micro.gqz").path
        let convert = try CommandRunner.run("gpt2-quant", ["convert", Self.micro, "-o", output, "--bits", "8"])
        #expect(convert.status == 0, "\(convert.standardError)")
        #expect(convert.standardOutput.contains("wrote \(output)") && convert.standardOutput.contains("peak RSS"))
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory.path) == ["micro.gqz"])

        let inspect = try CommandRunner.run("gpt2-quant", ["inspect", output, "--json"])
        #expect(inspect.status == 0)
        let object = try Self.json(inspect.standardOutput)
        let tensors = object["tensors"] as! [[String: Any]]
        let expectedCount = 2 + 2 + 2 * 12 + 2   // tokenizer files, embeddings, 2 layers, ln_f
        #expect(tensors.count == expectedCount)
        let feedForward: [String: Any] = tensors.first { $0["name"] as? String == "h.0.mlp.c_fc.weight" } ?? [:]
        let shape = feedForward["shape"] as? [Int]
        #expect(shape == [64, 16])   // [out, in]
        #expect(feedForward["scheme"] as? String == "q8")
        #expect(try CommandRunner.run("gpt2-quant", ["inspect", output]).standardOutput.contains("q8/g32"))

        let verify = try CommandRunner.run("gpt2-quant", ["verify", output])
        #expect(verify.status == 0 && verify.standardOutput.contains("OK"))

        let generate = try CommandRunner.run("gpt2-edge", ["generate", "-m", output, "-p", "The quick brown fox", "-n", "8", "--greedy", "--json", "-q"])
        #expect(generate.status == 0, "\(generate.standardError)")
        #expect((try Self.json(generate.standardOutput)["tokens"] as! [Any]).count == 8)
        let tokenize = try CommandRunner.run("gpt2-edge", ["tokenize", "-m", output, "Hello world"])
        #expect(tokenize.status == 0, "\(tokenize.standardError)")
        #expect((try Self.json(tokenize.standardOutput)["ids"] as! [Any]).ints == [15496, 995])

        // A damaged file: verify names the tensor and fails; loading fails with the same kind of message.
        var bytes = Array(try Data(contentsOf: URL(fileURLWithPath: output)))
        let entry = tensors.first { $0["name"] as? String == "h.1.attn.c_proj.weight" }!
        let offset = (entry["offset"] as! NSNumber).intValue + (entry["stored_bytes"] as! NSNumber).intValue / 2
        bytes[offset] ^= 0x55
        try Data(bytes).write(to: URL(fileURLWithPath: output))
        let broken = try CommandRunner.run("gpt2-quant", ["verify", output])
        #expect(broken.status == 1 && broken.standardError.contains("tensor h.1.attn.c_proj.weight is corrupt"), "\(broken.standardError)")
        let load = try CommandRunner.run("gpt2-edge", ["generate", "-m", output, "-p", "x"])
        #expect(load.status == 1 && load.standardError.contains("h.1.attn.c_proj.weight"), "\(load.standardError)")
    }

    @Test func convertFromAHubIDThroughTheCache() throws {
        let repository = try Fixtures.hubRepositoryCopy()
        let home = try Fixtures.temporaryDirectory("hf-home"), work = try Fixtures.temporaryDirectory()
        defer { for url in [repository, home, work] { try? FileManager.default.removeItem(at: url) } }
        let server = try HubServer(repositories: ["test-org/tiny-gpt2": repository])
        let environment = ["HF_ENDPOINT": server.endpoint.absoluteString, "HF_HOME": home.path]
        let run = try CommandRunner.run("gpt2-quant", ["convert", "test-org/tiny-gpt2", "--bits", "4"], environment: environment, directory: work)
        #expect(run.status == 0, "\(run.standardError)")
        #expect(FileManager.default.fileExists(atPath: work.appendingPathComponent("tiny-gpt2-q4.gqz").path))
        #expect(FileManager.default.fileExists(atPath: home.appendingPathComponent("hub/models--test-org--tiny-gpt2/refs/main").path))
        // Offline now works from the cache; an id that was never downloaded says what to do.
        let offline = environment.merging(["HF_HUB_OFFLINE": "1"]) { $1 }
        let again = try CommandRunner.run("gpt2-quant", ["convert", "test-org/tiny-gpt2", "-o", "again.gqz"], environment: offline, directory: work)
        #expect(again.status == 0, "\(again.standardError)")
        let missing = try CommandRunner.run("gpt2-quant", ["convert", "gpt2"], environment: offline, directory: work)
        #expect(missing.status == 1 && missing.standardError.contains("openai-community/gpt2 is not in the Hugging Face cache"), "\(missing.standardError)")
    }

    @Test func calibratedConversionAndEval() throws {
        let directory = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let folder = Fixtures.local.appendingPathComponent("models/kjv-outliers")
        let text = try String(contentsOf: folder.appendingPathComponent("heldout.txt"), encoding: .utf8)
        let calibration = directory.appendingPathComponent("calibration.txt"), heldOut = directory.appendingPathComponent("text.txt")
        try String(text.suffix(20000)).write(to: calibration, atomically: true, encoding: .utf8)
        try String(text.prefix(4000)).write(to: heldOut, atomically: true, encoding: .utf8)
        let output = directory.appendingPathComponent("out.gqz").path
        let convert = try CommandRunner.run("gpt2-quant", ["convert", folder.path, "--bits", "4", "--calibrate", calibration.path,
                                                           "--calibration-tokens", "1024", "-o", output, "-q"])
        #expect(convert.status == 0, "\(convert.standardError)")
        let inspect = try Self.json(try CommandRunner.run("gpt2-quant", ["inspect", output, "--json"]).standardOutput)
        let quantization = (inspect["metadata"] as! [String: Any])["quantization"] as! [String: Any]
        #expect((quantization["channel_scaling"] as! String).contains("calibrated on 1024 positions"), "\(quantization)")
        let eval = try CommandRunner.run("gpt2-quant", ["eval", "-m", output, "-f", heldOut.path, "--ref", folder.path,
                                                        "--ctx", "128", "--stride", "64", "--json"])
        #expect(eval.status == 0, "\(eval.standardError)")
        let report = try Self.json(eval.standardOutput)
        #expect((report["top1_agreement"] as! NSNumber).doubleValue >= 0.93, "\(report)")
        #expect((report["perplexity_change"] as! NSNumber).doubleValue < 0.03, "\(report)")
        for key in ["perplexity", "reference_perplexity", "mean_kl", "max_kl", "top5_overlap", "max_logit_error", "windows"] {
            #expect(report[key] is NSNumber, "\(key) missing")
        }
        let missing = try CommandRunner.run("gpt2-quant", ["eval", "-m", output, "-f", "/nonexistent.txt"])
        #expect(missing.status != 0 && missing.standardError.contains("/nonexistent.txt"))
    }

    @Test func badArgumentsAndUnwritableOutput() throws {
        let usage = try CommandRunner.run("gpt2-quant", ["convert", Self.micro, "--bits", "3"])
        #expect(usage.status == 64 && usage.standardError.contains("--bits must be 8 or 4"))
        let unwritable = try CommandRunner.run("gpt2-quant", ["convert", Self.micro, "-o", "/nonexistent-dir/x.gqz"])
        #expect(unwritable.status == 1 && unwritable.standardError.contains("/nonexistent-dir"), "\(unwritable.standardError)")
        let notGQZ = try CommandRunner.run("gpt2-quant", ["verify", Self.micro + "/config.json"])
        #expect(notGQZ.status == 1 && notGQZ.standardError.contains("not a .gqz file"), "\(notGQZ.standardError)")
    }
}


@Suite struct BenchEndToEndTests {
    /// A streamed run also loads its streamed weights alone (two passes before each repetition, two after): every block
    /// and the LM head's frames, the bytes a token reads; a resident run reports none of it.
    @Test func benchOfAStreamedRunReportsTheDecompressionCeiling() throws {
        let folder = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: folder) }
        let gqz = folder.appendingPathComponent("micro.gqz").path
        let micro = Fixtures.local.appendingPathComponent("models/micro").path
        #expect(try CommandRunner.run("gpt2-quant", ["convert", micro, "-o", gqz, "-q"]).status == 0)
        func bench(_ extra: [String]) throws -> [String: Any] {
            let run = try CommandRunner.run("gpt2-edge", ["bench", "-m", gqz, "-p", "4", "-n", "4", "-r", "2", "--json"] + extra)
            #expect(run.status == 0, "\(run.standardError)")
            return try JSONSerialization.jsonObject(with: Data(run.standardOutput.utf8)) as! [String: Any]
        }
        let streamed = try bench(["--low-memory"])
        #expect(streamed["decompressed_bytes_per_token"] as? Int == streamed["weight_bytes_per_token"] as? Int)
        let passes = streamed["decompression_passes_seconds"] as! [Double]
        #expect(passes.count == 2 * 2 + 2 && passes.allSatisfy { $0 > 0 }, "\(passes)")
        #expect((streamed["decompression_ceiling_tokens_per_second"] as! Double) > 0)
        #expect((streamed["memory_plan"] as! [String: Any])["vocabulary_streaming"] as? Bool == true)
        let resident = try bench([])
        #expect(resident["decompressed_bytes_per_token"] is NSNull && (resident["decompression_passes_seconds"] as! [Double]).isEmpty)
    }

    @Test func benchReportsSpeedsAndTheRoofline() throws {
        let run = try CommandRunner.run("gpt2-edge", ["bench", "-m", Fixtures.local.appendingPathComponent("models/micro").path,
                                                      "-p", "8", "-n", "8", "-r", "2", "--json"])
        #expect(run.status == 0, "\(run.standardError)")
        let object = try JSONSerialization.jsonObject(with: Data(run.standardOutput.utf8)) as! [String: Any]
        for key in ["prompt_tokens_per_second", "decode_tokens_per_second"] {
            let stats = object[key] as! [String: Double]
            #expect(stats["mean"]! > 0 && stats["sd"]! >= 0, "\(key)")
        }
        #expect((object["read_bandwidth_bytes_per_second"] as! Double) > 1e8)
        // The bandwidth probe reads the model's own weights, two passes before each repetition and two after.
        let passes = object["read_bandwidth_passes_bytes_per_second"] as! [Double]
        #expect(passes.count == 2 * 2 + 2 && passes.allSatisfy { $0 > 0 }, "\(passes)")
        #expect((object["bandwidth_probe"] as! String).contains("model weights"))
        #expect((object["weight_bytes_per_token"] as! Int) > 0 && object["scheme"] as? String == "f32")
        let share = object["decode_share_of_ceiling"] as! Double
        #expect(share > 0 && share < 1.5)
        #expect(object["matrix_products_bytes_per_second"] is NSNull)   // only with --products
        let text = try CommandRunner.run("gpt2-edge", ["bench", "-p", "4", "-n", "4", "-r", "1"])   // the built-in model
        #expect(text.status == 0 && text.standardOutput.contains("| tg4 |") && text.standardOutput.contains("q8/g32"), "\(text.standardOutput)")
        // --products times the matrix products alone, two passes beside each pair of probe passes.
        let products = try CommandRunner.run("gpt2-edge", ["bench", "-p", "4", "-n", "4", "-r", "2", "--products", "--json"])
        let timed = try JSONSerialization.jsonObject(with: Data(products.standardOutput.utf8)) as! [String: Any]
        let productPasses = timed["matrix_products_passes_bytes_per_second"] as! [Double]
        #expect(products.status == 0 && productPasses.count == 2 * 2 + 2 && productPasses.allSatisfy { $0 > 0 }, "\(products.standardOutput)")
        #expect((timed["matrix_products_bytes_per_second"] as! Double) > 1e8)
        // GPT2EDGE_KERNEL picks the kernels of an int8 model (the portable C twin of the dot product where the
        // build lacks the instruction), and the report names them.
        for kernel in ["float", "integer"] {
            let run = try CommandRunner.run("gpt2-edge", ["bench", "-p", "4", "-n", "4", "-r", "1", "--json"], environment: ["GPT2EDGE_KERNEL": kernel])
            let object = try JSONSerialization.jsonObject(with: Data(run.standardOutput.utf8)) as! [String: Any]
            #expect(run.status == 0 && object["kernel"] as? String == kernel && object["scheme"] as? String == "q8/g32 \(kernel)")
        }
        let tooLong = try CommandRunner.run("gpt2-edge", ["bench", "-p", "300", "-n", "10"])
        #expect(tooLong.status == 1 && tooLong.standardError.contains("exceeds the model's context of 256"))
    }
}
