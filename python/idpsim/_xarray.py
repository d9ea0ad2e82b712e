"""xarray Datasets of runs and sweeps: every array with named dimensions, a coordinate for every
dimension, and a long name and units on every variable and coordinate (what ``ds.x.plot()``
labels its axes with)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

if TYPE_CHECKING:
    from . import Result, Sweep

#: Units of model time (the equations' time has no dimension; its unit is their time constant).
TIME_UNITS = "model time units"
#: Units of a dimensionless quantity (CF conventions).
ONE = "1"

#: Array name (file stem) → (dimensions, long name, units).
VARIABLES: Dict[str, Tuple[Tuple[str, ...], str, str]] = {
    "overlaps_mean": (("time", "memory"), "mean overlap m_μ over the ensemble", ONE),
    "overlaps_std": (("time", "memory"), "standard deviation of the overlap m_μ over the ensemble", ONE),
    "overlaps_abs_mean": (("time", "memory"), "mean |m_μ| over the ensemble", ONE),
    "overlaps_abs_std": (("time", "memory"), "standard deviation of |m_μ| over the ensemble", ONE),
    "memory_layer_mean": (("time", "memory"), "mean memory layer y_μ over the ensemble", ONE),
    "memory_layer_std": (("time", "memory"), "standard deviation of the memory layer y_μ over the ensemble", ONE),
    "saliency_mean": (("time", "memory"), "mean saliency α_μ over the ensemble", ONE),
    "saliency_std": (("time", "memory"), "standard deviation of the saliency α_μ over the ensemble", ONE),
    "energy_mean": (("time",), "mean energy E(x; u) over the ensemble", ONE),
    "energy_std": (("time",), "standard deviation of the energy E(x; u) over the ensemble", ONE),
    "overlaps": (("trajectory", "time", "memory"), "overlap m_μ", ONE),
    "memory_layer": (("trajectory", "time", "memory"), "memory layer y_μ", ONE),
    "saliency": (("trajectory", "time", "memory"), "saliency α_μ", ONE),
    "energy": (("trajectory", "time"), "energy E(x; u)", ONE),
    "final_state": (("trajectory", "neuron"), "final state x_i", ONE),
    "first_passage": (("trajectory",), "first time |m| reaches the threshold (NaN: never)", TIME_UNITS),
    "first_passage_steps": (("trajectory",), "first passage in steps (4294967295: never)", "steps"),
    "retrieved": (("trajectory", "segment"), "memory retrieved at the segment's end (-1: none)", ONE),
    "retrieved_sign": (("trajectory", "segment"), "sign of the retrieved overlap (0: none)", ONE),
    "retrieval_targets": (("trajectory", "segment"), "the segment's target memory (-1: none)", ONE),
    "occupancy": (
        ("occupancy_count", "occupancy_slot"),
        "trajectories within the radius of each equilibrium, then outside all (occupancy.json names the slots)",
        "trajectories",
    ),
}

#: Files left out of the Dataset (``Result.arrays`` has them): the exact fixed-point sums.
LEFT_OUT = ("overlaps_sums", "retrieval_sums")


def _need_xarray() -> Any:
    try:
        import xarray as xr  # type: ignore[import-not-found,import-untyped,unused-ignore]
    except ImportError as e:
        raise ImportError("to_xarray needs xarray: pip install 'idpsim[xarray]' (or pip install xarray)") from e
    return xr


def _attrs(long_name: str, units: str, **more: Any) -> Dict[str, Any]:
    return {"long_name": long_name, "units": units, **more}


def _segments(spec: Dict[str, Any], p: int) -> Dict[str, Any]:
    """Coordinates along `segment`: start and end times, the input as JSON, and the weights or
    saliencies when segments give them (NaN for the segments that do not)."""
    segs = spec.get("input", {}).get("segments", [])
    ends = np.cumsum([float(s.get("duration", 0.0)) for s in segs]) if segs else np.zeros(0)
    starts = np.concatenate([[0.0], ends[:-1]]) if len(segs) else np.zeros(0)
    coords: Dict[str, Any] = {
        "segment_start": ("segment", starts, _attrs("start of the input segment", TIME_UNITS)),
        "segment_end": ("segment", ends, _attrs("end of the input segment", TIME_UNITS)),
        "segment_input": (
            "segment",
            np.array([json.dumps({k: v for k, v in s.items() if k != "duration"}) for s in segs], dtype=object),
            _attrs("the segment's input (spec, as JSON)", ""),
        ),
    }
    for key, name in (("weights", "input weights w_μ"), ("saliency", "saliency α_μ the input sets")):
        if any(isinstance(s.get(key), list) and len(s[key]) == p for s in segs):
            table = np.full((len(segs), p), np.nan)
            for k, s in enumerate(segs):
                if isinstance(s.get(key), list) and len(s[key]) == p:
                    table[k] = s[key]
            coords[f"segment_{key}"] = (("segment", "memory"), table, _attrs(f"the segment's {name}", ONE))
    return coords


def result_dataset(r: "Result") -> Any:
    """The Dataset of one run (see :meth:`idpsim.Result.to_xarray`)."""
    xr = _need_xarray()
    arrays = r.arrays
    spec = r.spec
    info = r.run_info
    variables: Dict[str, Any] = {}
    sizes: Dict[str, int] = {}
    files = set(r.files)
    for name, a in arrays.items():
        if name in ("times", "histogram") or name in LEFT_OUT or f"{name}.npy" not in files:
            continue
        dims, long_name, units = VARIABLES.get(name, ((), name, ""))
        if len(dims) != a.ndim:
            dims = tuple(f"{name}_dim{k}" for k in range(a.ndim))
        variables[name] = (dims, a, _attrs(long_name, units))
        sizes.update(zip(dims, a.shape))
    coords: Dict[str, Any] = {}
    if "times" in arrays:
        coords["time"] = ("time", arrays["times"], _attrs("time", TIME_UNITS))
    if "memory" in sizes:
        coords["memory"] = ("memory", np.arange(sizes["memory"]), _attrs("memory μ (0-based index)", ONE))
    if "trajectory" in sizes:
        first = int((info.get("trajectories") or {}).get("first", 0) or 0)
        coords["trajectory"] = (
            "trajectory",
            np.arange(first, first + sizes["trajectory"], dtype=np.int64),
            _attrs("trajectory number (its random numbers' index)", ONE),
        )
    if "neuron" in sizes:
        coords["neuron"] = ("neuron", np.arange(sizes["neuron"]), _attrs("neuron i (0-based index)", ONE))
    if "segment" in sizes:
        coords["segment"] = ("segment", np.arange(sizes["segment"]), _attrs("input segment (0-based index)", ONE))
        segs = _segments(spec, sizes.get("memory", 0))
        if len(segs["segment_start"][1]) == sizes["segment"]:
            coords.update(segs)
    h = r.histogram
    if h is not None:
        names = h.get("axis_names") or [f"axis {k}" for k in range(len(h["edges"]))]
        of = "overlap" if h.get("of") == "overlaps" else "state"
        axes = tuple(f"histogram_axis{k}" for k in range(len(h["edges"])))
        variables["histogram"] = (
            axes,
            h["counts"],
            _attrs(f"samples per cell of {' × '.join(names)}", "samples", normalization=h.get("normalization", "")),
        )
        for ax, edges, label in zip(axes, h["edges"], names):
            coords[ax] = (ax, 0.5 * (edges[:-1] + edges[1:]), _attrs(f"{of} {label} (cell centre)", ONE, edges=edges))
    attrs = {
        "title": f"idpsim run '{spec.get('name', '')}'",
        "name": spec.get("name", ""),
        "model": spec.get("model", {}).get("kind", ""),
        "backend": str(info.get("backend", "")),
        "adapter": str(info.get("adapter", "")),
        "device_type": ", ".join(d["device_type"] for d in r.devices),
        "idpsim_version": str(info.get("version", "")),
        "idpsim_build": str(info.get("build", "")),
        "spec": json.dumps(spec),
        "run_info": json.dumps(info),
    }
    return xr.Dataset(variables, coords=coords, attrs=attrs)


def _column_attrs(name: str) -> Dict[str, Any]:
    """Long name and units of a column of sweep.csv."""
    if name == "accuracy":
        return _attrs("retrieval accuracy", ONE)
    if name == "accuracy_stderr":
        return _attrs("standard error of the retrieval accuracy", ONE)
    if name.startswith("accuracy_segment"):
        return _attrs(f"retrieval accuracy in segment {name[len('accuracy_segment'):]}", ONE)
    if name == "networks":
        return _attrs("networks of the point that finished (replicate networks)", ONE)
    if name.endswith("_networks_mean"):
        return _attrs(f"{name[: -len('_networks_mean')]}: mean over the point's networks", ONE)
    if name.endswith("_networks_stderr"):
        return _attrs(f"{name[: -len('_networks_stderr')]}: standard error over the point's networks", ONE)
    if name == "final_abs_m_target":
        return _attrs("mean final |m| of the target (last segment)", ONE)
    if name.startswith("fraction_memory"):
        return _attrs(f"fraction retrieving memory {name[len('fraction_memory'):]} (last segment)", ONE)
    if name == "fraction_none":
        return _attrs("fraction retrieving no memory (last segment)", ONE)
    if name == "first_passage_median":
        return _attrs("median first passage", TIME_UNITS)
    if name == "first_passage_reached":
        return _attrs("fraction of trajectories that pass", ONE)
    if name.startswith("occupancy_ratio_"):
        return _attrs(f"pooled occupancy mass ratio {name[len('occupancy_ratio_'):]}", ONE)
    if name.startswith("occupancy_"):
        return _attrs(f"pooled occupancy mass: {name[len('occupancy_'):]}", ONE)
    if name == "histogram_out_of_range":
        return _attrs("fraction of the histogram's samples outside observe.histogram.range", ONE)
    if name == "neuron_steps_per_s":
        return _attrs("throughput", "neuron-steps / s")
    if name == "wall_s":
        return _attrs("wall time of the point", "s")
    if name == "trajectories":
        return _attrs("trajectories of the point", ONE)
    if name == "status":
        return _attrs("'ok' or 'failed: why'", "")
    if name == "dir":
        return _attrs("the point's directory (in a sweep written to disk)", "")
    return _attrs(name, "")


def _axis_values(values: Sequence[Dict[str, Any]]) -> np.ndarray:
    numbers = [v.get("number") for v in values]
    if all(isinstance(n, (int, float)) for n in numbers):
        return np.array(numbers, dtype=np.float64)
    return np.array([v["label"] for v in values], dtype=object)


def sweep_dataset(s: "Sweep") -> Any:
    """The Dataset of a sweep (see :meth:`idpsim.Sweep.to_xarray`)."""
    xr = _need_xarray()
    dims = [a["name"] for a in s.axes]
    shape = tuple(len(a["values"]) for a in s.axes)
    coords: Dict[str, Any] = {
        name: (name, _axis_values(a["values"]), _attrs(f"swept: {name}", "")) for name, a in zip(dims, s.axes)
    }
    per_point: List[Optional[Any]] = [None if r is None else r.to_xarray().reset_coords() for r in s]
    present = [d for d in per_point if d is not None]
    variables: Dict[str, Any] = {}
    if present:
        aligned = list(xr.align(*present, join="outer"))
        it = iter(aligned)
        points = [None if d is None else next(it) for d in per_point]
        templates: Dict[str, Any] = {}
        for d in aligned:
            for name, v in d.data_vars.items():
                templates.setdefault(name, v)
        for name, v in templates.items():
            kind_str = v.dtype.kind in "OUS"
            data = np.full(shape + v.shape, None if kind_str else np.nan, dtype=object if kind_str else np.float64)
            whole_int = True
            for k, d in enumerate(points):
                if d is None or name not in d:
                    whole_int = False
                    continue
                data[np.unravel_index(k, shape)] = d[name].values
            # Kept in its own type where nothing had to be filled in (NaN fits float types).
            if not kind_str and (v.dtype.kind == "f" or (whole_int and v.dtype.kind in "iub")):
                data = data.astype(v.dtype)
            variables[name] = (tuple(dims) + v.dims, data, dict(v.attrs))
        coords.update({c: aligned[0][c] for c in aligned[0].indexes})
    for column, values in s.table.items():
        if column in dims:
            continue
        kind_str = any(isinstance(v, str) for v in values)
        arr = np.array(
            [v if v is not None else (None if kind_str else np.nan) for v in values],
            dtype=object if kind_str else np.float64,
        ).reshape(shape)
        name = column if column not in variables else f"sweep_{column}"
        variables[name] = (tuple(dims), arr, _column_attrs(column))
    attrs = {"title": f"idpsim sweep '{s.name}'", "name": s.name, "axes": json.dumps(s.axes)}
    return xr.Dataset(variables, coords=coords, attrs=attrs)
