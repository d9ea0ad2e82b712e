#!/bin/bash
# A run on a full file system (a 256 KiB tmpfs, as root) exits 1 with an error that names the
# file it could not write, and leaves its directory marked incomplete; so does a checkpointed
# run.
#
#   ci/full-disk.sh [IDPSIM]     # IDPSIM defaults to target/release/idpsim
set -euo pipefail
cd "$(dirname "$0")/.."
IDPSIM=$(realpath "${1:-target/release/idpsim}")
export XDG_RUNTIME_DIR=${XDG_RUNTIME_DIR:-/tmp}
DISK=$(mktemp -d /tmp/idpsim-full.XXXXXX)
ERR=$(mktemp)
mount -t tmpfs -o size=256k tmpfs "$DISK"
trap 'umount "$DISK"; rmdir "$DISK"' EXIT
fail() { echo "full disk: FAILED: $*" >&2; exit 1; }
for extra in "" "--checkpoint-every 1"; do
    rm -rf "${DISK:?}/r"
    set +e
    # shellcheck disable=SC2086
    "$IDPSIM" run --preset quickstart --backend cpu --trajectories 2048 --quiet --out "$DISK/r" $extra 2>"$ERR"
    code=$?
    set -e
    [ $code = 1 ] || fail "exit status $code ($extra): $(cat "$ERR")"
    grep -q "cannot write $DISK/r/.*No space left on device" "$ERR" || fail "the error does not name the file: $(cat "$ERR")"
    [ -e "$DISK/r/INCOMPLETE" ] && [ ! -e "$DISK/r/run.json" ] || fail "the directory is not marked incomplete"
    echo "full disk ($extra): $(cat "$ERR")"
done
rm -f "$ERR"
