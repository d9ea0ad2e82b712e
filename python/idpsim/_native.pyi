"""Type stubs of the native extension module `idpsim._native` (Rust, python/src/lib.rs). The
public API is `idpsim`'s; these are what it calls. A spec is passed as (kind, value): kind
"json" (value: JSON text), "path" (a file) or "preset" (a name)."""

from typing import Any, Dict, List, Optional, Protocol, Tuple

import numpy as np

__version__: str
__all__ = [
    "__version__",
    "check_shards",
    "devices",
    "fpe",
    "landscape",
    "merge_dirs",
    "replay_dir",
    "preset_json",
    "presets_list",
    "run",
    "run_sweep",
    "save",
    "theory",
    "verify_run",
]

class _ProgressCallback(Protocol):
    """What a run reports to: `(done, total)` trajectory-steps, and `phase(text)`, what the
    engine is doing (a sweep's point, the adapter it opened, kernels being built)."""

    def __call__(self, done: int, total: int, /) -> None: ...
    def phase(self, text: str, /) -> None: ...

def run(
    kind: str,
    value: str,
    backend: Optional[str] = None,
    adapter: Optional[str] = None,
    trajectories: Optional[int] = None,
    seed: Optional[int] = None,
    out: Optional[str] = None,
    force: bool = False,
    progress: Optional[_ProgressCallback] = None,
) -> Dict[str, Any]:
    """In memory: {"arrays": {stem: ndarray}, "docs": {file: JSON text}, "files": [...],
    "run_info": JSON text}. With `out`: {"skipped": bool} (the directory holds the run)."""

def run_sweep(
    kind: str,
    value: str,
    backend: Optional[str] = None,
    adapter: Optional[str] = None,
    trajectories: Optional[int] = None,
    seed: Optional[int] = None,
    out: Optional[str] = None,
    force: bool = False,
    progress: Optional[_ProgressCallback] = None,
) -> Dict[str, Any]:
    """{"name", "axes": JSON text, "csv": sweep.csv's text, "points": [{"index", "dir",
    "coords": JSON text, "numbers": JSON text, "result" (in memory) | "error"}]}."""

def verify_run(dir: str) -> str:
    """run.json's text, after every file was checked against its manifest."""

def theory(kind: str, value: str, saliency: Optional[List[float]] = None, slope: float = 1.0, n: int = 2) -> str: ...
def fpe(kind: str, value: str, grid: int = 200) -> Tuple[np.ndarray, List[List[float]], float]: ...
def landscape(
    kind: str,
    value: str,
    out: str,
    saliency: Optional[List[float]] = None,
    slope: float = 1.0,
    sigma: float = 0.5,
    trajectories: int = 12,
    force: bool = False,
) -> List[str]: ...
def merge_dirs(dirs: List[str], out: str, force: bool = False) -> List[str]: ...
def check_shards(dirs: List[str]) -> Tuple[str, bool]: ...
def replay_dir(
    dir: str, trajectories: List[int], out: str, every: Optional[float] = None, backend: Optional[str] = None
) -> List[str]: ...
def presets_list() -> List[Tuple[str, str]]: ...
def preset_json(name: str) -> str: ...
def devices() -> str: ...
def save(
    out: str,
    files: List[str],
    arrays: Dict[str, np.ndarray],
    docs: Dict[str, Any],
    run_info: Dict[str, Any],
    force: bool = False,
) -> List[str]:
    """Writes the arrays, the documents (plain JSON-like data) and run.json into `out`."""
