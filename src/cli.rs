//! Command-line surface (docs/ARCHITECTURE.md, "The command line"): what the user typed, turned into plans and runs. Errors
//! that are the user's (bad spec, flag or path) are [`UsageError`]s and exit with status 2.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::{Args, Parser, Subcommand};

use crate::cpu::CpuBackend;
use crate::engine::{self, Backend};
use crate::error::SpecError;
pub use crate::error::UsageError;
use crate::gpu::GpuBackend;
use crate::outln;
use crate::plan::{BackendChoice, Plan};
use crate::resolve;
use crate::spec::Spec;
use crate::{bench, io, presets, sweep};

#[derive(Parser, Debug)]
#[command(
    name = "idpsim",
    version,
    about = "Huge ensembles of noisy classic and input-driven-plasticity Hopfield networks on any GPU"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run a spec (or a built-in preset) and write its outputs into --out.
    Run(RunArgs),
    /// List the built-in specs.
    Presets,
    /// Print a built-in spec as JSON (a starting point to edit).
    Preset { name: String },
    /// List GPU adapters, their backends and limits.
    Devices,
    /// Throughput of the standard cases, in neuron-steps per second.
    Bench(bench::BenchArgs),
    /// Equilibria, stability, energies and critical saliencies for the spec's input(s).
    Theory(TheoryArgs),
    /// N = 2 energy landscape pictures with equilibria and sample trajectories.
    Landscape(LandscapeArgs),
    /// Stationary Fokker–Planck density for N = 1 or 2 on a grid (optionally compared with a
    /// run's histogram).
    Fpe(FpeArgs),
    /// Merge the output directories of `run --shard I/N` into one (identical to a whole run).
    Merge {
        /// Shard output directories, in any order.
        #[arg(required = true)]
        dirs: Vec<PathBuf>,
        /// Output directory (created if missing; must be empty unless --force).
        #[arg(long)]
        out: PathBuf,
        /// Write into a non-empty --out.
        #[arg(long)]
        force: bool,
    },
}

/// Where a spec comes from: a file or a built-in preset.
#[derive(Args, Debug)]
pub struct SpecSource {
    /// The spec file (JSON).
    pub spec: Option<PathBuf>,
    /// Use a built-in spec instead of a file (see `idpsim presets`).
    #[arg(long, conflicts_with = "spec")]
    pub preset: Option<String>,
}

#[derive(Args, Debug)]
pub struct RunArgs {
    #[command(flatten)]
    pub source: SpecSource,
    /// Output directory (created if missing; must be empty unless --force).
    #[arg(long)]
    pub out: PathBuf,
    /// auto (GPU if an adapter exists, else the CPU reference), gpu or cpu.
    #[arg(long)]
    pub backend: Option<String>,
    /// Use the first adapter whose name contains this (case-insensitive).
    #[arg(long)]
    pub adapter: Option<String>,
    /// Override ensemble.trajectories.
    #[arg(long)]
    pub trajectories: Option<u64>,
    /// Override ensemble.seed.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Run only shard I of N (0 ≤ I < N) of the ensemble; `idpsim merge` puts shards back
    /// together. Default: from SLURM_ARRAY_TASK_ID / SLURM_ARRAY_TASK_COUNT when set.
    #[arg(long, value_name = "I/N")]
    pub shard: Option<String>,
    /// Write into a non-empty --out, replacing files of the same names.
    #[arg(long)]
    pub force: bool,
    /// No progress bar and no summary line.
    #[arg(long)]
    pub quiet: bool,
}

#[derive(Args, Debug)]
pub struct TheoryArgs {
    #[command(flatten)]
    pub source: SpecSource,
    /// Quick form: IDP with Hadamard memories (columns 0..P−1) and these saliencies.
    #[arg(long, value_delimiter = ',', conflicts_with_all = ["spec", "preset"])]
    pub saliency: Vec<f64>,
    /// Quick form: slope δ of tanh.
    #[arg(long, default_value_t = 1.0)]
    pub slope: f64,
    /// Quick form: neurons (a power of two ≥ P).
    #[arg(long, default_value_t = 2)]
    pub n: usize,
    /// Print one JSON document instead of the table.
    #[arg(long)]
    pub json: bool,
    /// Also write the JSON document to this file.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub struct LandscapeArgs {
    #[command(flatten)]
    pub source: SpecSource,
    /// Quick form: IDP with Hadamard memories and these two saliencies.
    #[arg(long, value_delimiter = ',', conflicts_with_all = ["spec", "preset"])]
    pub saliency: Vec<f64>,
    /// Quick form: slope δ of tanh.
    #[arg(long, default_value_t = 1.0)]
    pub slope: f64,
    /// Quick form: noise σ of the sample trajectories.
    #[arg(long, default_value_t = 0.3)]
    pub sigma: f64,
    /// Sample trajectories to overlay (integrated by the CPU reference engine).
    #[arg(long, default_value_t = 12)]
    pub trajectories: usize,
    /// Output directory.
    #[arg(long)]
    pub out: PathBuf,
    /// Write into a non-empty --out.
    #[arg(long)]
    pub force: bool,
}

fn cmd_landscape(a: &LandscapeArgs) -> Result<()> {
    let plan =
        quick_or_spec(a.source.spec.as_deref(), a.source.preset.as_deref(), &a.saliency, a.slope, 2, a.sigma, 10.0)?;
    if plan.n() != 2 {
        return Err(
            UsageError(format!("memories: the landscape picture needs N = 2, this spec has N = {}", plan.n())).into()
        );
    }
    one_input(&plan)?;
    if a.trajectories > 1000 {
        return Err(
            UsageError(format!("--trajectories: {} is too many to draw; accepted: 0 to 1000", a.trajectories)).into()
        );
    }
    io::prepare_out_dir(&a.out, a.force).map_err(|e| UsageError(format!("--out: {e}")))?;
    let files = crate::landscape::run(&plan, &a.out, a.trajectories)?;
    eprintln!("{}: wrote {} files to {}", plan.spec.name, files.len(), a.out.display());
    Ok(())
}

/// Refuses plans whose input differs between trajectories (theory and landscapes describe one
/// input).
fn one_input(plan: &Plan) -> Result<()> {
    if plan.model.modern().is_some() {
        return Err(UsageError(
            "spec: model.kind: theory and landscapes cover the \"idp\" and \"classic\" models, not \"modern\"".into(),
        )
        .into());
    }
    match plan.input.segments.iter().position(|s| s.random.is_some()) {
        Some(k) => Err(UsageError(format!(
            "spec: input.segments[{k}].random_weights: every trajectory has its own input, so there is no single landscape; give \"weights\""
        ))
        .into()),
        None => Ok(()),
    }
}

/// The plan of a spec file or preset, or of the quick form (IDP, Hadamard memories, the given
/// saliencies, slope, N, σ and duration).
fn quick_or_spec(
    file: Option<&Path>,
    preset: Option<&str>,
    saliency: &[f64],
    slope: f64,
    n: usize,
    sigma: f64,
    duration: f64,
) -> Result<Plan> {
    if saliency.is_empty() {
        let (spec, base) = load_spec(file, preset)?;
        return resolve::plan(&spec, &base).map_err(spec_usage);
    }
    let name = format!("saliency {}", saliency.iter().map(|s| s.to_string()).collect::<Vec<_>>().join(", "));
    let spec = serde_json::json!({
        "name": name,
        "model": { "kind": "idp", "activation": { "kind": "tanh", "slope": slope } },
        "memories": { "kind": "hadamard", "n": n, "p": saliency.len() },
        "input": { "segments": [ { "duration": duration, "saliency": saliency } ] },
        "noise": { "sigma": sigma },
        "ensemble": { "trajectories": 16, "seed": 1, "initial": { "kind": "normal", "std": 1.5 } },
        "observe": { "overlaps": { "every": 0.05 } }
    });
    let spec = Spec::from_json(&spec.to_string()).map_err(spec_usage)?;
    resolve::plan(&spec, Path::new(".")).map_err(|e| {
        let flag = match e.field.as_str() {
            "model.activation.slope" => "--slope",
            "noise.sigma" => "--sigma",
            f if f.starts_with("memories") => "--n / --saliency",
            f if f.contains("saliency") => "--saliency",
            f => f,
        };
        UsageError(format!("{flag}: {}", e.message)).into()
    })
}

fn cmd_theory(a: &TheoryArgs) -> Result<()> {
    let plan = if !a.saliency.is_empty() {
        quick_or_spec(None, None, &a.saliency, a.slope, a.n, 0.0, 1.0)?
    } else {
        let (spec, base) = load_spec(a.source.spec.as_deref(), a.source.preset.as_deref())?;
        resolve::plan(&spec, &base).map_err(spec_usage)?
    };
    one_input(&plan)?;
    let reports = crate::theory::analyze(&plan);
    let doc = serde_json::json!({ "segments": reports });
    if let Some(out) = &a.out {
        io::write_json(out, &doc).map_err(|e| UsageError(format!("--out: {e:#}")))?;
    }
    if a.json {
        outln!("{}", serde_json::to_string_pretty(&doc)?);
        return Ok(());
    }
    let f = |v: Option<f64>| v.map_or("—".to_string(), |x| format!("{x:.6}"));
    for r in &reports {
        outln!("segment {} ({}): saliency {:?}", r.segment, r.method.replace('_', " "), r.saliency);
        outln!(
            "  origin: {} (eigenvalues {})",
            r.origin.kind,
            r.origin.eigenvalues.iter().map(|e| format!("{e:.4}")).collect::<Vec<_>>().join(", ")
        );
        outln!("  {:>6} {:>9} {:>10} {:>12} {:>12} {:>10} {:>16}", "memory", "α", "γ", "E/N", "max eig", "α*", "class");
        for m in &r.memories {
            let max_ev = m.eigenvalues.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
            outln!(
                "  {:>6} {:>9.4} {:>10} {:>12} {:>12} {:>10.6} {:>16}",
                m.index,
                m.saliency,
                f(m.gamma),
                f(m.energy_per_neuron),
                if m.exists { format!("{max_ev:.5}") } else { "—".into() },
                m.alpha_star,
                m.class
            );
        }
        if !r.equilibria.is_empty() {
            outln!("  equilibria found numerically: {}", r.equilibria.len());
            for e in &r.equilibria {
                outln!(
                    "    x = [{}]  {}  E = {:.6}",
                    e.x.iter().map(|v| format!("{v:.5}")).collect::<Vec<_>>().join(", "),
                    if e.stable { "stable" } else { "unstable" },
                    e.energy
                );
            }
        }
    }
    Ok(())
}

#[derive(Args, Debug)]
pub struct FpeArgs {
    #[command(flatten)]
    pub source: SpecSource,
    /// Output directory.
    #[arg(long)]
    pub out: PathBuf,
    /// Cells per axis (ignored with --compare, which uses the run's histogram cells).
    #[arg(long, default_value_t = 200)]
    pub grid: usize,
    /// A run directory whose 1-D or 2-D state histogram to compare with (total variation).
    #[arg(long)]
    pub compare: Option<PathBuf>,
    /// Write into a non-empty --out.
    #[arg(long)]
    pub force: bool,
}

fn cmd_fpe(a: &FpeArgs) -> Result<()> {
    use crate::fpe::{self, Grid};
    use crate::outputs::histogram;
    let (spec, base) = load_spec(a.source.spec.as_deref(), a.source.preset.as_deref())?;
    let plan = resolve::plan(&spec, &base).map_err(spec_usage)?;
    fpe::check(&plan).map_err(|e| UsageError(format!("spec: {e}")))?;
    if a.grid < 2 || a.grid > 2000 {
        return Err(UsageError(format!("--grid: {} is out of range; accepted: 2 to 2000", a.grid)).into());
    }
    let compared = match &a.compare {
        None => None,
        Some(dir) => {
            let (hp, counts, _) = histogram::read(dir).map_err(|e| UsageError(format!("--compare: {e:#}")))?;
            let want: Vec<u32> = (0..plan.n() as u32).collect();
            if !hp.of_state || hp.dims != plan.n() || hp.axes[..hp.dims] != want[..] {
                return Err(UsageError(format!(
                    "--compare: {} holds a histogram of {:?} {}; the grid solver needs the state histogram over axes {want:?}",
                    dir.display(),
                    &hp.axes[..hp.dims],
                    if hp.of_state { "state" } else { "overlaps" }
                ))
                .into());
            }
            Some((hp, counts))
        }
    };
    let grid = match &compared {
        Some((hp, _)) => Grid { dims: hp.dims, bins: [hp.bins[0] as usize, hp.bins[1] as usize], range: hp.range },
        None => {
            let range = match &plan.observe.histogram {
                Some(h) if h.of_state && h.dims == plan.n() => h.range,
                _ => [[-4.0, 4.0]; 2],
            };
            Grid { dims: plan.n(), bins: [a.grid, if plan.n() == 2 { a.grid } else { 1 }], range }
        }
    };
    io::prepare_out_dir(&a.out, a.force).map_err(|e| UsageError(format!("--out: {e}")))?;
    let t0 = std::time::Instant::now();
    let sol = fpe::solve(&plan, &grid)?;
    let shape: Vec<u64> = (0..grid.dims).map(|k| grid.bins[k] as u64).collect();
    io::write_npy(&a.out.join("density.npy"), &shape, &sol.density)?;
    let hp = crate::plan::HistogramPlan {
        of_state: true,
        dims: grid.dims,
        axes: [0, 1],
        bins: [grid.bins[0] as u32, grid.bins[1] as u32],
        lo: [grid.range[0][0] as f32, grid.range[1][0] as f32],
        scale: [1.0, 1.0],
        range: grid.range,
        from_steps: 0,
        every_steps: 1,
    };
    let markers = histogram::markers(&plan, &hp);
    let names = histogram::axis_names(&hp);
    let title = format!("{} — stationary Fokker–Planck density (grid)", plan.spec.name);
    crate::io::plot::density_png(&a.out.join("density.png"), &title, &hp, &sol.density, &markers, &names)?;
    let tv =
        compared.as_ref().map(|(h, counts)| fpe::tv_distance(&sol.density, grid.cell_area(), &counts[..h.cells()]));
    let doc = serde_json::json!({
        "spec": plan.spec,
        "grid": { "bins": &grid.bins[..grid.dims], "range": &grid.range[..grid.dims], "cell_area": grid.cell_area() },
        "method": "finite volumes, Scharfetter–Gummel fluxes, zero-flux walls, banded direct solve",
        "residual": sol.residual,
        "seconds": t0.elapsed().as_secs_f64(),
        "compare": a.compare.as_ref().map(|d| serde_json::json!({
            "run": d.display().to_string(),
            "tv_distance": tv,
            "histogram_samples_in_range": compared.as_ref().map(|(h, c)| c[..h.cells()].iter().sum::<u64>()),
            "histogram_samples_out_of_range": compared.as_ref().map(|(h, c)| c[h.cells()]),
        })),
        "files": ["density.npy", "density.png", "fpe.json"],
    });
    io::write_json(&a.out.join("fpe.json"), &doc)?;
    eprint!("{}: {} cells, relative residual {:.1e}", plan.spec.name, grid.cells(), sol.residual);
    match tv {
        Some(t) => eprintln!("; total-variation distance to {}: {t:.4}", a.compare.as_ref().unwrap().display()),
        None => eprintln!(),
    }
    Ok(())
}

/// Loads a spec from a file or a preset name.
pub fn load_spec(file: Option<&Path>, preset: Option<&str>) -> Result<(Spec, PathBuf)> {
    match (file, preset) {
        (_, Some(name)) => {
            let text = presets::get(name).ok_or_else(|| {
                UsageError(format!("--preset: unknown preset '{name}'; available: {}", presets::names()))
            })?;
            Ok((Spec::from_json(text).map_err(spec_usage)?, PathBuf::from(".")))
        }
        (Some(path), None) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| UsageError(format!("SPEC: cannot read '{}': {e}", path.display())))?;
            let spec = Spec::from_json(&text).map_err(spec_usage)?;
            let base = path.parent().map(Path::to_path_buf).unwrap_or_else(|| PathBuf::from("."));
            Ok((spec, base))
        }
        (None, None) => Err(UsageError("give a SPEC file or --preset NAME (see `idpsim presets`)".into()).into()),
    }
}

fn spec_usage(e: SpecError) -> anyhow::Error {
    UsageError(format!("spec: {e}")).into()
}

/// Opens the backend a plan asks for. `auto` falls back to the CPU reference with a warning.
pub fn open_backend(plan: &Plan) -> Result<Box<dyn Backend>> {
    match plan.run.backend {
        BackendChoice::Cpu => Ok(Box::new(CpuBackend::new())),
        BackendChoice::Gpu => Ok(Box::new(GpuBackend::new(plan.run.adapter.as_deref())?)),
        BackendChoice::Auto => match GpuBackend::new(plan.run.adapter.as_deref()) {
            Ok(g) => Ok(Box::new(g)),
            // Asking for an adapter that does not exist is a mistake, not a reason to fall back.
            Err(e) if e.downcast_ref::<UsageError>().is_some() => Err(e),
            Err(e) => {
                log::warn!("no usable GPU ({e:#}); running on the CPU reference backend");
                eprintln!("warning: no usable GPU ({e:#}); running on the CPU reference backend");
                Ok(Box::new(CpuBackend::new()))
            }
        },
    }
}

fn cmd_run(a: &RunArgs) -> Result<()> {
    let (mut spec, base) = load_spec(a.source.spec.as_deref(), a.source.preset.as_deref())?;
    apply_run_flags(a, &mut spec)?;
    if let Some(sweep) = spec.sweep.take() {
        return run_sweep(a, spec, &base, &sweep);
    }
    let plan = resolve::plan(&spec, &base).map_err(|e| {
        let flag = match e.field.as_str() {
            "ensemble.trajectories" if a.trajectories.is_some() => "--trajectories (ensemble.trajectories)".to_string(),
            "run.backend" if a.backend.is_some() => "--backend (run.backend)".to_string(),
            f => f.to_string(),
        };
        UsageError(format!("spec: {flag}: {}", e.message))
    })?;
    let mut plan = plan;
    if let Some((i, n)) = shard_of(a.shard.as_deref())? {
        plan.apply_shard(i, n).map_err(|e| UsageError(format!("--shard: {e}")))?;
    }
    let mut backend = open_backend(&plan)?;
    io::prepare_out_dir(&a.out, a.force).map_err(|e| UsageError(format!("--out: {e}")))?;
    let summary = engine::run_to_dir(&plan, backend.as_mut(), &a.out, a.quiet)?;
    if !a.quiet {
        eprintln!(
            "{}: {} trajectories × {} steps on {} in {:.2} s ({:.3e} neuron-steps/s); wrote {} files to {}",
            plan.spec.name,
            plan.ensemble.trajectories,
            plan.time.total_steps,
            backend.adapter(),
            summary.wall_s,
            summary.neuron_steps_per_s,
            summary.files.len(),
            a.out.display()
        );
        if let Some(r) = &summary.retrieval {
            let (acc, se) = r.overall();
            eprintln!("retrieval accuracy {acc:.4} ± {se:.4} (see retrieval.json)");
        }
    }
    Ok(())
}

/// Runs every point of a sweep spec into sub-directories of --out (see `crate::sweep`). Every
/// point is validated before the first one runs.
fn run_sweep(a: &RunArgs, spec: Spec, base: &Path, sweep: &serde_json::Map<String, serde_json::Value>) -> Result<()> {
    use std::cell::RefCell;
    use std::rc::Rc;
    if a.shard.is_some() {
        return Err(UsageError(
            "--shard: a sweep is not sharded; run its points as separate jobs (one spec per point) instead".into(),
        )
        .into());
    }
    let axes = sweep::axes(sweep).map_err(spec_usage)?;
    let doc = serde_json::to_value(&spec)?;
    let mut plans = Vec::new();
    for pt in sweep::points(&doc, &axes).map_err(spec_usage)? {
        let mut s = pt.spec.clone();
        apply_run_flags(a, &mut s)?;
        let plan = resolve::plan(&s, base).map_err(|e| {
            UsageError(format!(
                "spec: {}: {} (sweep point {}: {})",
                e.field,
                e.message,
                pt.index,
                sweep::describe(&axes, &pt.coords)
            ))
        })?;
        plans.push((pt, plan));
    }
    io::prepare_out_dir(&a.out, a.force).map_err(|e| UsageError(format!("--out: {e}")))?;
    // One backend per (choice, adapter), reused by every point (kernels are rebuilt only when
    // a point's constants differ).
    type Shared = sweep::SharedBackend;
    let mut cache: Vec<((BackendChoice, Option<String>), Shared)> = Vec::new();
    let mut open = |plan: &Plan| -> Result<Shared> {
        let key = (plan.run.backend, plan.run.adapter.clone());
        if let Some((_, b)) = cache.iter().find(|(k, _)| *k == key) {
            return Ok(b.clone());
        }
        let b: Shared = Rc::new(RefCell::new(open_backend(plan)?));
        cache.push((key, b.clone()));
        Ok(b)
    };
    let started = std::time::Instant::now();
    let results = sweep::run(&spec.name, &axes, plans, &a.out, &mut open, a.quiet)?;
    if !a.quiet {
        eprintln!(
            "{}: {} sweep points in {:.1} s; wrote sweep.csv, report.md{} to {}",
            spec.name,
            results.len(),
            started.elapsed().as_secs_f64(),
            if a.out.join("sweep.png").exists() { ", sweep.png" } else { "" },
            a.out.display()
        );
    }
    Ok(())
}

/// The run flags that override spec values.
fn apply_run_flags(a: &RunArgs, spec: &mut Spec) -> Result<()> {
    if let Some(b) = &a.backend {
        spec.run.backend = serde_json::from_value::<BackendChoice>(serde_json::json!(b))
            .map_err(|_| UsageError(format!("--backend: unknown backend '{b}'; accepted: auto, gpu, cpu")))?;
    }
    if let Some(ad) = &a.adapter {
        spec.run.adapter = Some(ad.clone());
    }
    if let Some(m) = a.trajectories {
        spec.ensemble.trajectories = m;
    }
    if let Some(s) = a.seed {
        spec.ensemble.seed = s;
    }
    Ok(())
}

/// The shard to run: `--shard I/N`, else a Slurm array task (SLURM_ARRAY_TASK_ID minus
/// SLURM_ARRAY_TASK_MIN, of SLURM_ARRAY_TASK_COUNT), else none.
fn shard_of(flag: Option<&str>) -> Result<Option<(u64, u64)>> {
    if let Some(f) = flag {
        let parsed = f.split_once('/').and_then(|(i, n)| Some((i.trim().parse().ok()?, n.trim().parse().ok()?)));
        return match parsed {
            Some(s) => Ok(Some(s)),
            None => {
                Err(UsageError(format!("--shard: '{f}' is not I/N (e.g. 0/4 for the first of four shards)")).into())
            }
        };
    }
    let var = |k: &str| std::env::var(k).ok().and_then(|v| v.trim().parse::<u64>().ok());
    match (var("SLURM_ARRAY_TASK_ID"), var("SLURM_ARRAY_TASK_COUNT")) {
        (Some(id), Some(count)) => {
            let min = var("SLURM_ARRAY_TASK_MIN").unwrap_or(0);
            if id < min {
                return Err(UsageError(format!("SLURM_ARRAY_TASK_ID {id} is below SLURM_ARRAY_TASK_MIN {min}")).into());
            }
            log::info!("Slurm array task {id} of {count}: shard {}/{count}", id - min);
            Ok(Some((id - min, count)))
        }
        _ => Ok(None),
    }
}

fn cmd_devices() -> Result<()> {
    let list = crate::gpu::context::list_adapters();
    if list.is_empty() {
        outln!("no GPU adapters found (on Linux without a GPU, install Mesa's lavapipe: mesa-vulkan-drivers)");
    }
    for a in list {
        let l = &a.limits;
        outln!(
            "{} | backend {:?} | type {:?} | driver {} {} | max storage binding {} MiB | max buffer {} MiB | max workgroups/dim {} | max invocations/workgroup {}",
            a.info.name,
            a.info.backend,
            a.info.device_type,
            a.info.driver,
            a.info.driver_info,
            l.max_storage_buffer_binding_size >> 20,
            l.max_buffer_size >> 20,
            l.max_compute_workgroups_per_dimension,
            l.max_compute_invocations_per_workgroup
        );
    }
    Ok(())
}

/// Runs the parsed command line.
pub fn dispatch(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Run(a) => cmd_run(&a),
        Command::Presets => {
            for (name, desc, _) in presets::PRESETS {
                outln!("{name:<20} {desc}");
            }
            Ok(())
        }
        Command::Preset { name } => {
            let text = presets::get(&name)
                .ok_or_else(|| UsageError(format!("NAME: unknown preset '{name}'; available: {}", presets::names())))?;
            outln!("{text}");
            Ok(())
        }
        Command::Devices => cmd_devices(),
        Command::Bench(a) => bench::run(&a).context("bench"),
        Command::Fpe(a) => cmd_fpe(&a),
        Command::Theory(a) => cmd_theory(&a),
        Command::Landscape(a) => cmd_landscape(&a),
        Command::Merge { dirs, out, force } => {
            let files = crate::merge::merge(&dirs, &out, force)?;
            eprintln!("merged {} shards; wrote {} files to {}", dirs.len(), files.len(), out.display());
            Ok(())
        }
    }
}
