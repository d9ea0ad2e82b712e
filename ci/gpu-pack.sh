#!/usr/bin/env bash
# Builds what ci/gpu-check.sh runs, for a GPU machine without a Rust toolchain: the release
# `idpsim` and the release test binaries that compare the GPU with the CPU reference, stripped,
# into DIR (default gpu-pack/), with `built-at`, the checkout they were built in (the test
# binaries read files and run `idpsim` by that path), the Vulkan loader's Debian package in
# DIR/debs (for a server whose image has none; ci/gpu-check.sh unpacks it only there), and the
# same as DIR.tar.gz.
#   ci/gpu-pack.sh [DIR]
# The same processor architecture and a C library no newer than the GPU machine's are needed.
set -euo pipefail
cd "$(dirname "$0")/.."
DIR=${1:-gpu-pack}
TESTS=${GPU_PACK_TESTS:-parity limits modern rng_gpu tile noise_layout}

cargo build --release --bin idpsim
mkdir -p "$DIR"
strip -o "$DIR/idpsim" target/release/idpsim
# The test executables cargo built, one JSON line each.
cargo test --release --no-run --message-format=json 2>/dev/null |
    python3 -c '
import json, sys
wanted = set(sys.argv[1].split())
for line in sys.stdin:
    m = json.loads(line)
    t = m.get("target") or {}
    if m.get("executable") and t.get("kind") == ["test"] and t.get("name") in wanted:
        print(t["name"], m["executable"])
' "$TESTS" | while read -r name exe; do
    strip -o "$DIR/test-$name" "$exe"
done
pwd >"$DIR/built-at"
# The Vulkan loader (libvulkan.so.1, which wgpu opens at run time), for GPU servers whose image
# has a driver but no loader. Best effort: a pack without it still runs where a loader exists.
mkdir -p "$DIR/debs"
if command -v apt-get >/dev/null &&
    (cd "$DIR/debs" && apt-get -q download libvulkan1:amd64 >/dev/null 2>&1); then
    ls "$DIR/debs"
else
    echo "no Vulkan loader packed (apt-get download libvulkan1 failed): the server needs its own" >&2
fi
# The same as one compressed file, to copy (ci/gpu-check.sh takes either).
tar czf "$DIR.tar.gz" -C "$DIR" .
du -sh "$DIR" "$DIR.tar.gz"
ls "$DIR"
