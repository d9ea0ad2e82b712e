"""The rest of the API: spec sources, errors, Ctrl-C, progress, sweeps, theory, the grid
solver, landscapes, merge, presets and devices."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from pathlib import Path
from typing import Iterator

import numpy as np
import pytest

import idpsim
from idpsim import _native
from conftest import cli, everything


def small_quickstart(m: int = 256) -> dict:
    spec = idpsim.preset("quickstart")
    spec["ensemble"]["trajectories"] = m
    spec["input"]["segments"][0]["duration"] = 1.0
    return spec


def test_spec_sources_give_the_same_run(tmp_path: Path) -> None:
    spec = small_quickstart()
    path = tmp_path / "q.json"
    path.write_text(json.dumps(spec))
    runs = [
        idpsim.run(spec, backend="cpu", progress=False),
        idpsim.run(json.dumps(spec), backend="cpu", progress=False),
        idpsim.run(path, backend="cpu", progress=False),
        idpsim.run(str(path), backend="cpu", progress=False),
    ]
    for r in runs[1:]:
        assert r.overlaps_mean.tobytes() == runs[0].overlaps_mean.tobytes()
    preset = idpsim.run("quickstart", backend="cpu", trajectories=64, progress=False)
    assert preset.run_info["trajectories"]["count"] == 64 and preset.spec["name"] == "quickstart"
    seeded = idpsim.run(spec, backend="cpu", seed=99, progress=False)
    assert seeded.spec["ensemble"]["seed"] == 99
    assert seeded.overlaps_mean.tobytes() != runs[0].overlaps_mean.tobytes()


def test_errors_are_python_exceptions(tmp_path: Path) -> None:
    spec = small_quickstart()
    spec["noise"]["sigma"] = -1.0
    with pytest.raises(idpsim.SpecError) as e:
        idpsim.run(spec, progress=False)
    assert isinstance(e.value, ValueError) and e.value.field == "noise.sigma"
    with pytest.raises(idpsim.SpecError) as e:
        idpsim.run(small_quickstart(), backend="tpu", progress=False)
    assert e.value.field == "backend" and "accepted: auto, gpu, cpu" in str(e.value)
    with pytest.raises(idpsim.SpecError) as e:
        idpsim.run("no-such-preset-or-file", progress=False)
    assert e.value.field == "spec"
    with pytest.raises(idpsim.SpecError) as e:
        idpsim.run('{"name": "x"} {"name": "y"}', progress=False)
    assert e.value.field == "spec"
    with pytest.raises(idpsim.SpecError) as e:
        idpsim.preset("nope")
    assert e.value.field == "preset"
    with pytest.raises(TypeError):
        idpsim.run(42, progress=False)  # type: ignore[arg-type]
    # A run that diverges is a RunError naming the step and a trajectory.
    bad = {
        "model": {"kind": "idp"},
        "memories": {"kind": "hadamard", "n": 4, "p": 2},
        "input": {"segments": [{"duration": 5.0, "saliency": [1.0, 1.0]}]},
        "noise": {"sigma": 3e38},
        "ensemble": {"trajectories": 100, "seed": 1},
    }
    with pytest.raises(idpsim.RunError, match="diverged"):
        idpsim.run(bad, backend="cpu", progress=False)
    # An occupied output directory is refused, naming the argument; nothing is damaged.
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "keep.txt").write_text("mine")
    with pytest.raises(idpsim.SpecError) as e:
        idpsim.run(small_quickstart(), backend="cpu", out=tmp_path / "busy", progress=False)
    assert e.value.field == "out"
    assert (tmp_path / "busy" / "keep.txt").read_text() == "mine"
    # A sweep spec goes to sweep(), a plain one to run().
    with pytest.raises(idpsim.SpecError) as e:
        idpsim.run("robustness-sweep", progress=False)
    assert e.value.field == "sweep"
    with pytest.raises(idpsim.SpecError) as e:
        idpsim.sweep(small_quickstart(), progress=False)
    assert e.value.field == "sweep"


@pytest.fixture
def ctrl_c_raises() -> Iterator[None]:
    """SIGINT raises KeyboardInterrupt during the test, as in a terminal, even where the parent
    process left it ignored (a background job of a non-interactive shell, which Python keeps)."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


def test_ctrl_c_stops_a_run_and_leaves_nothing_half_written(tmp_path: Path, backend: str, ctrl_c_raises: None) -> None:
    spec = idpsim.preset("quickstart")
    spec["ensemble"]["trajectories"] = 400_000 if backend == "cpu" else 4_000_000
    # The same model family once, small: its kernels are built (a build is not interruptible and
    # takes from seconds to minutes on a loaded machine), so what is timed is the integration.
    idpsim.run(small_quickstart(64), backend=backend, progress=False)
    sent: list[float] = []

    def interrupt() -> None:
        sent.append(time.monotonic())
        os.kill(os.getpid(), signal.SIGINT)

    out = tmp_path / "run"
    timer = threading.Timer(1.0, interrupt)
    timer.start()
    with pytest.raises(KeyboardInterrupt):
        idpsim.run(spec, backend=backend, out=out, progress=False)
    elapsed = time.monotonic() - sent[0]
    timer.join()
    assert elapsed < 20, f"the run went on for {elapsed:.1f} s after Ctrl-C"
    assert not (out / "run.json").exists() and (out / "INCOMPLETE").exists()
    assert not [p.name for p in out.iterdir() if p.name.endswith(".tmp")], "temporaries left behind"
    # The same in memory: nothing is returned, the next run works.
    timer = threading.Timer(1.0, interrupt)
    timer.start()
    with pytest.raises(KeyboardInterrupt):
        idpsim.run(spec, backend=backend, progress=False)
    timer.join()
    assert time.monotonic() - sent[1] < 20, "the in-memory run went on for 20 s after Ctrl-C"
    assert idpsim.run(small_quickstart(64), backend=backend, progress=False).times.size > 0


def test_progress_is_reported_in_order() -> None:
    seen = []
    _native.run("json", json.dumps(small_quickstart(512)), backend="cpu", progress=lambda d, t: seen.append((d, t)))
    assert seen, "no progress reported"
    total = 512 * 100
    assert all(t == total for _, t in seen)
    done = [d for d, _ in seen]
    assert done == sorted(done) and done[-1] == total
    # The displays: tqdm when installed, a plain line otherwise; both end cleanly.
    r = idpsim.run(small_quickstart(64), backend="cpu", progress=True)
    assert r.times.size == 11


def test_plain_progress_line_without_tqdm(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    import builtins

    real_import = builtins.__import__

    def no_tqdm(name, *args, **kwargs):
        if name.startswith("tqdm"):
            raise ImportError("no tqdm")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_tqdm)
    monkeypatch.setattr(idpsim._progress, "_terminal", lambda: True)
    idpsim.run(small_quickstart(64), backend="cpu", progress=True)
    err = capsys.readouterr().err
    assert "idpsim: 100.0 %" in err


def test_sweep_in_memory_matches_the_cli(tmp_path: Path) -> None:
    spec = idpsim.preset("robustness-sweep")
    spec["memories"]["n"] = 64
    spec["ensemble"]["trajectories"] = 128
    spec["input"]["segments"][0]["duration"] = 1.0
    spec["observe"]["retrieval"]["window"] = 0.5
    spec["sweep"]["noise.sigma"] = [0, 2]
    s = idpsim.sweep(spec, backend="cpu", progress=False)
    assert len(s) == 6 and all(isinstance(r, idpsim.Result) for r in s)
    assert s.table["noise.sigma"] == [0, 0, 0, 2, 2, 2]
    assert s.table["variant"] == ["idp", "classic", "classic-pulse"] * 2
    assert s.table["status"] == ["ok"] * 6
    for r, acc in zip(s, s.table["accuracy"]):
        assert acc == r.run_info["retrieval"]["accuracy"]
    path = tmp_path / "sweep.json"
    path.write_text(json.dumps(spec))
    cli("run", str(path), "--backend", "cpu", "--out", str(tmp_path / "cli"), "--quiet")
    points = sorted((tmp_path / "cli").glob("0*"))
    assert len(points) == 6
    for r, d in zip(s, points):
        assert r.overlaps_mean.tobytes() == np.load(d / "overlaps_mean.npy").tobytes(), d.name
    pd = pytest.importorskip("pandas", reason="CI installs pandas; this check needs it")
    df = s.to_pandas()
    assert isinstance(df, pd.DataFrame) and len(df) == 6


def test_theory_fpe_landscape(tmp_path: Path) -> None:
    t = idpsim.theory([1.5, 2.25], slope=1.0, n=2)
    seg = t["segments"][0]
    assert seg["saliency"] == [1.5, 2.25] and len(seg["memories"]) == 2
    cli_doc = json.loads(cli("theory", "--saliency", "1.5,2.25", "--json").stdout)
    assert t == cli_doc
    assert idpsim.theory("landscape-c") == json.loads(cli("theory", "--preset", "landscape-c", "--json").stdout)

    density, edges = idpsim.fpe("fpe2d-equal", grid=40)
    assert density.shape == (40, 40) and [len(e) for e in edges] == [41, 41]
    cell = np.diff(edges[0])[0] * np.diff(edges[1])[0]
    assert abs(density.sum() * cell - 1.0) < 1e-9
    cli("fpe", "--preset", "fpe2d-equal", "--grid", "40", "--out", str(tmp_path / "fpe"))
    assert density.tobytes() == np.load(tmp_path / "fpe" / "density.npy").tobytes()
    with pytest.raises(idpsim.SpecError) as e:
        idpsim.fpe("fpe2d-equal", grid=1)
    assert e.value.field == "grid"

    files = idpsim.landscape([1.5, 2.25], tmp_path / "land", trajectories=4)
    assert files and all((tmp_path / "land" / f).is_file() for f in files)


def test_merge_and_check(tmp_path: Path) -> None:
    spec = everything()
    path = tmp_path / "spec.json"
    path.write_text(json.dumps(spec))
    for k in range(3):
        cli("run", str(path), "--backend", "cpu", "--shard", f"{k}/3", "--out", str(tmp_path / f"s{k}"), "--quiet")
    shards = [tmp_path / f"s{k}" for k in range(3)]
    text, complete = idpsim.merge_check(shards[:2])
    assert not complete and "shard 2/3" in text
    merged = idpsim.merge(shards, tmp_path / "merged")
    whole = idpsim.run(spec, backend="cpu", progress=False)
    for f in whole.files:
        if f.endswith(".npy"):
            stem = f[: -len(".npy")]
            assert merged.arrays[stem].tobytes() == whole.arrays[stem].tobytes(), f
    assert idpsim.merge_check(shards)[1]


def test_presets_and_devices() -> None:
    p = idpsim.presets()
    assert "quickstart" in p and "robustness-sweep" in p and all(isinstance(v, str) and v for v in p.values())
    q = idpsim.preset("quickstart")
    assert q["name"] == "quickstart" and q == json.loads(cli("preset", "quickstart").stdout)
    for d in idpsim.devices():
        assert {"name", "backend", "device_type", "max_storage_binding_bytes"} <= set(d)


def test_the_gil_is_released_while_the_engine_runs() -> None:
    """Another Python thread keeps running during a run: the engine holds the GIL only for the
    progress callbacks."""
    count = 0
    stop = threading.Event()

    def spin() -> None:
        nonlocal count
        while not stop.is_set():
            count += 1

    t = threading.Thread(target=spin)
    t.start()
    start = time.monotonic()
    idpsim.run(small_quickstart(2048), backend="cpu", progress=False)
    elapsed = time.monotonic() - start
    stop.set()
    t.join()
    # A free Python thread counts millions per second; with the GIL held it would barely move.
    assert count > 200_000 * elapsed, f"{count} increments in {elapsed:.2f} s"


def test_headless_import_prints_nothing() -> None:
    """On a server with no display (no XDG_RUNTIME_DIR) the Vulkan loader's complaints do not
    reach the user."""
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k != "XDG_RUNTIME_DIR"}
    r = subprocess.run(
        [sys.executable, "-c", "import idpsim; print(len(idpsim.devices()))"], capture_output=True, text=True, env=env
    )
    assert r.returncode == 0 and "XDG_RUNTIME_DIR" not in r.stderr, r.stderr


def test_a_finished_run_is_read_back_only_from_the_backend_asked_for(tmp_path: Path) -> None:
    """A directory holding this run, made on the CPU reference, is read back when the same
    backend (or auto) is asked for; asked for on another backend, the run is refused (the
    device that made it named, force=True to run it again) instead of silently returning
    the other backend's arrays."""
    out = tmp_path / "run"
    first = idpsim.run(small_quickstart(64), backend="cpu", out=out, progress=False)
    again = idpsim.run(small_quickstart(64), backend="cpu", out=out, progress=False)
    assert np.array_equal(first.overlaps_mean, again.overlaps_mean)
    idpsim.run(small_quickstart(64), backend="auto", out=out, progress=False)
    with pytest.raises(idpsim.SpecError) as e:
        idpsim.run(small_quickstart(64), backend="cpu_fast", out=out, progress=False)
    assert e.value.field == "out" and "cpu reference" in str(e.value) and "force=True" in str(e.value)


def test_ctrl_c_landing_in_a_log_record_still_stops_the_run() -> None:
    """Ctrl-C runs Python's handler in whatever Python code the main thread runs next, which
    can be the logging call of an engine message; the KeyboardInterrupt is then raised at the
    run's next progress check, not lost (the run would go on to its end). Simulated with a
    logging handler that raises it once."""
    import logging

    class Interrupting(logging.Handler):
        fired = False

        def emit(self, record: logging.LogRecord) -> None:
            if not Interrupting.fired:
                Interrupting.fired = True
                raise KeyboardInterrupt

    log = logging.getLogger("idpsim")
    handler, level = Interrupting(), log.level
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    spec = idpsim.preset("quickstart")
    spec["ensemble"]["trajectories"] = 40_000  # minutes on the CPU reference, were it not stopped
    try:
        started = time.monotonic()
        with pytest.raises(KeyboardInterrupt):
            idpsim.run(spec, backend="cpu", progress=False)
        assert Interrupting.fired
        assert time.monotonic() - started < 20, "the run went on after the interrupt"
    finally:
        log.removeHandler(handler)
        log.setLevel(level)
