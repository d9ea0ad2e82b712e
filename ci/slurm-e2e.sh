#!/bin/bash
# End-to-end test of the cluster workflow on a real single-node Slurm (started by
# ci/slurm-setup.sh): the README's array example splits one run into 4 shards; one task is
# killed on purpose (SIGKILL, after its first checkpoint) and resubmitted alone, which resumes
# it; resubmitting the whole array then skips every complete shard; the merge example merges
# them; the merged files must equal a whole run's byte for byte (run.json aside: it records
# times and shards).
#
#   ci/slurm-e2e.sh [IDPSIM]     # as root; IDPSIM defaults to target/release/idpsim
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
IDPSIM=$(realpath "${1:-target/release/idpsim}")
START=$(date +%s)

bash ci/slurm-setup.sh >/tmp/idpsim-slurm-setup.log 2>&1 || { cat /tmp/idpsim-slurm-setup.log; exit 1; }
trap 'pkill -x slurmd; pkill -x slurmctld; pkill -x munged; true' EXIT

WORK=$(mktemp -d /tmp/idpsim-slurm.XXXXXX)
cd "$WORK"
fail() { echo "slurm e2e: FAILED: $*" >&2; for f in "$WORK"/*.log; do echo "== $f" >&2; cat "$f" >&2; done; exit 1; }

# The quickstart network at a size that takes a second or two per shard on lavapipe.
"$IDPSIM" preset quickstart >spec.json
sed -i 's/"trajectories": 16384/"trajectories": 8192/' spec.json
grep -q '"trajectories": 8192' spec.json || fail "could not edit the preset"

# idpsim, except that the first attempt of array task 2 is killed once it has a checkpoint.
cat >idpsim-failing <<EOF
#!/bin/bash
if [ "\${SLURM_ARRAY_TASK_ID:-}" = 2 ] && [ ! -e "$WORK/killed-once" ]; then
    touch "$WORK/killed-once"
    out=; prev=
    for a in "\$@"; do [ "\$prev" = --out ] && out=\$a; prev=\$a; done
    "$IDPSIM" "\$@" & pid=\$!
    for i in \$(seq 6000); do
        ls "\$out"/.checkpoint/state-* >/dev/null 2>&1 && break
        kill -0 \$pid 2>/dev/null || break
        sleep 0.01
    done
    kill -KILL \$pid 2>/dev/null
    wait \$pid
    exit 137
fi
exec "$IDPSIM" "\$@"
EOF
chmod +x idpsim-failing

wait_jobs() {
    for i in $(seq 600); do
        [ -z "$(squeue -h -j "$1" 2>/dev/null)" ] && return 0
        sleep 0.5
    done
    fail "job $1 did not end within 5 minutes"
}

export IDPSIM=$WORK/idpsim-failing IDPSIM_GRES=gpu:1 IDPSIM_CHECKPOINT=0.5 REQUIRE_GPU=1
export XDG_RUNTIME_DIR=${XDG_RUNTIME_DIR:-/tmp}
ARRAY=$ROOT/examples/slurm/array.sbatch
MERGE=$ROOT/examples/slurm/merge.sbatch

# 1. The array: task 2 fails.
jid=$(sbatch --parsable --chdir="$WORK" --array=0-3 --gres="$IDPSIM_GRES" "$ARRAY" spec.json runs 4)
wait_jobs "$jid"
for k in 0 1 3; do [ -e runs/shard-$k/run.json ] || fail "shard $k did not complete"; done
[ ! -e runs/shard-2/run.json ] || fail "the killed task wrote run.json"
[ -e runs/shard-2/.checkpoint/checkpoint.json ] || fail "the killed task left no checkpoint"
set +e
"$IDPSIM" merge --check runs/shard-* >check.txt 2>&1
code=$?
set -e
[ $code = 1 ] || fail "merge --check exited $code with a shard missing"
grep -q "(shard 2/4)" check.txt || fail "merge --check did not name shard 2/4: $(cat check.txt)"

# 2. The failed task alone: it resumes from its checkpoint.
jid=$(sbatch --parsable --chdir="$WORK" --array=2 --gres="$IDPSIM_GRES" "$ARRAY" spec.json runs 4)
wait_jobs "$jid"
[ -e runs/shard-2/run.json ] || fail "the resubmitted task did not complete"
grep -q '"resumed": 1' runs/shard-2/run.json || fail "the resubmitted task did not resume its checkpoint"

# 3. The whole array again: every shard is complete and skipped.
jid=$(sbatch --parsable --chdir="$WORK" --array=0-3 --gres="$IDPSIM_GRES" "$ARRAY" spec.json runs 4)
wait_jobs "$jid"
skipped=$(grep -l "nothing to do" idpsim-"$jid"_*.log | wc -l)
[ "$skipped" = 4 ] || fail "a resubmitted array reran $((4 - skipped)) complete shards"

# 4. Merge, then compare with one whole run.
jid=$(sbatch --parsable --chdir="$WORK" "$MERGE" runs)
wait_jobs "$jid"
[ -e runs/merged/run.json ] || fail "the merge job did not complete"
"$IDPSIM" run spec.json --out whole --quiet
files=0
for f in whole/*; do
    name=$(basename "$f")
    [ "$name" = run.json ] && continue
    cmp -s "$f" "runs/merged/$name" || fail "merged $name differs from the whole run's"
    files=$((files + 1))
done
[ "$(ls runs/merged | wc -l)" = "$(ls whole | wc -l)" ] || fail "the merged run has other files than the whole run"
echo "slurm e2e: passed in $(( $(date +%s) - START )) s (4 shards, one killed and resumed, $files files identical to the whole run)"
rm -rf "$WORK"
