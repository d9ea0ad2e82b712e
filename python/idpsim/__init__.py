"""idpsim from Python: huge ensembles of noisy classic and input-driven-plasticity (IDP)
Hopfield networks on any Vulkan, Metal or DX12 GPU (or the CPU reference), with the same
bytes as the ``idpsim`` command line.

>>> import idpsim
>>> r = idpsim.run("quickstart", trajectories=1024, backend="cpu", progress=False)
>>> r.overlaps_abs_mean.shape        # [T, P]
(201, 4)

A spec is a dict (NumPy numbers and arrays welcome), a JSON text, a path to a JSON file or a
preset name (``idpsim.presets()``); the spec reference is the README's "The spec" section.
Results stay in memory unless ``out`` is given; then the directory is exactly the command
line's, and :func:`load` reopens it (or a sweep's directory) later. Results pickle, so they go
through multiprocessing, joblib or a notebook cache. Bad input raises :class:`SpecError` (a
``ValueError`` naming the field), failures at run time :class:`RunError`; Ctrl-C stops a run
within a dispatch (``KeyboardInterrupt``).
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence, SupportsFloat, SupportsIndex, Tuple, Union, cast

import numpy as np
import numpy.typing as npt

__all__ = [
    "IdpsimWarning",
    "Result",
    "RunError",
    "SpecError",
    "Sweep",
    "devices",
    "fpe",
    "landscape",
    "load",
    "merge",
    "merge_check",
    "preset",
    "presets",
    "replay",
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

    def __reduce__(self) -> Tuple[Any, ...]:
        return (type(self), (self.field, self.message))


class RunError(RuntimeError):
    """A run that could not complete: a diverging trajectory, an unusable device, an I/O error
    naming its file, sums that outgrew their exact range, ..."""


class IdpsimWarning(UserWarning):
    """What the engine warns about while a run still completes (no usable GPU, so the CPU fast
    path ran; histogram samples out of its range, ...): a Python warning, so
    ``warnings.catch_warnings`` and ``warnings.filterwarnings`` capture or silence it."""


# Headless: Vulkan's window-system probing prints an error line per device unless
# XDG_RUNTIME_DIR is an absolute path (unset, empty or relative are all "invalid"); the command
# line sets it the same way.
if not os.environ.get("XDG_RUNTIME_DIR", "").startswith("/") and os.name == "posix":
    import tempfile

    os.environ["XDG_RUNTIME_DIR"] = tempfile.gettempdir()

from . import _args, _native  # noqa: E402  (the exceptions above are raised from inside it)
from ._progress import Progress  # noqa: E402

__version__: str = _native.__version__

PathLike = Union[str, "os.PathLike[str]"]
SpecLike = Union[Mapping[str, Any], str, "os.PathLike[str]"]
#: An adapter by a part of its name or its number, or several as a list.
AdapterLike = Union[str, SupportsIndex, Sequence[Union[str, SupportsIndex]]]
#: Saliencies: a list or an array of numbers.
SaliencyLike = Union[Sequence[SupportsFloat], "npt.NDArray[Any]"]

#: wgpu's device types, as words.
_DEVICE_TYPES = {
    "Cpu": "cpu",
    "IntegratedGpu": "integrated gpu",
    "DiscreteGpu": "discrete gpu",
    "VirtualGpu": "virtual gpu",
    "Other": "other",
}


#: The graphics APIs wgpu drives devices through.
_APIS = ("Vulkan", "Metal", "Dx12", "Gl", "BrowserWebGpu")


def _source(spec: SpecLike) -> Tuple[str, str]:
    """(kind, value) of a spec given as a dict, JSON text, path or preset name."""
    if isinstance(spec, Mapping):
        return "json", json.dumps(_args.plain(spec))
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


def _devices_of(backend: str, adapter: str) -> List[Dict[str, str]]:
    """Each device of a run's ``adapter`` text (run.json's): its name, the API it was driven
    through and its type ("cpu" for lavapipe's llvmpipe and the CPU reference alike)."""
    out = []
    for part in adapter.split(" + ") if adapter else []:
        m = re.fullmatch(r"(.*) \((\w+), (\w+)\)", part)
        if m and m.group(3) in _DEVICE_TYPES:
            out.append({"name": m.group(1), "api": m.group(2), "device_type": _DEVICE_TYPES[m.group(3)]})
        elif backend.startswith("cpu"):
            out.append({"name": part, "api": "none (idpsim's CPU backend)", "device_type": "cpu"})
        else:
            out.append({"name": part, "api": "unknown", "device_type": "unknown"})
    return out


def _read_dir(out: Path, run_json: Optional[str] = None) -> Dict[str, Any]:
    """A run directory's arrays, documents, file list and run.json (``run_json``: its text,
    when already read and verified)."""
    info = json.loads(run_json if run_json is not None else (out / "run.json").read_text())
    arrays: Dict[str, np.ndarray] = {}
    docs: Dict[str, str] = {}
    files: List[str] = [f for f in info.get("files", []) if f != "run.json"]
    for f in files:
        if f.endswith(".npy"):
            arrays[f[: -len(".npy")]] = np.load(out / f, allow_pickle=False)
        elif f.endswith(".json"):
            docs[f] = (out / f).read_text()
    for key in ("files", "manifest"):
        info.pop(key, None)
    return {"arrays": arrays, "docs": docs, "files": files, "run_info": json.dumps(info)}


class Result:
    """One run's outputs, named like the files ``idpsim run`` writes: ``r.times``,
    ``r.overlaps_mean`` [T, P], ``r.overlaps_abs_std`` [T, P], ``r.overlaps`` [M, T, P],
    ``r.final_state`` [M, N], ``r.energy``, ``r.first_passage``, ``r.saliency_mean``, ...
    (each a NumPy array), and the documents ``r.histogram`` (counts with their edges),
    ``r.retrieval`` (retrieval.json). ``r.run_info`` holds what run.json holds; ``r.arrays``
    and ``r.docs`` hold everything: the run directory's files, in memory or loaded alike. A
    Result pickles (arrays, documents and run information)."""

    arrays: Dict[str, np.ndarray]
    docs: Dict[str, Any]
    files: List[str]
    run_info: Dict[str, Any]
    #: The run directory, when the run was written to one or loaded from one.
    out: Optional[Path]

    def __init__(self, raw: Mapping[str, Any], out: Optional[Path] = None) -> None:
        self.arrays = dict(raw["arrays"])
        self.docs = {k: json.loads(v) for k, v in raw["docs"].items()}
        self.files = list(raw["files"])
        self.run_info = json.loads(raw["run_info"])
        self.out = out

    def __getstate__(self) -> Dict[str, Any]:
        return {
            "arrays": self.arrays,
            "docs": self.docs,
            "files": self.files,
            "run_info": self.run_info,
            "out": None if self.out is None else str(self.out),
        }

    def __setstate__(self, state: Mapping[str, Any]) -> None:
        self.arrays = dict(state["arrays"])
        self.docs = dict(state["docs"])
        self.files = list(state["files"])
        self.run_info = dict(state["run_info"])
        self.out = None if state.get("out") is None else Path(state["out"])

    @property
    def spec(self) -> Dict[str, Any]:
        """The resolved spec the run ran (defaults filled in)."""
        spec: Dict[str, Any] = self.run_info["spec"]
        return spec

    @property
    def backend(self) -> str:
        """The engine backend that ran it: "gpu" (wgpu kernels, on whatever device
        :attr:`devices` names: a discrete GPU, or a CPU such as lavapipe's llvmpipe) or "cpu"
        (the CPU reference)."""
        return str(self.run_info.get("backend", ""))

    @property
    def devices(self) -> List[Dict[str, str]]:
        """The device(s) the run ran on: each with its ``name``, the ``api`` it was driven
        through (Vulkan, Metal, Dx12) and its ``device_type`` ("discrete gpu", "integrated
        gpu", "virtual gpu", "cpu", ...). llvmpipe is a "cpu" behind the "gpu" backend."""
        return _devices_of(self.backend, str(self.run_info.get("adapter", "")))

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
        doc: Optional[Dict[str, Any]] = self.docs.get("retrieval.json")
        return doc

    @property
    def pictures(self) -> Dict[str, Path]:
        """The pictures of a run written to (or loaded from) a directory: file name → path
        (``IPython.display.Image(r.pictures["overlaps.png"])``); empty for a run in memory."""
        if self.out is None:
            return {}
        return {f: self.out / f for f in self.files if f.endswith(".png")}

    def keys(self) -> List[str]:
        """The names of every array and document."""
        return sorted(set(self.arrays) | {d[: -len(".json")] for d in self.docs})

    def __getattr__(self, name: str) -> Any:
        # Only called for names that are not attributes; never for the state itself (an
        # object being unpickled has none yet).
        if name.startswith("__") or name in ("arrays", "docs", "files", "run_info", "out"):
            raise AttributeError(name)
        arrays = self.__dict__.get("arrays", {})
        if name in arrays:
            return arrays[name]
        docs = self.__dict__.get("docs", {})
        if name + ".json" in docs:
            return docs[name + ".json"]
        have = sorted(set(arrays) | {d[: -len(".json")] for d in docs})
        raise AttributeError(f"this run has no output '{name}' (it has: {', '.join(have)})")

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
        on = " + ".join(
            f"{d['name']} ({d['device_type']} via {d['api']})" if d["api"] in _APIS else d["name"] for d in self.devices
        )
        return (
            f"<idpsim.Result '{self.run_info.get('spec', {}).get('name', '?')}': {e.get('count', '?')} trajectories"
            f" × {self.run_info.get('steps', '?')} steps, {self.backend} backend on {on or '?'}{where};"
            f" {', '.join(sorted(self.arrays))}>"
        )

    def save(self, out: PathLike, *, force: bool = False) -> List[str]:
        """Writes the arrays (the bytes ``idpsim run`` writes), the documents and run.json with
        its manifest into ``out`` (created; it must be empty unless ``force``), which
        :func:`load` then reads. Pictures are drawn only by runs given ``out``. Returns the
        files written."""
        return list(
            _native.save(
                os.fspath(out),
                [f for f in self.files if not f.endswith(".png")],
                self.arrays,
                self.docs,
                self.run_info,
                bool(force),
            )
        )

    def to_xarray(self) -> Any:
        """An ``xarray.Dataset`` of every array: named dimensions (time, memory, trajectory,
        neuron, segment and the histogram's axes), each with a coordinate (save times, memory
        indices, trajectory numbers, neuron indices, segment indices with their start and end
        times and input, histogram cell centres); every variable and coordinate has a
        ``long_name`` and ``units`` (model time units, "1" for dimensionless), so that
        ``ds.overlaps_abs_mean.sel(memory=1).plot()`` labels itself. The spec and run
        information are attributes (JSON). The exact fixed-point sums stay in ``r.arrays``.
        Needs xarray (``pip install 'idpsim[xarray]'``)."""
        from ._xarray import result_dataset

        return result_dataset(self)


def run(
    spec: SpecLike,
    *,
    backend: str = "auto",
    adapter: Optional[AdapterLike] = None,
    trajectories: Optional[SupportsIndex] = None,
    seed: Optional[SupportsIndex] = None,
    out: Optional[PathLike] = None,
    force: bool = False,
    progress: bool = True,
) -> Result:
    """Runs a spec (a dict, JSON text, path or preset name) and returns its outputs.

    ``backend`` is "auto" (the device a cost model expects to answer first: a GPU or the CPU
    fast path; see the README's "Which device answers first"), "gpu", "cpu" (the reference) or
    "cpu_fast";
    ``adapter`` picks a GPU by a part of its name or its number (several GPUs: a list, or
    "all"); ``trajectories``
    (1 to 2³²−1) and ``seed`` (0 to 2⁶⁴−1) override the spec's. With ``out`` the run is
    written into that directory exactly as ``idpsim run`` writes it (which must be empty
    unless ``force``; a directory that already holds this run, complete and intact, is read
    back without running again) and the arrays are read from its files. ``progress`` shows a
    progress display (tqdm when installed, a line on stderr otherwise; whole lines, one per
    phase and per tenth of the work, where stderr is a log file or a pipe; with ``False``
    nothing is written to stderr). The GIL is released while the engine runs; Ctrl-C stops it
    (``KeyboardInterrupt``) and leaves no half-written file."""
    kind, value = _source(spec)
    o = _args.overrides(backend, adapter, trajectories, seed)
    with Progress(bool(progress), "idpsim") as bar:
        raw = _native.run(
            kind,
            value,
            **o,
            out=None if out is None else os.fspath(out),
            force=bool(force),
            progress=bar.callback(),
        )
    if out is not None:
        return Result(_read_dir(Path(out)), Path(out))
    return Result(raw)


def _parse_csv(text: str) -> Tuple[List[str], Dict[str, List[Any]]]:
    """sweep.csv's header and columns: numbers as int or float, empty cells as None."""

    def value(cell: str) -> Any:
        if cell == "":
            return None
        for kind in (int, float):
            try:
                return kind(cell)
            except ValueError:
                pass
        return cell

    rows = list(csv.reader(io.StringIO(text)))
    if not rows:
        return [], {}
    head = rows[0]
    columns: Dict[str, List[Any]] = {h: [] for h in head}
    for row in rows[1:]:
        for h, cell in zip(head, row):
            columns[h].append(value(cell))
    return head, columns


class Sweep(List[Optional[Result]]):
    """The points of a sweep, in order (the first axis varies slowest; each a :class:`Result`,
    a failed point None), with

    - ``axes``: each swept axis as ``{"name", "values": [{"label", "number"}]}`` (the
      ``"variants"`` axis is named "variant");
    - ``points``: each point's value on every axis;
    - ``table``: the command line's sweep.csv as columns (its text is ``csv``): axis values,
      status, trajectories, accuracy ± standard error, accuracy per segment, the mean final
      |m| of the target, the fraction retrieving each memory and none, first passage,
      throughput and the point's directory;
    - ``out``: the directory a sweep was written to or loaded from (else None).

    ``to_pandas()`` and ``to_xarray()`` give the table and every point's arrays with one
    dimension per axis. A Sweep pickles."""

    def __init__(
        self,
        results: Sequence[Optional[Result]],
        *,
        name: str,
        axes: List[Dict[str, Any]],
        csv: str,
        out: Optional[Path] = None,
    ) -> None:
        super().__init__(results)
        self.name = name
        self.axes = axes
        self.csv = csv
        self.out = out
        _, self.table = _parse_csv(csv)
        names = [a["name"] for a in axes]
        self.points: List[Dict[str, Any]] = [
            {n: self.table[n][k] for n in names} for k in range(len(results))
        ]

    def __reduce__(self) -> Tuple[Any, ...]:
        return (_rebuild_sweep, (list(self), self.name, self.axes, self.csv, None if self.out is None else str(self.out)))

    def __repr__(self) -> str:
        shape = " × ".join(f"{a['name']} ({len(a['values'])})" for a in self.axes)
        failed = sum(r is None for r in self)
        where = f", out='{self.out}'" if self.out else ""
        return f"<idpsim.Sweep '{self.name}': {len(self)} points over {shape}, {failed} failed{where}>"

    def to_pandas(self) -> Any:
        """sweep.csv as a pandas DataFrame: every column of the command line's file, parsed as
        pandas parses that file (needs pandas: ``pip install 'idpsim[pandas]'``)."""
        try:
            import pandas as pd  # type: ignore[import-not-found,import-untyped,unused-ignore]
        except ImportError as e:
            raise ImportError("Sweep.to_pandas needs pandas: pip install 'idpsim[pandas]' (or pip install pandas)") from e
        return pd.read_csv(io.StringIO(self.csv))

    def to_xarray(self) -> Any:
        """An ``xarray.Dataset`` with one dimension per swept axis (the variants axis
        included, labelled by the variants' names; numeric axes by their numbers) before each
        array's own dimensions (see :meth:`Result.to_xarray`): every point's arrays, aligned
        on their coordinates (NaN where a point lacks a value: a failed point, a shorter run),
        and every column of sweep.csv. ``ds.accuracy.sel(variant="idp").plot()`` draws one
        variant's accuracy against the first axis."""
        from ._xarray import sweep_dataset

        return sweep_dataset(self)


def _rebuild_sweep(
    results: List[Optional[Result]], name: str, axes: List[Dict[str, Any]], text: str, out: Optional[str]
) -> Sweep:
    return Sweep(results, name=name, axes=axes, csv=text, out=None if out is None else Path(out))


def sweep(
    spec: SpecLike,
    *,
    backend: str = "auto",
    adapter: Optional[AdapterLike] = None,
    trajectories: Optional[SupportsIndex] = None,
    seed: Optional[SupportsIndex] = None,
    out: Optional[PathLike] = None,
    force: bool = False,
    progress: bool = True,
) -> Sweep:
    """Runs every point of a sweep spec (one with a ``"sweep"`` section), sharing the device
    between points; see :class:`Sweep`. In memory, or with ``out`` written exactly as
    ``idpsim run`` writes a sweep (a directory per point, sweep.csv, the pictures, report.md),
    the points then read back from it. A point that fails is None in the list and "failed:
    ..." in the table's status column; the other points still run. The progress display counts
    the whole sweep and names the point in progress."""
    kind, value = _source(spec)
    o = _args.overrides(backend, adapter, trajectories, seed)
    with Progress(bool(progress), "idpsim sweep") as bar:
        raw = _native.run_sweep(
            kind,
            value,
            **o,
            out=None if out is None else os.fspath(out),
            force=bool(force),
            progress=bar.callback(),
        )
    axes = json.loads(raw["axes"])
    if out is not None:
        return _load_sweep(Path(out), verify=False)
    results = [Result(p["result"]) if "result" in p else None for p in raw["points"]]
    return Sweep(results, name=raw["name"], axes=axes, csv=raw["csv"])


def _load_run(d: Path, verify: bool) -> Result:
    text = _native.verify_run(os.fspath(d)) if verify else None
    return Result(_read_dir(d, text), d)


def _load_sweep(d: Path, verify: bool) -> Sweep:
    """A sweep's directory: sweep.csv, and each point's directory as a run (verified against
    its manifest when `verify`). The table must be a whole sweep (its rows the product of its
    axes, in order) and agree with the points' run.json."""

    def refuse(why: str) -> SpecError:
        return SpecError("dir", f"'{d}' {why}")

    text = (d / "sweep.csv").read_text()
    head, table = _parse_csv(text)
    if "status" not in head or "dir" not in head or head.index("status") == 0:
        raise refuse("has a sweep.csv without its axis, status and dir columns")
    names = head[: head.index("status")]
    rows = len(table["status"])
    raw_cells = list(csv.reader(io.StringIO(text)))[1:]
    if any(len(row) != len(head) for row in raw_cells):
        raise refuse("has a sweep.csv whose rows do not have its header's columns")
    axes: List[Dict[str, Any]] = []
    for k, name in enumerate(names):
        labels: List[str] = []
        for row in raw_cells:
            if row[k] not in labels:
                labels.append(row[k])
        values = []
        for label in labels:
            try:
                number: Optional[float] = float(label)
            except ValueError:
                number = None
            values.append({"label": label, "number": number if name != "variant" else None})
        axes.append({"name": name, "values": values})
    shape = tuple(len(a["values"]) for a in axes)
    if int(np.prod(shape)) != rows:
        raise refuse(f"has a sweep.csv of {rows} rows, not the {' × '.join(map(str, shape))} points of its axes")
    results: List[Optional[Result]] = []
    for i, row in enumerate(raw_cells):
        coords = np.unravel_index(i, shape)
        if [row[k] for k in range(len(names))] != [axes[k]["values"][c]["label"] for k, c in enumerate(coords)]:
            raise refuse(f"has a sweep.csv whose row {i + 1} is out of the axes' order")
        if table["status"][i] != "ok":
            results.append(None)
            continue
        point = str(table["dir"][i])
        if Path(point).name != point or point in ("", ".", ".."):
            raise refuse(f"has a sweep.csv whose row {i + 1} names '{point}', not a directory of the sweep")
        r = _load_run(d / point, verify)
        acc = (r.run_info.get("retrieval") or {}).get("accuracy")
        if r.run_info["trajectories"]["count"] != table["trajectories"][i] or (
            acc is not None and table.get("accuracy", [None] * rows)[i] != acc
        ):
            raise refuse(f"has a sweep.csv whose row {i + 1} does not match {table['dir'][i]}/run.json")
        results.append(r)
    first = next((r for r in results if r is not None), None)
    name = first.spec.get("name", "") if first is not None else ""
    report = d / "report.md"
    if report.is_file():
        line = report.read_text().split("\n", 1)[0]
        if line.startswith("# "):
            name = line[2:]
    return Sweep(results, name=name, axes=axes, csv=text, out=d)


def load(dir: PathLike) -> Union[Result, Sweep]:
    """Reopens a run directory (``idpsim run --out``, ``idpsim.run(out=)``,
    ``Result.save``, ``idpsim merge``) as the :class:`Result` a run in memory gives, or a
    sweep's directory as the :class:`Sweep`. Every file is first checked against the manifest
    in run.json (sizes and SHA-256; nothing missing, changed or extra) and a sweep's table
    against its points: a directory that cannot be verified (unfinished, interrupted, edited)
    is refused with a :class:`SpecError` on ``dir`` saying why."""
    d = Path(os.fspath(dir))
    if (d / "sweep.csv").is_file() and not (d / "run.json").exists():
        return _load_sweep(d, verify=True)
    return _load_run(d, verify=True)


def _saliencies(values: Any) -> List[float]:
    return [_args.real(f"saliency.{k}", a, -1e15, 1e15) for k, a in enumerate(np.asarray(values).ravel().tolist())]


def theory(
    spec_or_saliency: Union[SpecLike, SaliencyLike],
    *,
    slope: SupportsFloat = 1.0,
    n: SupportsIndex = 2,
) -> Dict[str, Any]:
    """Equilibria, their stability and energies, and the critical saliencies, for each input
    segment of a spec, or (given a list or array of saliencies) for an IDP network of ``n``
    neurons with Hadamard memories and tanh slope ``slope``: ``{"segments": [...]}`` as
    ``idpsim theory --json`` prints it."""
    if isinstance(spec_or_saliency, (list, tuple, np.ndarray)):
        doc = _native.theory(
            "json",
            "{}",
            saliency=_saliencies(spec_or_saliency),
            slope=_args.real("slope", slope, 1e-6, 1e4),
            n=_args.whole("n", n, 1, 2**20),
        )
    else:
        kind, value = _source(cast(SpecLike, spec_or_saliency))
        doc = _native.theory(kind, value)
    out: Dict[str, Any] = json.loads(doc)
    return out


def fpe(spec: SpecLike, *, grid: SupportsIndex = 200) -> Tuple[np.ndarray, List[np.ndarray]]:
    """The stationary Fokker–Planck density of a spec with N = 1 or 2 on ``grid`` cells per
    axis (2 to 2000; over the spec's state-histogram range, else ±4): ``(density, edges)`` with
    density [grid] or [grid, grid] (integrating to 1 over the cells) and one array of edges per
    axis."""
    kind, value = _source(spec)
    density, edges, _residual = _native.fpe(kind, value, grid=_args.whole("grid", grid, 2, 2000))
    return density, [np.asarray(e) for e in edges]


def landscape(
    spec_or_saliency: Union[SpecLike, SaliencyLike],
    out: PathLike,
    *,
    slope: SupportsFloat = 1.0,
    sigma: SupportsFloat = 0.5,
    trajectories: SupportsIndex = 12,
    force: bool = False,
) -> List[str]:
    """Draws the N = 2 energy landscape (with its equilibria and ``trajectories`` sample paths,
    0 to 1000) of a spec, or of the quick form with these saliencies, slope and noise, into
    ``out``; returns the files."""
    paths = _args.whole("trajectories", trajectories, 0, 1000)
    if isinstance(spec_or_saliency, (list, tuple, np.ndarray)):
        files = _native.landscape(
            "json",
            "{}",
            os.fspath(out),
            saliency=_saliencies(spec_or_saliency),
            slope=_args.real("slope", slope, 1e-6, 1e4),
            sigma=_args.real("sigma", sigma, 0.0),
            trajectories=paths,
            force=bool(force),
        )
    else:
        kind, value = _source(cast(SpecLike, spec_or_saliency))
        files = _native.landscape(kind, value, os.fspath(out), trajectories=paths, force=bool(force))
    return list(files)


def merge(dirs: Sequence[PathLike], out: PathLike, *, force: bool = False) -> Result:
    """Merges the shard directories of one run (``idpsim run --shard I/N``) into ``out``
    (identical to one whole run), after checking every shard against its manifest; returns
    the merged run."""
    _native.merge_dirs(_args.folders("dirs", dirs), os.fspath(out), force=bool(force))
    return Result(_read_dir(Path(out)), Path(out))


def replay(
    run_dir: PathLike,
    trajectories: Union[Sequence[SupportsIndex], "npt.NDArray[np.integer[Any]]"],
    out: PathLike,
    *,
    every: Optional[SupportsFloat] = None,
    backend: Optional[str] = None,
) -> Dict[str, Any]:
    """Integrates ``trajectories`` (global indices) of the finished run in ``run_dir`` again, as
    ``idpsim replay`` does, into ``out`` (new or empty), saving every ``every`` time units
    (default: the run's overlaps interval) and at the run's end, on the run's device unless
    ``backend`` names another. Returns the arrays written: ``states`` [K, T, N], ``overlaps``
    [K, T, P], ``times`` [T], ``trajectories`` [K], and ``info`` (replay.json); the final states
    are the run's own bytes."""
    which = _args.indices("trajectories", trajectories, _args.MAX_TRAJECTORIES - 1, " (the run's trajectory numbers)")
    step = None if every is None else _args.real("every", every, 0.0, positive=True)
    _native.replay_dir(
        os.fspath(run_dir),
        which,
        os.fspath(out),
        every=step,
        backend=_args.text("backend", backend, "gpu, cpu, cpu_fast"),
    )
    folder = Path(out)
    result: Dict[str, Any] = {k: np.load(folder / f"{k}.npy") for k in ("states", "overlaps", "times", "trajectories")}
    result["info"] = json.loads((folder / "replay.json").read_text())
    return result


def merge_check(dirs: Sequence[PathLike]) -> Tuple[str, bool]:
    """Which shards are intact, which trajectory ranges are missing and the commands that
    rerun them: ``(report, complete)``."""
    text, complete = _native.check_shards(_args.folders("dirs", dirs))
    return text, complete


def presets() -> Dict[str, str]:
    """The built-in specs: name → description."""
    return dict(_native.presets_list())


def preset(name: str) -> Dict[str, Any]:
    """A built-in spec as a dict (a starting point to edit)."""
    spec: Dict[str, Any] = json.loads(_native.preset_json(name))
    return spec


def devices() -> List[Dict[str, Any]]:
    """The adapters wgpu sees: name, backend (the API: Vulkan, Metal, Dx12), device_type
    (DiscreteGpu, IntegratedGpu, VirtualGpu, Cpu, Other: llvmpipe is a Cpu), driver and
    limits."""
    found: List[Dict[str, Any]] = json.loads(_native.devices())
    return found
