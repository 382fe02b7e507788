// swift-tools-version:6.2
import PackageDescription

// Tools version 6.2: SwiftPM lets a package that others depend on by version keep the debug-only `-O` below
// (earlier versions refuse any unsafe flag in a dependency's targets). Examples/HelloGPT2 checks that in CI.

/// `-O` in debug builds too, for the targets whose loops dominate a test run: unoptimized SIMD kernels are ~50×
/// slower, and evaluation and beam search loop over every logit of every position, so the test suite would crawl
/// without testing anything more. Release builds are optimized anyway.
let optimizedInDebug: [SwiftSetting] = [.unsafeFlags(["-O"], .when(configuration: .debug))]

/// Release builds for benchmarks add `-Xswiftc -target-cpu -Xswiftc native` (see README);
/// a plain `swift build` stays portable (baseline x86-64 / aarch64).
let package = Package(
    name: "gpt2-edge",
    platforms: [.macOS(.v14)],
    products: [
        // What an app links: loading and running models, generation, conversion and evaluation.
        .library(name: "GPT2Edge", targets: ["GPT2Edge"]),
        .executable(name: "gpt2-edge", targets: ["gpt2-edge"]),
        .executable(name: "gpt2-edge-server", targets: ["gpt2-edge-server"]),
        .executable(name: "gpt2-quant", targets: ["gpt2-quant"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        // SHA-256 for Hub downloads only: GPT2Edge does not depend on Hub, so an app linking the library builds none of it.
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.3"),
        // HTTP for `gpt2-edge serve` only (the Server module): the library product does not depend on it. No traits:
        // the default ones pull in swift-configuration, which the server does not use.
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1", traits: []),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-http-types", from: "1.8.0"),
    ],
    targets: [
        // C parts: zstd, the kernels' prefetch/FMA helpers, the allocator's settings, the built-in model's bytes, the CUDA loader.
        .systemLibrary(
            name: "CZstd",
            pkgConfig: "libzstd",
            providers: [.apt(["libzstd-dev"]), .brew(["zstd"])]
        ),
        .target(name: "CKernelSupport"),
        // glibc's allocator thresholds for the programs (CLISupport.AllocatorSettings).
        .target(name: "CAllocator"),
        // The default model, linked into gpt2-edge and gpt2-edge-server only (Sources/CDefaultModel/default_model.c).
        .target(
            name: "CDefaultModel",
            exclude: ["default.gqz"],
            cSettings: [.define("GPT2EDGE_DEFAULT_MODEL_PATH", to: "\"Sources/CDefaultModel/default.gqz\"")]
        ),
        // The optional CUDA int8 path: a dlopen loader for libgpt2edge_cuda.so (tools/cuda/build.sh compiles cuda/*.cu).
        .target(name: "CUDAInt8", exclude: ["cuda"], linkerSettings: [.linkedLibrary("dl")]),

        // The leaf: weight schemes (f32, q8/gN, q4/gN), their sizes and the byte layout of a quantized group.
        .target(name: "WeightFormat", swiftSettings: optimizedInDebug),
        // SIMD hot loops on raw buffers, the thread pool.
        .target(name: "Kernels", dependencies: ["CKernelSupport", "WeightFormat"], swiftSettings: optimizedInDebug),
        // Scale search, channel scaling, quantizing a tensor.
        .target(name: "Quantization", dependencies: ["WeightFormat"], swiftSettings: optimizedInDebug),
        // The .gqz container: write, read, validate, zstd frames.
        .target(name: "GQZ", dependencies: ["CZstd", "WeightFormat"]),
        .target(name: "Tokenizer"),
        // A Hugging Face folder: safetensors (mapped), config.json, tokenizer files.
        .target(name: "Checkpoint"),
        // Hub downloads into the Hugging Face cache layout, SHA-256 checked (swift-crypto).
        .target(name: "Hub", dependencies: ["Checkpoint", .product(name: "Crypto", package: "swift-crypto")]),
        // GPT-2 itself: config, weights bound to kernels, the batched forward pass, the KV cache.
        .target(name: "GPT2", dependencies: ["Kernels"]),
        // The decode loop, samplers, beams, stop strings, streaming: against the LanguageModel protocol.
        .target(name: "Generation", dependencies: ["Tokenizer"], swiftSettings: optimizedInDebug),
        // A model source opened once, the memory plan and load policy, the CPU and CUDA backends, sequences.
        .target(
            name: "Runtime",
            dependencies: ["GPT2", "GQZ", "Checkpoint", "Tokenizer", "Kernels", "WeightFormat", "Generation", "CUDAInt8"]
        ),
        // Converting a checkpoint to .gqz, calibration, evaluation (perplexity, agreement).
        .target(name: "Conversion", dependencies: ["Runtime", "Quantization"], swiftSettings: optimizedInDebug),
        // The library product: re-exports the modules above.
        .target(name: "GPT2Edge", dependencies: ["Runtime", "Generation", "Conversion"]),
        // `gpt2-edge serve`: the OpenAI-compatible HTTP API, the scheduler that batches every active request into one
        // forward step, metrics, the web page.
        .target(
            name: "Server",
            dependencies: [
                "Runtime", "Generation", "Tokenizer",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
            ]
        ),
        // What both programs share: checked output, the exit-code contract, sizes, signals, bounded input, --version.
        .target(name: "CLISupport", dependencies: ["GPT2Edge", "CAllocator", .product(name: "ArgumentParser", package: "swift-argument-parser")]),
        // What gpt2-edge's two programs share: the options that open and load a model, the built-in model's bytes.
        .target(name: "ModelCommandLine", dependencies: ["GPT2Edge", "CLISupport", "CDefaultModel",
                                                         .product(name: "ArgumentParser", package: "swift-argument-parser")]),
        // Every command but `serve`; `gpt2-edge serve` runs gpt2-edge-server in its place, so the HTTP stack's code is
        // linked into (and mapped by) the server alone.
        .executableTarget(
            name: "gpt2-edge",
            dependencies: ["GPT2Edge", "CLISupport", "ModelCommandLine", .product(name: "ArgumentParser", package: "swift-argument-parser")]
        ),
        .executableTarget(
            name: "gpt2-edge-server",
            dependencies: ["GPT2Edge", "CLISupport", "ModelCommandLine", "Server",
                           .product(name: "ArgumentParser", package: "swift-argument-parser"), .product(name: "Logging", package: "swift-log")]
        ),
        .executableTarget(
            name: "gpt2-quant",
            dependencies: ["GPT2Edge", "Hub", "CLISupport", .product(name: "ArgumentParser", package: "swift-argument-parser")]
        ),
        .target(name: "TestSupport", dependencies: [], path: "Tests/TestSupport"),
        // The readers of untrusted bytes as fuzz targets; `gpt2-fuzz` replays files through them, or runs under
        // libFuzzer when built by tools/fuzz/run.sh.
        .target(name: "FuzzTargets", dependencies: ["GQZ", "Checkpoint", "Tokenizer", "GPT2", "Hub", "Server"]),
        .executableTarget(name: "gpt2-fuzz", dependencies: ["FuzzTargets"]),

        .testTarget(name: "WeightFormatTests", dependencies: ["WeightFormat"]),
        .testTarget(name: "TokenizerTests", dependencies: ["Tokenizer", "TestSupport"]),
        .testTarget(name: "CheckpointTests", dependencies: ["Checkpoint", "TestSupport"]),
        .testTarget(name: "HubTests", dependencies: ["Hub", "Checkpoint", "TestSupport"]),
        .testTarget(name: "KernelsTests", dependencies: ["Kernels", "Quantization", "WeightFormat", "TestSupport"]),
        .testTarget(name: "GPT2Tests", dependencies: ["GPT2Edge", "Runtime", "CUDAInt8", "Quantization", "TestSupport"]),
        .testTarget(name: "GenerationTests", dependencies: ["Generation", "Tokenizer", "TestSupport"]),
        .testTarget(name: "GQZTests", dependencies: ["GQZ", "Quantization", "WeightFormat", "TestSupport"]),
        .testTarget(name: "QuantizationTests", dependencies: ["Quantization", "WeightFormat"]),
        .testTarget(name: "CLITests", dependencies: ["TestSupport"]),
        .testTarget(name: "CLISupportTests", dependencies: ["CLISupport"]),
        .testTarget(name: "FuzzTests", dependencies: ["FuzzTargets", "TestSupport"]),
        .testTarget(name: "ServerTests", dependencies: ["Server", "Runtime", "GPT2", "Generation", "TestSupport"]),
    ],
    swiftLanguageModes: [.v6]
)
