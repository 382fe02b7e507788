import CKernelSupport
import Foundation

/// Which kernels multiply by int8 and int4 matrices.
public enum MatrixKernel: String, Sendable, CaseIterable {
    /// Weights widened to float in registers, float FMA (`QuantizedLinear.swift`): every CPU.
    case float
    /// Activations quantized per group to int8, integer dot products over 16-row panels
    /// (`IntegerLinear.swift`); the matrices are packed at load time.
    case integer

    /// `GPT2EDGE_KERNEL=float|integer` when set (to compare the two with `gpt2-edge bench`); otherwise
    /// `integer` where the build has the 64-byte integer dot product (`GPT2EDGE_HAS_INT8_DOT`), else `float`.
    public static let preferred: MatrixKernel = {
        if let name = getenv("GPT2EDGE_KERNEL"), let choice = MatrixKernel(rawValue: String(cString: name)) { return choice }
        return buildHasIntegerDot ? .integer : .float
    }()

    /// Whether this build's target CPU has the integer dot product (a compile-time constant of the C header).
    public static let buildHasIntegerDot = GPT2EDGE_HAS_INT8_DOT != 0

    /// The instruction behind the integer kernels in this build ("AVX512-VNNI", "Arm sdot"), nil for the C loop.
    public static var integerDotInstruction: String? {
        let names: [String?] = [nil, "AVX512-VNNI", "Arm sdot"]   // a table, not a switch the compiler folds and warns about
        return names[Int(GPT2EDGE_INT8_DOT_KIND)]
    }
}
