#!/usr/bin/env bash
# The checks and measurements that need a real GPU, on a machine where nothing is built: PACK is
# what ci/gpu-pack.sh made (a release `idpsim`, test binaries `test-NAME`, `built-at`), or its
# PACK.tar.gz; results
# go to OUT (default gpu-check/): log.txt (everything, in order), bench.jsonl (the JSON lines
# of every `idpsim bench`), devices.txt.
#   ci/gpu-check.sh PACK [OUT]
# Every step has its own time limit (GPU_CHECK_SCALE multiplies them), so that a slow step
# leaves time for the rest; the exit status is that of the first failed check. A dry run on a
# machine without a GPU: GPU_CHECK_ALLOW_CPU=1 accepts a CPU adapter (lavapipe) and
# GPU_CHECK_SCALE_DOWN=K divides the bench cases' trajectories by K, and GPU_CHECK_CAPACITY_ARGS
# adds options to the capacity run (such as `--trajectories 64`).
#   1. the adapters idpsim sees; without a GPU adapter the script stops there;
#   2. the test binaries with REQUIRE_GPU=1: the GPU against the CPU reference;
#   3. throughput: bench cases a, b, c on the GPU (a and c also in the tile layout), d–g in each
#      work layout (auto, thread, group, tile), and d, e on the machine's CPU fast path: where
#      the tile layout beats the others sets where `auto` should pick it;
#   4. time to answer: the 9-point memory-load sweep from empty caches, then warm, on the GPU
#      and with auto;
#   5. the full `capacity` preset on the GPU, as a whole process.
set -uo pipefail
PACK=${1:?usage: ci/gpu-check.sh PACK [OUT]}
# A packed tarball (ci/gpu-pack.sh's PACK.tar.gz) is unpacked beside it first.
if [ -f "$PACK" ] && [[ "$PACK" == *.tar.gz ]]; then
    dir=${PACK%.tar.gz}
    mkdir -p "$dir" && tar xzf "$PACK" -C "$dir" || { echo "cannot unpack $PACK" >&2; exit 1; }
    PACK=$dir
fi
PACK=$(cd "$PACK" && pwd)
OUT=${2:-gpu-check}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
LOG=$OUT/log.txt
SCALE=${GPU_CHECK_SCALE:-1}
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-/tmp}"
BIN=$PACK/idpsim
status=0

say() { echo "== $*" | tee -a "$LOG"; }
# step SECONDS COMMAND...: runs it under a time limit, its output to the log and to last.txt;
# keeps the first failure.
step() {
    local limit=$(($1 * SCALE)) t0 rc
    shift
    say "$* (limit ${limit} s)"
    t0=$(date +%s)
    timeout -k 10 "$limit" "$@" >"$OUT/last.txt" 2>&1
    rc=$?
    cat "$OUT/last.txt" >>"$LOG"
    say "exit $rc after $(($(date +%s) - t0)) s"
    [ "$rc" = 0 ] || [ "$status" != 0 ] || status=$rc
    return "$rc"
}
# bench ARGS...: `idpsim bench`, its JSON lines also kept in bench.jsonl.
bench() {
    step 150 "$BIN" bench --scale-down "${GPU_CHECK_SCALE_DOWN:-1}" "$@"
    grep '^{' "$OUT/last.txt" >>"$OUT/bench.jsonl"
}

: >"$LOG"
: >"$OUT/bench.jsonl"
say "$(date -u +%FT%TZ) on $(uname -n): $("$BIN" --version)"
command -v nvidia-smi >/dev/null && nvidia-smi -L | tee -a "$LOG"

# 1. The adapters.
step 60 "$BIN" devices
cp "$OUT/last.txt" "$OUT/devices.txt"
if ! grep -q "| type \\(DiscreteGpu\\|IntegratedGpu${GPU_CHECK_ALLOW_CPU:+\\|Cpu}\\) |" "$OUT/devices.txt"; then
    say "no GPU adapter: see devices.txt (are the Vulkan loader and the GPU's driver installed?)"
    exit 1
fi

# 2. GPU = CPU reference. The test binaries look for the checkout where they were built.
built_at=$(cat "$PACK/built-at")
if [ ! -e "$built_at" ]; then
    mkdir -p "$(dirname "$built_at")" && ln -s "$ROOT" "$built_at"
fi
mkdir -p "$built_at/target/release"
[ -e "$built_at/target/release/idpsim" ] || cp "$BIN" "$built_at/target/release/idpsim"
# A pack without test binaries, or a checkout that cannot be reached where they look, is a
# failed check, not a skipped one.
tests=("$PACK"/test-*)
if [ ! -e "${tests[0]}" ]; then
    say "no test binaries in $PACK: the GPU was not checked against the CPU reference (rerun ci/gpu-pack.sh)"
    [ "$status" != 0 ] || status=1
elif ! cd "$built_at"; then
    say "cannot reach $built_at, where the test binaries read the checkout"
    [ "$status" != 0 ] || status=1
else
    for t in "${tests[@]}"; do
        step 150 env REQUIRE_GPU=1 "$t" --test-threads 4
    done
fi
cd "$OUT"

# 3. Throughput.
bench --cases a,b,c --repeat 3
bench --cases a,c --layout tile --repeat 3
for layout in auto thread group tile; do
    bench --cases d,e,f,g --layout "$layout" --repeat 3
done
bench --cases d,e --backend cpu_fast
# The rates by case and layout side by side: where `tile` beats `auto`, auto should pick it
# (`DeviceFacts::layout`).
if command -v python3 >/dev/null; then
    python3 - "$OUT/bench.jsonl" <<'PY' | tee -a "$LOG"
import json, sys
rates = {}
for line in open(sys.argv[1]):
    r = json.loads(line)
    if r.get("backend") == "gpu":
        rate = f"{r['neuron_steps_per_s']:.3e}"
        if r["layout"] == "auto":
            rate += f" ({r.get('layout_used')})"
        rates.setdefault(r["case"], {})[r["layout"]] = rate
layouts = ["auto", "thread", "group", "tile"]
print("== neuron-steps/s on the GPU, by case and layout (auto: the layout it took)")
print("case " + "".join(f"{l:>20}" for l in layouts))
for case in sorted(rates):
    print(f"{case:<5}" + "".join(f"{rates[case].get(l, '-'):>20}" for l in layouts))
PY
fi

# 4. Time to answer.
bench --cases tta --backend gpu
bench --cases tta --backend auto

# 5. The full capacity preset.
step 200 "$BIN" run --preset capacity --backend gpu --out "$OUT/capacity-run" --quiet ${GPU_CHECK_CAPACITY_ARGS:-}
rm -rf "$OUT/capacity-run" "$OUT/last.txt"

say "done, status $status"
exit "$status"
