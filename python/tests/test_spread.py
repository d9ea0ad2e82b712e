"""The spread of |m|: overlaps_abs_std.npy on both backends is the standard deviation of |m_μ|
over the ensemble, computed from the same exact sums as the other ensemble files, and written
by a run, kept in memory, and merged from shards alike."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

import idpsim
from conftest import cli, everything


def test_abs_std_is_the_spread_of_abs_m(backend: str) -> None:
    spec = everything()
    spec["ensemble"]["trajectories"] = 1000
    r = idpsim.run(spec, backend=backend, progress=False)
    m = r.overlaps.astype(np.float64)  # [M, T, P], the very values the sums add up
    t, p = r.times.size, m.shape[2]
    assert r.overlaps_abs_std.shape == (t, p) and r.overlaps_abs_std.dtype == np.float32
    want = np.abs(m).std(axis=0)
    second = (m * m).mean(axis=0)
    # The sums combine f32 block partials exactly, so the variance is right to the partials'
    # rounding (relative 1e-6 of E[m²]), however narrow the spread.
    err = np.abs(r.overlaps_abs_std.astype(np.float64) ** 2 - want**2)
    assert (err <= 1e-6 * second + 1e-12).all(), float((err / second).max())
    assert np.allclose(r.overlaps_abs_mean, np.abs(m).mean(axis=0), atol=1e-6)
    # |m|² = m²: the spread of |m| and of m describe the same second moment.
    lhs = r.overlaps_abs_std.astype(np.float64) ** 2 + r.overlaps_abs_mean.astype(np.float64) ** 2
    rhs = r.overlaps_std.astype(np.float64) ** 2 + r.overlaps_mean.astype(np.float64) ** 2
    assert np.allclose(lhs, rhs, rtol=1e-5, atol=1e-9)
    # It is a spread of values in [0, 1]: never above 1/2, and mean ± std is clipped for drawing.
    assert (r.overlaps_abs_std >= 0).all() and (r.overlaps_abs_std <= 0.5).all()
    assert "overlaps_abs_std.npy" in r.files


def test_abs_std_of_shards_merges_to_the_whole_run(tmp_path: Path) -> None:
    spec = everything()
    path = tmp_path / "spec.json"
    path.write_text(json.dumps(spec))
    cli("run", str(path), "--backend", "cpu", "--out", str(tmp_path / "whole"), "--quiet")
    for k in range(2):
        cli("run", str(path), "--backend", "cpu", "--shard", f"{k}/2", "--out", str(tmp_path / f"s{k}"), "--quiet")
    merged = idpsim.merge([tmp_path / "s1", tmp_path / "s0"], tmp_path / "merged")
    whole = (tmp_path / "whole" / "overlaps_abs_std.npy").read_bytes()
    assert (tmp_path / "merged" / "overlaps_abs_std.npy").read_bytes() == whole
    assert merged.overlaps_abs_std.tobytes() == np.load(tmp_path / "whole" / "overlaps_abs_std.npy").tobytes()
    # Each shard's own spread differs from the whole's: the merge recomputes it from the sums.
    shard = np.load(tmp_path / "s0" / "overlaps_abs_std.npy")
    assert shard.tobytes() != merged.overlaps_abs_std.tobytes()


def test_the_distribution_of_the_final_abs_m_on_the_device(backend: str) -> None:
    """The recipe the README gives: a histogram of the overlaps from the run's end holds each
    trajectory's final m_μ once; folded, the final |m_μ|."""
    spec = idpsim.preset("quickstart")
    spec["ensemble"]["trajectories"] = 2048
    spec["input"]["segments"][0]["duration"] = 4.0
    spec["observe"] = {
        "overlaps": {"every": 0.1, "per_trajectory": True},
        "histogram": {"of": "overlaps", "axes": [1], "bins": [40], "range": [[-1, 1]], "from": 4.0},
    }
    r = idpsim.run(spec, backend=backend, progress=False)
    h = r.histogram
    assert h is not None and h["samples"] == 2048 == h["counts"].sum()
    final = r.overlaps[:, -1, 1]
    want, _ = np.histogram(final, bins=h["edges"][0])
    assert np.array_equal(h["counts"], want)
    folded = h["counts"][20:] + h["counts"][:20][::-1]
    assert np.array_equal(folded, np.histogram(np.abs(final), bins=h["edges"][0][20:])[0])
