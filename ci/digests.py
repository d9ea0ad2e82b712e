#!/usr/bin/env python3
"""SHA-256 of every data file idpsim writes for every built-in spec at a reduced size, and of
`theory` and `fpe`: the record that a change kept the outputs byte-identical.

    python3 ci/digests.py target/release/idpsim --backend cpu > after.json
    python3 ci/digests.py OLD_BINARY --backend cpu > before.json && diff before.json after.json

Each preset runs with 64 trajectories per point and each sweep axis cut to its first and last
value. Pictures (.png), run.json and report.md (timings, adapter) are left out; every .npy file
is hashed as it is, .csv and other .json files without their timing columns and keys (wall
seconds, rates).
"""
import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile


def sh(args, **kw):
    r = subprocess.run(args, capture_output=True, text=True, **kw)
    if r.returncode != 0:
        sys.exit(f"{' '.join(args)} failed ({r.returncode}): {r.stderr.strip()}")
    return r.stdout


def shrink(spec):
    spec.setdefault("ensemble", {})["trajectories"] = 64
    sweep = spec.get("sweep")
    if sweep:
        for k, v in list(sweep.items()):
            if k != "variants" and isinstance(v, list) and len(v) > 2:
                sweep[k] = [v[0], v[-1]]
    return spec


TIMING = ("seconds", "wall_s", "per_s")


def untimed(value):
    if isinstance(value, dict):
        return {k: untimed(v) for k, v in value.items() if not any(t in k for t in TIMING)}
    if isinstance(value, list):
        return [untimed(v) for v in value]
    return value


def content(path):
    with open(path, "rb") as fh:
        data = fh.read()
    if path.endswith(".json"):
        return json.dumps(untimed(json.loads(data))).encode()
    if path.endswith(".csv"):
        rows = [line.split(",") for line in data.decode().splitlines()]
        keep = [i for i, name in enumerate(rows[0]) if not any(t in name for t in TIMING)]
        return "\n".join(",".join(r[i] for i in keep) for r in rows).encode()
    return data


def digests(folder):
    out = {}
    for root, _, files in os.walk(folder):
        for f in sorted(files):
            if f.endswith(".png") or f in ("run.json", "report.md") or f.endswith(".lock"):
                continue
            path = os.path.join(root, f)
            out[os.path.relpath(path, folder)] = hashlib.sha256(content(path)).hexdigest()
    return dict(sorted(out.items()))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("binary")
    ap.add_argument("--backend", default="cpu")
    ap.add_argument("--only", help="comma-separated preset names")
    a = ap.parse_args()
    names = [line.split()[0] for line in sh([a.binary, "presets"]).splitlines() if line.strip()]
    if a.only:
        names = [n for n in names if n in a.only.split(",")]
    result = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name in names:
            spec = shrink(json.loads(sh([a.binary, "preset", name])))
            path = os.path.join(tmp, f"{name}.json")
            with open(path, "w") as fh:
                json.dump(spec, fh)
            out = os.path.join(tmp, name)
            sh([a.binary, "run", path, "--out", out, "--backend", a.backend, "--quiet"])
            result[f"run {name}"] = digests(out)
            print(f"{name}: {len(result[f'run {name}'])} files", file=sys.stderr)
        for name in ["landscape-c", "fpe2d-equal"]:
            result[f"theory {name}"] = hashlib.sha256(sh([a.binary, "theory", "--preset", name, "--json"]).encode()).hexdigest()
        fpe = os.path.join(tmp, "fpe")
        spec = os.path.join(tmp, "fpe-spec.json")
        with open(spec, "w") as fh:
            fh.write(sh([a.binary, "preset", "fpe2d-equal"]))
        sh([a.binary, "fpe", spec, "--out", fpe, "--grid", "60"])
        result["fpe fpe2d-equal"] = digests(fpe)
    json.dump(result, sys.stdout, indent=1)
    print()


if __name__ == "__main__":
    main()
