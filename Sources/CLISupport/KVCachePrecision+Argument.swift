import ArgumentParser
import Kernels

/// `--kv-cache` / `--cache-type` values: this project's names and llama.cpp's (`q8_0` is int8), in any case.
extension KVStorage.Precision: ExpressibleByArgument {
    public init?(argument: String) {
        switch argument.lowercased() {
        case "f32", "fp32", "float32": self = .f32
        case "f16", "fp16", "float16": self = .f16
        case "int8", "q8_0", "q8": self = .int8
        default: return nil
        }
    }

    public static var allValueStrings: [String] { ["f16", "f32", "int8", "q8_0"] }
}
