//! `idpsim landscape`: the energy surface E(x; u) of an N = 2 network for each constant input
//! (the paper's Fig. 2), with its equilibria and sample trajectories, and the γ/α picture of
//! where equilibria exist (the paper's Fig. 5); for the modern model, its energy E(x, m(x))
//! (docs/THEORY.md §15.3).

use std::path::Path;

use anyhow::{Result, bail};
use nalgebra::DVector;

use crate::cpu;
use crate::io::{self, plot};
use crate::plan::Plan;
use crate::theory::{self, Field};

/// Cells per axis of the energy picture.
pub const GRID: usize = 300;

/// Writes landscape.png (one per segment: landscape-K.png when there are several), gamma.png and
/// landscape.json; `trajectories` sample paths come from the CPU reference engine with the
/// spec's noise and seed.
pub fn run(plan: &Plan, out: &Path, trajectories: usize) -> Result<Vec<String>> {
    if plan.n() != 2 {
        bail!("memories: the landscape picture needs N = 2, this spec has N = {}", plan.n());
    }
    if plan.model.modern().is_some() {
        return run_modern(plan, out, trajectories);
    }
    let reports = theory::analyze(plan);
    let mut files = Vec::new();
    let mut doc_segments = Vec::new();
    let paths = sample_paths(plan, trajectories)?;
    let times = plan.save_times();
    for (k, r) in reports.iter().enumerate() {
        let field = Field::new(plan, k);
        let extent = r.equilibria.iter().flat_map(|e| e.x.iter().map(|v| v.abs())).fold(0f64, f64::max);
        let (range, energy) = energy_grid(extent, |x| field.energy(x));
        let seg_paths = segment_paths(plan, &paths, &times, k);
        let eq: Vec<([f64; 2], bool)> = r.equilibria.iter().map(|e| ([e.x[0], e.x[1]], e.stable)).collect();
        let name = if reports.len() == 1 { "landscape.png".to_string() } else { format!("landscape-{k}.png") };
        let title = format!(
            "{} — E(x; u), α = ({})",
            plan.spec.name,
            r.saliency.iter().map(|a| format!("{a:.3}")).collect::<Vec<_>>().join(", ")
        );
        plot::landscape_png(&out.join(&name), &title, range, GRID, &energy, &eq, &seg_paths)?;
        files.push(name);
        doc_segments.push(serde_json::json!({
            "segment": k,
            "saliency": r.saliency,
            "box": [range, range],
            "energy_min": energy.iter().cloned().fold(f64::INFINITY, f64::min),
            "energy_max": energy.iter().cloned().fold(f64::NEG_INFINITY, f64::max),
            "equilibria": r.equilibria,
        }));
    }
    let saliencies: Vec<f64> = reports.iter().flat_map(|r| r.saliency.iter().copied()).collect();
    plot::gamma_png(&out.join("gamma.png"), plan.model.slope as f64, &saliencies)?;
    files.push("gamma.png".into());
    files.push("landscape.json".into());
    io::write_json(
        &out.join("landscape.json"),
        &serde_json::json!({ "spec": plan.spec, "trajectories": trajectories, "segments": doc_segments, "files": files }),
    )?;
    Ok(files)
}

/// Sample trajectories from the CPU reference engine: states at every save, per trajectory.
fn sample_paths(plan: &Plan, trajectories: usize) -> Result<Vec<Vec<f32>>> {
    let mut paths: Vec<Vec<f32>> = Vec::new();
    for t in 0..trajectories {
        let traj = plan.ensemble.first + t as u64;
        let mut tr = cpu::Trajectory::init(plan, traj);
        let mut path = tr.state().to_vec();
        while tr.done() < plan.time.total_steps {
            if let Err(step) = tr.step() {
                bail!("sample trajectory {traj} diverged at step {step}");
            }
            if tr.done().is_multiple_of(plan.observe.save_every) {
                path.extend_from_slice(tr.state());
            }
        }
        paths.push(path);
    }
    Ok(paths)
}

/// The part of each sample path that lies in segment `k`.
fn segment_paths(plan: &Plan, paths: &[Vec<f32>], times: &[f64], k: usize) -> Vec<Vec<(f64, f64)>> {
    let (t0, t1) = {
        let seg = &plan.input.segments[k];
        (seg.start_step as f64 * plan.time.dt_f64, (seg.start_step + seg.steps) as f64 * plan.time.dt_f64)
    };
    paths
        .iter()
        .map(|p| {
            times
                .iter()
                .enumerate()
                .filter(|(_, t)| **t >= t0 - 1e-9 && **t <= t1 + 1e-9)
                .map(|(s, _)| (p[2 * s] as f64, p[2 * s + 1] as f64))
                .collect()
        })
        .collect()
}

/// The modern model's landscape (docs/THEORY.md §15.3): E(x, m(x)) for each segment's input
/// with the saliency layer settled, its equilibria and sample trajectories; landscape.png (or
/// landscape-K.png) and landscape.json. The callers refuse inputs without an energy.
fn run_modern(plan: &Plan, out: &Path, trajectories: usize) -> Result<Vec<String>> {
    let reports = theory::modern::analyze(plan);
    let mut files = Vec::new();
    let mut doc_segments = Vec::new();
    let paths = sample_paths(plan, trajectories)?;
    let times = plan.save_times();
    for (k, r) in reports.iter().enumerate() {
        let Some(field) = theory::modern::ModernField::new(plan, k) else { bail!("not a modern plan") };
        if let Some(why) = field.no_energy() {
            bail!("segment {k} has no energy: {why}");
        }
        let extent = r.equilibria.iter().flat_map(|e| e.x.iter().map(|v| v.abs())).fold(0f64, f64::max);
        let (range, energy) = energy_grid(extent, |x| field.energy(x));
        let seg_paths = segment_paths(plan, &paths, &times, k);
        let eq: Vec<([f64; 2], bool)> = r.equilibria.iter().map(|e| ([e.x[0], e.x[1]], e.stable)).collect();
        let name = if reports.len() == 1 { "landscape.png".to_string() } else { format!("landscape-{k}.png") };
        let title = format!(
            "{} — modern E(x, m(x)), q = ({})",
            plan.spec.name,
            r.saliency.iter().map(|a| format!("{a:.3}")).collect::<Vec<_>>().join(", ")
        );
        plot::landscape_png(&out.join(&name), &title, range, GRID, &energy, &eq, &seg_paths)?;
        files.push(name);
        doc_segments.push(serde_json::json!({
            "segment": k,
            "saliency": r.saliency,
            "box": [range, range],
            "energy_min": energy.iter().cloned().fold(f64::INFINITY, f64::min),
            "energy_max": energy.iter().cloned().fold(f64::NEG_INFINITY, f64::max),
            "equilibria": r.equilibria,
        }));
    }
    files.push("landscape.json".into());
    io::write_json(
        &out.join("landscape.json"),
        &serde_json::json!({ "spec": plan.spec, "trajectories": trajectories, "segments": doc_segments, "files": files }),
    )?;
    Ok(files)
}

/// The square box around equilibria reaching `extent` (1.4 times it, at least ±2.5) and the
/// energy at the centres of its GRID × GRID cells, row i = x₁.
fn energy_grid(extent: f64, energy: impl Fn(&DVector<f64>) -> f64) -> ([f64; 2], Vec<f64>) {
    let half = (1.4 * extent).max(2.5);
    let range = [-half, half];
    let h = 2.0 * half / GRID as f64;
    let mut grid = vec![0f64; GRID * GRID];
    for i in 0..GRID {
        for j in 0..GRID {
            let x = DVector::from_vec(vec![range[0] + (i as f64 + 0.5) * h, range[0] + (j as f64 + 0.5) * h]);
            grid[i * GRID + j] = energy(&x);
        }
    }
    (range, grid)
}
