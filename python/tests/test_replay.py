"""idpsim.replay: single trajectories of a finished run again, their final states the run's
own bytes, and its errors as Python exceptions."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

import idpsim
from conftest import cli


def test_replay_gives_the_runs_final_states(tmp_path: Path) -> None:
    spec = idpsim.preset("quickstart")
    spec["ensemble"]["trajectories"] = 100
    spec["input"]["segments"][0]["duration"] = 0.5
    spec["observe"]["final_state"] = True
    spec["run"] = {"backend": "cpu"}
    path = tmp_path / "q.json"
    path.write_text(json.dumps(spec))
    run_dir = tmp_path / "run"
    cli("run", str(path), "--out", str(run_dir), "--quiet")
    r = idpsim.replay(run_dir, [99, 3], tmp_path / "replay", every=0.1)
    assert r["states"].shape == (2, 6, 64)
    assert r["overlaps"].shape == (2, 6, 4)
    np.testing.assert_array_equal(r["times"], np.arange(6) * 10 * 0.01)
    assert list(r["trajectories"]) == [99, 3]
    finals = np.load(run_dir / "final_state.npy")
    assert r["states"][0, -1].tobytes() == finals[99].tobytes()
    assert r["states"][1, -1].tobytes() == finals[3].tobytes()
    assert r["info"]["final_state"].startswith("equal, bit for bit")
    # The command line writes the same files.
    cli("replay", str(run_dir), "--trajectory", "99,3", "--every", "0.1", "--out", str(tmp_path / "cli"))
    for name in ("states", "overlaps", "times", "trajectories"):
        assert (tmp_path / "cli" / f"{name}.npy").read_bytes() == (tmp_path / "replay" / f"{name}.npy").read_bytes()
    # The error names the argument as Python calls it (the command line's --trajectory).
    with pytest.raises(idpsim.SpecError, match="trajectories: 100 is not one of this run's trajectories 0..99") as e:
        idpsim.replay(run_dir, [100], tmp_path / "never")
    assert e.value.field == "trajectories"
    assert not (tmp_path / "never").exists()
    # The arguments are checked before anything runs, each bad one naming itself and the range.
    for kwargs, field, says in [
        ({"trajectories": [-1]}, "trajectories", "-1 is out of range; accepted: 0 to 4294967294 (the run's"),
        ({"trajectories": [2**64]}, "trajectories", "18446744073709551616 is out of range"),
        ({"trajectories": [1.5]}, "trajectories", "1.5 is not a whole number"),
        ({"trajectories": 3}, "trajectories", "3 is not a list"),
        ({"trajectories": "3"}, "trajectories", "'3' is not a list"),
        ({"every": "x"}, "every", "'x' is not a number; accepted: a positive number"),
        ({"every": 0}, "every", "0.0 is out of range; accepted: a positive number"),
        ({"every": math.inf}, "every", "inf is out of range"),
        ({"backend": 1}, "backend", "1 is not a string; accepted: gpu, cpu, cpu_fast"),
    ]:
        args = {"trajectories": [3], **kwargs}
        with pytest.raises(idpsim.SpecError) as e:
            idpsim.replay(run_dir, args.pop("trajectories"), tmp_path / "never", **args)
        assert e.value.field == field and says in str(e.value), str(e.value)
    assert not (tmp_path / "never").exists()
    # A NumPy array of trajectory numbers is a list.
    again = idpsim.replay(run_dir, np.array([99, 3], dtype=np.int32), tmp_path / "array", every=np.float64(0.1))
    assert again["states"].tobytes() == r["states"].tobytes()
