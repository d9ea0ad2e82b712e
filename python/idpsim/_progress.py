"""The progress display of a run or a sweep: tqdm when it is installed (a terminal or Jupyter),
a plain line on stderr otherwise, nothing when disabled. Where stderr is neither a terminal nor
a notebook (a batch job's log file, a pipe) the display is a log: whole lines, one when the
phase changes and one per tenth of the work or per half minute, never the terminal's redrawn
line (which fills a log with carriage returns).

Until the first trajectory-steps are reported (opening the device, building the kernels, which
can take minutes the first time at large N) the display says what it is waiting for and counts
the seconds. The engine's messages (the device it runs on, a sweep's point, kernels being built)
are shown as the display's current phase: the native side calls :meth:`Progress.phase` with
them.
"""

from __future__ import annotations

import sys
import threading
import time
import warnings
from typing import Any, Optional

#: What the display says until the engine reports anything.
STARTING = "starting"
#: What it says once trajectory-steps are counted after a set-up message (the device opened,
#: kernels built), which would otherwise stay up for the whole run.
INTEGRATING = "integrating"


def _elapsed(seconds: float) -> str:
    s = int(seconds)
    return f"{s // 60}:{s % 60:02d}" if s >= 60 else f"{s} s"


def _terminal() -> bool:
    """Whether stderr is a terminal (a display redrawn in place can be seen there)."""
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False


def _notebook() -> bool:
    """Whether this runs in a Jupyter kernel (tqdm draws a widget there): tqdm.auto's test, an
    IPython shell whose configuration has an IPKernelApp."""
    ipython = sys.modules.get("IPython")
    try:
        shell = ipython.get_ipython() if ipython is not None else None  # type: ignore[attr-defined]
        return shell is not None and "IPKernelApp" in getattr(shell, "config", {})
    except Exception:
        return False


def _tqdm() -> Any:
    """tqdm's class for this environment (a widget in Jupyter when ipywidgets is there, else
    the terminal's), or None without tqdm. tqdm's warning that Jupyter lacks ipywidgets is not
    passed on: the terminal display it falls back to works."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from tqdm.auto import tqdm  # type: ignore[import-not-found,import-untyped,unused-ignore]
    except ImportError:
        return None
    return tqdm


class Progress:
    """A progress display; the native engine calls it as ``progress(done, total)`` with
    trajectory-steps, and ``progress.phase(text)`` with what it is doing."""

    #: Seconds between redraws while the engine reports nothing (set-up).
    TICK = 0.5
    #: A log's longest silence (seconds) while a run goes on, and the share of the work that
    #: gives a line of its own.
    LOG_EVERY = 30.0
    LOG_STEPS = 10

    def __init__(self, enabled: bool, what: str) -> None:
        self.what = what
        self.enabled = enabled
        self.bar: Any = None
        self.plain = False
        self.lock = threading.Lock()
        self.started = time.monotonic()
        self.first: Optional[float] = None
        self.current = STARTING
        #: The sweep point being run ("point 3/9: …"), kept in front of "integrating".
        self.point: Optional[str] = None
        #: Whether the current phase is a set-up message that integration ends.
        self.setting_up = True
        self.done = 0
        self.total = 0
        self.last_line = 0.0
        self.line_width = 0
        self.stop = threading.Event()
        self.ticker: Optional[threading.Thread] = None
        #: A log of whole lines (stderr is no terminal and no notebook): the tenth of the work
        #: last logged, and the last phase logged.
        self.log = False
        self.logged_step = -1
        self.logged_phase: Optional[str] = None
        if not enabled:
            return
        tqdm = _tqdm() if _terminal() or _notebook() else None
        if not (_terminal() or _notebook()):
            self.log = True
        elif tqdm is not None:
            self.bar = tqdm(
                total=None, desc=f"{what}: {STARTING}", unit="traj-steps", unit_scale=True, leave=False, dynamic_ncols=True
            )
        else:
            self.plain = True
        self.ticker = threading.Thread(target=self._tick, name="idpsim-progress", daemon=True)
        self.ticker.start()

    def callback(self) -> Optional["Progress"]:
        """What the engine is given: this display, or None when disabled."""
        return self if self.enabled else None

    def __call__(self, done: int, total: int) -> None:
        with self.lock:
            if self.first is None:
                self.first = time.monotonic()
            if self.setting_up and done > self.done:
                self.current = f"{self.point}: {INTEGRATING}" if self.point else INTEGRATING
                self.setting_up = False
            self.done, self.total = done, total
            self._draw(force=done >= total)

    def phase(self, text: str) -> None:
        """Shows `text` as what the run is doing now."""
        with self.lock:
            self.current = str(text)
            if self.current.startswith("point "):
                self.point = self.current
            self.setting_up = True
            self._draw(force=True)

    def _describe(self) -> str:
        """What the run is doing: with the seconds waited until the first trajectory-steps
        (tqdm counts the time after them)."""
        text = f"{self.what}: {self.current}"
        if self.first is None:
            return f"{text} [{_elapsed(time.monotonic() - self.started)}]"
        return text

    def _draw(self, force: bool = False) -> None:
        if self.log:
            self._log(force)
        elif self.bar is not None:
            if self.total and self.bar.total != self.total:
                self.bar.total = self.total
            self.bar.set_description_str(self._describe(), refresh=False)
            if self.done != self.bar.n:
                self.bar.update(self.done - self.bar.n)
            else:
                self.bar.refresh()
        elif self.plain:
            now = time.monotonic()
            # Quick runs say nothing until they are done; then a line at most every half second.
            if not force and (now - self.last_line < self.TICK or now - self.started < 1.0):
                return
            self.last_line = now
            if self.first is None:
                line = self._describe()
            else:
                percent = 100.0 * self.done / max(self.total, 1)
                line = f"{self.what}: {percent:5.1f} % [{_elapsed(now - self.started)}] {self.current}"
            pad = max(self.line_width - len(line), 0)
            self.line_width = len(line)
            print(f"\r{line}{' ' * pad}", end="", file=sys.stderr, flush=True)

    def _log(self, force: bool) -> None:
        """A line of the log when the phase changed, the run reached another tenth of its work
        or finished, or it said nothing for LOG_EVERY seconds (quick runs: their last line
        only)."""
        now = time.monotonic()
        # The tenth of the work reached, in integers (0.3 / 0.1 is 2.999…).
        step = self.LOG_STEPS * self.done // max(self.total, 1) if self.first is not None else -1
        finished = self.total > 0 and self.done >= self.total
        due = self.current != self.logged_phase or step > self.logged_step or now - self.last_line >= self.LOG_EVERY
        if not due or (not finished and now - self.started < 1.0) or (not force and now - self.last_line < 1.0):
            return
        self.last_line, self.logged_step, self.logged_phase = now, step, self.current
        if self.first is None:
            line = self._describe()
        else:
            percent = 100.0 * self.done / max(self.total, 1)
            line = f"{self.what}: {percent:5.1f} % [{_elapsed(now - self.started)}] {self.current}"
        self.line_width = len(line)
        print(line, file=sys.stderr, flush=True)

    def _tick(self) -> None:
        while not self.stop.wait(self.TICK):
            with self.lock:
                self._draw()

    def close(self) -> None:
        self.stop.set()
        if self.ticker is not None:
            self.ticker.join()
        if self.bar is not None:
            self.bar.close()
        elif self.plain and self.line_width and not self.log:
            print(file=sys.stderr, flush=True)

    def __enter__(self) -> "Progress":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
