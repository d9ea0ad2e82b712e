//! Helpers shared by the integration tests: the backends to run a test body on, plans from
//! JSON, runs kept in memory, the `idpsim` command, and tolerance checks.
#![allow(dead_code)]

use std::path::Path;
use std::process::{Command, Output};

use idpsim::backend::{Chunk, ChunkResults, ChunkState, Progress};
use idpsim::cpu::CpuBackend;
use idpsim::engine::{self, Backend};
use idpsim::gpu::GpuBackend;
use idpsim::outputs::Store;
use idpsim::plan::Plan;
use idpsim::spec::Spec;

/// A GPU backend, or None with a loud SKIP line; with REQUIRE_GPU=1 a missing GPU fails.
pub fn gpu() -> Option<GpuBackend> {
    match GpuBackend::new(None) {
        Ok(g) => Some(g),
        Err(e) => {
            if std::env::var("REQUIRE_GPU").as_deref() == Ok("1") {
                panic!("REQUIRE_GPU=1 but no GPU adapter could be opened: {e:#}");
            }
            eprintln!("\n*** SKIP: no GPU adapter ({e:#}); GPU checks in this test did not run ***\n");
            None
        }
    }
}

/// Every backend: the CPU reference, the CPU fast path, then the GPU when one opens (see
/// [`gpu`]).
pub fn backends() -> Vec<Box<dyn Backend>> {
    let mut out: Vec<Box<dyn Backend>> = vec![Box::new(CpuBackend::new()), Box::new(CpuBackend::fast())];
    if let Some(g) = gpu() {
        out.push(Box::new(g));
    }
    out
}

/// Runs one test body on every backend, naming the backend when it fails.
pub fn on_every_backend(mut body: impl FnMut(&mut dyn Backend)) {
    for mut b in backends() {
        eprintln!("--- on the {} backend ({})", b.kind(), b.adapter());
        body(b.as_mut());
    }
}

/// A spec from JSON (panics with the spec error: tests give valid specs).
pub fn spec(json: &serde_json::Value) -> Spec {
    Spec::from_json(&json.to_string()).unwrap_or_else(|e| panic!("test spec: {e}"))
}

/// A plan from JSON (panics with the spec error: tests give valid specs).
pub fn plan(json: serde_json::Value) -> Plan {
    idpsim::resolve::plan(&spec(&json), Path::new(".")).unwrap_or_else(|e| panic!("test spec: {e}"))
}

/// Runs a plan in memory.
pub fn run(plan: &Plan, backend: &mut dyn Backend) -> Store {
    engine::run_in_memory(plan, backend).unwrap_or_else(|e| panic!("{} run failed: {e:#}", backend.kind()))
}

/// The `idpsim` command with `args`, with no Slurm variables in its environment.
pub fn idpsim(args: &[&str]) -> Output {
    idpsim_cmd(args).output().expect("run idpsim")
}

/// The `idpsim` command, not yet run (to add variables or a working directory).
pub fn idpsim_cmd(args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_idpsim"));
    c.args(args);
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("SLURM_") {
            c.env_remove(k);
        }
    }
    c
}

/// stderr without the Vulkan loader's XDG_RUNTIME_DIR noise.
pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).lines().filter(|l| !l.contains("XDG_RUNTIME_DIR")).collect::<Vec<_>>().join("\n")
}

/// The kernel constants the engine makes for an IDP plan with N neurons and P memories: the
/// thread layout, memories bit-packed in a uniform buffer, three segments, saves every 10 steps.
pub fn kernel_consts(n: usize, p: usize) -> idpsim::gpu::kernels::KernelConsts {
    let seg = serde_json::json!({ "duration": 0.1, "weights": vec![1.0; p] });
    let mut json = idp_spec(n, p, 64, 30, 0.5);
    json["input"]["segments"] = serde_json::json!([seg, seg, seg]);
    json["observe"] = serde_json::json!({ "overlaps": { "every": 0.1 } });
    let mut k = idpsim::gpu::kernels::KernelConsts::from_plan(&plan(json), idpsim::gpu::kernels::Layout::Thread);
    k.xi_format = idpsim::gpu::kernels::XiFormat::BitsUniform;
    k
}

/// Element-wise |a − b| ≤ abs + rel·|b|, NaN never equal; the message names the first failure.
pub fn assert_close(what: &str, a: &[f32], b: &[f32], abs: f32, rel: f32) {
    assert_eq!(a.len(), b.len(), "{what}: lengths differ");
    let mut worst = (0usize, 0f32);
    for (i, (&x, &y)) in a.iter().zip(b).enumerate() {
        let d = (x - y).abs();
        let tol = abs + rel * y.abs();
        assert!(
            x.is_finite() && y.is_finite() && d <= tol,
            "{what}: index {i}: actual {x}, expected {y}, difference {d}, tolerance {tol}"
        );
        if d > worst.1 {
            worst = (i, d);
        }
    }
    eprintln!("{what}: {} values agree; largest difference {} at {}", a.len(), worst.1, worst.0);
}

/// The values are not all equal to `v` (a kernel that never ran leaves buffers untouched).
pub fn assert_touched(what: &str, a: &[f32], v: f32) {
    assert!(a.iter().any(|&x| x != v), "{what}: every value is {v}; did the kernel run?");
}

/// A base IDP spec to edit.
pub fn idp_spec(n: usize, p: usize, m: u64, steps: u32, sigma: f64) -> serde_json::Value {
    let weights: Vec<f64> = (0..p).map(|k| if k == 1 % p { 2.5 } else { 1.0 + 0.1 * k as f64 }).collect();
    serde_json::json!({
        "name": "test",
        "model": { "kind": "idp", "activation": { "kind": "tanh", "slope": 1.0 } },
        "memories": { "kind": "random", "n": n, "p": p, "seed": 3 },
        "input": { "segments": [ { "duration": steps as f64 * 0.01, "weights": weights } ] },
        "noise": { "sigma": sigma },
        "integrator": { "dt": 0.01 },
        "ensemble": { "trajectories": m, "seed": 11 },
        "observe": { "overlaps": { "every": 0.01, "per_trajectory": true }, "final_state": true, "energy": { "per_trajectory": true } }
    })
}

/// A classic spec with a zeroed diagonal, a cue of a random memory as input and flipped cues
/// as initial states, saving every step (20 steps) with energies and retrieval: the family of
/// tests/parity.rs's sweep over P and (at P > 128) of tests/limits.rs.
pub fn classic_cue_spec(n: usize, p: usize) -> serde_json::Value {
    serde_json::json!({
        "model": { "kind": "classic", "activation": { "kind": "tanh", "slope": 10.0 }, "zero_diagonal": true },
        "memories": { "kind": "random", "n": n, "p": p, "seed": 1 },
        "input": { "segments": [ { "duration": 0.2, "cue": { "index": "random", "amplitude": 1.0 } } ] },
        "noise": { "sigma": 0.2 },
        "integrator": { "dt": 0.01 },
        "ensemble": { "trajectories": 70, "seed": 3, "initial": { "kind": "memory", "index": "target", "flip": 0.1 } },
        "observe": { "overlaps": { "every": 0.01, "per_trajectory": true }, "final_state": true,
                     "energy": { "per_trajectory": true }, "retrieval": { "threshold": 0.9 } }
    })
}

/// Every observer at once: energy, per-trajectory saves, final state, a 2-D histogram,
/// retrieval over random-weight segments and first passage; 200 trajectories (not a multiple
/// of 64).
pub fn everything() -> serde_json::Value {
    serde_json::json!({
        "name": "everything",
        "model": { "kind": "idp", "activation": { "kind": "tanh", "slope": 2.0 } },
        "memories": { "kind": "random", "n": 12, "p": 3, "seed": 4 },
        "input": { "segments": [
            { "duration": 0.4, "random_weights": { "dominant_memory": "random" } },
            { "duration": 0.3, "weights": [2.0, 1.0, 0.5], "ramp": 0.1 } ] },
        "noise": { "sigma": 0.5 },
        "ensemble": { "trajectories": 200, "seed": 8 },
        "observe": {
            "overlaps": { "every": 0.1, "per_trajectory": true }, "final_state": true,
            "energy": { "per_trajectory": true },
            "histogram": { "of": "state", "axes": [0, 1], "bins": [8, 6], "range": [[-2, 2], [-2, 2]] },
            "retrieval": { "threshold": 0.5 }, "first_passage": { "threshold": 0.6 } }
    })
}

/// Waits (at most 120 s) until `cond` holds.
pub fn wait_for(what: &str, cond: impl Fn() -> bool) {
    let start = std::time::Instant::now();
    while !cond() {
        assert!(start.elapsed().as_secs() < 120, "timed out waiting for {what}");
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}

/// A backend that fails ("crashes") at its n-th chunk call, as a killed process would stop.
pub struct Crashing<'a> {
    pub inner: &'a mut dyn Backend,
    pub calls_left: usize,
}

impl Backend for Crashing<'_> {
    fn kind(&self) -> &'static str {
        self.inner.kind()
    }
    fn adapter(&self) -> String {
        self.inner.adapter()
    }
    fn max_chunk(&self, plan: &Plan) -> u64 {
        self.inner.max_chunk(plan)
    }
    fn run_chunk(
        &mut self,
        plan: &Plan,
        chunk: Chunk,
        start: Option<&ChunkState>,
        stop: u32,
        results: &mut ChunkResults,
        progress: &mut dyn Progress,
    ) -> anyhow::Result<u32> {
        self.calls_left -= 1;
        if self.calls_left == 0 {
            anyhow::bail!("simulated crash");
        }
        self.inner.run_chunk(plan, chunk, start, stop, results, progress)
    }
    fn suspend(&mut self, plan: &Plan, chunk: Chunk) -> anyhow::Result<ChunkState> {
        self.inner.suspend(plan, chunk)
    }
}

/// A CSV file (sweep.csv) as its header and rows of fields (a quoted field keeps its quotes);
/// fails unless every row has a field per column.
pub fn csv(path: &std::path::Path) -> (Vec<String>, Vec<Vec<String>>) {
    let text = std::fs::read_to_string(path).unwrap();
    let split = |line: &str| {
        let (mut fields, mut field, mut quoted) = (Vec::new(), String::new(), false);
        for c in line.chars() {
            match c {
                '"' => {
                    quoted = !quoted;
                    field.push(c);
                }
                ',' if !quoted => fields.push(std::mem::take(&mut field)),
                _ => field.push(c),
            }
        }
        fields.push(field);
        fields
    };
    let mut lines = text.lines().map(split);
    let head = lines.next().unwrap();
    let rows: Vec<Vec<String>> = lines.collect();
    for (i, r) in rows.iter().enumerate() {
        assert_eq!(
            r.len(),
            head.len(),
            "{}: row {i} has {} fields for {} columns",
            path.display(),
            r.len(),
            head.len()
        );
    }
    (head, rows)
}
