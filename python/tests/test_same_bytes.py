"""Same answers as the command line: for the same spec and seed, every array a run keeps in
memory equals the CLI's file byte for byte (dtype, shape and values), every document is equal,
a run given `out` writes the CLI's directory, and `Result.save` writes the CLI's NPY bytes. On
both backends, for every output kind."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import idpsim
from conftest import cli, everything, modern

SPECS = {"everything": everything, "modern": modern}


def npy_files(d: Path):
    return sorted(p.name for p in d.glob("*.npy"))


@pytest.mark.parametrize("name", sorted(SPECS))
def test_every_output_equals_the_cli_files(tmp_path: Path, backend: str, name: str) -> None:
    spec = SPECS[name]()
    spec_file = tmp_path / "spec.json"
    spec_file.write_text(json.dumps(spec))
    cli_dir = tmp_path / "cli"
    cli("run", str(spec_file), "--backend", backend, "--out", str(cli_dir), "--quiet")

    r = idpsim.run(spec, backend=backend, progress=False)
    files = npy_files(cli_dir)
    assert len(files) >= 6, files
    assert sorted(f for f in r.files if f.endswith(".npy")) == files, "the same arrays as the CLI's files"
    for f in files:
        want = np.load(cli_dir / f)
        got = r.arrays[f[: -len(".npy")]]
        assert got.dtype == want.dtype and got.shape == want.shape, f
        assert got.tobytes() == want.tobytes(), f"{f} differs from the CLI's"
    for doc in sorted(p.name for p in cli_dir.glob("*.json") if p.name != "run.json"):
        assert r.docs[doc] == json.loads((cli_dir / doc).read_text()), doc
    info = json.loads((cli_dir / "run.json").read_text())
    assert r.run_info["spec"] == info["spec"]
    assert r.run_info["memories_sha256"] == info["memories_sha256"]
    assert r.run_info["retrieval"] == info["retrieval"] and r.run_info["first_passage"] == info["first_passage"]

    # A run given `out` writes the CLI's directory; its arrays are read back from the files.
    out = tmp_path / "py"
    r2 = idpsim.run(spec, backend=backend, out=out, progress=False)
    assert sorted(p.name for p in out.iterdir()) == sorted(p.name for p in cli_dir.iterdir())
    for p in cli_dir.iterdir():
        if p.name != "run.json":
            assert (out / p.name).read_bytes() == p.read_bytes(), p.name
    assert r2.out == out and sorted(r2.files) == sorted(r.files + [f for f in r2.files if f.endswith(".png")])

    # save(): the NPY bytes of the CLI, documents and a manifest that merge and reruns accept.
    saved = tmp_path / "saved"
    written = r.save(saved)
    assert written[-1] == "run.json"
    for f in files:
        assert (saved / f).read_bytes() == (cli_dir / f).read_bytes(), f"saved {f}"
    for doc in sorted(p.name for p in cli_dir.glob("*.json") if p.name != "run.json"):
        assert (saved / doc).read_bytes() == (cli_dir / doc).read_bytes(), f"saved {doc}"
    rerun = cli("run", str(spec_file), "--backend", backend, "--out", str(saved), "--quiet")
    assert "nothing to do" in rerun.stderr, "the saved directory is taken as this run, complete"


def test_named_outputs(tmp_path: Path) -> None:
    r = idpsim.run(everything(), backend="cpu", progress=False)
    m, t, p = 200, 8, 3
    assert r.times.shape == (t,)
    assert r.overlaps_mean.shape == (t, p) and r.overlaps_std.shape == (t, p)
    assert r.overlaps.shape == (m, t, p) and r.energy.shape == (m, t)
    assert r.final_state.shape == (m, 12) and r.first_passage.shape == (m,)
    h = r.histogram
    assert h is not None and h["counts"].shape == (8, 6) and h["counts"].dtype == np.uint64
    assert [len(e) for e in h["edges"]] == [9, 7]
    assert h["counts"].sum() + h["out_of_range"] == h["samples"]
    assert r.retrieval is not None and set(r.retrieval) >= {"accuracy"}
    assert r["overlaps_mean"] is r.overlaps_mean
    with pytest.raises(AttributeError, match="has no output 'saliency_mean'"):
        r.saliency_mean
    mod = idpsim.run(modern(), backend="cpu", progress=False)
    assert mod.saliency.shape == (150, 16, 3) and mod.memory_layer.shape == (150, 16, 3)
    assert mod.saliency_mean.shape == (16, 3)


def test_to_xarray(tmp_path: Path) -> None:
    xr = pytest.importorskip("xarray", reason="CI installs xarray; this check needs it")
    r = idpsim.run(everything(), backend="cpu", progress=False)
    ds = r.to_xarray()
    assert isinstance(ds, xr.Dataset)
    assert ds["overlaps"].dims == ("trajectory", "time", "memory")
    assert ds["final_state"].dims == ("trajectory", "neuron")
    assert np.array_equal(ds["time"].values, r.times)
    assert ds["histogram"].shape == (8, 6)
    assert np.allclose(ds["histogram_axis0"].values, 0.5 * (r.histogram["edges"][0][1:] + r.histogram["edges"][0][:-1]))
    assert json.loads(ds.attrs["spec"]) == r.spec
    assert np.array_equal(ds["overlaps_mean"].values, r.overlaps_mean)
