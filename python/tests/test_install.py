"""Install: the package ships its type information (py.typed, stubs of the native module that
match it), editors and type checkers see the API's types, and every optional extra is
documented with what it enables."""

from __future__ import annotations

import re
import subprocess
import sys
from importlib import resources
from pathlib import Path

import pytest

import idpsim
from conftest import ROOT

USE = """
import numpy as np
import idpsim

r: idpsim.Result = idpsim.run("quickstart", trajectories=64, backend="cpu", progress=False)
m: np.ndarray = r.overlaps_abs_std
s: idpsim.Sweep = idpsim.sweep("robustness-sweep", trajectories=64)
first: "idpsim.Result | None" = s[0]
again = idpsim.load("runs/quickstart")
t = idpsim.theory([1.5, 2.25], slope=1.0, n=2)
names: "list[str]" = list(idpsim.presets())
# NumPy numbers wherever a number is taken, an array of trajectory numbers, adapters as a list.
n = np.int64(64)
idpsim.run("quickstart", trajectories=n, seed=np.uint64(7), adapter=[0, "llvm"], progress=False)
idpsim.sweep("robustness-sweep", trajectories=np.int32(64), seed=np.int64(1), adapter=np.int64(0))
idpsim.theory(np.array([1.5, 2.25]), slope=np.float64(1.0), n=np.int64(2))
idpsim.theory([np.float32(1.5), 2.25], slope=np.float32(1.0))
idpsim.fpe("fpe2d-equal", grid=np.int16(20))
idpsim.landscape([1.5, 2.0], "l", slope=np.float32(1.0), sigma=np.float64(0.5), trajectories=np.int64(3))
idpsim.replay("runs/q", np.array([99, 3]), "replay", every=np.float64(0.1))
idpsim.replay("runs/q", [np.int64(99), 3], "replay", every=np.float32(0.1))
w: "type[UserWarning]" = idpsim.IdpsimWarning
"""

MISUSE = """
import idpsim

r: int = idpsim.run("quickstart")
idpsim.sweep("robustness-sweep", progress="yes", out=3)
"""


def mypy(*paths: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", *map(str, paths)], capture_output=True, text=True, cwd=paths[0].parent
    )


def test_type_information_is_shipped_and_complete(tmp_path: Path) -> None:
    pytest.importorskip("mypy", reason="CI installs mypy (pip install './python[test]')")
    package = resources.files("idpsim")
    assert package.joinpath("py.typed").is_file() and package.joinpath("_native.pyi").is_file()
    # The stubs of the native module match it: every function and argument, nothing missing.
    r = subprocess.run([sys.executable, "-m", "mypy.stubtest", "idpsim._native"], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    # Code using the package is checked against its types: correct use passes --strict, misuse
    # is found.
    ok, bad = tmp_path / "use.py", tmp_path / "misuse.py"
    ok.write_text(USE)
    bad.write_text(MISUSE)
    r = mypy(ok, bad)
    errors = [line for line in r.stdout.splitlines() if ": error:" in line]
    assert errors and all(line.startswith("misuse.py:") for line in errors), r.stdout
    assert 'Incompatible types in assignment (expression has type "Result", variable has type "int")' in r.stdout
    assert 'Argument "progress" to "sweep" has incompatible type "str"' in r.stdout
    assert 'Argument "out" to "sweep" has incompatible type "int"' in r.stdout


def test_every_extra_is_documented() -> None:
    text = (ROOT / "python" / "pyproject.toml").read_text()
    block = text.split("[project.optional-dependencies]", 1)[1].split("\n[", 1)[0]
    extras = re.findall(r"^(\w+) = \[", block, flags=re.M)
    assert {"xarray", "pandas", "progress", "plot", "all", "test"} <= set(extras), extras
    readme = (ROOT / "README.md").read_text().split("## From Python", 1)[1].split("\n## ", 1)[0]
    for extra in extras:
        assert f"idpsim[{extra}]" in readme or f"python[{extra}]" in readme, f"extra '{extra}' is not in the README"
    assert re.search(r"\d+ min \d+ s", readme), "the measured install time"
    # What the error says when an extra is missing names the extra.
    assert "idpsim[xarray]" in (Path(idpsim.__file__).parent / "_xarray.py").read_text()
