import FuzzTargets
import Foundation

// `gpt2-fuzz TARGET PATH...` runs every file (or every file in each folder) through one fuzz target and says how
// many it ran. Built with `-D GPT2EDGE_LIBFUZZER` (tools/fuzz/run.sh), the same command line goes to libFuzzer.

var arguments = Array(CommandLine.arguments.dropFirst())
// libFuzzer runs this binary again for -merge=1 and -fork with only its own flags: the target then comes from
// GPT2EDGE_FUZZ_TARGET, which the first run sets before it starts the driver.
if let first = arguments.first, FuzzTarget(rawValue: first) == nil,
   let inherited = ProcessInfo.processInfo.environment["GPT2EDGE_FUZZ_TARGET"] {
    arguments.insert(inherited, at: 0)
}
guard let name = arguments.first, let target = FuzzTarget(rawValue: name) else {
    let names = FuzzTarget.allCases.map(\.rawValue).joined(separator: ", ")
    FileHandle.standardError.write(Data("usage: gpt2-fuzz TARGET FILE-OR-FOLDER...   (targets: \(names))\n".utf8))
    exit(64)
}
#if GPT2EDGE_LIBFUZZER
setenv("GPT2EDGE_FUZZ_TARGET", target.rawValue, 1)
exit(runLibFuzzer(target: target, arguments: [CommandLine.arguments[0]] + arguments.dropFirst()))
#else
var count = 0
for path in arguments.dropFirst() {
    var isFolder: ObjCBool = false
    guard FileManager.default.fileExists(atPath: path, isDirectory: &isFolder) else {
        FileHandle.standardError.write(Data("gpt2-fuzz: \(path): no such file or folder\n".utf8))
        exit(66)
    }
    let files = isFolder.boolValue
        ? try FileManager.default.contentsOfDirectory(atPath: path).sorted().map { "\(path)/\($0)" } : [path]
    for file in files {
        guard let data = FileManager.default.contents(atPath: file) else { continue }
        target.run(Array(data))
        count += 1
    }
}
print("gpt2-fuzz \(target.rawValue): \(count) inputs, no crash")
#endif
