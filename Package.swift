// swift-tools-version:6.0
import PackageDescription

/// Release builds for benchmarks add `-Xswiftc -target-cpu -Xswiftc native` (see README);
/// a plain `swift build` stays portable (baseline x86-64 / aarch64).
let package = Package(
    name: "gpt2-edge",
    platforms: [.macOS(.v14)],
    products: [
        .library(name: "GPT2Edge", targets: ["GPT2Edge"]),
        .executable(name: "gpt2-edge", targets: ["gpt2-edge"]),
        .executable(name: "gpt2-quant", targets: ["gpt2-quant"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    ],
    targets: [
        .systemLibrary(
            name: "CZstd",
            pkgConfig: "libzstd",
            providers: [.apt(["libzstd-dev"]), .brew(["zstd"])]
        ),
        .target(name: "GQZ", dependencies: ["CZstd", "Quantization"]),
        // The default model, linked into gpt2-edge only (Sources/CDefaultModel/default_model.c).
        .target(
            name: "CDefaultModel",
            exclude: ["default.gqz"],
            cSettings: [.define("GPT2EDGE_DEFAULT_MODEL_PATH", to: "\"Sources/CDefaultModel/default.gqz\"")]
        ),
        // Kernels are compiled optimized even in debug builds: unoptimized SIMD loops are ~50× slower,
        // which would make the test suite crawl without testing anything more.
        // The optional CUDA int8 path: a dlopen loader for libgpt2edge_cuda.so (tools/build-cuda compiles cuda/*.cu).
        .target(name: "CUDAInt8", exclude: ["cuda"], linkerSettings: [.linkedLibrary("dl")]),
        // Prefetch and the FMA test for the kernels (header-only; Swift has neither).
        .target(name: "CKernelSupport"),
        .target(name: "Kernels", dependencies: ["CKernelSupport"], swiftSettings: [.unsafeFlags(["-O"], .when(configuration: .debug))]),
        .target(name: "Quantization", swiftSettings: [.unsafeFlags(["-O"], .when(configuration: .debug))]),
        .target(name: "Tokenizer"),
        .target(name: "Checkpoint"),
        .target(name: "GPT2", dependencies: ["Kernels"]),
        .target(name: "Generation", dependencies: ["Tokenizer"], swiftSettings: [.unsafeFlags(["-O"], .when(configuration: .debug))]),
        .target(
            name: "GPT2Edge",
            dependencies: ["GPT2", "Generation", "Tokenizer", "Checkpoint", "Kernels", "GQZ", "Quantization", "CUDAInt8"],
            // -O in debug too: evaluation and beam search loop over every logit of every position.
            swiftSettings: [.unsafeFlags(["-O"], .when(configuration: .debug))]
        ),
        // What both programs share: checked output, the exit-code contract, sizes, signals, bounded input, --version.
        .target(name: "CLISupport", dependencies: ["GQZ", "Kernels", .product(name: "ArgumentParser", package: "swift-argument-parser")]),
        .executableTarget(
            name: "gpt2-edge",
            dependencies: ["GPT2Edge", "CLISupport", "CDefaultModel", .product(name: "ArgumentParser", package: "swift-argument-parser")]
        ),
        .executableTarget(
            name: "gpt2-quant",
            dependencies: ["GPT2Edge", "CLISupport", .product(name: "ArgumentParser", package: "swift-argument-parser")]
        ),
        .target(name: "TestSupport", dependencies: [], path: "Tests/TestSupport"),
        .testTarget(name: "TokenizerTests", dependencies: ["Tokenizer", "TestSupport"]),
        .testTarget(name: "CheckpointTests", dependencies: ["Checkpoint", "TestSupport"]),
        .testTarget(name: "KernelsTests", dependencies: ["Kernels", "TestSupport"]),
        .testTarget(name: "GPT2Tests", dependencies: ["GPT2Edge", "CUDAInt8", "Quantization", "TestSupport"]),
        .testTarget(name: "GenerationTests", dependencies: ["Generation", "Tokenizer", "TestSupport"]),
        .testTarget(name: "GQZTests", dependencies: ["GQZ", "TestSupport"]),
        .testTarget(name: "QuantizationTests", dependencies: ["Quantization"]),
        .testTarget(name: "CLITests", dependencies: ["TestSupport"]),
        .testTarget(name: "CLISupportTests", dependencies: ["CLISupport"]),
    ],
    swiftLanguageModes: [.v5]
)
