#!/usr/bin/env bash
# Builds Examples/HelloGPT2 against gpt2-edge BY VERSION, as an app would depend on it, and runs it.
#
# Clones this repository's HEAD into a temporary folder, tags the clone with the release in
# Sources/CLISupport/Version.swift (what Package.swift's `from: "0.1.0"` accepts), builds the example against that
# tag with its own scratch path, runs it on the fixture model (or MODEL, a .gqz file or a Hugging Face folder)
# and checks that it exits 0 with text. Nothing is written inside the repository.
#
#     Examples/HelloGPT2/run.sh [MODEL]      (KEEP=1 keeps the temporary folder; CONFIGURATION=release)
set -euo pipefail
example="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$example/../.." && pwd)"
model="${1:-$root/Tests/Fixtures/models/kjv}"
configuration="${CONFIGURATION:-debug}"

version="$(sed -n 's/.*static let release = "\([0-9][0-9.]*\)".*/\1/p' "$root/Sources/CLISupport/Version.swift")"
[ -n "$version" ] || { echo "run.sh: no release found in Sources/CLISupport/Version.swift" >&2; exit 1; }

work="$(mktemp -d "${TMPDIR:-/tmp}/hellogpt2.XXXXXX")"
[ "${KEEP:-0}" = "1" ] || trap 'rm -rf "$work"' EXIT

# The package's identity is the clone folder's name, which the example's `.product(package:)` follows.
# Only the one tag, on HEAD (detached or not), so that no other release can satisfy `from:`.
git clone --quiet --no-local "$root" "$work/gpt2-edge"
git -C "$work/gpt2-edge" fetch --quiet "$root" HEAD
git -C "$work/gpt2-edge" tag --list | xargs -r git -C "$work/gpt2-edge" tag --delete >/dev/null
git -C "$work/gpt2-edge" -c tag.gpgSign=false tag "$version" FETCH_HEAD
# The example itself is copied, so its Package.resolved and build folder stay out of the checkout.
mkdir "$work/HelloGPT2"
cp -R "$example/Package.swift" "$example/Sources" "$work/HelloGPT2/"

echo "HelloGPT2: building against gpt2-edge $version (HEAD $(git -C "$root" rev-parse --short HEAD)), $configuration"
start=$(date +%s)
GPT2EDGE_PACKAGE_URL="file://$work/gpt2-edge" \
    swift build --package-path "$work/HelloGPT2" --scratch-path "$work/build" -c "$configuration"
echo "HelloGPT2: built in $(( $(date +%s) - start )) s"

resolved="$(grep -A6 '"identity" : "gpt2-edge"' "$work/HelloGPT2/Package.resolved" | sed -n 's/.*"version" : "\(.*\)".*/\1/p')"
[ "$resolved" = "$version" ] || { echo "run.sh: resolved gpt2-edge ${resolved:-nothing}, not the tag $version" >&2; exit 1; }

output="$("$work/build/$configuration/HelloGPT2" "$model")"
printf '%s\n' "$output"
[ -n "$(printf '%s' "$output" | tr -d '[:space:]')" ] || { echo "run.sh: HelloGPT2 printed no text" >&2; exit 1; }
echo "HelloGPT2: ok"
