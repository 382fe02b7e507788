import Foundation
import Testing
import TestSupport
@testable import GPT2Edge

/// The optional CUDA int8 path. Without a GPU (CI, this project's machines) the library's build, its exports and
/// the "no GPU" errors are checked, and the same CUDA sources compiled for the CPU against tools/cuda/emulator run the
/// whole forward pass and are compared with the CPU int8 path; with a GPU, the GPU's logits are compared too.
/// tools/cuda/build.sh (and --emulate) build the libraries; CI sets GPT2EDGE_REQUIRE_CUDA_BUILD=1 so a missing build
/// fails there instead of being skipped.
@Suite struct CUDAPathTests {
    static let library = Fixtures.repositoryRoot.appendingPathComponent(".build/cuda/libgpt2edge_cuda.so").path
    static let emulatedLibrary = Fixtures.repositoryRoot.appendingPathComponent(".build/cuda-emulated/libgpt2edge_cuda.so").path
    static let required = ProcessInfo.processInfo.environment["GPT2EDGE_REQUIRE_CUDA_BUILD"] == "1"
    static let built = FileManager.default.fileExists(atPath: library)
    static let emulatorBuilt = FileManager.default.fileExists(atPath: emulatedLibrary)
    /// The emulated build under AddressSanitizer (tools/cuda/build.sh --emulate --sanitize) and the runtime it needs preloaded.
    static let sanitizedFolder = Fixtures.repositoryRoot.appendingPathComponent(".build/cuda-emulated-asan")
    static let sanitizedBuilt = FileManager.default.fileExists(atPath: sanitizedFolder.appendingPathComponent("asan-runtime").path)
    /// A .gqz int8 file to compare as well (tools/cuda/bench.sh sets it to the exact-shape gpt2-xl); slow on the emulator.
    static let extraModel = ProcessInfo.processInfo.environment["GPT2EDGE_CUDA_CHECK_MODEL"]
    /// The GPU's description, or nil when there is none (or no library).
    static let gpu: String? = built ? try? CUDAModel.device(libraryPath: library) : nil

    @Test(.enabled(if: built || required, "skipped: the CUDA library is not built (tools/cuda/build.sh)"))
    func libraryExportsTheCAPI() throws {
        #expect(Self.built, "tools/cuda/build.sh did not produce \(Self.library)")
        let nm = try CommandRunner.runTool("/usr/bin/nm", ["-D", "--defined-only", Self.library])
        #expect(nm.status == 0)
        for symbol in CUDAModel.exportedSymbols {
            #expect(nm.standardOutput.contains(" T \(symbol)\n"), "\(symbol) is not exported")
        }
        #expect(CUDAModel.exportedSymbols.count == 7)
    }

    @Test(.enabled(if: (built || required) && gpu == nil, "skipped: a GPU is present (the GPU test below runs instead)"))
    func withoutAGPUTheErrorsSaySoAndTheCPURuns() throws {
        #expect(throws: CUDAModel.Unavailable.self) { try CUDAModel.device(libraryPath: Self.library) }
        do { _ = try CUDAModel.device(libraryPath: Self.library) } catch let error as CUDAModel.Unavailable {
            guard case .device(let reason) = error else { Issue.record("expected a device error, got \(error)"); return }
            #expect(!reason.isEmpty)
        }
        let directory = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let gqz = try Fixtures.converted("kjv", bits: 8, into: directory)
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
                && run.standardError.contains("tools/cuda/build.sh"), "\(run.standardError)")
    }

    /// On a GPU: the int8 model's next-token logits on the GPU against the CPU path, position by position.
    @Test(.enabled(if: gpu != nil, "skipped: no GPU visible"))
    func gpuLogitsMatchTheCPUInt8Path() throws {
        try compareWithTheCPUInt8Path(model: "kjv", library: Self.library, prompt: 40, positions: 200)
        try compareWithTheCPUInt8Path(model: "micro", library: Self.library, prompt: 9, positions: 40, minimumAgreement: 0)
        if let extra = Self.extraModel { try compare(gqz: extra, library: Self.library, prompt: 128, positions: 256) }
    }

    /// Without a GPU: the CUDA sources themselves, every kernel and the host code, run on the CPU emulation of the
    /// execution model, against the CPU int8 path. Only the arithmetic and the indexing are checked, not speed.
    @Test(.enabled(if: emulatorBuilt || required, "skipped: the emulated CUDA library is not built (tools/cuda/build.sh --emulate)"))
    func emulatedCUDALogitsMatchTheCPUInt8Path() throws {
        #expect(Self.emulatorBuilt, "tools/cuda/build.sh --emulate did not produce \(Self.emulatedLibrary)")
        #expect(try CUDAModel.device(libraryPath: Self.emulatedLibrary).contains("CPU emulation"))
        // kjv: a 40-token prompt spans two token tiles of the prompt kernel; micro: 16 columns are half a group and
        // its 48- and 16-row matrices are partial row tiles (its random weights give near-ties, so only the logits count).
        try compareWithTheCPUInt8Path(model: "kjv", library: Self.emulatedLibrary, prompt: 40, positions: 64)
        try compareWithTheCPUInt8Path(model: "micro", library: Self.emulatedLibrary, prompt: 9, positions: 16, minimumAgreement: 0)
        if let extra = Self.extraModel { try compare(gqz: extra, library: Self.emulatedLibrary, prompt: 40, positions: 64) }
    }

    /// The command line on the emulated GPU: greedy `generate --device cuda` writes what the CPU writes, and `bench`
    /// names the device instead of claiming the CPU's bandwidth ceiling.
    @Test(.enabled(if: emulatorBuilt || required, "skipped: the emulated CUDA library is not built (tools/cuda/build.sh --emulate)"))
    func emulatedCUDAGeneratesWhatTheCPUGenerates() throws {
        let directory = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let gqz = try Fixtures.converted("kjv", bits: 8, into: directory)
        let environment = ["GPT2EDGE_CUDA_LIBRARY": Self.emulatedLibrary]
        let arguments = ["generate", "-m", gqz, "-p", "And God said unto Moses", "-n", "24", "--temperature", "0"]
        let gpu = try CommandRunner.run("gpt2-edge", arguments + ["--device", "cuda"], environment: environment)
        let cpu = try CommandRunner.run("gpt2-edge", arguments + ["--device", "cpu"], environment: environment)
        #expect(gpu.status == 0 && cpu.status == 0, "\(gpu.standardError)\n\(cpu.standardError)")
        #expect(gpu.standardOutput == cpu.standardOutput && gpu.standardOutput.count > "And God said unto Moses".count + 20)
        let bench = try CommandRunner.run("gpt2-edge", ["bench", "-m", gqz, "-p", "8", "-n", "4", "-r", "1", "--device", "cuda"], environment: environment)
        #expect(bench.status == 0 && bench.standardOutput.contains("device CPU emulation") && !bench.standardOutput.contains("% of it"),
                "\(bench.standardOutput)\(bench.standardError)")
        // No bandwidth probe on a GPU run: the CPU's ceiling says nothing there.
        let json = try CommandRunner.run("gpt2-edge", ["bench", "-m", gqz, "-p", "8", "-n", "4", "-r", "1", "--device", "cuda", "--json"],
                                         environment: environment)
        let object = try JSONSerialization.jsonObject(with: Data(json.standardOutput.utf8)) as! [String: Any]
        #expect(object["read_bandwidth_bytes_per_second"] is NSNull && (object["read_bandwidth_passes_bytes_per_second"] as! [Double]).isEmpty,
                "\(json.standardOutput)")
    }

    /// The CUDA sources under AddressSanitizer on the emulator: prompts that span several tiles of the prompt kernel
    /// (kjv: 236 tokens; micro: half groups, partial row tiles) and runs that go on to the end of the context touch
    /// only memory the library allocated. A real GPU would not report such a read; it would return garbage.
    @Test(.enabled(if: sanitizedBuilt || required, "skipped: the sanitized emulated CUDA library is not built (tools/cuda/build.sh --emulate --sanitize)"))
    func emulatedCUDAStaysInsideItsMemory() throws {
        let runtime = try String(contentsOf: Self.sanitizedFolder.appendingPathComponent("asan-runtime"), encoding: .utf8)
            .trimmingCharacters(in: .whitespacesAndNewlines)
        let environment = ["LD_PRELOAD": runtime, "ASAN_OPTIONS": "detect_leaks=0",
                           "GPT2EDGE_CUDA_LIBRARY": Self.sanitizedFolder.appendingPathComponent("libgpt2edge_cuda.so").path]
        let directory = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let text = try String(contentsOf: Fixtures.local.appendingPathComponent("models/kjv/heldout.txt"), encoding: .utf8)
        for (model, promptTokens) in [("kjv", 236), ("micro", 56)] {
            let gqz = try Fixtures.converted(model, bits: 8, into: directory)
            let tokenizer = try LoadedModel.load(path: gqz, threads: 1).tokenizer
            let prompt = try tokenizer.decode(Array(tokenizer.encode(String(text.prefix(4000))).prefix(promptTokens)))
            let run = try CommandRunner.run("gpt2-edge", ["generate", "-m", gqz, "-p", prompt, "-n", "1000", "--temperature", "0",
                                                          "--device", "cuda"], environment: environment)
            #expect(run.status == 0 && !run.standardError.contains("AddressSanitizer"), "\(model): \(run.standardError.suffix(3000))")
            #expect(run.standardError.contains("finish length"), "\(model) did not reach the end of its context: \(run.standardError.suffix(500))")
        }
    }

    /// The fixture `model` converted to int8, compared by `compare(gqz:library:prompt:positions:minimumAgreement:)`.
    func compareWithTheCPUInt8Path(model: String, library: String, prompt: Int, positions: Int, minimumAgreement: Double = 0.995) throws {
        let directory = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        try compare(gqz: Fixtures.converted(model, bits: 8, into: directory), library: library, prompt: prompt, positions: positions, minimumAgreement: minimumAgreement)
    }

    /// A prompt of `prompt` tokens as one block, then the rest of `positions` tokens one at a time; the logits after
    /// each step on the library's model and on the CPU int8 model. Reports top-1 agreement and the largest logit
    /// difference; a different top-1 must be a near-tie on the CPU.
    func compare(gqz: String, library: String, prompt: Int, positions: Int, minimumAgreement: Double = 0.995) throws {
        let model = URL(fileURLWithPath: gqz).lastPathComponent
        let cpu = try LoadedModel.load(path: gqz, threads: 2)
        let gpu = try CUDAModel(path: gqz, libraryPath: library)
        let text = try String(contentsOf: Fixtures.local.appendingPathComponent("models/kjv/heldout.txt"), encoding: .utf8)
        let tokens = Array(cpu.tokenizer.encode(String(text.prefix(4000))).prefix(positions))
        try #require(tokens.count == positions)
        let cache = cpu.network.makeCache()
        var same = 0, worst: Float = 0
        var a = try cpu.network.forward(tokens: Array(tokens.prefix(prompt)), cache: cache)
        var b = try gpu.forward(tokens: Array(tokens.prefix(prompt)))
        for token in tokens.dropFirst(prompt).map(Optional.some) + [nil] {
            let (cpuChoice, gpuChoice) = (LogitsProcessors.argmax(a), LogitsProcessors.argmax(b))
            if cpuChoice == gpuChoice { same += 1 }
            #expect(a[gpuChoice] > a[cpuChoice] - 0.25, "the GPU chose \(gpuChoice), \(a[cpuChoice] - a[gpuChoice]) below the CPU's choice")
            worst = max(worst, zip(a, b).map { abs($0 - $1) }.max()!)
            guard let token else { break }
            a = try cpu.network.forward(tokens: [token], cache: cache)
            b = try gpu.forward(tokens: [token])
        }
        let agreement = Double(same) / Double(tokens.count - prompt + 1)
        print("\(gpu.deviceName), \(model): top-1 agreement \(agreement) over \(tokens.count - prompt + 1) positions, max logit difference \(worst)")
        #expect(agreement >= minimumAgreement, "top-1 agreement \(agreement), max logit difference \(worst)")
        #expect(worst < 0.5, "max logit difference \(worst)")
        // A second sequence after reset starts from an empty cache: the same prompt gives the same logits.
        gpu.reset()
        let again = try gpu.forward(tokens: Array(tokens.prefix(prompt)))
        let first = try cpu.network.forward(tokens: Array(tokens.prefix(prompt)), cache: cpu.network.makeCache())
        #expect(zip(again, first).map { abs($0 - $1) }.max()! < 0.5)
    }
}
