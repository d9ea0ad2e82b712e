"""Arguments as NumPy users write them: NumPy scalars and arrays wherever the spec takes a
number or a list, and bad argument values as SpecError naming the argument, the value and the
accepted range (never an OverflowError or a TypeError from inside)."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Dict

import numpy as np
import pytest

import idpsim


def small() -> Dict[str, Any]:
    spec = idpsim.preset("quickstart")
    spec["ensemble"]["trajectories"] = 128
    spec["input"]["segments"][0]["duration"] = 1.0
    return spec


def test_numpy_values_in_a_spec_run_as_python_numbers() -> None:
    plain = small()
    plain["noise"]["sigma"] = 0.5
    plain["input"]["segments"][0]["weights"] = [1.25, 2.5, 0.75, 1.0]
    sigmas = np.linspace(0.0, 1.0, 3, dtype=np.float32)
    numpy = small()
    numpy["noise"]["sigma"] = sigmas[1]  # a float32 taken from an array
    numpy["input"]["segments"][0]["weights"] = np.array([1.25, 2.5, 0.75, 1.0])
    numpy["ensemble"]["trajectories"] = np.int64(128)
    numpy["ensemble"]["seed"] = np.uint64(plain["ensemble"]["seed"])
    numpy["memories"]["columns"] = np.arange(4)
    plain["memories"]["columns"] = [0, 1, 2, 3]
    base = idpsim.run(plain, backend="cpu", progress=False)
    got = idpsim.run(numpy, backend="cpu", progress=False)
    assert got.spec == base.spec
    assert got.overlaps_mean.tobytes() == base.overlaps_mean.tobytes()


def test_whole_floats_in_a_spec_are_integers() -> None:
    """Python writes 1e3 and np.float64(8) as floats; an integer field takes them when whole,
    as the arguments do, and the run is the one the integers give."""
    base = small()
    floats = small()
    floats["ensemble"]["trajectories"] = 1.28e2
    floats["ensemble"]["seed"] = np.float64(base["ensemble"]["seed"])
    floats["memories"]["n"] = 64.0
    floats["memories"]["columns"] = np.array(base["memories"]["columns"], dtype=np.float32)
    want = idpsim.run(base, backend="cpu", progress=False)
    got = idpsim.run(floats, backend="cpu", progress=False)
    assert got.spec == want.spec
    assert got.overlaps_mean.tobytes() == want.overlaps_mean.tobytes()
    floats["memories"]["n"] = 64.5
    with pytest.raises(idpsim.SpecError) as e:
        idpsim.run(floats, progress=False)
    assert e.value.field == "memories.n" and "64.5" in str(e.value) and "whole number" in str(e.value)


def test_a_sweep_built_with_numpy() -> None:
    spec = small()
    spec["sweep"] = {"noise.sigma": np.linspace(0, 1, 3), "ensemble.seed": np.array([1, 2], dtype=np.int32)}
    s = idpsim.sweep(spec, backend="cpu", trajectories=np.int32(64), seed=None, progress=False)
    assert s.table["noise.sigma"] == [0.0, 0.0, 0.5, 0.5, 1.0, 1.0] and s.table["ensemble.seed"] == [1, 2] * 3
    assert all(r is not None and r.spec["ensemble"]["trajectories"] == 64 for r in s)


def test_numpy_arguments() -> None:
    r = idpsim.run(small(), backend="cpu", trajectories=np.int64(64), seed=np.uint64(7), progress=False)
    assert r.run_info["trajectories"]["count"] == 64 and r.spec["ensemble"]["seed"] == 7
    # A float with no fractional part, as 1e4 is written.
    assert idpsim.run(small(), backend="cpu", trajectories=64.0, progress=False).run_info["trajectories"]["count"] == 64
    t = idpsim.theory(np.array([1.5, 2.25]), slope=np.float64(1.0), n=np.int64(2))
    assert t == idpsim.theory([1.5, 2.25])
    density, _ = idpsim.fpe("fpe2d-equal", grid=np.int16(20))
    assert density.shape == (20, 20)


def test_a_0d_array_and_array_likes_in_a_spec() -> None:
    plain = small()
    plain["noise"]["sigma"] = 0.5
    plain["input"]["segments"][0]["weights"] = [1.25, 2.5, 0.75, 1.0]
    plain["ensemble"]["trajectories"] = 64

    class ArrayLike:
        """What pandas, xarray and JAX arrays have in common: ``__array__``, not ndarray."""

        def __init__(self, values: Any) -> None:
            self.values = values

        def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
            return np.asarray(self.values, dtype=dtype)

    numpy = small()
    numpy["noise"]["sigma"] = np.array(0.5)  # 0-d
    numpy["ensemble"]["trajectories"] = np.array(64, dtype=np.uint32)
    numpy["input"]["segments"][0]["weights"] = ArrayLike([1.25, 2.5, 0.75, 1.0])
    base = idpsim.run(plain, backend="cpu", progress=False)
    got = idpsim.run(numpy, backend="cpu", progress=False)
    assert got.spec == base.spec
    assert got.overlaps_mean.tobytes() == base.overlaps_mean.tobytes()
    pd = pytest.importorskip("pandas")
    xr = pytest.importorskip("xarray")
    numpy["input"]["segments"][0]["weights"] = pd.Series([1.25, 2.5, 0.75, 1.0])
    numpy["noise"]["sigma"] = xr.DataArray(0.5)
    assert idpsim.run(numpy, backend="cpu", progress=False).spec == base.spec
    numpy["input"]["segments"][0]["weights"] = xr.DataArray([1.25, 2.5, 0.75, 1.0], dims="memory")
    assert idpsim.run(numpy, backend="cpu", progress=False).spec == base.spec
    # An array-like of text is refused as an array of text is.
    numpy["name"] = pd.Series(["a", "b"])
    with pytest.raises(idpsim.SpecError) as e:
        idpsim.run(numpy, progress=False)
    assert e.value.field == "name" and "array of object" in str(e.value), str(e.value)


def test_adapters_as_a_list() -> None:
    # A list is the command line's comma-separated --adapter: several GPUs, which the CPU
    # backend refuses by naming them.
    with pytest.raises(idpsim.SpecError) as e:
        idpsim.run(small(), backend="cpu", adapter=[0, np.int64(1)], progress=False)
    assert e.value.field == "adapter" and "'0,1' names GPU devices" in str(e.value), str(e.value)
    # One adapter in a list is that adapter (and a CPU backend takes none).
    with pytest.raises(idpsim.SpecError) as e:
        idpsim.run(small(), backend="cpu", adapter=[0], trajectories=64, progress=False)
    assert e.value.field == "adapter" and "'0' names GPU devices" in str(e.value), str(e.value)


def test_merge_refuses_one_path_for_a_list(tmp_path: Path) -> None:
    for call in (
        lambda: idpsim.merge("somedir", tmp_path / "out"),
        lambda: idpsim.merge(tmp_path / "somedir", tmp_path / "out"),
        lambda: idpsim.merge_check("somedir"),
    ):
        with pytest.raises(idpsim.SpecError) as e:
            call()
        assert e.value.field == "dirs" and "a list of shard directories" in str(e.value), str(e.value)
    with pytest.raises(idpsim.SpecError) as e:
        idpsim.merge_check(["a", 3])
    assert e.value.field == "dirs.1" and "3 is not a path" in str(e.value)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    "kwargs, field, says",
    [
        ({"trajectories": -5}, "trajectories", "-5 is out of range; accepted: 1 to 4294967295"),
        ({"trajectories": 0}, "trajectories", "0 is out of range; accepted: 1 to 4294967295"),
        ({"trajectories": 2**32}, "trajectories", "4294967296 is out of range; accepted: 1 to 4294967295"),
        ({"trajectories": 1.5}, "trajectories", "1.5 is not a whole number; accepted: 1 to 4294967295"),
        ({"trajectories": "100"}, "trajectories", "'100' is not a whole number"),
        ({"trajectories": True}, "trajectories", "True is not a whole number"),
        ({"trajectories": np.int64(-1)}, "trajectories", "-1 is out of range"),
        ({"seed": -1}, "seed", "-1 is out of range; accepted: 0 to 18446744073709551615"),
        ({"seed": 2**64}, "seed", "out of range; accepted: 0 to 18446744073709551615"),
        ({"backend": 3}, "backend", "3 is not a string; accepted: auto, gpu, cpu, cpu_fast"),
        ({"backend": "tpu"}, "backend", "unknown backend 'tpu'; accepted: auto, gpu, cpu, cpu_fast"),
        ({"adapter": ""}, "adapter", "'' names no adapter; accepted: a part of an adapter's name"),
        ({"adapter": "0,"}, "adapter", "'0,' names no adapter"),
        ({"adapter": []}, "adapter", "[] is an empty list"),
        ({"adapter": [0, None]}, "adapter.1", "None is not a name or an index"),
        ({"adapter": 1.5}, "adapter", "1.5 is not a name or an index"),
    ],
)
def test_bad_arguments_name_the_field_the_value_and_the_range(kwargs: Dict[str, Any], field: str, says: str) -> None:
    for call in (idpsim.run, idpsim.sweep):
        spec = small()
        if call is idpsim.sweep:
            spec["sweep"] = {"noise.sigma": [0, 1]}
        with pytest.raises(idpsim.SpecError) as e:
            call(spec, progress=False, **kwargs)
        assert e.value.field == field and says in str(e.value), str(e.value)
        assert "\n" not in str(e.value)


def test_bad_values_in_a_spec_and_in_the_analysis_functions(tmp_path: Path) -> None:
    spec = small()
    spec["noise"]["sigma"] = np.float64("nan")
    with pytest.raises(idpsim.SpecError) as e:
        idpsim.run(spec, progress=False)
    assert e.value.field == "noise.sigma" and "nan is not a finite number" in str(e.value)
    spec = small()
    spec["input"]["segments"][0]["weights"] = np.array([1.0, math.inf, 1.0, 1.0])
    with pytest.raises(idpsim.SpecError) as e:
        idpsim.run(spec, progress=False)
    assert e.value.field == "input.segments[0].weights[1]"
    # The engine names a field inside a list the same way.
    spec = small()
    spec["input"]["segments"][0]["weights"] = [1.0, "x", 1.0, 1.0]
    with pytest.raises(idpsim.SpecError) as e:
        idpsim.run(spec, progress=False)
    assert e.value.field == "input.segments[0].weights[1]", str(e.value)
    spec = small()
    spec["name"] = np.array(["a", "b"])
    with pytest.raises(idpsim.SpecError) as e:
        idpsim.run(spec, progress=False)
    assert e.value.field == "name" and "array of <U1" in str(e.value)
    spec = small()
    spec["noise"]["sigma"] = 1 + 2j
    with pytest.raises(idpsim.SpecError) as e:
        idpsim.run(spec, progress=False)
    assert e.value.field == "noise.sigma" and "complex" in str(e.value)
    for call, field, says in [
        (lambda: idpsim.fpe("fpe2d-equal", grid=-1), "grid", "-1 is out of range; accepted: 2 to 2000"),
        (lambda: idpsim.fpe("fpe2d-equal", grid=10**30), "grid", "accepted: 2 to 2000"),
        (lambda: idpsim.theory([1.5, 2.0], n=-2), "n", "-2 is out of range; accepted: 1 to 1048576"),
        (lambda: idpsim.theory([1.5, 2.0], slope=0.0), "slope", "0.0 is out of range; accepted: 1e-06 to 10000"),
        (lambda: idpsim.theory([1.5, float("nan")]), "saliency.1", "nan is out of range"),
        (lambda: idpsim.landscape([1.5, 2.0], tmp_path / "l", trajectories=-1), "trajectories", "accepted: 0 to 1000"),
        (lambda: idpsim.landscape([1.5, 2.0], tmp_path / "l", sigma=-0.5), "sigma", "accepted: a number ≥ 0"),
    ]:
        with pytest.raises(idpsim.SpecError) as e:
            call()
        assert e.value.field == field and says in str(e.value), str(e.value)
    assert not (tmp_path / "l").exists()
    # A spec given as JSON text is checked by the engine, naming the field as well.
    with pytest.raises(idpsim.SpecError) as e:
        idpsim.run(json.dumps({**small(), "ensemble": {"trajectories": -5}}), progress=False)
    assert e.value.field == "ensemble.trajectories" and "-5" in str(e.value)
