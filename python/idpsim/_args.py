"""Arguments as NumPy users write them: spec values that are NumPy scalars or arrays become
JSON numbers and lists, and the arguments that override spec values are checked here, each bad
one a :class:`~idpsim.SpecError` naming the argument, the value and what is accepted."""

from __future__ import annotations

import math
import numbers
import os
from typing import Any, Dict, Mapping, Optional

import numpy as np

#: Most trajectories one run takes (ensemble.trajectories).
MAX_TRAJECTORIES = 2**32 - 1
#: Seeds are unsigned 64-bit integers.
MAX_SEED = 2**64 - 1


def _error(field: str, message: str) -> Exception:
    from . import SpecError

    return SpecError(field, message)


def plain(value: Any, field: str = "spec") -> Any:
    """`value` with every NumPy scalar made a Python number, every array, tuple or range a
    list and every path a string: what ``json.dumps`` takes. Non-finite numbers and values
    JSON cannot hold are refused, naming the field (a dotted path into the spec)."""
    if value is None or isinstance(value, (str, bool)):
        return value
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
        return [plain(v, f"{field}.{k}") for k, v in enumerate(value.tolist())]
    if isinstance(value, (list, tuple, range)):
        return [plain(v, f"{field}.{k}") for k, v in enumerate(value)]
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


def real(field: str, value: Any, low: float, high: float = math.inf) -> float:
    """`value` as a finite float in [low, high] (Python or NumPy numbers)."""
    accepted = f"accepted: {low:g} to {high:g}" if math.isfinite(high) else f"accepted: a number ≥ {low:g}"
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (numbers.Real, np.integer, np.floating)):
        raise _error(field, f"{value!r} is not a number; {accepted}")
    x = float(value)
    if not (math.isfinite(x) and low <= x <= high):
        raise _error(field, f"{x} is out of range; {accepted}")
    return x


def text(field: str, value: Any, accepted: str) -> Optional[str]:
    """`value` as a string (None stays None)."""
    if value is None:
        return None
    if isinstance(value, (str, np.str_)):
        return str(value)
    raise _error(field, f"{value!r} is not a string; accepted: {accepted}")


def overrides(backend: Any, adapter: Any, trajectories: Any, seed: Any) -> Dict[str, Any]:
    """The run options that override spec values, checked: backend and adapter strings (an
    adapter may be given by its number), 1 ≤ trajectories ≤ 2³²−1, 0 ≤ seed ≤ 2⁶⁴−1."""
    if isinstance(adapter, (numbers.Integral, np.integer)) and not isinstance(adapter, (bool, np.bool_)):
        adapter = str(int(adapter))
    return {
        "backend": text("backend", backend, "auto, gpu, cpu"),
        "adapter": text("adapter", adapter, "a part of an adapter's name, its number, 'all' or a list"),
        "trajectories": None
        if trajectories is None
        else whole("trajectories", trajectories, 1, MAX_TRAJECTORIES, " (overrides ensemble.trajectories)"),
        "seed": None if seed is None else whole("seed", seed, 0, MAX_SEED, " (overrides ensemble.seed)"),
    }
