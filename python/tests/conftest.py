"""Shared fixtures: the command-line binary to compare with, the backends to test on, and
small specs that switch every output on."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any, Dict, List

import pytest

ROOT = Path(__file__).resolve().parents[2]


def cli_binary() -> Path:
    """The idpsim binary of this checkout (IDPSIM_BIN, else target/release/idpsim)."""
    path = Path(os.environ.get("IDPSIM_BIN", ROOT / "target" / "release" / "idpsim"))
    if not path.is_file():
        pytest.fail(f"the idpsim binary {path} is missing: run `cargo build --release` first (or set IDPSIM_BIN)")
    return path


def cli(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    """Runs the command line with `args`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SLURM_")}
    env.setdefault("XDG_RUNTIME_DIR", "/tmp")
    r = subprocess.run([str(cli_binary()), *args], capture_output=True, text=True, env=env)
    if check and r.returncode != 0:
        raise AssertionError(f"idpsim {' '.join(args)} exited {r.returncode}: {r.stderr}")
    return r


def backends() -> List[str]:
    """cpu (the reference), cpu_fast, and gpu when an adapter opens; REQUIRE_GPU=1 makes a
    missing GPU a failure."""
    import idpsim

    out = ["cpu", "cpu_fast"]
    if idpsim.devices():
        out.append("gpu")
    elif os.environ.get("REQUIRE_GPU") == "1":
        raise RuntimeError("REQUIRE_GPU=1 but no GPU adapter is visible")
    return out


def everything() -> Dict[str, Any]:
    """Every observer of the IDP model: energy, per-trajectory saves, final state, a 2-D
    histogram, retrieval over random-weight segments, first passage; 200 trajectories."""
    return {
        "name": "everything",
        "model": {"kind": "idp", "activation": {"kind": "tanh", "slope": 2.0}},
        "memories": {"kind": "random", "n": 12, "p": 3, "seed": 4},
        "input": {
            "segments": [
                {"duration": 0.4, "random_weights": {"dominant_memory": "random"}},
                {"duration": 0.3, "weights": [2.0, 1.0, 0.5], "ramp": 0.1},
            ]
        },
        "noise": {"sigma": 0.5},
        "ensemble": {"trajectories": 200, "seed": 8},
        "observe": {
            "overlaps": {"every": 0.1, "per_trajectory": True},
            "final_state": True,
            "energy": {"per_trajectory": True},
            "histogram": {"of": "state", "axes": [0, 1], "bins": [8, 6], "range": [[-3, 3], [-3, 3]]},
            "retrieval": {"threshold": 0.5},
            "first_passage": {"threshold": 0.6},
        },
    }


def modern() -> Dict[str, Any]:
    """The modern model with both dynamic layers saved per trajectory."""
    return {
        "name": "modern",
        "model": {"kind": "modern", "activation": {"kind": "tanh", "slope": 1.0}, "tau_alpha": 0.05, "tau_y": 0.03},
        "memories": {"kind": "random", "n": 16, "p": 3, "seed": 2},
        "input": {"segments": [{"duration": 0.3, "weights": [2.0, 1.0, 0.5]}]},
        "noise": {"sigma": 0.4},
        "ensemble": {"trajectories": 150, "seed": 5},
        "observe": {"overlaps": {"every": 0.02, "per_trajectory": True}, "final_state": True},
    }


@pytest.fixture(params=["cpu", "cpu_fast", "gpu"])
def backend(request: pytest.FixtureRequest) -> str:
    if request.param not in backends():
        # backends() has already failed under REQUIRE_GPU=1 (as CI sets it).
        pytest.skip("no GPU adapter: GPU checks did not run (install lavapipe: mesa-vulkan-drivers)")
    return request.param
