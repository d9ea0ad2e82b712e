"""Quiet when asked, and telling when shown: with progress=False nothing reaches stderr (the
Vulkan loader's complaint about XDG_RUNTIME_DIR included); the progress display counts a
sweep's whole work and says what the run is doing, also before its first step (a first build
of the kernels can take minutes); the device a run used is reported with its kind."""

from __future__ import annotations

import json
import logging
import os
import re
import subprocess
import sys
import time
from typing import Any, List, Tuple

import pytest

import idpsim
from conftest import backends, everything
from idpsim import _native, _progress


def small_sweep_json() -> str:
    spec = idpsim.preset("robustness-sweep")
    spec["memories"]["n"] = 64
    spec["ensemble"]["trajectories"] = 64
    spec["input"]["segments"][0]["duration"] = 1.0
    spec["observe"]["retrieval"]["window"] = 0.2
    spec["sweep"]["noise.sigma"] = [0, 2]
    return json.dumps(spec)


SCRIPT = """
import json, sys, tempfile
import idpsim
spec = idpsim.preset("quickstart")
spec["ensemble"]["trajectories"] = 64
spec["input"]["segments"][0]["duration"] = 0.5
for backend in sys.argv[1:]:
    r = idpsim.run(spec, backend=backend, progress=False)
    out = tempfile.mkdtemp() + "/run"
    idpsim.run(spec, backend=backend, out=out, progress=False)
    idpsim.run(spec, backend=backend, out=out, progress=False)  # already there: read back
    idpsim.load(out)
    idpsim.sweep(json.loads(sys.stdin.read() or "null") or {**spec, "sweep": {"noise.sigma": [0, 1]}},
                 backend=backend, progress=False)
    idpsim.devices()
print("done")
"""


@pytest.mark.parametrize("xdg", [None, "", "relative/dir"])
def test_nothing_reaches_stderr_without_progress(xdg: Any) -> None:
    env = {k: v for k, v in os.environ.items() if k != "XDG_RUNTIME_DIR"}
    if xdg is not None:
        env["XDG_RUNTIME_DIR"] = xdg
    r = subprocess.run(
        [sys.executable, "-c", SCRIPT, *backends()], capture_output=True, text=True, env=env, input="", timeout=600
    )
    assert r.returncode == 0 and r.stdout.strip() == "done", r.stderr
    assert r.stderr == "", f"stray output on stderr: {r.stderr!r}"


def test_engine_warnings_are_python_warnings(capfd: pytest.CaptureFixture) -> None:
    """The engine's warnings (the command line's "warning: …" lines) are IdpsimWarnings, which
    Python captures and filters; none is written to file descriptor 2."""
    import warnings

    spec = idpsim.preset("fpe2d-equal")
    spec["observe"]["histogram"]["range"] = [[-0.1, 0.1], [-0.1, 0.1]]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        idpsim.run(spec, trajectories=64, backend="cpu", progress=False)
    found = [w for w in caught if issubclass(w.category, idpsim.IdpsimWarning)]
    assert len(found) == 1, [str(w.message) for w in caught]
    assert "fell outside observe.histogram.range" in str(found[0].message)
    assert issubclass(idpsim.IdpsimWarning, UserWarning)
    # Attributed to the caller's line, not to idpsim's own code.
    assert found[0].filename == __file__
    # Filtered out, it is gone; as an error, it is raised from the call.
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        warnings.filterwarnings("ignore", category=idpsim.IdpsimWarning)
        idpsim.run(spec, trajectories=64, backend="cpu", progress=False)
    assert not caught
    with warnings.catch_warnings():
        warnings.simplefilter("error", category=idpsim.IdpsimWarning)
        with pytest.raises(idpsim.IdpsimWarning, match="fell outside"):
            idpsim.run(spec, trajectories=64, backend="cpu", progress=False)
    out, err = capfd.readouterr()
    assert err == "", f"stray output on stderr: {err!r}"


class Recorder:
    """A progress callback that keeps what it is told."""

    def __init__(self) -> None:
        self.calls: List[Tuple[int, int]] = []
        self.phases: List[str] = []

    def __call__(self, done: int, total: int) -> None:
        self.calls.append((done, total))

    def phase(self, text: str) -> None:
        self.phases.append(text)


def test_a_sweeps_progress_counts_the_whole_sweep(tmp_path: Any) -> None:
    for out in (None, str(tmp_path / "sweep")):
        rec = Recorder()
        _native.run_sweep("json", small_sweep_json(), backend="cpu", out=out, progress=rec)
        total = 6 * 64 * 100  # points × trajectories × steps
        assert rec.calls and {t for _, t in rec.calls} == {total}
        done = [d for d, _ in rec.calls]
        assert done == sorted(done) and done[-1] == total
        # Every point named as it starts, in order.
        points = [p for p in rec.phases if p.startswith("point ")]
        assert [p.split(":")[0] for p in points] == [f"point {k}/6" for k in range(1, 7)]
        assert points[0] == "point 1/6: noise.sigma = 0, variant = idp"


def test_the_display_says_what_it_waits_for(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    # Before the first step: what it waits for, and for how long, every half second (on a
    # terminal: the display is redrawn in place).
    monkeypatch.setattr(_progress, "_terminal", lambda: True)
    monkeypatch.setattr(_progress, "_tqdm", lambda: None)
    bar = _progress.Progress(True, "idpsim")
    time.sleep(1.8)
    bar.phase("building kernels")
    time.sleep(1.0)
    bar(50, 100)
    bar(100, 100)
    bar.close()
    err = capsys.readouterr().err
    assert "idpsim: starting [1 s]" in err and re.search(r"idpsim: building kernels \[[23] s\]", err), err
    # Once steps are counted, the set-up message gives way to what the run does now.
    assert re.search(r"idpsim: 100\.0 % \[\d+ s\] integrating", err) and err.endswith("\n"), err
    assert not re.search(r"% \[\d+ s\] building kernels", err), err
    # A sweep's point stays in front of it.
    bar = _progress.Progress(True, "idpsim")
    bar.phase("point 2/6: noise.sigma = 0.5")
    bar.phase("built the kernels in 0.1 s")
    bar(10, 100)
    assert bar.current == "point 2/6: noise.sigma = 0.5: integrating", bar.current
    bar.close()
    capsys.readouterr()
    # tqdm shows the same, in its description.
    tqdm = pytest.importorskip("tqdm", reason="CI installs tqdm")
    assert tqdm
    monkeypatch.undo()
    monkeypatch.setattr(_progress, "_terminal", lambda: True)
    bar = _progress.Progress(True, "idpsim")
    assert bar.bar is not None
    time.sleep(1.8)
    bar(100, 100)
    bar.close()
    assert "idpsim: starting [1 s]" in capsys.readouterr().err
    # Disabled, it is not even given to the engine.
    assert _progress.Progress(False, "idpsim").callback() is None


def test_a_log_gets_whole_lines(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    """Where stderr is no terminal and no notebook (a batch job's log) the display writes whole
    lines: none for a run done within a second but its last, then one per phase and per tenth
    of the work (or per LOG_EVERY seconds of silence), never a carriage return; tqdm is not
    used there even when installed."""
    monkeypatch.setattr(_progress, "_terminal", lambda: False)
    monkeypatch.setattr(_progress, "_notebook", lambda: False)
    bar = _progress.Progress(True, "idpsim")
    assert bar.bar is None and bar.log
    bar(100, 100)
    bar.close()
    assert capsys.readouterr().err == "idpsim: 100.0 % [0 s] integrating\n"
    monkeypatch.setattr(_progress.Progress, "LOG_EVERY", 1.2)
    bar = _progress.Progress(True, "idpsim")
    bar.phase("building kernels")
    time.sleep(1.3)  # the phase, once the first second has passed
    time.sleep(1.5)  # and again after LOG_EVERY of silence
    for done in range(0, 1001, 25):  # 41 reports: a line per tenth, at most one a second
        bar(done, 1000)
        if done == 500:
            time.sleep(1.1)
    bar.close()
    err = capsys.readouterr().err
    lines = err.splitlines()
    assert "\r" not in err and err.endswith("\n"), repr(err)
    assert lines[0].startswith("idpsim: building kernels [1 s]"), lines
    assert lines[1].startswith("idpsim: building kernels [2 s]"), lines
    progress = [line for line in lines if "%" in line]
    assert progress[-1].startswith("idpsim: 100.0 % [") and progress[-1].endswith("] integrating"), lines
    # Reports within a second of the last line wait, so here at most the first report (0 %),
    # the one after the pause at 50 % and the last are logged.
    percents = [float(line.split("%")[0].split(": ")[1]) for line in progress]
    assert percents[-2:] == [50.0, 100.0] and percents in ([50.0, 100.0], [0.0, 50.0, 100.0]), lines
    # Reports a while apart: every tenth gets its line (30 % and 60 % included: counted in
    # integers, not as 0.3 / 0.1).
    bar = _progress.Progress(True, "idpsim")
    bar.started -= 10
    for done in range(11):
        bar.last_line -= 10  # as if the last line were long ago
        bar(done, 10)
    bar.close()
    progress = [line for line in capsys.readouterr().err.splitlines() if "%" in line]
    assert [float(line.split("%")[0].split(": ")[1]) for line in progress] == [10.0 * k for k in range(11)], progress


def test_the_engine_reports_its_phases() -> None:
    spec = json.dumps(everything())
    for backend in backends():
        rec = Recorder()
        _native.run("json", spec, backend=backend, progress=rec)
        adapter = idpsim.run(everything(), backend=backend, progress=False).run_info["adapter"]
        assert f"on {adapter}" in rec.phases, rec.phases
        if backend == "gpu":
            assert any(p.startswith("GPU adapter: ") for p in rec.phases), rec.phases


def test_auto_says_what_it_chose_and_records_why() -> None:
    rec = Recorder()
    _native.run("json", json.dumps(everything()), backend="auto", progress=rec)
    said = [p for p in rec.phases if p.startswith("backend auto: ")]
    assert len(said) == 1, rec.phases
    r = idpsim.run(everything(), backend="auto", progress=False)
    choice = r.run_info["backend_choice"]
    assert choice["backend"] == r.backend and choice["backend"] in ("cpu_fast", "gpu")
    assert said[0].startswith(f"backend auto: {choice['backend']} (")
    assert {e["backend"] for e in choice["estimates"]} >= {"cpu_fast"}
    if r.backend == "gpu":
        assert isinstance(r.run_info["kernel_builds"], list)


def test_engine_messages_go_to_python_logging(caplog: pytest.LogCaptureFixture) -> None:
    if "gpu" not in backends():
        pytest.skip("no GPU adapter: the adapter message is a GPU one")
    with caplog.at_level(logging.INFO, logger="idpsim"):
        idpsim.run(everything(), backend="gpu", progress=False)
    assert any(r.name == "idpsim" and r.getMessage().startswith("GPU adapter: ") for r in caplog.records)


def test_the_device_and_its_kind(tmp_path: Any) -> None:
    cpu = idpsim.run(everything(), backend="cpu", progress=False)
    assert cpu.backend == "cpu" and cpu.devices[0]["device_type"] == "cpu"
    assert "cpu backend on cpu reference" in repr(cpu)
    if "gpu" not in backends():
        return
    gpu = idpsim.run(everything(), backend="gpu", progress=False)
    listed = {d["name"]: d for d in idpsim.devices()}
    (dev,) = gpu.devices
    assert dev["name"] in listed and dev["api"] == listed[dev["name"]]["backend"]
    kind = listed[dev["name"]]["device_type"]
    assert dev["device_type"] == {"Cpu": "cpu", "DiscreteGpu": "discrete gpu", "IntegratedGpu": "integrated gpu"}.get(
        kind, dev["device_type"]
    )
    if dev["name"].startswith("llvmpipe"):
        assert dev["device_type"] == "cpu" and "(cpu via Vulkan)" in repr(gpu)
    # The same from a directory the command line wrote (run.json's adapter).
    out = tmp_path / "gpu"
    idpsim.run(everything(), backend="gpu", out=out, progress=False)
    assert idpsim.load(out).devices == gpu.devices


FAKE_NOTEBOOK = """
import sys, types, warnings
warnings.simplefilter("default")
# What a Jupyter kernel without ipywidgets looks like to tqdm.
class ZMQInteractiveShell:
    config = {"IPKernelApp": {}}
ipython = types.ModuleType("IPython")
ipython.get_ipython = ZMQInteractiveShell
sys.modules["IPython"] = ipython
sys.modules["ipykernel.zmqshell"] = types.ModuleType("ipykernel.zmqshell")
sys.modules["ipywidgets"] = None
if sys.argv[1] == "tqdm":
    import tqdm.auto
else:
    import idpsim
    spec = idpsim.preset("quickstart")
    spec["ensemble"]["trajectories"] = 64
    spec["input"]["segments"][0]["duration"] = 0.5
    idpsim.run(spec, backend="cpu")
    idpsim.run(spec, backend="cpu", progress=False)
"""


def test_no_tqdm_warning_in_a_kernel_without_widgets() -> None:
    pytest.importorskip("tqdm", reason="CI installs tqdm")
    # The setting does make tqdm warn...
    r = subprocess.run([sys.executable, "-c", FAKE_NOTEBOOK, "tqdm"], capture_output=True, text=True)
    assert "TqdmWarning" in r.stderr, r.stderr
    # ...and idpsim's progress display does not pass it on; it falls back to the text bar.
    r = subprocess.run([sys.executable, "-c", FAKE_NOTEBOOK, "idpsim"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert "Warning" not in r.stderr and "idpsim: on cpu reference" in r.stderr, r.stderr
