"""Keeping results: a Result and a Sweep pickle (and so cross process boundaries), and
`idpsim.load` reopens a run directory or a sweep directory, written by the command line or by
Python, as the same object, refusing what it cannot verify."""

from __future__ import annotations

import json
import pickle
import shutil
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path
from typing import Any, Dict

import numpy as np
import pytest

import idpsim
from conftest import cli, everything, modern


def small_sweep() -> Dict[str, Any]:
    spec = idpsim.preset("robustness-sweep")
    spec["memories"]["n"] = 64
    spec["ensemble"]["trajectories"] = 128
    spec["input"]["segments"][0]["duration"] = 1.0
    spec["observe"]["retrieval"]["window"] = 0.5
    spec["sweep"]["noise.sigma"] = [0, 2]
    return spec


def same_result(a: idpsim.Result, b: idpsim.Result, arrays: Any = None) -> None:
    names = sorted(a.arrays) if arrays is None else arrays
    for k in names:
        assert a.arrays[k].dtype == b.arrays[k].dtype and a.arrays[k].shape == b.arrays[k].shape, k
        assert a.arrays[k].tobytes() == b.arrays[k].tobytes(), k
    assert a.docs == b.docs
    assert a.run_info["spec"] == b.run_info["spec"]
    assert a.run_info["retrieval"] == b.run_info["retrieval"]
    assert a.run_info["first_passage"] == b.run_info["first_passage"]


def run_in_worker(seed: int) -> idpsim.Result:
    spec = everything()
    spec["ensemble"]["trajectories"] = 64
    return idpsim.run(spec, backend="cpu", seed=seed, progress=False)


def test_a_result_pickles() -> None:
    r = idpsim.run(everything(), backend="cpu", progress=False)
    back = pickle.loads(pickle.dumps(r))
    assert sorted(back.arrays) == sorted(r.arrays)
    same_result(r, back)
    assert back.files == r.files and back.run_info == r.run_info and back.out is None
    # The named outputs work on the copy; a missing one is still an AttributeError.
    assert back.overlaps.shape == r.overlaps.shape and back.histogram["counts"].sum() == r.histogram["counts"].sum()
    with pytest.raises(AttributeError, match="has no output 'saliency_mean'"):
        back.saliency_mean
    # And across processes: results computed in workers come back whole and equal.
    with ProcessPoolExecutor(max_workers=2, mp_context=get_context("spawn")) as pool:
        remote = list(pool.map(run_in_worker, [3, 4]))
    for seed, got in zip([3, 4], remote):
        same_result(got, run_in_worker(seed))


def test_a_sweep_pickles() -> None:
    s = idpsim.sweep(small_sweep(), backend="cpu", progress=False)
    back = pickle.loads(pickle.dumps(s))
    assert isinstance(back, idpsim.Sweep) and len(back) == len(s)
    assert back.table == s.table and back.axes == s.axes and back.csv == s.csv and back.name == s.name
    for a, b in zip(s, back):
        assert a is not None and b is not None
        same_result(a, b)


def test_load_reopens_a_cli_run_as_the_same_result(tmp_path: Path) -> None:
    spec = everything()
    path = tmp_path / "spec.json"
    path.write_text(json.dumps(spec))
    cli("run", str(path), "--backend", "cpu", "--out", str(tmp_path / "cli"), "--quiet")
    loaded = idpsim.load(tmp_path / "cli")
    assert isinstance(loaded, idpsim.Result)
    memory = idpsim.run(spec, backend="cpu", progress=False)
    # Every file of the catalogue: the same arrays (all but the raw values only memory keeps).
    on_disk = sorted(f[: -len(".npy")] for f in memory.files if f.endswith(".npy"))
    assert sorted(loaded.arrays) == on_disk and len(on_disk) >= 10
    same_result(loaded, memory, arrays=on_disk)
    assert loaded.out == tmp_path / "cli" and set(loaded.pictures) == {"overlaps.png", "density.png"}
    assert all(p.is_file() for p in loaded.pictures.values())
    assert loaded.run_info["backend"] == "cpu" and "manifest" not in loaded.run_info

    # save() then load(): the same again, and what the CLI takes as this run.
    saved = tmp_path / "saved"
    memory.save(saved)
    same_result(idpsim.load(saved), memory, arrays=on_disk)
    rerun = cli("run", str(path), "--backend", "cpu", "--out", str(saved), "--quiet")
    assert "nothing to do" in rerun.stderr


@pytest.mark.parametrize("make", [everything, modern])
def test_a_run_in_memory_has_its_directorys_arrays(tmp_path: Path, make: Any) -> None:
    """Per-trajectory saves: the in-memory run holds the arrays of its files, no more (no raw
    copies of them), equal to what load() reads from the directory the run writes."""
    spec = make()
    spec["ensemble"]["trajectories"] = 64
    memory = idpsim.run(spec, backend="cpu", progress=False)
    idpsim.run(spec, backend="cpu", out=tmp_path / "run", progress=False)
    loaded = idpsim.load(tmp_path / "run")
    assert isinstance(loaded, idpsim.Result)
    assert sorted(memory.arrays) == sorted(loaded.arrays)
    assert sorted(memory.arrays) == sorted(f[: -len(".npy")] for f in memory.files if f.endswith(".npy"))
    same_result(memory, loaded)
    assert memory.keys() == loaded.keys()


def test_load_refuses_what_it_cannot_verify(tmp_path: Path) -> None:
    spec = everything()
    good = tmp_path / "good"
    idpsim.run(spec, backend="cpu", out=good, progress=False)

    def refused(d: Path, why: str) -> None:
        with pytest.raises(idpsim.SpecError) as e:
            idpsim.load(d)
        assert e.value.field == "dir" and why in str(e.value), str(e.value)

    changed = tmp_path / "changed"
    shutil.copytree(good, changed)
    a = np.load(changed / "overlaps_mean.npy")
    a[0, 0] += 1.0
    np.save(changed / "overlaps_mean.npy", a)
    refused(changed, "overlaps_mean.npy does not match")

    missing = tmp_path / "missing"
    shutil.copytree(good, missing)
    (missing / "retrieved.npy").unlink()
    refused(missing, "retrieved.npy is missing")

    extra = tmp_path / "extra"
    shutil.copytree(good, extra)
    (extra / "notes.txt").write_text("mine")
    refused(extra, "notes.txt is not part of this run")

    interrupted = tmp_path / "interrupted"
    shutil.copytree(good, interrupted)
    (interrupted / "run.json").unlink()
    (interrupted / "INCOMPLETE").write_text("")
    refused(interrupted, "unfinished or interrupted")

    refused(tmp_path / "nowhere", "is not a directory")
    (tmp_path / "empty").mkdir()
    refused(tmp_path / "empty", "no run.json")
    # Nothing it refused was changed.
    assert (extra / "notes.txt").read_text() == "mine"


def test_load_reopens_a_cli_sweep(tmp_path: Path) -> None:
    spec = small_sweep()
    path = tmp_path / "sweep.json"
    path.write_text(json.dumps(spec))
    cli("run", str(path), "--backend", "cpu", "--out", str(tmp_path / "cli"), "--quiet")
    loaded = idpsim.load(tmp_path / "cli")
    assert isinstance(loaded, idpsim.Sweep) and len(loaded) == 6
    memory = idpsim.sweep(spec, backend="cpu", progress=False)
    assert loaded.name == "robustness-sweep" == memory.name
    assert [a["name"] for a in loaded.axes] == ["noise.sigma", "variant"]
    assert [[v["label"] for v in a["values"]] for a in loaded.axes] == [
        [v["label"] for v in a["values"]] for a in memory.axes
    ]
    assert loaded.points == memory.points
    assert loaded.csv == (tmp_path / "cli" / "sweep.csv").read_text()
    timing = {"wall_s", "neuron_steps_per_s"}
    for column in memory.table:
        if column not in timing:
            assert loaded.table[column] == memory.table[column], column
    for a, b in zip(loaded, memory):
        assert a is not None and b is not None
        on_disk = sorted(f[: -len(".npy")] for f in b.files if f.endswith(".npy"))
        same_result(a, b, arrays=on_disk)

    # A table that no longer matches its points, or a damaged point, is refused.
    edited = tmp_path / "edited"
    shutil.copytree(tmp_path / "cli", edited)
    text = (edited / "sweep.csv").read_text().splitlines()
    cells = text[1].split(",")
    cells[4] = "0.5" if cells[4] != "0.5" else "0.25"  # the accuracy column
    text[1] = ",".join(cells)
    (edited / "sweep.csv").write_text("\n".join(text) + "\n")
    with pytest.raises(idpsim.SpecError, match="does not match"):
        idpsim.load(edited)
    outside = tmp_path / "outside"
    shutil.copytree(tmp_path / "cli", outside)
    text = (outside / "sweep.csv").read_text().splitlines()
    cells = text[1].split(",")
    cells[-1] = "../cli/" + cells[-1]  # the dir column, pointing out of the sweep
    text[1] = ",".join(cells)
    (outside / "sweep.csv").write_text("\n".join(text) + "\n")
    with pytest.raises(idpsim.SpecError, match="not a directory of the sweep"):
        idpsim.load(outside)
    damaged = tmp_path / "damaged"
    shutil.copytree(tmp_path / "cli", damaged)
    point = sorted(p for p in damaged.iterdir() if p.is_dir())[3]
    (point / "retrieved.npy").write_bytes(b"not an array")
    with pytest.raises(idpsim.SpecError, match="retrieved.npy does not match"):
        idpsim.load(damaged)
