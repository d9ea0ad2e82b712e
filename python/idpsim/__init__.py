"""idpsim from Python: huge ensembles of noisy classic and input-driven-plasticity (IDP)
Hopfield networks on any Vulkan, Metal or DX12 GPU (or the CPU reference), with the same
bytes as the ``idpsim`` command line.

>>> import idpsim
>>> r = idpsim.run("quickstart", trajectories=1024, backend="cpu", progress=False)
>>> r.overlaps_abs_mean.shape        # [T, P]
(201, 4)

A spec is a dict, a JSON text, a path to a JSON file or a preset name (``idpsim.presets()``);
the spec reference is the README's "The spec" section. Results stay in memory unless ``out`` is
given; then the directory is exactly the command line's. Bad input raises
:class:`SpecError` (a ``ValueError`` naming the field), failures at run time :class:`RunError`;
Ctrl-C stops a run within a dispatch (``KeyboardInterrupt``).
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np

__all__ = [
    "Result",
    "RunError",
    "SpecError",
    "Sweep",
    "devices",
    "fpe",
    "landscape",
    "merge",
    "merge_check",
    "preset",
    "presets",
    "run",
    "sweep",
    "theory",
]


class SpecError(ValueError):
    """Bad input: a spec field (dotted path, e.g. ``noise.sigma``) or an argument that is not
    accepted, and why. Nothing was run or written."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class RunError(RuntimeError):
    """A run that could not complete: a diverging trajectory, an unusable device, an I/O error
    naming its file, sums that outgrew their exact range, ..."""


# Headless: without XDG_RUNTIME_DIR, Vulkan's window-system probing prints a spurious error line
# per device (the command line sets it the same way).
if not os.environ.get("XDG_RUNTIME_DIR"):
    import tempfile

    os.environ["XDG_RUNTIME_DIR"] = tempfile.gettempdir()

from . import _native  # noqa: E402  (the exceptions above are raised from inside it)

__version__: str = _native.__version__

SpecLike = Union[Mapping[str, Any], str, "os.PathLike[str]"]

#: Array names (file stems) and the dimensions :meth:`Result.to_xarray` gives them.
_DIMS: Dict[str, Tuple[str, ...]] = {
    "times": ("time",),
    "overlaps_mean": ("time", "memory"),
    "overlaps_std": ("time", "memory"),
    "overlaps_abs_mean": ("time", "memory"),
    "memory_layer_mean": ("time", "memory"),
    "memory_layer_std": ("time", "memory"),
    "saliency_mean": ("time", "memory"),
    "saliency_std": ("time", "memory"),
    "energy_mean": ("time",),
    "energy_std": ("time",),
    "overlaps": ("trajectory", "time", "memory"),
    "memory_layer": ("trajectory", "time", "memory"),
    "saliency": ("trajectory", "time", "memory"),
    "energy": ("trajectory", "time"),
    "final_state": ("trajectory", "neuron"),
    "first_passage": ("trajectory",),
    "first_passage_steps": ("trajectory",),
    "retrieved": ("trajectory", "segment"),
    "retrieved_sign": ("trajectory", "segment"),
    "retrieval_targets": ("trajectory", "segment"),
}


def _source(spec: SpecLike) -> Tuple[str, str]:
    """(kind, value) of a spec given as a dict, JSON text, path or preset name."""
    if isinstance(spec, Mapping):
        return "json", json.dumps(spec)
    if isinstance(spec, os.PathLike):
        return "path", os.fspath(spec)
    if isinstance(spec, str):
        text = spec.strip()
        if text.startswith("{"):
            return "json", spec
        if os.path.isfile(spec):
            return "path", spec
        if text in {name for name, _ in _native.presets_list()}:
            return "preset", text
        raise SpecError(
            "spec",
            f"'{spec}' is not a JSON object, a spec file or a preset name (see idpsim.presets())",
        )
    raise TypeError(f"spec must be a dict, a JSON string, a path or a preset name, not {type(spec).__name__}")


class _Progress:
    """A progress display: tqdm when it is installed (in a terminal and in Jupyter), a plain
    line on stderr otherwise; nothing when disabled."""

    def __init__(self, enabled: bool, what: str) -> None:
        self.bar: Any = None
        self.plain = False
        self.last = 0.0
        self.what = what
        if not enabled:
            return
        try:
            from tqdm.auto import tqdm  # type: ignore[import-not-found]

            self.bar = tqdm(total=None, desc=what, unit="traj-steps", unit_scale=True, leave=False)
        except ImportError:
            self.plain = True

    def __call__(self, done: int, total: int) -> None:
        if self.bar is not None:
            if self.bar.total != total:
                self.bar.total = total
            self.bar.update(done - self.bar.n)
        elif self.plain:
            now = time.monotonic()
            if now - self.last > 0.5 or done == total:
                self.last = now
                print(f"\r{self.what}: {100.0 * done / max(total, 1):5.1f} %", end="", file=sys.stderr, flush=True)

    def callback(self) -> Optional[Callable[[int, int], None]]:
        return self if (self.bar is not None or self.plain) else None

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
        elif self.plain and self.last > 0:
            print(file=sys.stderr, flush=True)


def _read_dir(out: Path) -> Dict[str, Any]:
    """A run directory's arrays, documents, file list and run.json."""
    info = json.loads((out / "run.json").read_text())
    arrays: Dict[str, np.ndarray] = {}
    docs: Dict[str, str] = {}
    files: List[str] = [f for f in info.get("files", []) if f != "run.json"]
    for f in files:
        if f.endswith(".npy"):
            arrays[f[: -len(".npy")]] = np.load(out / f)
        elif f.endswith(".json"):
            docs[f] = (out / f).read_text()
    for key in ("files", "manifest"):
        info.pop(key, None)
    return {"arrays": arrays, "docs": docs, "files": files, "run_info": json.dumps(info)}


class Result:
    """One run's outputs, named like the files ``idpsim run`` writes: ``r.times``,
    ``r.overlaps_mean`` [T, P], ``r.overlaps`` [M, T, P], ``r.final_state`` [M, N],
    ``r.energy``, ``r.first_passage``, ``r.saliency_mean``, ... (each a NumPy array), and the
    documents ``r.histogram`` (counts with their edges), ``r.retrieval`` (retrieval.json).
    ``r.run_info`` holds what run.json holds; ``r.arrays`` and ``r.docs`` hold everything."""

    def __init__(self, raw: Mapping[str, Any], out: Optional[Path] = None) -> None:
        self.arrays: Dict[str, np.ndarray] = dict(raw["arrays"])
        self.docs: Dict[str, Any] = {k: json.loads(v) for k, v in raw["docs"].items()}
        self.files: List[str] = list(raw["files"])
        self.run_info: Dict[str, Any] = json.loads(raw["run_info"])
        #: The run directory, when the run was written to one.
        self.out: Optional[Path] = out

    @property
    def spec(self) -> Dict[str, Any]:
        """The resolved spec the run ran (defaults filled in)."""
        return self.run_info["spec"]

    @property
    def histogram(self) -> Optional[Dict[str, Any]]:
        """The histogram: ``counts`` (u64, [bins0] or [bins0, bins1]), ``edges`` (one array per
        axis) and the rest of histogram.json (``out_of_range``, ``cell_area``, ...); None
        without one."""
        if "histogram" not in self.arrays:
            return None
        meta = dict(self.docs.get("histogram.json", {}))
        meta["counts"] = self.arrays["histogram"]
        meta["edges"] = [np.asarray(e, dtype=np.float64) for e in meta.get("edges", [])]
        return meta

    @property
    def retrieval(self) -> Optional[Dict[str, Any]]:
        """retrieval.json (accuracy per segment and overall, what each trajectory retrieved
        is in ``r.retrieved``); None without the observer."""
        return self.docs.get("retrieval.json")

    def keys(self) -> List[str]:
        """The names of every array and document."""
        return sorted(set(self.arrays) | {d[: -len(".json")] for d in self.docs})

    def __getattr__(self, name: str) -> Any:
        arrays = self.__dict__.get("arrays", {})
        if name in arrays:
            return arrays[name]
        docs = self.__dict__.get("docs", {})
        if name + ".json" in docs:
            return docs[name + ".json"]
        raise AttributeError(f"this run has no output '{name}' (it has: {', '.join(self.keys())})")

    def __getitem__(self, name: str) -> Any:
        try:
            return getattr(self, name)
        except AttributeError as e:
            raise KeyError(name) from e

    def __dir__(self) -> List[str]:
        return sorted(set(super().__dir__()) | set(self.keys()))

    def __repr__(self) -> str:
        e = self.run_info.get("trajectories", {})
        where = f", out='{self.out}'" if self.out else ""
        return (
            f"<idpsim.Result '{self.run_info.get('spec', {}).get('name', '?')}': {e.get('count', '?')} trajectories"
            f" × {self.run_info.get('steps', '?')} steps on {self.run_info.get('adapter', '?')}{where};"
            f" {', '.join(sorted(self.arrays))}>"
        )

    def save(self, out: Union[str, "os.PathLike[str]"], *, force: bool = False) -> List[str]:
        """Writes the arrays (the bytes ``idpsim run`` writes), the documents and run.json with
        its manifest into ``out`` (created; it must be empty unless ``force``). Pictures are
        drawn only by runs given ``out``. Returns the files written."""
        return list(
            _native.save(
                os.fspath(out),
                self.files,
                self.arrays,
                {k: json.dumps(v) for k, v in self.docs.items()},
                json.dumps(self.run_info),
                force,
            )
        )

    def to_xarray(self) -> Any:
        """An ``xarray.Dataset`` of every array with named dimensions (trajectory, time,
        memory, neuron, segment, and the histogram's axes), coordinates from the save times and
        the histogram's cell centres, and the spec and run information as attributes.
        Needs xarray (``pip install xarray``)."""
        try:
            import xarray as xr  # type: ignore[import-not-found]
        except ImportError as e:
            raise ImportError("Result.to_xarray needs xarray: pip install xarray") from e
        coords: Dict[str, Any] = {}
        if "times" in self.arrays:
            coords["time"] = self.arrays["times"]
        variables: Dict[str, Any] = {}
        for name, a in self.arrays.items():
            if name in ("times", "histogram", "overlaps_sums", "retrieval_sums"):
                continue
            dims = _DIMS.get(name, tuple(f"{name}_dim{k}" for k in range(a.ndim)))
            if len(dims) != a.ndim:
                dims = tuple(f"{name}_dim{k}" for k in range(a.ndim))
            variables[name] = (dims, a)
        h = self.histogram
        if h is not None:
            axes = tuple(f"histogram_axis{k}" for k in range(len(h["edges"])))
            variables["histogram"] = (axes, h["counts"])
            for ax, edges in zip(axes, h["edges"]):
                coords[ax] = 0.5 * (edges[:-1] + edges[1:])
        attrs = {
            "spec": json.dumps(self.spec),
            "run_info": json.dumps(self.run_info),
            "name": self.spec.get("name", ""),
            "adapter": str(self.run_info.get("adapter", "")),
            "backend": str(self.run_info.get("backend", "")),
        }
        return xr.Dataset(variables, coords=coords, attrs=attrs)


def run(
    spec: SpecLike,
    *,
    backend: str = "auto",
    adapter: Optional[str] = None,
    trajectories: Optional[int] = None,
    seed: Optional[int] = None,
    out: Optional[Union[str, "os.PathLike[str]"]] = None,
    force: bool = False,
    progress: bool = True,
) -> Result:
    """Runs a spec (a dict, JSON text, path or preset name) and returns its outputs.

    ``backend`` is "auto" (a GPU if one opens, else the CPU reference), "gpu" or "cpu";
    ``adapter`` picks a GPU by a part of its name; ``trajectories`` and ``seed`` override the
    spec's. With ``out`` the run is written into that directory exactly as ``idpsim run`` writes
    it (which must be empty unless ``force``; a directory that already holds this run, complete
    and intact, is read back without running again) and the arrays are read from its files.
    ``progress`` shows a progress bar (tqdm when installed). The GIL is released while the
    engine runs; Ctrl-C stops it (``KeyboardInterrupt``) and leaves no half-written file."""
    kind, value = _source(spec)
    bar = _Progress(progress, "idpsim")
    try:
        raw = _native.run(
            kind,
            value,
            backend=backend,
            adapter=adapter,
            trajectories=trajectories,
            seed=seed,
            out=None if out is None else os.fspath(out),
            force=force,
            progress=bar.callback(),
        )
    finally:
        bar.close()
    if out is not None:
        return Result(_read_dir(Path(out)), Path(out))
    return Result(raw)


class Sweep(List[Result]):
    """The points of a sweep, in order (each a :class:`Result`; a failed point is None), with
    ``table``: one row per point (its axis values, status, accuracy, first-passage median,
    throughput), as a dict of columns ready for ``pandas.DataFrame(s.table)``."""

    def __init__(self, results: Sequence[Optional[Result]], table: Dict[str, List[Any]]) -> None:
        super().__init__(results)  # type: ignore[arg-type]
        self.table = table

    def to_pandas(self) -> Any:
        """The table as a pandas DataFrame (needs pandas)."""
        import pandas as pd  # type: ignore[import-not-found]

        return pd.DataFrame(self.table)


def sweep(
    spec: SpecLike,
    *,
    backend: str = "auto",
    adapter: Optional[str] = None,
    trajectories: Optional[int] = None,
    seed: Optional[int] = None,
    progress: bool = True,
) -> Sweep:
    """Runs every point of a sweep spec (one with a ``"sweep"`` section) in memory, sharing
    the device between points; see :class:`Sweep`. A point that fails is None in the list and
    "failed: ..." in the table's status column; the other points still run."""
    kind, value = _source(spec)
    bar = _Progress(progress, "idpsim sweep")
    try:
        points = _native.run_sweep(
            kind,
            value,
            backend=backend,
            adapter=adapter,
            trajectories=trajectories,
            seed=seed,
            progress=bar.callback(),
        )
    finally:
        bar.close()
    results: List[Optional[Result]] = []
    rows: List[Dict[str, Any]] = []
    for p in points:
        coords = json.loads(p["coords"])
        numbers = json.loads(p["numbers"])
        row: Dict[str, Any] = {k: (numbers[k] if numbers[k] is not None else coords[k]) for k in coords}
        if "result" in p:
            r = Result(p["result"])
            results.append(r)
            info = r.run_info
            retrieval = info.get("retrieval") or {}
            passage = info.get("first_passage") or {}
            row.update(
                status="ok",
                trajectories=info["trajectories"]["count"],
                accuracy=retrieval.get("accuracy"),
                accuracy_stderr=retrieval.get("accuracy_stderr"),
                first_passage_median=(passage.get("quantiles") or {}).get("0.5"),
                neuron_steps_per_s=info.get("neuron_steps_per_s"),
                wall_s=info.get("wall_s"),
            )
        else:
            results.append(None)
            row.update(status=f"failed: {p['error']}")
        rows.append(row)
    columns: Dict[str, List[Any]] = {}
    for row in rows:
        for k in row:
            columns.setdefault(k, [])
    for row in rows:
        for k in columns:
            columns[k].append(row.get(k))
    return Sweep(results, columns)


def theory(
    spec_or_saliency: Union[SpecLike, Sequence[float]],
    *,
    slope: float = 1.0,
    n: int = 2,
) -> Dict[str, Any]:
    """Equilibria, their stability and energies, and the critical saliencies, for each input
    segment of a spec, or (given a list of saliencies) for an IDP network of ``n`` neurons
    with Hadamard memories and tanh slope ``slope``: ``{"segments": [...]}`` as
    ``idpsim theory --json`` prints it."""
    if isinstance(spec_or_saliency, (list, tuple, np.ndarray)):
        saliency = [float(a) for a in spec_or_saliency]
        return json.loads(_native.theory("json", "{}", saliency=saliency, slope=slope, n=n))
    kind, value = _source(spec_or_saliency)  # type: ignore[arg-type]
    return json.loads(_native.theory(kind, value))


def fpe(spec: SpecLike, *, grid: int = 200) -> Tuple[np.ndarray, List[np.ndarray]]:
    """The stationary Fokker–Planck density of a spec with N = 1 or 2 on ``grid`` cells per
    axis (over the spec's state-histogram range, else ±4): ``(density, edges)`` with density
    [grid] or [grid, grid] (integrating to 1 over the cells) and one array of edges per axis."""
    kind, value = _source(spec)
    density, edges, _residual = _native.fpe(kind, value, grid=grid)
    return density, [np.asarray(e) for e in edges]


def landscape(
    spec_or_saliency: Union[SpecLike, Sequence[float]],
    out: Union[str, "os.PathLike[str]"],
    *,
    slope: float = 1.0,
    sigma: float = 0.5,
    trajectories: int = 12,
    force: bool = False,
) -> List[str]:
    """Draws the N = 2 energy landscape (with its equilibria and ``trajectories`` sample paths)
    of a spec, or of the quick form with these saliencies, into ``out``; returns the files."""
    if isinstance(spec_or_saliency, (list, tuple, np.ndarray)):
        saliency = [float(a) for a in spec_or_saliency]
        return list(
            _native.landscape(
                "json", "{}", os.fspath(out), saliency=saliency, slope=slope, sigma=sigma,
                trajectories=trajectories, force=force,
            )
        )
    kind, value = _source(spec_or_saliency)  # type: ignore[arg-type]
    return list(_native.landscape(kind, value, os.fspath(out), trajectories=trajectories, force=force))


def merge(
    dirs: Sequence[Union[str, "os.PathLike[str]"]],
    out: Union[str, "os.PathLike[str]"],
    *,
    force: bool = False,
) -> Result:
    """Merges the shard directories of one run (``idpsim run --shard I/N``) into ``out``
    (identical to one whole run), after checking every shard against its manifest; returns
    the merged run."""
    _native.merge_dirs([os.fspath(d) for d in dirs], os.fspath(out), force=force)
    return Result(_read_dir(Path(out)), Path(out))


def merge_check(dirs: Sequence[Union[str, "os.PathLike[str]"]]) -> Tuple[str, bool]:
    """Which shards are intact, which trajectory ranges are missing and the commands that
    rerun them: ``(report, complete)``."""
    text, complete = _native.check_shards([os.fspath(d) for d in dirs])
    return text, complete


def presets() -> Dict[str, str]:
    """The built-in specs: name → description."""
    return dict(_native.presets_list())


def preset(name: str) -> Dict[str, Any]:
    """A built-in spec as a dict (a starting point to edit)."""
    return json.loads(_native.preset_json(name))


def devices() -> List[Dict[str, Any]]:
    """The GPU adapters wgpu sees (name, backend, type, driver and limits)."""
    return json.loads(_native.devices())
