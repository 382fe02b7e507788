/// A model file in a format other than .gqz, recognised from its first bytes so that a user who passes one gets
/// told what to do with it instead of "wrong magic bytes".
public struct ForeignModelFormat: Sendable, Equatable {
    /// The format in words, as in "a GGUF file (llama.cpp)".
    public let name: String
    /// What to do instead, in one clause.
    public let advice: String

    /// Recognises GGUF, safetensors and PyTorch checkpoints from the first bytes of a file (16 are enough).
    public init?(prefix bytes: [UInt8]) {
        if bytes.starts(with: Array("GGUF".utf8)) {
            name = "a GGUF file (llama.cpp's format)"
            advice = "gpt2-edge runs .gqz files: convert the Hugging Face checkpoint it was made from with "
                + "`gpt2-quant convert FOLDER-OR-MODEL-ID`, or run this file with llama.cpp"
        } else if bytes.count >= 9, bytes[8] == UInt8(ascii: "{"), Self.headerLength(bytes) < 100_000_000 {
            // safetensors: an 8-byte little-endian header length, then the JSON header.
            name = "a safetensors file"
            advice = "pass the Hugging Face folder that holds it with config.json, vocab.json and merges.txt "
                + "(`-m FOLDER` runs it in float32; `gpt2-quant convert FOLDER` makes a .gqz file)"
        } else if bytes.starts(with: [0x50, 0x4B, 0x03, 0x04]) || bytes.starts(with: [0x80, 0x02]) {
            name = "a PyTorch checkpoint (pytorch_model.bin)"
            advice = "gpt2-edge reads safetensors: save the model with transformers' save_pretrained (safetensors by "
                + "default) and convert its folder with `gpt2-quant convert FOLDER`"
        } else {
            return nil
        }
    }

    private static func headerLength(_ bytes: [UInt8]) -> UInt64 {
        bytes[0..<8].reversed().reduce(0) { $0 << 8 | UInt64($1) }
    }
}
