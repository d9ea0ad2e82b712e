//! `idpsim landscape`: the energy surface E(x; u) of an N = 2 network for each constant input
//! (the paper's Fig. 2), with its equilibria and sample trajectories, and the γ/α picture of
//! where equilibria exist (the paper's Fig. 5); for the modern model, its energy E(x, m(x))
//! (docs/THEORY.md §15.3).

use std::path::Path;

use anyhow::{Result, bail};
use nalgebra::DVector;

use crate::cpu;
use crate::io::{self, plot};
use crate::plan::{ClosedForm, Plan};
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
    match plan.model.closed_form() {
        ClosedForm::Modern(_) => return run_modern(plan, out, trajectories),
        ClosedForm::None(why) => bail!("model.kind: has no closed forms for the landscape: {why}"),
        ClosedForm::Hopfield(_) => {}
    }
    let reports = theory::analyze(plan);
    let pictures = Pictures::new(plan, out, trajectories, reports.len())?;
    let mut segments = Vec::new();
    for (k, r) in reports.iter().enumerate() {
        let field = Field::new(plan, k);
        let eq = r.equilibria.iter().map(|e| ([e.x[0], e.x[1]], e.stable)).collect();
        let equilibria = serde_json::to_value(&r.equilibria)?;
        segments.push(pictures.segment(k, "E(x; u), α", &r.saliency, eq, equilibria, |x| field.energy(x))?);
    }
    let saliencies: Vec<f64> = reports.iter().flat_map(|r| r.saliency.iter().copied()).collect();
    plot::gamma_png(&out.join("gamma.png"), plan.model.slope as f64, &saliencies)?;
    pictures.finish(segments, &["gamma.png"])
}

/// What every segment's picture shares: the plan, the output folder, the sample paths and the
/// save times.
struct Pictures<'a> {
    plan: &'a Plan,
    out: &'a Path,
    trajectories: usize,
    segments: usize,
    paths: Vec<Vec<f32>>,
    times: Vec<f64>,
}

impl<'a> Pictures<'a> {
    fn new(plan: &'a Plan, out: &'a Path, trajectories: usize, segments: usize) -> Result<Self> {
        let paths = sample_paths(plan, trajectories)?;
        Ok(Pictures { plan, out, trajectories, segments, paths, times: plan.save_times() })
    }

    /// Draws segment `k`'s energy (titled "`what` = (saliencies)") with its equilibria (a point
    /// and whether it is stable) and sample paths; its file name and its landscape.json entry.
    fn segment(
        &self,
        k: usize,
        what: &str,
        saliency: &[f64],
        eq: Vec<([f64; 2], bool)>,
        equilibria: serde_json::Value,
        energy: impl Fn(&DVector<f64>) -> f64,
    ) -> Result<(String, serde_json::Value)> {
        let extent = eq.iter().flat_map(|(x, _)| x.iter().map(|v| v.abs())).fold(0f64, f64::max);
        let (range, grid) = energy_grid(extent, energy);
        let seg_paths = segment_paths(self.plan, &self.paths, &self.times, k);
        let name = if self.segments == 1 { "landscape.png".to_string() } else { format!("landscape-{k}.png") };
        let title = format!(
            "{} — {what} = ({})",
            self.plan.spec.name,
            saliency.iter().map(|a| format!("{a:.3}")).collect::<Vec<_>>().join(", ")
        );
        plot::landscape_png(&self.out.join(&name), &title, range, GRID, &grid, &eq, &seg_paths)?;
        let doc = serde_json::json!({
            "segment": k,
            "saliency": saliency,
            "box": [range, range],
            "energy_min": grid.iter().cloned().fold(f64::INFINITY, f64::min),
            "energy_max": grid.iter().cloned().fold(f64::NEG_INFINITY, f64::max),
            "equilibria": equilibria,
        });
        Ok((name, doc))
    }

    /// Writes landscape.json; the files written: the segments' pictures, then `more`, then
    /// landscape.json.
    fn finish(self, segments: Vec<(String, serde_json::Value)>, more: &[&str]) -> Result<Vec<String>> {
        let (mut files, docs): (Vec<String>, Vec<serde_json::Value>) = segments.into_iter().unzip();
        files.extend(more.iter().map(|f| f.to_string()));
        files.push("landscape.json".into());
        io::write_json(
            &self.out.join("landscape.json"),
            &serde_json::json!({ "spec": self.plan.spec, "trajectories": self.trajectories, "segments": docs, "files": files }),
        )?;
        Ok(files)
    }
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
    let pictures = Pictures::new(plan, out, trajectories, reports.len())?;
    let mut segments = Vec::new();
    for (k, r) in reports.iter().enumerate() {
        let Some(field) = theory::modern::ModernField::new(plan, k) else { bail!("not a modern plan") };
        if let Some(why) = field.no_energy() {
            bail!("segment {k} has no energy: {why}");
        }
        let eq = r.equilibria.iter().map(|e| ([e.x[0], e.x[1]], e.stable)).collect();
        let equilibria = serde_json::to_value(&r.equilibria)?;
        segments.push(pictures.segment(k, "modern E(x, m(x)), q", &r.saliency, eq, equilibria, |x| field.energy(x))?);
    }
    pictures.finish(segments, &[])
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
