// swift-tools-version:6.0
import PackageDescription

// An app that depends on gpt2-edge by version, as any consumer would. `run.sh` builds it in CI against a fresh
// clone of this repository tagged with the release in Sources/CLISupport/Version.swift.
//
// GPT2EDGE_PACKAGE_URL names the gpt2-edge repository to depend on (`run.sh` sets it to its clone); without it
// this is the repository the example sits in, which then needs a tag of 0.1.0 or later.
let gpt2EdgeURL = Context.environment["GPT2EDGE_PACKAGE_URL"].flatMap { $0.isEmpty ? nil : $0 }
    ?? "file://" + repositoryRoot(of: Context.packageDirectory)

/// The package's identity, which `.product(package:)` names: the URL's last path component without `.git`,
/// lower-cased.
let gpt2EdgeIdentity: String = {
    var name = gpt2EdgeURL.split(separator: "/").last.map(String.init) ?? "gpt2-edge"
    if name.hasSuffix(".git") { name.removeLast(4) }
    return name.lowercased()
}()

/// `…/Examples/HelloGPT2` → `…`, spelled without `..` so the identity is the repository folder's name.
func repositoryRoot(of packageDirectory: String) -> String {
    var parts = packageDirectory.split(separator: "/", omittingEmptySubsequences: true).map(String.init)
    parts.removeLast(min(2, parts.count))
    return "/" + parts.joined(separator: "/")
}

let package = Package(
    name: "HelloGPT2",
    platforms: [.macOS(.v14)],
    dependencies: [
        .package(url: gpt2EdgeURL, from: "0.1.0"),
    ],
    targets: [
        .executableTarget(
            name: "HelloGPT2",
            dependencies: [.product(name: "GPT2Edge", package: gpt2EdgeIdentity)]
        ),
    ],
    swiftLanguageModes: [.v6]
)
