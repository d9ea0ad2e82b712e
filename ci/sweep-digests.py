#!/usr/bin/env python3
"""SHA-256 of what a sweep writes beside its points (sweep.csv, report.md and the sweep
pictures) for every built-in sweep at a reduced size and for a few sweeps made to reach the
report's other branches (a failed point, replicate networks over two numeric axes, several
segments with first passages): the record that a change kept sweep reports byte-identical.

    python3 ci/sweep-digests.py OLD_BINARY > before.json
    python3 ci/sweep-digests.py target/release/idpsim > after.json && diff before.json after.json

sweep.csv is hashed without its timing columns, report.md with its seconds and rates masked;
the pictures as they are. Points' own files are ci/digests.py's business.
"""
import argparse
import copy
import hashlib
import json
import os
import re
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from digests import content, sh, shrink  # noqa: E402

RATE = re.compile(r"\d\.\d\de[+-]?\d+")
SECONDS = re.compile(r"points in [0-9.]+ s on ")


def masked_report(path):
    with open(path, encoding="utf-8") as fh:
        text = fh.read()
    return SECONDS.sub("points in — s on ", RATE.sub("rate", text)).encode()


def sweep_digests(folder):
    out = {}
    for f in sorted(os.listdir(folder)):
        path = os.path.join(folder, f)
        if not os.path.isfile(path):
            continue
        if f == "report.md":
            data = masked_report(path)
        elif f.endswith(".csv") or f.endswith(".png"):
            data = content(path)
        else:
            continue
        out[f] = hashlib.sha256(data).hexdigest()
    return out


def made(binary):
    """Sweeps that reach the branches the presets do not."""
    quick = json.loads(sh([binary, "preset", "quickstart"]))
    quick["ensemble"]["trajectories"] = 64
    quick["input"]["segments"] = [
        {"duration": 2.0, "weights": [1.2, 2.5, 0.9, 1.1]},
        {"duration": 2.0, "weights": [2.5, 1.2, 0.9, 1.1]},
    ]
    quick["observe"]["retrieval"] = {"threshold": 0.5}
    quick["observe"]["first_passage"] = {"memory": 1, "threshold": 0.3}
    quick["run"]["backend"] = "cpu_fast"
    failing = copy.deepcopy(quick)
    failing["name"] = "failing"
    failing["sweep"] = {
        "noise.sigma": [0.1, 0.8],
        "variants": {
            "good": {},
            "bad": {"run.backend": "gpu", "run.adapter": "no-such-adapter-xyz"},
        },
    }
    nets = json.loads(sh([binary, "preset", "capacity-noise"]))
    nets["name"] = "networks-heat"
    nets["memories"]["n"] = 200
    nets["ensemble"]["trajectories"] = 32
    nets["sweep"]["memories.p"] = [10, 40]
    nets["sweep"]["noise.sigma"] = [0.0, 0.5]
    nets["sweep"]["replicates"] = 2
    return [failing, nets]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("binary")
    ap.add_argument("--backend", default="cpu_fast")
    ap.add_argument("--only", help="comma-separated sweep names")
    a = ap.parse_args()
    names = [line.split()[0] for line in sh([a.binary, "presets"]).splitlines() if line.strip()]
    specs = []
    for name in names:
        spec = json.loads(sh([a.binary, "preset", name]))
        if "sweep" in spec:
            specs.append(shrink(spec))
    specs += made(a.binary)
    if a.only:
        specs = [s for s in specs if s["name"] in a.only.split(",")]
    result = {}
    with tempfile.TemporaryDirectory() as tmp:
        for spec in specs:
            name = spec["name"]
            path = os.path.join(tmp, f"{name}.json")
            with open(path, "w") as fh:
                json.dump(spec, fh)
            out = os.path.join(tmp, name)
            # A sweep made with a failing point keeps its own backends.
            backend = [] if name == "failing" else ["--backend", a.backend]
            r = subprocess.run([a.binary, "run", path, "--out", out, "--quiet", *backend], capture_output=True, text=True)
            if r.returncode not in (0, 1) or not os.path.exists(os.path.join(out, "sweep.csv")):
                sys.exit(f"{name}: run failed ({r.returncode}): {r.stderr.strip()}")
            result[name] = {"exit": r.returncode, **sweep_digests(out)}
            print(f"{name}: {len(result[name]) - 1} files, exit {r.returncode}", file=sys.stderr)
    json.dump(result, sys.stdout, indent=1)
    print()


if __name__ == "__main__":
    main()
