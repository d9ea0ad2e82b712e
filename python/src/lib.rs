//! `idpsim._native`: the engine as a Python extension module. The Python package (`idpsim/`)
//! wraps these functions in its typed API; every function here takes plain values (the spec as
//! a JSON text, a file path or a preset name), releases the GIL while the engine works, and
//! turns every failure into `idpsim.SpecError` (bad input, with the field) or `idpsim.RunError`
//! (runtime failures); a panic is caught and reported as a RunError, never crossing the
//! boundary. Results are handed over as NumPy arrays that take ownership of the engine's
//! buffers (no copy).

use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};

use anyhow::Result;
use idpsim::engine::Watch;
use idpsim::error::SpecError;
use idpsim::error::{Input, UsageError, Words};
use idpsim::job::{self, Job, Options, RunOutcome, SweepWatch};
use idpsim::outputs::{ArrayData, Store, manifest};
use idpsim::plan::Plan;
use idpsim::spec::Spec;
use idpsim::{merge, presets, sweep};
use numpy::{PyArrayMethods, PyReadonlyArrayDyn, PyUntypedArrayMethods};
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};

/// Raises the Python package's own exception `class` (SpecError or RunError).
fn raise(py: Python<'_>, class: &str, args: &[String]) -> PyErr {
    let made =
        py.import("idpsim").and_then(|m| m.getattr(class)).and_then(|c| c.call1(pyo3::types::PyTuple::new(py, args)?));
    match made {
        Ok(e) => PyErr::from_value(e),
        Err(e) => e,
    }
}

/// The Python exception for an engine error: a Python error raised inside (a
/// KeyboardInterrupt from the progress callback) as itself, bad input as SpecError with its
/// field, the rest as RunError.
fn to_py(py: Python<'_>, e: anyhow::Error) -> PyErr {
    if let Some(err) = e.chain().find_map(|c| c.downcast_ref::<PyErr>()) {
        return err.clone_ref(py);
    }
    if let Some(s) = e.downcast_ref::<SpecError>() {
        return raise(py, "SpecError", &[s.field.clone(), s.message.clone()]);
    }
    if let Some(u) = e.downcast_ref::<UsageError>() {
        return raise(py, "SpecError", &[u.input.name(Words::Python), u.message_in(Words::Python)]);
    }
    raise(py, "RunError", &[format!("{e:#}")])
}

/// The engine's warnings as Python warnings (`idpsim.IdpsimWarning`), so that they can be
/// caught and filtered instead of going to file descriptor 2. A warning that the filters turn
/// into an exception is kept in [`WARNING_RAISED`] and raised when the call returns.
fn warn_in_python(message: &str) {
    Python::attach(|py| {
        let warned = py.import("idpsim").and_then(|m| m.getattr("IdpsimWarning")).and_then(|category| {
            let text = std::ffi::CString::new(message.replace('\0', " ")).unwrap_or_default();
            // Level 2: the line that called the idpsim function, not the function itself.
            PyErr::warn(py, &category, &text, 2)
        });
        if let Err(e) = warned {
            let mut slot = WARNING_RAISED.lock().unwrap_or_else(|e| e.into_inner());
            if slot.is_none() {
                *slot = Some(e);
            }
        }
    });
}

/// A warning raised as an exception (`warnings.simplefilter("error")`), until the call that
/// warned returns.
static WARNING_RAISED: std::sync::Mutex<Option<PyErr>> = std::sync::Mutex::new(None);

/// Runs `f` without the GIL, catching panics.
fn detached<T: Send>(py: Python<'_>, f: impl FnOnce() -> Result<T> + Send) -> PyResult<T> {
    let r = py.detach(|| match std::panic::catch_unwind(AssertUnwindSafe(f)) {
        Ok(r) => r,
        Err(p) => {
            let what = p
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            Err(anyhow::anyhow!("internal error (please report it): {what}"))
        }
    });
    let raised = WARNING_RAISED.lock().unwrap_or_else(|e| e.into_inner()).take();
    match (r, raised) {
        (Ok(_), Some(e)) => Err(e),
        (r, _) => r.map_err(|e| to_py(py, e)),
    }
}

/// The spec `value` names: a JSON text ("json"), a file ("path") or a preset ("preset"), and
/// the folder its relative paths are read from.
fn load(kind: &str, value: &str) -> Result<(Spec, PathBuf)> {
    match kind {
        "json" => Ok((Spec::from_json(value)?, PathBuf::from("."))),
        "path" => job::load_spec(Some(Path::new(value)), None),
        "preset" => job::load_spec(None, Some(value)),
        other => Err(UsageError::new(Input::Spec, format!("'{other}' is not a kind of spec source")).into()),
    }
}

/// Progress reported to a Python callable `progress(done, total)`; Python's own signal
/// handlers run here, so Ctrl-C (KeyboardInterrupt) stops the run at its next delivery. While
/// it watches a run it is also where the engine's messages (the `log` records at level info,
/// such as the adapter opened or kernels being built) go: to the callable's `phase(text)`.
struct PyWatch {
    callback: Option<Py<PyAny>>,
}

impl PyWatch {
    /// Watches a run: the engine's messages go to the callback's `phase` until it is dropped.
    fn new(callback: Option<Py<PyAny>>) -> PyWatch {
        let phase =
            Python::attach(|py| callback.as_ref().and_then(|cb| cb.bind(py).getattr("phase").ok()).map(|f| f.unbind()));
        *PHASE.lock().unwrap_or_else(|e| e.into_inner()) = phase;
        PyWatch { callback }
    }

    /// Shows `text` as the run's current phase (a sweep's point, the engine's messages).
    fn phase(&self, text: &str) -> Result<()> {
        report_phase(text).map_err(anyhow::Error::from)
    }
}

impl Drop for PyWatch {
    fn drop(&mut self) {
        *PHASE.lock().unwrap_or_else(|e| e.into_inner()) = None;
    }
}

impl Watch for PyWatch {
    fn progress(&mut self, done: u64, total: u64) -> Result<()> {
        Python::attach(|py| {
            py.check_signals()?;
            if let Some(cb) = &self.callback {
                cb.call1(py, (done, total))?;
            }
            Ok::<(), PyErr>(())
        })
        .map_err(anyhow::Error::from)
    }
}

/// The `phase` method of the progress display of the run in progress, if it has one.
static PHASE: std::sync::Mutex<Option<Py<PyAny>>> = std::sync::Mutex::new(None);

/// Hands `text` to the running display's `phase`, if there is one.
fn report_phase(text: &str) -> PyResult<()> {
    let Some(f) =
        Python::attach(|py| PHASE.lock().unwrap_or_else(|e| e.into_inner()).as_ref().map(|f| f.clone_ref(py)))
    else {
        return Ok(());
    };
    Python::attach(|py| f.call1(py, (text,)).map(|_| ()))
}

/// An error of Python code the engine called only to report (a log record, a phase), which
/// cannot stop the run from there: reported as unraisable, except a KeyboardInterrupt. Ctrl-C
/// runs Python's handler in whatever Python code the main thread runs next, so it can land in
/// such a call; it is raised again at the next progress check instead of being lost (the run
/// would otherwise go on to its end).
fn unraisable(py: Python<'_>, e: PyErr) {
    if e.is_instance_of::<pyo3::exceptions::PyKeyboardInterrupt>(py) {
        // SAFETY: PyErr_SetInterrupt only sets a flag, and the GIL is held here.
        unsafe { pyo3::ffi::PyErr_SetInterrupt() };
    } else {
        e.write_unraisable(py, None);
    }
}

/// The engine's `log` records, handed to Python: every record of idpsim's own modules at level
/// info or above to the `logging` logger "idpsim", and info records also to the running
/// progress display (see [`PyWatch`]). Records of other crates (wgpu's) are left out.
struct PyLog;

impl log::Log for PyLog {
    fn enabled(&self, m: &log::Metadata) -> bool {
        m.level() <= log::Level::Info && (m.target() == "idpsim" || m.target().starts_with("idpsim::"))
    }

    fn log(&self, record: &log::Record) {
        if !self.enabled(record.metadata()) {
            return;
        }
        let text = record.args().to_string();
        let level = match record.level() {
            log::Level::Error => 40,
            log::Level::Warn => 30,
            _ => 20,
        };
        Python::attach(|py| {
            let logged = py
                .import("logging")
                .and_then(|l| l.call_method1("getLogger", ("idpsim",)))
                .and_then(|l| l.call_method1("log", (level, text.as_str())));
            if let Err(e) = logged {
                unraisable(py, e);
            }
        });
        if record.level() == log::Level::Info
            && let Err(e) = report_phase(&text)
        {
            Python::attach(|py| unraisable(py, e));
        }
    }

    fn flush(&self) {}
}

/// An in-memory Store as a dict: {"arrays": {stem: ndarray}, "docs": {file: JSON text},
/// "files": [...], "run_info": JSON text}. The arrays own the engine's buffers. Only the
/// arrays that are files of the run are handed over (the raw values the observers also keep in
/// memory are dropped), so that a run in memory has what its directory has.
fn result_dict<'py>(py: Python<'py>, store: Store, info: serde_json::Value) -> PyResult<Bound<'py, PyDict>> {
    let arrays = PyDict::new(py);
    for (name, a) in store.arrays {
        if !store.files.contains(&format!("{name}.npy")) {
            continue;
        }
        let shape: Vec<usize> = a.shape.iter().map(|&d| d as usize).collect();
        let arr = match a.data {
            ArrayData::F32(v) => numpy::PyArray1::from_vec(py, v).reshape(shape)?.into_any(),
            ArrayData::F64(v) => numpy::PyArray1::from_vec(py, v).reshape(shape)?.into_any(),
            ArrayData::I32(v) => numpy::PyArray1::from_vec(py, v).reshape(shape)?.into_any(),
            ArrayData::I8(v) => numpy::PyArray1::from_vec(py, v).reshape(shape)?.into_any(),
            ArrayData::U32(v) => numpy::PyArray1::from_vec(py, v).reshape(shape)?.into_any(),
            ArrayData::U64(v) => numpy::PyArray1::from_vec(py, v).reshape(shape)?.into_any(),
        };
        arrays.set_item(name, arr)?;
    }
    let docs = PyDict::new(py);
    for (name, v) in store.docs {
        docs.set_item(name, v.to_string())?;
    }
    let d = PyDict::new(py);
    d.set_item("arrays", arrays)?;
    d.set_item("docs", docs)?;
    d.set_item("files", store.files)?;
    d.set_item("run_info", info.to_string())?;
    Ok(d)
}

/// The job of a spec source with the options (in memory until `out` is set).
fn job_of(kind: &str, value: &str, o: &Options) -> Result<Job> {
    let (spec, base) = load(kind, value)?;
    Ok(Job { options: o.clone(), ..Job::new(spec, base) })
}

/// Resolves a spec with the options; a sweep is refused (see `sweep`).
fn plan_of(kind: &str, value: &str, o: &Options) -> Result<Plan> {
    let job = job_of(kind, value, o)?;
    if job.is_sweep() {
        return Err(SpecError::new("sweep", "this spec is a sweep; run it with idpsim.sweep()").into());
    }
    job.plan()
}

/// One run. With `out`, the directory is written exactly as `idpsim run` writes it and
/// {"out": path, "skipped": bool} is returned (the Python side reads the files back);
/// otherwise the outputs stay in memory.
#[pyfunction]
#[pyo3(signature = (kind, value, backend=None, adapter=None, trajectories=None, seed=None, out=None, force=false, progress=None))]
#[allow(clippy::too_many_arguments)]
fn run<'py>(
    py: Python<'py>,
    kind: &str,
    value: &str,
    backend: Option<String>,
    adapter: Option<String>,
    trajectories: Option<u64>,
    seed: Option<u64>,
    out: Option<PathBuf>,
    force: bool,
    progress: Option<Py<PyAny>>,
) -> PyResult<Bound<'py, PyDict>> {
    let o = Options { backend, adapter, trajectories, seed };
    let (kind, value) = (kind.to_string(), value.to_string());
    let mut watch = PyWatch::new(progress);
    let outcome = detached(py, move || {
        let job = Job { out, force, ..job_of(&kind, &value, &o)? };
        if job.is_sweep() {
            return Err(SpecError::new("sweep", "this spec is a sweep; run it with idpsim.sweep()").into());
        }
        // Checked here too, so that a rerun of a finished run says nothing on stderr.
        if let Some(dir) = &job.out
            && !force
            && job::holds(&job.plan()?, dir)
        {
            watch.phase(&format!("{} already holds this run, complete and intact; read back", dir.display()))?;
            return Ok(RunOutcome::AlreadyThere);
        }
        job.run(&mut watch)
    })?;
    match outcome {
        RunOutcome::InMemory { store, info } => result_dict(py, *store, info),
        done => {
            let d = PyDict::new(py);
            d.set_item("skipped", matches!(done, RunOutcome::AlreadyThere))?;
            Ok(d)
        }
    }
}

/// A sweep's points as phases of the Python progress; a KeyboardInterrupt raised in the
/// callback stops the sweep.
impl SweepWatch for PyWatch {
    fn point_starts(&mut self, point: &sweep::Point, count: usize, what: &str) -> Result<()> {
        self.phase(&format!("point {}/{count}: {what}", point.index + 1))
    }

    fn stops(&self, e: &anyhow::Error) -> bool {
        e.chain().any(|c| c.downcast_ref::<PyErr>().is_some())
    }
}

/// Every point of a sweep spec, in order, in memory or (with `out`) written into `out` exactly
/// as `idpsim run` writes a sweep (the points' directories, sweep.csv, pictures, report.md).
/// Returns {"name", "axes": JSON text [{"name", "values": [{"label", "number"}]}], "csv": the
/// text of sweep.csv, "points": [{"index", "dir", "coords": JSON text {axis: label}, "numbers":
/// JSON text {axis: number or null}, "result": a run's dict (in memory) or "error": text}]}.
#[pyfunction]
#[pyo3(signature = (kind, value, backend=None, adapter=None, trajectories=None, seed=None, out=None, force=false, progress=None))]
#[allow(clippy::too_many_arguments)]
fn run_sweep<'py>(
    py: Python<'py>,
    kind: &str,
    value: &str,
    backend: Option<String>,
    adapter: Option<String>,
    trajectories: Option<u64>,
    seed: Option<u64>,
    out: Option<PathBuf>,
    force: bool,
    progress: Option<Py<PyAny>>,
) -> PyResult<Bound<'py, PyDict>> {
    type Outcome = std::result::Result<Option<(Store, serde_json::Value)>, String>;
    let o = Options { backend, adapter, trajectories, seed };
    let (kind, value) = (kind.to_string(), value.to_string());
    let mut watch = PyWatch::new(progress);
    let (name, axes, csv, points) = detached(py, move || {
        let job = Job { out, force, ..job_of(&kind, &value, &o)? };
        if !job.is_sweep() {
            return Err(SpecError::new("sweep", "this spec has no sweep; run it with idpsim.run()").into());
        }
        let done = job.run_sweep(&mut watch)?;
        let (axes, results) = (done.axes, done.results);
        let outcomes: Vec<Outcome> = results
            .iter()
            .zip(done.kept)
            .map(|(r, kept)| match &r.outcome {
                Ok(_) => Ok(kept),
                Err(e) => Err(e.clone()),
            })
            .collect();
        let spec_name = done.name;
        let csv = sweep::csv(&axes, &results);
        let axes_doc: Vec<serde_json::Value> = axes
            .iter()
            .map(|a| {
                let values: Vec<serde_json::Value> =
                    a.values.iter().map(|v| serde_json::json!({ "label": v.label, "number": v.number })).collect();
                serde_json::json!({ "name": a.name, "values": values })
            })
            .collect();
        let points: Vec<(sweep::Point, Outcome)> = results.into_iter().map(|r| r.point).zip(outcomes).collect();
        let described: Vec<_> = points
            .into_iter()
            .map(|(pt, outcome)| {
                let pick = |f: &dyn Fn(&sweep::AxisValue) -> serde_json::Value| -> serde_json::Value {
                    axes.iter().zip(&pt.coords).map(|(a, &c)| (a.name.clone(), f(&a.values[c]))).collect()
                };
                let coords = pick(&|v| serde_json::json!(v.label));
                let numbers = pick(&|v| serde_json::json!(v.number));
                (pt.index, pt.dir, coords, numbers, outcome)
            })
            .collect();
        Ok((spec_name, serde_json::Value::Array(axes_doc), csv, described))
    })?;
    let list = PyList::empty(py);
    for (index, dir, coords, numbers, outcome) in points {
        let d = PyDict::new(py);
        d.set_item("index", index)?;
        d.set_item("dir", dir)?;
        d.set_item("coords", coords.to_string())?;
        d.set_item("numbers", numbers.to_string())?;
        match outcome {
            Ok(Some((store, info))) => d.set_item("result", result_dict(py, store, info)?)?,
            Ok(None) => {}
            Err(e) => d.set_item("error", e)?,
        }
        list.append(d)?;
    }
    let d = PyDict::new(py);
    d.set_item("name", name)?;
    d.set_item("axes", axes.to_string())?;
    d.set_item("csv", csv)?;
    d.set_item("points", list)?;
    Ok(d)
}

/// Checks that `dir` holds a finished run, intact: its run.json (written last) and every file
/// as the manifest in it says, nothing else; returns run.json's text. Refused (SpecError on
/// `dir`) otherwise, saying why.
#[pyfunction]
fn verify_run(py: Python<'_>, dir: PathBuf) -> PyResult<String> {
    detached(py, move || {
        let refuse = |why: String| UsageError::new(Input::Dir, format!("'{}' {why}", dir.display()));
        let run_json = dir.join(manifest::RUN_JSON);
        let text = match std::fs::read_to_string(&run_json) {
            Ok(t) => t,
            Err(_) if dir.join(manifest::INCOMPLETE).exists() => {
                return Err(refuse("holds an unfinished or interrupted run (INCOMPLETE, no run.json)".into()).into());
            }
            Err(_) if !dir.is_dir() => return Err(refuse("is not a directory".into()).into()),
            Err(_) => return Err(refuse("has no run.json: not a finished idpsim run".into()).into()),
        };
        let run: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| refuse(format!("has a run.json that is not JSON ({e})")))?;
        manifest::verify(&dir, &run).map_err(|why| refuse(format!("cannot be verified: {why}")))?;
        Ok(text)
    })
}

/// The theory's report ({"segments": [...]}) as JSON text: of a spec, or of the quick form
/// (IDP, Hadamard memories, `saliency`, `slope`, `n`).
#[pyfunction]
#[pyo3(signature = (kind, value, saliency=None, slope=1.0, n=2))]
fn theory(
    py: Python<'_>,
    kind: &str,
    value: &str,
    saliency: Option<Vec<f64>>,
    slope: f64,
    n: usize,
) -> PyResult<String> {
    let (kind, value) = (kind.to_string(), value.to_string());
    detached(py, move || {
        let (plan, n_field) = match &saliency {
            Some(s) => {
                (idpsim::analysis::quick_plan(s, slope, idpsim::analysis::QuickN::Given(n), 0.0, 1.0)?, Input::N)
            }
            None => (plan_of(&kind, &value, &Options::default())?, Input::Field("memories.n".into())),
        };
        let reports = idpsim::analysis::theory(&plan, n_field)?;
        Ok(serde_json::json!({ "segments": reports }).to_string())
    })
}

/// The stationary Fokker–Planck density of a spec with N = 1 or 2 on `grid` cells per axis:
/// (density [bins…], the edges of each axis, the relative residual).
#[pyfunction]
#[pyo3(signature = (kind, value, grid=200))]
fn fpe<'py>(
    py: Python<'py>,
    kind: &str,
    value: &str,
    grid: usize,
) -> PyResult<(Bound<'py, PyAny>, Vec<Vec<f64>>, f64)> {
    let (kind, value) = (kind.to_string(), value.to_string());
    let (g, sol) = detached(py, move || {
        let plan = plan_of(&kind, &value, &Options::default())?;
        idpsim::analysis::fpe_density(&plan, grid)
    })?;
    let shape: Vec<usize> = g.bins[..g.dims].to_vec();
    let edges: Vec<Vec<f64>> = (0..g.dims)
        .map(|k| {
            let [lo, hi] = g.range[k];
            (0..=g.bins[k]).map(|i| lo + (hi - lo) * i as f64 / g.bins[k] as f64).collect()
        })
        .collect();
    let density = numpy::PyArray1::from_vec(py, sol.density).reshape(shape)?.into_any();
    Ok((density, edges, sol.residual))
}

/// Draws the N = 2 landscape into `out`; the files written.
#[pyfunction]
#[pyo3(signature = (kind, value, out, saliency=None, slope=1.0, sigma=0.5, trajectories=12, force=false))]
#[allow(clippy::too_many_arguments)]
fn landscape(
    py: Python<'_>,
    kind: &str,
    value: &str,
    out: PathBuf,
    saliency: Option<Vec<f64>>,
    slope: f64,
    sigma: f64,
    trajectories: usize,
    force: bool,
) -> PyResult<Vec<String>> {
    let (kind, value) = (kind.to_string(), value.to_string());
    detached(py, move || {
        let plan = match &saliency {
            Some(s) => idpsim::analysis::quick_plan(s, slope, idpsim::analysis::QuickN::Fixed(2), sigma, 10.0)?,
            None => plan_of(&kind, &value, &Options::default())?,
        };
        idpsim::analysis::landscape(&plan, &out, trajectories, force)
    })
}

/// Merges shard directories into `out`; the files written.
#[pyfunction]
#[pyo3(signature = (dirs, out, force=false))]
fn merge_dirs(py: Python<'_>, dirs: Vec<PathBuf>, out: PathBuf, force: bool) -> PyResult<Vec<String>> {
    detached(py, move || merge::merge(&dirs, &out, force))
}

/// `idpsim replay`: trajectories of the finished run in `dir` integrated again into `out`; the
/// files written.
#[pyfunction]
#[pyo3(signature = (dir, trajectories, out, every=None, backend=None))]
fn replay_dir(
    py: Python<'_>,
    dir: PathBuf,
    trajectories: Vec<u64>,
    out: PathBuf,
    every: Option<f64>,
    backend: Option<String>,
) -> PyResult<Vec<String>> {
    detached(py, move || idpsim::replay::run(&dir, &trajectories, every, backend.as_deref(), &out).map(|r| r.1))
}

/// `merge --check`: (report text, complete).
#[pyfunction]
fn check_shards(py: Python<'_>, dirs: Vec<PathBuf>) -> PyResult<(String, bool)> {
    detached(py, move || {
        let r = merge::check_shards(&dirs);
        Ok((r.text, r.complete))
    })
}

/// The built-in specs: (name, description).
#[pyfunction]
fn presets_list() -> Vec<(String, String)> {
    presets::PRESETS.iter().map(|(n, d, _)| (n.to_string(), d.to_string())).collect()
}

/// A built-in spec's JSON text.
#[pyfunction]
fn preset_json(py: Python<'_>, name: &str) -> PyResult<String> {
    presets::get(name).map(str::to_string).ok_or_else(|| {
        raise(
            py,
            "SpecError",
            &["preset".to_string(), format!("unknown preset '{name}'; available: {}", presets::names())],
        )
    })
}

/// The GPU adapters wgpu sees, as JSON text: a list of {name, backend, device_type, driver,
/// limits}.
#[pyfunction]
fn devices(py: Python<'_>) -> PyResult<String> {
    detached(py, || {
        let list: Vec<serde_json::Value> = idpsim::gpu::context::list_adapters()
            .into_iter()
            .map(|a| {
                let l = &a.limits;
                serde_json::json!({
                    "name": a.info.name,
                    "backend": format!("{:?}", a.info.backend),
                    "device_type": format!("{:?}", a.info.device_type),
                    "driver": format!("{} {}", a.info.driver, a.info.driver_info).trim().to_string(),
                    "max_storage_binding_bytes": l.max_storage_buffer_binding_size,
                    "max_buffer_bytes": l.max_buffer_size,
                    "max_workgroups_per_dimension": l.max_compute_workgroups_per_dimension,
                    "max_invocations_per_workgroup": l.max_compute_invocations_per_workgroup,
                })
            })
            .collect();
        Ok(serde_json::Value::Array(list).to_string())
    })
}

/// A JSON value of plain Python data (dicts with string keys, lists, tuples, strings, ints,
/// floats, bools and None), converted value by value: a float keeps its exact f64, which a
/// round trip through JSON text and serde_json's parser need not.
fn json_of(obj: &Bound<'_, PyAny>) -> PyResult<serde_json::Value> {
    use pyo3::types::{PyBool, PyFloat, PyInt, PyString, PyTuple};
    use serde_json::Value;
    if obj.is_none() {
        return Ok(Value::Null);
    }
    if let Ok(b) = obj.cast::<PyBool>() {
        return Ok(Value::Bool(b.is_true()));
    }
    if obj.is_instance_of::<PyInt>() {
        if let Ok(i) = obj.extract::<i64>() {
            return Ok(Value::from(i));
        }
        return Ok(Value::from(obj.extract::<u64>()?));
    }
    if let Ok(f) = obj.cast::<PyFloat>() {
        return serde_json::Number::from_f64(f.value())
            .map(Value::Number)
            .ok_or_else(|| PyTypeError::new_err(format!("{} is not a number JSON holds", f.value())));
    }
    if let Ok(t) = obj.cast::<PyString>() {
        return Ok(Value::String(t.to_cow()?.into_owned()));
    }
    if let Ok(d) = obj.cast::<PyDict>() {
        let mut m = serde_json::Map::new();
        for (k, v) in d.iter() {
            m.insert(k.extract::<String>()?, json_of(&v)?);
        }
        return Ok(Value::Object(m));
    }
    if obj.is_instance_of::<PyList>() || obj.is_instance_of::<PyTuple>() {
        return obj.try_iter()?.map(|v| json_of(&v?)).collect::<PyResult<Vec<_>>>().map(Value::Array);
    }
    Err(PyTypeError::new_err(format!("a value of type {} is not JSON", obj.get_type().name()?)))
}

/// Writes a run kept in memory into `out` (empty unless `force`): its arrays as NPY files (the
/// same bytes `idpsim run` writes), its documents, and run.json with the manifest. `files`
/// gives the order; pictures are not drawn (run with `out` for those).
#[pyfunction]
#[pyo3(signature = (out, files, arrays, docs, run_info, force=false))]
fn save<'py>(
    py: Python<'py>,
    out: PathBuf,
    files: Vec<String>,
    arrays: Bound<'py, PyDict>,
    docs: Bound<'py, PyDict>,
    run_info: Bound<'py, PyAny>,
    force: bool,
) -> PyResult<Vec<String>> {
    enum Data {
        F32(Vec<f32>),
        F64(Vec<f64>),
        I32(Vec<i32>),
        I8(Vec<i8>),
        U32(Vec<u32>),
        U64(Vec<u64>),
    }
    // Copied out of the arrays while the GIL is held.
    let mut items: Vec<(String, Vec<u64>, Data)> = Vec::new();
    for f in files.iter().filter(|f| f.ends_with(".npy")) {
        let stem = f.trim_end_matches(".npy");
        let Some(a) = arrays.get_item(stem)? else {
            return Err(raise(py, "SpecError", &["arrays".to_string(), format!("'{stem}' is missing")]));
        };
        macro_rules! take {
            ($t:ty, $v:ident) => {
                if let Ok(r) = a.extract::<PyReadonlyArrayDyn<$t>>() {
                    let shape = r.shape().iter().map(|&d| d as u64).collect();
                    let data = r.as_array().iter().copied().collect();
                    items.push((f.clone(), shape, Data::$v(data)));
                    continue;
                }
            };
        }
        take!(f32, F32);
        take!(f64, F64);
        take!(i32, I32);
        take!(i8, I8);
        take!(u32, U32);
        take!(u64, U64);
        return Err(PyTypeError::new_err(format!("{stem}: not an array of a type idpsim writes")));
    }
    let mut documents = Vec::new();
    for f in files.iter().filter(|f| f.ends_with(".json")) {
        let doc = match docs.get_item(f.as_str())? {
            Some(d) => json_of(&d)?,
            None => return Err(raise(py, "SpecError", &["docs".to_string(), format!("'{f}' is missing")])),
        };
        documents.push((f.clone(), doc));
    }
    let head = json_of(&run_info)?;
    detached(py, move || {
        let _lock = manifest::claim(&out, force, |_| Ok(()))?;
        manifest::mark_incomplete(&out)?;
        let mut store = Store::dir(&out);
        for (file, shape, data) in items {
            match data {
                Data::F32(v) => store.npy(&file, &shape, v)?,
                Data::F64(v) => store.npy(&file, &shape, v)?,
                Data::I32(v) => store.npy(&file, &shape, v)?,
                Data::I8(v) => store.npy(&file, &shape, v)?,
                Data::U32(v) => store.npy(&file, &shape, v)?,
                Data::U64(v) => store.npy(&file, &shape, v)?,
            }
        }
        for (file, doc) in documents {
            store.json(&file, doc)?;
        }
        let mut head = head;
        for key in ["retrieval", "first_passage", "occupancy"] {
            if let Some(v) = head.as_object_mut().and_then(|o| o.remove(key))
                && !v.is_null()
            {
                store.summaries.insert(key.into(), v);
            }
        }
        manifest::complete(&out, &mut store, head)?;
        Ok(store.files)
    })
}

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(run, m)?)?;
    m.add_function(wrap_pyfunction!(run_sweep, m)?)?;
    m.add_function(wrap_pyfunction!(theory, m)?)?;
    m.add_function(wrap_pyfunction!(fpe, m)?)?;
    m.add_function(wrap_pyfunction!(landscape, m)?)?;
    m.add_function(wrap_pyfunction!(merge_dirs, m)?)?;
    m.add_function(wrap_pyfunction!(check_shards, m)?)?;
    m.add_function(wrap_pyfunction!(replay_dir, m)?)?;
    m.add_function(wrap_pyfunction!(presets_list, m)?)?;
    m.add_function(wrap_pyfunction!(preset_json, m)?)?;
    m.add_function(wrap_pyfunction!(devices, m)?)?;
    m.add_function(wrap_pyfunction!(save, m)?)?;
    m.add_function(wrap_pyfunction!(verify_run, m)?)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    idpsim::notice::set_warning_handler(Some(Box::new(warn_in_python)));
    // Another logger may already be set (a second import in a new interpreter): keep it.
    if log::set_logger(&PyLog).is_ok() {
        log::set_max_level(log::LevelFilter::Info);
    }
    Ok(())
}
