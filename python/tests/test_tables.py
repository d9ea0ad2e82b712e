"""xarray and pandas a scientist can use directly: every dimension has a coordinate, every
variable a long name and units; a sweep has one dimension per swept axis; its table has every
column of the command line's sweep.csv; `out=` on a sweep writes the command line's files."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Dict

import numpy as np
import pytest

import idpsim
from conftest import cli, everything, modern

xr = pytest.importorskip("xarray", reason="CI installs xarray; these checks need it")
pd = pytest.importorskip("pandas", reason="CI installs pandas; these checks need it")


def small_sweep() -> Dict[str, Any]:
    spec = idpsim.preset("robustness-sweep")
    spec["memories"]["n"] = 64
    spec["ensemble"]["trajectories"] = 128
    spec["input"]["segments"][0]["duration"] = 1.0
    spec["observe"]["retrieval"]["window"] = 0.5
    spec["sweep"]["noise.sigma"] = [0, 2]
    return spec


def test_a_run_as_xarray_has_coordinates_and_units() -> None:
    r = idpsim.run(everything(), backend="cpu", progress=False)
    ds = r.to_xarray()
    # A coordinate for every dimension, and a long name and units on everything.
    assert set(ds.dims) == set(ds.coords) & set(ds.dims)
    for name in list(ds.data_vars) + list(ds.coords):
        attrs = ds[name].attrs
        assert attrs.get("long_name") and "units" in attrs, name
    assert ds.time.units == "model time units" and ds.overlaps_mean.units == "1"
    assert ds.first_passage.units == "model time units"
    np.testing.assert_array_equal(ds.memory, [0, 1, 2])
    np.testing.assert_array_equal(ds.trajectory, np.arange(200))
    np.testing.assert_array_equal(ds.neuron, np.arange(12))
    np.testing.assert_array_equal(ds.segment, [0, 1])
    np.testing.assert_allclose(ds.segment_start, [0.0, 0.4])
    np.testing.assert_allclose(ds.segment_end, [0.4, 0.7])
    assert json.loads(str(ds.segment_input.values[1]))["weights"] == [2.0, 1.0, 0.5]
    # The second segment gives weights, the first draws them per trajectory.
    assert np.isnan(ds.segment_weights.values[0]).all()
    np.testing.assert_array_equal(ds.segment_weights.values[1], [2.0, 1.0, 0.5])
    # sel by coordinate; the values are the run's arrays.
    np.testing.assert_array_equal(ds.overlaps_abs_mean.sel(memory=1), r.overlaps_abs_mean[:, 1])
    np.testing.assert_array_equal(ds.overlaps.sel(trajectory=7, memory=2), r.overlaps[7, :, 2])
    np.testing.assert_array_equal(ds.overlaps_abs_std, r.overlaps_abs_std)
    np.testing.assert_array_equal(ds.retrieved.sel(segment=1), r.retrieved[:, 1])
    assert ds.histogram.dims == ("histogram_axis0", "histogram_axis1")
    assert ds.histogram_axis0.long_name == "state x_0 (cell centre)"
    assert ds.attrs["device_type"] == "cpu" and json.loads(ds.attrs["spec"]) == r.spec
    # The plots label themselves from the metadata.
    matplotlib = pytest.importorskip("matplotlib", reason="CI installs matplotlib")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    lines = ds.overlaps_abs_mean.plot.line(x="time", hue="memory")
    ax = lines[0].axes
    assert " ".join(ax.get_xlabel().split()) == "time [model time units]"
    assert " ".join(ax.get_ylabel().split()) == "mean |m_μ| over the ensemble [1]"
    plt.close("all")
    mod = idpsim.run(modern(), backend="cpu", progress=False).to_xarray()
    assert mod.saliency.dims == ("trajectory", "time", "memory") and mod.saliency_mean.units == "1"


def test_a_shard_keeps_its_trajectory_numbers(tmp_path: Path) -> None:
    spec = everything()
    path = tmp_path / "spec.json"
    path.write_text(json.dumps(spec))
    cli("run", str(path), "--backend", "cpu", "--shard", "1/2", "--out", str(tmp_path / "s1"), "--quiet")
    ds = idpsim.load(tmp_path / "s1").to_xarray()
    first = json.loads((tmp_path / "s1" / "run.json").read_text())["trajectories"]["first"]
    assert first > 0 and int(ds.trajectory[0]) == first


def test_a_sweep_as_pandas_has_every_column_of_sweep_csv(tmp_path: Path) -> None:
    spec = small_sweep()
    path = tmp_path / "sweep.json"
    path.write_text(json.dumps(spec))
    cli("run", str(path), "--backend", "cpu", "--out", str(tmp_path / "cli"), "--quiet")
    want = pd.read_csv(tmp_path / "cli" / "sweep.csv")
    s = idpsim.sweep(spec, backend="cpu", progress=False)
    got = s.to_pandas()
    assert list(got.columns) == list(want.columns)
    for column in ("fraction_memory9", "fraction_none", "final_abs_m_target", "accuracy_segment0", "dir"):
        assert column in got.columns
    timing = ["wall_s", "neuron_steps_per_s"]
    pd.testing.assert_frame_equal(got.drop(columns=timing), want.drop(columns=timing))
    assert (got["wall_s"] > 0).all()


def test_a_sweep_as_xarray_has_a_dimension_per_axis() -> None:
    s = idpsim.sweep(small_sweep(), backend="cpu", progress=False)
    ds = s.to_xarray()
    assert ds.overlaps_mean.dims == ("noise.sigma", "variant", "time", "memory")
    np.testing.assert_array_equal(ds["noise.sigma"], [0.0, 2.0])
    assert list(ds.variant.values) == ["idp", "classic", "classic-pulse"]
    table = s.to_pandas()
    for k, r in enumerate(s):
        assert r is not None
        where = {"noise.sigma": table["noise.sigma"][k], "variant": table["variant"][k]}
        point = ds.sel(where)
        np.testing.assert_array_equal(point.overlaps_mean, r.overlaps_mean)
        np.testing.assert_array_equal(point.retrieved, r.retrieved)
        assert float(point.accuracy) == r.run_info["retrieval"]["accuracy"]
        assert float(point.fraction_memory3) == table["fraction_memory3"][k]
    assert ds.accuracy.long_name == "retrieval accuracy" and ds.retrieved.dtype == np.int32
    idp = ds.accuracy.sel(variant="idp")
    assert idp.dims == ("noise.sigma",)


def test_a_sweep_with_a_failed_point_and_points_of_different_lengths() -> None:
    spec = small_sweep()
    spec["observe"] = {"overlaps": {"every": 0.1}, "retrieval": {"threshold": 0.9}}
    spec["sweep"] = {"input.segments.0.duration": [0.5, 1.0], "noise.sigma": [0.5, 3e38]}
    s = idpsim.sweep(spec, backend="cpu", progress=False)
    assert [r is None for r in s] == [False, True, False, True]
    assert s.table["status"][0] == "ok" and s.table["status"][1].startswith("failed: ")
    assert "diverged" in s.table["status"][1]
    ds = s.to_xarray()
    assert ds.sizes["time"] == 11  # the union of the two lengths' save times
    short = ds.overlaps_mean.sel({"input.segments.0.duration": 0.5, "noise.sigma": 0.5})
    assert np.isnan(short.sel(time=slice(0.55, None))).all() and not np.isnan(short.sel(time=slice(0, 0.5))).any()
    assert np.isnan(ds.overlaps_mean.sel({"noise.sigma": 3e38})).all()
    assert np.isnan(ds.accuracy.sel({"noise.sigma": 3e38})).all()
    assert list(ds.status.sel({"noise.sigma": 0.5}).values) == ["ok", "ok"]


def test_out_on_a_sweep_writes_the_cli_files(tmp_path: Path) -> None:
    spec = small_sweep()
    path = tmp_path / "sweep.json"
    path.write_text(json.dumps(spec))
    cli("run", str(path), "--backend", "cpu", "--out", str(tmp_path / "cli"), "--quiet")
    s = idpsim.sweep(spec, backend="cpu", out=tmp_path / "py", progress=False)
    assert s.out == tmp_path / "py" and len(s) == 6 and all(r is not None and r.out for r in s)
    cli_files = sorted(str(p.relative_to(tmp_path / "cli")) for p in (tmp_path / "cli").rglob("*"))
    py_files = sorted(str(p.relative_to(tmp_path / "py")) for p in (tmp_path / "py").rglob("*"))
    assert py_files == cli_files
    timed = {"run.json", "report.md", "sweep.csv"}
    for f in cli_files:
        a, b = tmp_path / "cli" / f, tmp_path / "py" / f
        if a.is_file() and a.name not in timed:
            assert a.read_bytes() == b.read_bytes(), f
    # sweep.csv and report.md differ only in the timings.
    timing = ["wall_s", "neuron_steps_per_s"]
    pd.testing.assert_frame_equal(
        pd.read_csv(tmp_path / "py" / "sweep.csv").drop(columns=timing),
        pd.read_csv(tmp_path / "cli" / "sweep.csv").drop(columns=timing),
    )

    def untimed(text: str) -> str:
        return re.sub(r"\d+\.\d+e[+-]?\d+|in \d+\.\d+ s", "#", text)

    assert untimed((tmp_path / "py" / "report.md").read_text()) == untimed((tmp_path / "cli" / "report.md").read_text())
    # An occupied directory is refused as the CLI refuses it; force reruns into it.
    with pytest.raises(idpsim.SpecError) as e:
        idpsim.sweep(spec, backend="cpu", out=tmp_path / "py", progress=False)
    assert e.value.field == "out"
    again = idpsim.sweep(spec, backend="cpu", out=tmp_path / "py", force=True, progress=False)
    assert again.table["accuracy"] == s.table["accuracy"]
