"""The Python examples (examples/python/) run end to end at reduced sizes and draw their
pictures; their printed results are sane."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from conftest import ROOT

EXAMPLES = ROOT / "examples" / "python"


def run_example(name: str, out: Path) -> str:
    r = subprocess.run(
        [sys.executable, str(EXAMPLES / name), "--small", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert r.returncode == 0, r.stderr
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", f"{out} is not a PNG"
    return r.stdout


def test_robustness_example(tmp_path: Path) -> None:
    text = run_example("robustness.py", tmp_path / "robustness.png")
    rows = re.findall(r"(\S+)\s+σ =\s+(\S+)\s+accuracy (\S+) ± (\S+)", text)
    assert len(rows) == 6, text
    acc = {(v, float(s)): float(a) for v, s, a, _ in rows}
    # Without noise the IDP network retrieves most dominant memories (N = 1024, P = 10, δ = 10).
    assert acc[("idp", 0.0)] > 0.8, text


def test_density_overlay_example(tmp_path: Path) -> None:
    text = run_example("density_overlay.py", tmp_path / "overlay.png")
    tv = float(re.search(r"grid density: (\S+)", text).group(1))
    # 4096 trajectories over 40 time units sampled every 0.5 after t = 20 (≈ 160 000 samples
    # in 10 000 cells): the TV distance is dominated by Monte-Carlo noise, about 0.07.
    assert tv < 0.15, text


def test_readme_example_runs(tmp_path: Path) -> None:
    """The README's "From Python" example, as written, draws its picture."""
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## From Python", 1)[1]
    code = section.split("```python\n", 1)[1].split("```", 1)[0]
    assert "idpsim.run(" in code and code.count("\n") <= 12, "a short example"
    r = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "MPLBACKEND": "Agg"},
    )
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "overlay.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
