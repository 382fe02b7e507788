import GQZ
import Kernels

/// What `--version` prints: the release, the .gqz format versions it reads (it writes the newest a file needs), and how int8/int4 matrices are
/// multiplied in this build (what llama.cpp users check first when comparing speeds).
public enum Version {
    /// This release of gpt2-edge (the git tag consumers depend on).
    public static let release = "0.1.0"

    /// One line for `--version`, e.g. "0.1.0 (.gqz formats 1-2; int8/int4 kernels: integer dot product, AVX512-VNNI)".
    public static func line() -> String {
        "\(release) (.gqz formats 1-\(GQZFormat.version); int8/int4 kernels: \(kernelDescription))"
    }

    /// The kernel path chosen at run time, with the instruction this build was compiled for.
    public static var kernelDescription: String {
        switch MatrixKernel.preferred {
        case .integer: return "integer dot product, \(MatrixKernel.integerDotInstruction ?? "portable C loop")"
        case .float:
            let reason = MatrixKernel.buildHasIntegerDot ? "chosen by GPT2EDGE_KERNEL" : "this build's target CPU has no integer dot product; "
                + "build with -Xswiftc -target-cpu -Xswiftc native on AVX512-VNNI or Armv8.2 dot-product CPUs"
            return "float (weights widened in registers; \(reason))"
        }
    }
}
