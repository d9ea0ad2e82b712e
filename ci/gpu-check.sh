#!/usr/bin/env bash
# The checks and measurements that need a real GPU, on a machine where nothing is built: PACK is
# what ci/gpu-pack.sh made (a release `idpsim`, test binaries `test-NAME`, `built-at`, the
# Vulkan loader's package), or its PACK.tar.gz; results go to OUT (default gpu-check/):
# log.txt (everything, in order), bench.jsonl (the JSON lines of every `idpsim bench`),
# devices.txt.
#   ci/gpu-check.sh PACK [OUT]
# Every step has its own time limit (GPU_CHECK_SCALE multiplies them), so that a slow step
# leaves time for the rest; GPU_CHECK_DEADLINE=S ends the whole script within S seconds (a
# step that no longer fits is not run, says so and fails the check). The exit status is that
# of the first failed check. GPU_CHECK_PARTS chooses the parts and their order (default
# "tests bench tta capacity"). A dry run on a machine without a GPU: GPU_CHECK_ALLOW_CPU=1
# accepts a CPU adapter (lavapipe), GPU_CHECK_SCALE_DOWN=K divides the bench cases'
# trajectories by K, and GPU_CHECK_CAPACITY_ARGS adds options to the capacity run (such as
# `--trajectories 64`).
#   0. a server with a GPU driver but no Vulkan loader gets the pack's (unpacked into / only
#      then); a driver manifest outside the loader's search path (NVIDIA's under
#      /usr/local/nvidia) is named in VK_DRIVER_FILES;
#   1. the adapters idpsim sees; without a GPU adapter the script stops there;
#   tests: the test binaries with REQUIRE_GPU=1: the GPU against the CPU reference;
#   bench: throughput: bench cases a, b, c on the GPU (a and c also in the tile layout), d–g
#      in each work layout (auto, thread, group, tile), and d, e on the machine's CPU fast
#      path: where the tile layout beats the others sets where `auto` should pick it;
#   tta: time to answer: the 9-point memory-load sweep from empty caches, then warm, on the
#      GPU and with auto;
#   capacity: the full `capacity` preset on the GPU, as a whole process.
set -uo pipefail
START=$(date +%s)
PACK=${1:?usage: ci/gpu-check.sh PACK [OUT]}
DEADLINE=${GPU_CHECK_DEADLINE:-}
PARTS=${GPU_CHECK_PARTS:-tests bench tta capacity}
for part in $PARTS; do
    case $part in
    tests | bench | tta | capacity) ;;
    *)
        echo "GPU_CHECK_PARTS: unknown part '$part' (accepted: tests, bench, tta, capacity)" >&2
        exit 2
        ;;
    esac
done
case $DEADLINE in
'' | *[!0-9]*) [ -z "$DEADLINE" ] || {
    echo "GPU_CHECK_DEADLINE: '$DEADLINE' is not a whole number of seconds" >&2
    exit 2
} ;;
esac
# A packed tarball (ci/gpu-pack.sh's PACK.tar.gz) is unpacked beside it first.
if [ -f "$PACK" ] && [[ "$PACK" == *.tar.gz ]]; then
    dir=${PACK%.tar.gz}
    mkdir -p "$dir" && tar xzf "$PACK" -C "$dir" || { echo "cannot unpack $PACK" >&2; exit 1; }
    PACK=$dir
fi
PACK=$(cd "$PACK" 2>/dev/null && pwd) || { echo "no pack at $1 (make one with ci/gpu-pack.sh)" >&2; exit 2; }
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
# keeps the first failure. Under GPU_CHECK_DEADLINE the limit is cut to the time left, and a
# step with less than 10 s left is not run (a failure: the check is incomplete).
step() {
    local limit=$(($1 * SCALE)) t0 rc left
    shift
    if [ -n "$DEADLINE" ]; then
        left=$((START + DEADLINE - $(date +%s) - 15))
        if [ "$left" -lt 10 ]; then
            say "not run, out of time (GPU_CHECK_DEADLINE=$DEADLINE): $*"
            [ "$status" != 0 ] || status=124
            : >"$OUT/last.txt"
            return 124
        fi
        [ "$limit" -le "$left" ] || limit=$left
    fi
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

# 0. The Vulkan loader and the driver's manifest. wgpu opens libvulkan.so.1 at run time; some
# GPU images have the driver without the loader.
if ! ldconfig -p 2>/dev/null | grep -q 'libvulkan\.so\.1'; then
    for deb in "$PACK"/debs/*.deb; do
        [ -e "$deb" ] || continue
        dpkg -x "$deb" / && say "no Vulkan loader was installed: unpacked $(basename "$deb")"
    done
    ldconfig
fi
if [ -z "${VK_DRIVER_FILES:-}${VK_ICD_FILENAMES:-}" ] &&
    ! ls /usr/share/vulkan/icd.d/*nvidia* /etc/vulkan/icd.d/*nvidia* >/dev/null 2>&1; then
    for icd in /usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json; do
        [ -e "$icd" ] || continue
        export VK_DRIVER_FILES=$icd
        say "VK_DRIVER_FILES=$icd (the driver's manifest is outside the loader's search path)"
    done
fi

# 1. The adapters.
step 60 "$BIN" devices
cp "$OUT/last.txt" "$OUT/devices.txt"
if ! grep -q "| type \\(DiscreteGpu\\|IntegratedGpu${GPU_CHECK_ALLOW_CPU:+\\|Cpu}\\) |" "$OUT/devices.txt"; then
    say "no GPU adapter: see devices.txt (are the Vulkan loader and the GPU's driver installed?)"
    exit 1
fi

# tests: GPU = CPU reference. The test binaries look for the checkout where they were built.
part_tests() {
    local built_at tests t
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
}

# bench: throughput.
part_bench() {
    local layout
    bench --cases a,b,c --repeat 3
    bench --cases a,c --layout tile --repeat 3
    for layout in auto thread group tile; do
        bench --cases d,e,f,g --layout "$layout" --repeat 3
    done
    bench --cases d,e --backend cpu_fast
    # The rates by case and layout side by side: where `tile` beats `auto`, auto should pick it
    # (`DeviceFacts::layout`).
    command -v python3 >/dev/null || return 0
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
}

# tta: time to answer.
part_tta() {
    bench --cases tta --backend gpu
    bench --cases tta --backend auto
}

# capacity: the full capacity preset.
part_capacity() {
    # shellcheck disable=SC2086 # GPU_CHECK_CAPACITY_ARGS is a list of options
    step 200 "$BIN" run --preset capacity --backend gpu --out "$OUT/capacity-run" --quiet ${GPU_CHECK_CAPACITY_ARGS:-}
    rm -rf "$OUT/capacity-run"
}

cd "$OUT"
for part in $PARTS; do
    say "part $part"
    "part_$part"
done
rm -f "$OUT/last.txt"

say "done, status $status, after $(($(date +%s) - START)) s"
exit "$status"
