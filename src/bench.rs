//! `idpsim bench`: throughput of the standard cases (docs/ARCHITECTURE.md, "Benchmarks") in
//! neuron-steps per second (trajectories × N × steps per second), from the wall time of a run
//! in memory (kernel build excluded by a warm-up, observation included) and from its
//! integration time alone; with `--repeat K`, the minimum and median of K runs.

use crate::error::{Input, UsageError};
use std::time::Instant;

use anyhow::Result;
use clap::Args;

use crate::cpu::CpuBackend;
use crate::engine::{self, Backend};
use crate::gpu::GpuBackend;
use crate::outln;
use crate::plan::Plan;
use crate::presets;
use crate::spec::Spec;

#[derive(Args, Debug)]
pub struct BenchArgs {
    /// gpu, cpu (the reference), cpu_fast, or auto (the time-to-answer case only). Default: gpu
    /// for the throughput cases, auto for tta.
    #[arg(long)]
    pub backend: Option<String>,
    /// Use the first adapter whose name contains this.
    #[arg(long)]
    pub adapter: Option<String>,
    /// Cases to run: a, b, c (the standard cases, the default), d, e, f, g (large P: classic
    /// and IDP at N = 1000, P = 250, σ = 0 and 0.5), and tta (time to answer: the 9-point
    /// memory-load sweep as a whole process, from empty caches and then warm).
    #[arg(long, value_delimiter = ',')]
    pub cases: Vec<String>,
    /// Divide the trajectory counts by this (a quick check, e.g. in CI).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..))]
    pub scale_down: u64,
    /// Work layout on the GPU: auto, thread, group or tile.
    #[arg(long)]
    pub layout: Option<String>,
    /// Also fill a 100 × 100 histogram of (x_0, x_1) every this many steps (1 = every step),
    /// to measure what the histogram observer costs.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    pub histogram_every: Option<u32>,
    /// Run each case K times after a whole warm-up run, and report the minimum and median.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..=1000))]
    pub repeat: u64,
    /// The noise increments: gaussian (the cases' own) or two_point.
    #[arg(long)]
    pub increments: Option<String>,
}

/// One measured case.
#[derive(Debug, Clone)]
pub struct BenchResult {
    pub case: String,
    pub model: String,
    pub n: usize,
    pub p: usize,
    pub trajectories: u64,
    pub steps: u32,
    /// Wall seconds of each timed run, and their integration seconds.
    pub wall: Vec<f64>,
    pub integration: Vec<f64>,
    /// Rates of the median run: per wall second (the usual figure) and per integration second.
    pub neuron_steps_per_s: f64,
    pub trajectory_steps_per_s: f64,
    pub integration_neuron_steps_per_s: f64,
    /// Device seconds in the kernels of each timed run (GPU timestamps), where the device has
    /// them, and the median run's rate per kernel second.
    pub kernel: Vec<f64>,
    pub kernel_neuron_steps_per_s: Option<f64>,
}

fn min(v: &[f64]) -> f64 {
    v.iter().copied().fold(f64::INFINITY, f64::min)
}

fn median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    let n = s.len();
    if n % 2 == 1 { s[n / 2] } else { 0.5 * (s[n / 2 - 1] + s[n / 2]) }
}

/// Times one plan on a backend: a warm-up first (the kernel build; a short one when
/// `repeat` is 1, the whole run otherwise), then `repeat` whole runs.
pub fn measure(case: &str, plan: &Plan, backend: &mut dyn Backend, repeat: usize) -> Result<BenchResult> {
    let mut warm = plan.clone();
    if repeat <= 1 {
        warm.ensemble.trajectories = warm.ensemble.trajectories.min(64);
    }
    backend.time_kernels();
    engine::run_in_memory(&warm, backend)?;
    backend.kernel_seconds();
    let (mut wall, mut integration, mut kernel) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..repeat.max(1) {
        let t0 = Instant::now();
        let store = engine::run_in_memory(plan, backend)?;
        wall.push(t0.elapsed().as_secs_f64());
        integration.push(store.timing.integration_s);
        kernel.extend(backend.kernel_seconds());
    }
    let ts = plan.ensemble.trajectories as f64 * plan.time.total_steps as f64;
    let (w, i) = (median(&wall), median(&integration));
    Ok(BenchResult {
        case: case.into(),
        model: plan.model.name().into(),
        n: plan.n(),
        p: plan.p(),
        trajectories: plan.ensemble.trajectories,
        steps: plan.time.total_steps,
        neuron_steps_per_s: ts * plan.n() as f64 / w,
        trajectory_steps_per_s: ts / w,
        integration_neuron_steps_per_s: ts * plan.n() as f64 / i,
        kernel_neuron_steps_per_s: (!kernel.is_empty()).then(|| ts * plan.n() as f64 / median(&kernel)),
        wall,
        integration,
        kernel,
    })
}

/// The large-P cases d–g: the memory-load experiment's network (N = 1000 random memories,
/// P = 250, δ = 10, zeroed diagonal, cued from a memory with 10 % of its signs flipped), 256
/// trajectories, 400 steps of dt = 0.05.
fn large_p_case(case: &str) -> Option<String> {
    let (kind, sigma) = match case {
        "d" => ("classic", 0.0),
        "e" => ("idp", 0.0),
        "f" => ("classic", 0.5),
        "g" => ("idp", 0.5),
        _ => return None,
    };
    Some(format!(
        r#"{{
  "name": "bench-{case}",
  "model": {{ "kind": "{kind}", "activation": {{ "kind": "tanh", "slope": 10.0 }}, "zero_diagonal": true }},
  "memories": {{ "kind": "random", "n": 1000, "p": 250, "seed": 1 }},
  "input": {{ "segments": [ {{ "duration": 20.0, "cue": {{ "index": "random", "amplitude": 1.0 }} }} ] }},
  "noise": {{ "sigma": {sigma:?} }},
  "integrator": {{ "scheme": "euler_maruyama", "dt": 0.05 }},
  "ensemble": {{ "trajectories": 256, "seed": 3, "initial": {{ "kind": "memory", "index": "target", "flip": 0.1 }} }},
  "observe": {{ "overlaps": {{ "every": 1.0 }} }}
}}"#
    ))
}

/// The time-to-answer case's spec: the `capacity` preset at three loads (P = 100, 150, 250)
/// with 64 trajectories per point on one network (no replicates), 9 points in all (the JAX peer
/// bench/jax_capacity.py computes the same).
pub fn time_to_answer_spec() -> Result<serde_json::Value> {
    let text = presets::get("capacity").expect("the capacity preset exists");
    let mut spec: serde_json::Value = serde_json::from_str(text)?;
    spec["ensemble"]["trajectories"] = serde_json::json!(64);
    spec["sweep"]["memories.p"] = serde_json::json!([100, 150, 250]);
    if let Some(sweep) = spec["sweep"].as_object_mut() {
        sweep.remove(crate::sweep::REPLICATES);
    }
    Ok(spec)
}

/// The time-to-answer case: `idpsim run` of [`time_to_answer_spec`] as a whole process, first
/// with empty caches (fresh driver shader caches: Mesa's, which lavapipe and RADV use, and
/// NVIDIA's; a fresh kernel-build record and pipeline cache), then again warm.
fn time_to_answer(a: &BenchArgs) -> Result<()> {
    let exe = std::env::current_exe()?;
    let tmp = std::env::temp_dir().join(format!("idpsim-tta-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    // NVIDIA's driver caches nothing in a folder that does not exist.
    std::fs::create_dir_all(tmp.join("nvidia"))?;
    let spec = tmp.join("capacity-3.json");
    std::fs::write(&spec, serde_json::to_string_pretty(&time_to_answer_spec()?)?)?;
    let backend = a.backend.clone().unwrap_or_else(|| "auto".into());
    for (k, label) in ["empty caches", "warm"].iter().enumerate() {
        let out = tmp.join(format!("out-{k}"));
        let mut cmd = std::process::Command::new(&exe);
        cmd.args(["run", &spec.to_string_lossy(), "--out", &out.to_string_lossy(), "--quiet", "--backend", &backend]);
        if let Some(ad) = &a.adapter {
            cmd.args(["--adapter", ad]);
        }
        cmd.env("MESA_SHADER_CACHE_DIR", tmp.join("mesa"))
            .env("__GL_SHADER_DISK_CACHE_PATH", tmp.join("nvidia"))
            .env("IDPSIM_CACHE_DIR", tmp.join("idpsim-cache"));
        let t0 = Instant::now();
        let status = cmd.status()?;
        let wall = t0.elapsed().as_secs_f64();
        anyhow::ensure!(status.success(), "the time-to-answer run failed ({status})");
        let first: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(out.join("000_p=100_variant=classic").join("run.json"))?)?;
        outln!("tta   {label:<12} 9 points, whole process {wall:.2} s on {}", first["adapter"].as_str().unwrap_or("?"));
        outln!(
            "{}",
            serde_json::json!({
                "case": "tta", "caches": label, "points": 9, "seconds": wall, "backend": backend,
                "chosen": first["backend"], "adapter": first["adapter"],
            })
        );
        std::fs::remove_dir_all(&out)?;
    }
    std::fs::remove_dir_all(&tmp)?;
    Ok(())
}

pub fn run(a: &BenchArgs) -> Result<()> {
    let cases: Vec<String> =
        if a.cases.is_empty() { vec!["a".into(), "b".into(), "c".into()] } else { a.cases.clone() };
    if let Some(bad) = cases.iter().find(|c| !["a", "b", "c", "d", "e", "f", "g", "tta"].contains(&c.as_str())) {
        return Err(
            UsageError::new(Input::Cases, format!("unknown case '{bad}'; accepted: a, b, c, d, e, f, g, tta")).into()
        );
    }
    // Every option checked before an adapter is opened or a line printed.
    if let Some(ad) = &a.adapter
        && matches!(a.backend.as_deref(), Some("cpu" | "cpu_fast"))
    {
        return Err(UsageError::new(
            Input::Adapter,
            format!("'{ad}' names a GPU adapter, but the backend is a CPU one; drop it, or use --backend gpu or auto"),
        )
        .into());
    }
    if let Some(l) = &a.layout {
        serde_json::from_value::<crate::plan::LayoutChoice>(serde_json::json!(l)).map_err(|_| {
            UsageError::new(
                Input::Layout,
                format!("unknown layout '{l}'; accepted: {}", crate::plan::LayoutChoice::ACCEPTED),
            )
        })?;
    }
    if let Some(inc) = &a.increments {
        serde_json::from_value::<crate::spec::Increments>(serde_json::json!(inc)).map_err(|_| {
            UsageError::new(Input::Increments, format!("unknown kind '{inc}'; accepted: gaussian, two_point"))
        })?;
    }
    if cases.iter().any(|c| c == "tta") {
        if let Some(b) = a.backend.as_deref().filter(|b| !["gpu", "cpu", "cpu_fast", "auto"].contains(b)) {
            return Err(UsageError::new(
                Input::Backend,
                format!("unknown backend '{b}'; accepted: gpu, cpu, cpu_fast, auto"),
            )
            .into());
        }
        time_to_answer(a)?;
    }
    let cases: Vec<String> = cases.into_iter().filter(|c| c != "tta").collect();
    if cases.is_empty() {
        return Ok(());
    }
    let mut backend: Box<dyn Backend> = match a.backend.as_deref().unwrap_or("gpu") {
        "gpu" => Box::new(GpuBackend::new(a.adapter.as_deref())?),
        "cpu" => Box::new(CpuBackend::new()),
        "cpu_fast" => Box::new(CpuBackend::fast()),
        other => {
            return Err(UsageError::new(
                Input::Backend,
                format!("unknown backend '{other}'; accepted: gpu, cpu, cpu_fast (auto only with --cases tta)"),
            )
            .into());
        }
    };
    outln!("adapter: {}", backend.adapter());
    outln!(
        "{:<5} {:<8} {:>5} {:>3} {:>8} {:>6} {:>9} {:>9} {:>16} {:>18}",
        "case",
        "model",
        "N",
        "P",
        "M",
        "steps",
        "min s",
        "median s",
        "neuron-steps/s",
        "(integration only)"
    );
    for case in cases {
        let text = match large_p_case(&case) {
            Some(t) => t,
            None => presets::get(&format!("bench-{case}")).expect("cases are checked above").to_string(),
        };
        let mut spec = Spec::from_json(&text).map_err(|e| anyhow::anyhow!("{e}"))?;
        spec.ensemble.trajectories = (spec.ensemble.trajectories / a.scale_down.max(1)).max(64);
        if let Some(l) = &a.layout {
            spec.run.layout = serde_json::from_value(serde_json::json!(l)).map_err(|_| {
                UsageError::new(
                    Input::Layout,
                    format!("unknown layout '{l}'; accepted: {}", crate::plan::LayoutChoice::ACCEPTED),
                )
            })?;
        }
        if let Some(inc) = &a.increments {
            spec.noise.increments = serde_json::from_value(serde_json::json!(inc)).map_err(|_| {
                UsageError::new(Input::Increments, format!("unknown kind '{inc}'; accepted: gaussian, two_point"))
            })?;
        }
        if let Some(k) = a.histogram_every {
            spec.observe.histogram = Some(crate::spec::HistogramSpec {
                of: crate::spec::HistogramOf::State,
                axes: vec![0, 1],
                bins: vec![100, 100],
                range: vec![[-4.0, 4.0], [-4.0, 4.0]],
                from: 0.0,
                every: Some(k.max(1) as f64 * spec.integrator.dt),
            });
        }
        let plan = crate::resolve::plan(&spec, std::path::Path::new(".")).map_err(UsageError::from)?;
        let r = measure(&case, &plan, backend.as_mut(), a.repeat as usize)?;
        outln!(
            "{:<5} {:<8} {:>5} {:>3} {:>8} {:>6} {:>9.3} {:>9.3} {:>16.3e} {:>18.3e}",
            r.case,
            r.model,
            r.n,
            r.p,
            r.trajectories,
            r.steps,
            min(&r.wall),
            median(&r.wall),
            r.neuron_steps_per_s,
            r.integration_neuron_steps_per_s
        );
        outln!(
            "{}",
            serde_json::json!({
                "case": r.case, "model": r.model, "N": r.n, "P": r.p, "M": r.trajectories, "steps": r.steps,
                "repeat": r.wall.len(),
                "seconds": median(&r.wall), "seconds_min": min(&r.wall), "seconds_median": median(&r.wall),
                "integration_seconds_min": min(&r.integration), "integration_seconds_median": median(&r.integration),
                "neuron_steps_per_s": r.neuron_steps_per_s,
                "neuron_steps_per_s_best": r.neuron_steps_per_s * median(&r.wall) / min(&r.wall),
                "integration_neuron_steps_per_s": r.integration_neuron_steps_per_s,
                "kernel_seconds_median": (!r.kernel.is_empty()).then(|| median(&r.kernel)),
                "kernel_neuron_steps_per_s": r.kernel_neuron_steps_per_s,
                "trajectory_steps_per_s": r.trajectory_steps_per_s, "backend": backend.kind(), "adapter": backend.adapter(),
                "layout": spec.run.layout,
                "layout_used": backend.work_layout(&plan),
                "histogram_every_steps": a.histogram_every,
                "increments": spec.noise.increments,
            })
        );
    }
    Ok(())
}
