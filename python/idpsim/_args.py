"""Arguments as NumPy users write them: spec values that are NumPy scalars or arrays become
JSON numbers and lists, and the arguments that override spec values are checked here, each bad
one a :class:`~idpsim.SpecError` naming the argument, the value and what is accepted."""

from __future__ import annotations

import math
import numbers
import os
from typing import Any, Dict, List, Mapping, Optional

import numpy as np

#: Most trajectories one run takes (ensemble.trajectories).
MAX_TRAJECTORIES = 2**32 - 1
#: Seeds are unsigned 64-bit integers.
MAX_SEED = 2**64 - 1


def _error(field: str, message: str) -> Exception:
    from . import SpecError

    return SpecError(field, message)


def plain(value: Any, field: str = "spec") -> Any:
    """`value` with every NumPy scalar (and 0-d array) made a Python number, every array (or
    array-like with ``__array__``: pandas, xarray, JAX), tuple or range a list and every path a
    string: what ``json.dumps`` takes. Non-finite numbers and values JSON cannot hold are
    refused, naming the field as the engine does (``input.segments[0].weights[1]``). A whole
    float (``1e3``, ``np.float64(8)``) stays a float: the engine takes it for an integer field."""
    if value is None or isinstance(value, (str, bool)):
        return value
    if not isinstance(value, np.ndarray) and hasattr(value, "__array__") and not isinstance(value, np.generic):
        # pandas Series, xarray DataArray, JAX and other arrays: as NumPy sees them.
        try:
            value = np.asarray(value)
        except Exception as e:
            raise _error(field, f"is a {type(value).__name__} that NumPy cannot read as an array ({e})") from None
    if isinstance(value, np.ndarray) and value.ndim == 0:
        # A 0-d array is its one number (tolist() gives a scalar, not a list).
        value = value[()]
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, (np.integer, numbers.Integral)):
        return int(value)
    if isinstance(value, (np.floating, numbers.Real)):
        x = float(value)
        if not math.isfinite(x):
            raise _error(field, f"{x} is not a finite number; the spec takes finite numbers only")
        return x
    if isinstance(value, Mapping):
        out = {}
        for k, v in value.items():
            if not isinstance(k, str):
                raise _error(field, f"has the key {k!r}; spec keys are strings")
            out[k] = plain(v, k if field == "spec" else f"{field}.{k}")
        return out
    if isinstance(value, np.ndarray):
        if value.dtype.kind not in "biuf":
            raise _error(field, f"is an array of {value.dtype}; the spec takes arrays of numbers")
        return [plain(v, f"{field}[{k}]") for k, v in enumerate(value.tolist())]
    if isinstance(value, (list, tuple, range)):
        return [plain(v, f"{field}[{k}]") for k, v in enumerate(value)]
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if isinstance(value, np.str_):
        return str(value)
    raise _error(field, f"is a {type(value).__name__}; the spec takes numbers, strings, lists and objects")


def whole(field: str, value: Any, low: int, high: int, what: str = "") -> int:
    """`value` as an int in [low, high] (a Python or NumPy integer, or a float with no
    fractional part such as 1e4); anything else is a SpecError naming `field`, the value and the
    accepted range."""
    accepted = f"accepted: {low} to {high}{what}"
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (numbers.Real, np.integer, np.floating)):
        raise _error(field, f"{value!r} is not a whole number; {accepted}")
    if isinstance(value, (np.integer, numbers.Integral)):
        n = int(value)
    else:
        x = float(value)
        if not (math.isfinite(x) and x.is_integer()):
            raise _error(field, f"{value!r} is not a whole number; {accepted}")
        n = int(x)
    if not low <= n <= high:
        raise _error(field, f"{n} is out of range; {accepted}")
    return n


def real(field: str, value: Any, low: float, high: float = math.inf, *, positive: bool = False) -> float:
    """`value` as a finite float in [low, high] (Python or NumPy numbers); with `positive`,
    in (0, high]."""
    if positive:
        accepted = "accepted: a positive number"
    elif math.isfinite(high):
        accepted = f"accepted: {low:g} to {high:g}"
    else:
        accepted = f"accepted: a number ≥ {low:g}"
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (numbers.Real, np.integer, np.floating)):
        raise _error(field, f"{value!r} is not a number; {accepted}")
    x = float(value)
    if not (math.isfinite(x) and low <= x <= high) or (positive and x <= 0):
        raise _error(field, f"{x} is out of range; {accepted}")
    return x


def text(field: str, value: Any, accepted: str) -> Optional[str]:
    """`value` as a string (None stays None)."""
    if value is None:
        return None
    if isinstance(value, (str, np.str_)):
        return str(value)
    raise _error(field, f"{value!r} is not a string; accepted: {accepted}")


#: The backends a run takes.
BACKENDS = "auto, gpu, cpu, cpu_fast"
#: What ``adapter`` takes.
ADAPTERS = "a part of an adapter's name, its number, 'all' or a list of names and numbers"


def _is_index(value: Any) -> bool:
    return isinstance(value, (numbers.Integral, np.integer)) and not isinstance(value, (bool, np.bool_))


def adapter_text(value: Any) -> Optional[str]:
    """`adapter` as the command line's ``--adapter`` text: a name part, a number, 'all', or a
    list of those joined with commas (``[0, 1]`` is ``0,1``)."""
    if value is None:
        return None
    if isinstance(value, (list, tuple, np.ndarray)):
        items = list(value)
        if not items:
            raise _error("adapter", f"{value!r} is an empty list; accepted: {ADAPTERS}")
        return ",".join(_adapter_one(v, f"adapter.{k}") for k, v in enumerate(items))
    return _adapter_one(value, "adapter")


def _adapter_one(value: Any, field: str) -> str:
    if _is_index(value):
        if int(value) < 0:
            raise _error(field, f"{int(value)} is not an adapter number; accepted: {ADAPTERS}")
        return str(int(value))
    if isinstance(value, (str, np.str_)):
        # "0,1" is the command line's list; every part must name something (an empty part
        # would match every adapter's name).
        parts = [p.strip() for p in str(value).split(",")]
        if not all(parts):
            raise _error(field, f"{str(value)!r} names no adapter; accepted: {ADAPTERS}")
        return ",".join(parts)
    raise _error(field, f"{value!r} is not a name or an index; accepted: {ADAPTERS}")


def overrides(backend: Any, adapter: Any, trajectories: Any, seed: Any) -> Dict[str, Any]:
    """The run options that override spec values, checked: backend and adapter strings (an
    adapter may be given by its number, several as a list), 1 ≤ trajectories ≤ 2³²−1,
    0 ≤ seed ≤ 2⁶⁴−1."""
    return {
        "backend": text("backend", backend, BACKENDS),
        "adapter": adapter_text(adapter),
        "trajectories": None
        if trajectories is None
        else whole("trajectories", trajectories, 1, MAX_TRAJECTORIES, " (overrides ensemble.trajectories)"),
        "seed": None if seed is None else whole("seed", seed, 0, MAX_SEED, " (overrides ensemble.seed)"),
    }


def folders(field: str, value: Any) -> List[str]:
    """A list of directories as strings. A single path (str, bytes or PathLike) is refused: it
    would otherwise be taken character by character."""
    accepted = "accepted: a list of shard directories (strings or paths)"
    if isinstance(value, (str, bytes, os.PathLike)):
        raise _error(field, f"{os.fsdecode(value)!r} is one path; {accepted}")
    try:
        items = list(value)
    except TypeError:
        raise _error(field, f"{value!r} is not a list; {accepted}") from None
    out = []
    for k, d in enumerate(items):
        if not isinstance(d, (str, os.PathLike)):
            raise _error(f"{field}.{k}", f"{d!r} is not a path; {accepted}")
        out.append(os.fspath(d))
    return out


def indices(field: str, value: Any, high: int, what: str = "") -> List[int]:
    """A list (or 1-d array) of whole numbers, each in [0, high] as :func:`whole` checks it."""
    if isinstance(value, (str, bytes, Mapping)) or _is_index(value):
        raise _error(field, f"{value!r} is not a list; accepted: a list of whole numbers 0 to {high}{what}")
    if isinstance(value, np.ndarray) and value.ndim != 1:
        raise _error(field, f"is an array of {value.ndim} dimensions; accepted: a list of whole numbers")
    try:
        items = list(value)
    except TypeError:
        raise _error(field, f"{value!r} is not a list; accepted: a list of whole numbers 0 to {high}{what}") from None
    return [whole(field, v, 0, high, what) for v in items]
