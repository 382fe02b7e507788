#if GPT2EDGE_LIBFUZZER
import FuzzTargets
import Foundation

// Under libFuzzer (tools/fuzz/run.sh builds with -sanitize-coverage and links libFuzzer without its main):
// `gpt2-fuzz TARGET [libFuzzer flags and corpus folders]` hands the rest of the command line to libFuzzer's driver.

@_silgen_name("LLVMFuzzerRunDriver")
private func LLVMFuzzerRunDriver(_ argc: UnsafeMutablePointer<CInt>,
                                 _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>>,
                                 _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt) -> CInt

/// The target libFuzzer's callback runs: set once, before the driver starts.
nonisolated(unsafe) private var selected = FuzzTarget.gqz

func runLibFuzzer(target: FuzzTarget, arguments: [String]) -> CInt {
    selected = target
    var pointers: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) } + [nil]
    var count = CInt(arguments.count)
    return pointers.withUnsafeMutableBufferPointer { buffer in
        var base = buffer.baseAddress!
        return LLVMFuzzerRunDriver(&count, &base) { data, size in
            selected.run(size == 0 ? [] : Array(UnsafeBufferPointer(start: data, count: size)))
            return 0
        }
    }
}
#endif
