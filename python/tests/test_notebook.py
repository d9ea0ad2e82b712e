"""The notebook in examples/python runs end to end in a Jupyter kernel (run, sweep, to_xarray,
pandas, figures, save and load), its own checks included, so that it cannot rot."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import ROOT

NOTEBOOK = ROOT / "examples" / "python" / "robustness.ipynb"


def test_the_robustness_notebook_runs(tmp_path: Path) -> None:
    nbformat = pytest.importorskip("nbformat", reason="CI installs nbformat (pip install './python[test]')")
    nbclient = pytest.importorskip("nbclient", reason="CI installs nbclient and ipykernel")
    nb = nbformat.read(NOTEBOOK, as_version=4)
    # Stored without outputs: what is read is what runs.
    assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code")
    client = nbclient.NotebookClient(
        nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    )
    client.execute()  # raises CellExecutionError at the first failing cell (its asserts included)
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    figures = [o for o in outputs if "image/png" in o.get("data", {})]
    assert len(figures) == 2, "the run's and the sweep's figures"
    text = "".join(o.get("text", "") for o in outputs if o.output_type == "stream")
    assert "Warning" not in text and "XDG_RUNTIME_DIR" not in text, text[-2000:]
    tables = [o for o in outputs if "text/html" in o.get("data", {})]
    assert any("overlaps_abs_std" in o["data"]["text/html"] for o in tables), "the run's Dataset"
