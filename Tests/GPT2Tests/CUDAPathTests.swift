import Foundation
import Testing
import TestSupport
@testable import GPT2Edge

/// The optional CUDA int8 path. Without a GPU (CI, this project's machines) the library's build, its exports and
/// the "no GPU" errors are checked; with one, the GPU's logits are compared with the CPU int8 path's.
/// tools/build-cuda builds the library; CI sets GPT2EDGE_REQUIRE_CUDA_BUILD=1 so a missing build fails there
/// instead of being skipped.
@Suite struct CUDAPathTests {
    static let library = Fixtures.repositoryRoot.appendingPathComponent(".build/cuda/libgpt2edge_cuda.so").path
    static let required = ProcessInfo.processInfo.environment["GPT2EDGE_REQUIRE_CUDA_BUILD"] == "1"
    static let built = FileManager.default.fileExists(atPath: library)
    /// The GPU's description, or nil when there is none (or no library).
    static let gpu: String? = built ? try? CUDAModel.device(libraryPath: library) : nil

    @Test(.enabled(if: built || required, "skipped: the CUDA library is not built (tools/build-cuda)"))
    func libraryExportsTheCAPI() throws {
        #expect(Self.built, "tools/build-cuda did not produce \(Self.library)")
        let nm = try CommandRunner.runTool("/usr/bin/nm", ["-D", "--defined-only", Self.library])
        #expect(nm.status == 0)
        for symbol in CUDAModel.exportedSymbols {
            #expect(nm.standardOutput.contains(" T \(symbol)\n"), "\(symbol) is not exported")
        }
        #expect(CUDAModel.exportedSymbols.count == 6)
    }

    @Test(.enabled(if: (built || required) && gpu == nil, "skipped: a GPU is present (the GPU test below runs instead)"))
    func withoutAGPUTheErrorsSaySoAndTheCPURuns() throws {
        #expect(throws: CUDAModel.Unavailable.self) { try CUDAModel.device(libraryPath: Self.library) }
        do { _ = try CUDAModel.device(libraryPath: Self.library) } catch let error as CUDAModel.Unavailable {
            guard case .device(let reason) = error else { Issue.record("expected a device error, got \(error)"); return }
            #expect(!reason.isEmpty)
        }
        let model = Fixtures.local.appendingPathComponent("models/kjv").path
        let directory = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let gqz = directory.appendingPathComponent("kjv-q8.gqz").path
        _ = try ModelConverter.convert(folder: URL(fileURLWithPath: model), to: URL(fileURLWithPath: gqz), options: ConversionOptions(bits: 8, threads: 2))
        let environment = ["GPT2EDGE_CUDA_LIBRARY": Self.library]
        let cuda = try CommandRunner.run("gpt2-edge", ["generate", "-m", gqz, "-p", "And God said", "-n", "4", "--device", "cuda"], environment: environment)
        #expect(cuda.status == 1 && cuda.standardError.contains("--device cuda: no usable GPU"), "\(cuda.standardError)")
        let auto = try CommandRunner.run("gpt2-edge", ["generate", "-m", gqz, "-p", "And God said", "-n", "4", "--device", "auto", "--seed", "1"],
                                         environment: environment)
        #expect(auto.status == 0 && auto.standardError.contains("running on the CPU") && auto.standardOutput.hasPrefix("And God said"))
    }

    @Test func aMissingLibraryIsNamedWithTheWayToBuildIt() throws {
        let run = try CommandRunner.run("gpt2-edge", ["generate", "-p", "x", "-n", "1", "--device", "cuda"],
                                        environment: ["GPT2EDGE_CUDA_LIBRARY": "/nonexistent/libgpt2edge_cuda.so"])
        #expect(run.status == 1 && run.standardError.contains("/nonexistent/libgpt2edge_cuda.so")
                && run.standardError.contains("tools/build-cuda"), "\(run.standardError)")
    }

    /// On a GPU: the int8 model's next-token logits on the GPU against the CPU path, position by position.
    @Test(.enabled(if: gpu != nil, "skipped: no GPU visible"))
    func gpuLogitsMatchTheCPUInt8Path() throws {
        let directory = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let gqz = directory.appendingPathComponent("kjv-q8.gqz")
        _ = try ModelConverter.convert(folder: Fixtures.local.appendingPathComponent("models/kjv"), to: gqz, options: ConversionOptions(bits: 8, threads: 2))
        let cpu = try LoadedModel.load(path: gqz.path, threads: 2)
        let gpu = try CUDAModel(path: gqz.path, libraryPath: Self.library)
        let text = try String(contentsOf: Fixtures.local.appendingPathComponent("models/kjv/heldout.txt"), encoding: .utf8)
        let tokens = Array(cpu.tokenizer.encode(String(text.prefix(2000))).prefix(200))
        let cache = cpu.network.makeCache()
        var same = 0, worst: Float = 0
        var a = try cpu.network.forward(tokens: Array(tokens.prefix(8)), cache: cache)
        var b = try gpu.forward(tokens: Array(tokens.prefix(8)))
        for token in tokens.dropFirst(8) {
            if LogitsProcessors.argmax(a) == LogitsProcessors.argmax(b) { same += 1 }
            worst = max(worst, zip(a, b).map { abs($0 - $1) }.max()!)
            a = try cpu.network.forward(tokens: [token], cache: cache)
            b = try gpu.forward(tokens: [token])
        }
        let agreement = Double(same) / Double(tokens.count - 8)
        print("GPU \(Self.gpu!): top-1 agreement \(agreement), max logit difference \(worst)")
        #expect(agreement >= 0.995, "top-1 agreement \(agreement), max logit difference \(worst)")
    }
}
