//! The on-device histogram: histogram.npy (u64 counts), histogram.json (edges, sample counts,
//! how to normalise, the equilibria marked) and density.png.

use crate::error::{Input, UsageError};
use std::path::Path;

use anyhow::{Context, Result};
use serde_json::json;

use super::sweep_part::{Block, SweepPart, SweepView, cell};
use super::{ChunkResults, Output, Shard, Store};
use crate::io::plot::{self, Marker};
use crate::plan::{HistogramPlan, Plan};

const COUNTS: &str = "histogram.npy";
const DOC: &str = "histogram.json";
const PICTURE: &str = "density.png";

/// A run whose histogram lost at least this fraction of its samples outside the range is told
/// so: its density covers the rest only.
pub const WARN_OUT_OF_RANGE: f64 = 0.01;

/// What a run's histogram counted, as a finding (`Store::findings`) for a sweep's columns.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HistogramStats {
    /// Samples taken, inside the range or not.
    pub samples: u64,
    /// Samples outside `observe.histogram.range`.
    pub out_of_range: u64,
}

impl HistogramStats {
    /// The fraction of the samples outside the range (None without samples).
    pub fn out_of_range_fraction(&self) -> Option<f64> {
        (self.samples > 0).then(|| self.out_of_range as f64 / self.samples as f64)
    }
}

pub struct Histogram {
    plan: HistogramPlan,
    counts: Vec<u64>,
    markers: Vec<Marker>,
    title: String,
}

impl Histogram {
    pub fn new(plan: &Plan, hp: &HistogramPlan) -> Self {
        Histogram {
            plan: hp.clone(),
            counts: vec![0; hp.cells() + 1],
            markers: markers(plan, hp),
            title: format!("{} — stationary density estimate", plan.spec.name),
        }
    }
}

impl Output for Histogram {
    fn chunk(&mut self, c: &ChunkResults) -> Result<()> {
        anyhow::ensure!(
            c.histogram().len() == self.counts.len(),
            "internal error: histogram of {} cells, expected {}",
            c.histogram().len(),
            self.counts.len()
        );
        for (a, b) in self.counts.iter_mut().zip(c.histogram()) {
            *a += b;
        }
        Ok(())
    }

    fn finish(self: Box<Self>, store: &mut Store) -> Result<()> {
        write(store, &self.plan, &self.counts, &self.markers, &self.title)
    }

    fn merge(mut self: Box<Self>, shards: &[Shard], store: &mut Store) -> Result<()> {
        let hp = &self.plan;
        let shape: Vec<u64> = (0..hp.dims).map(|k| hp.bins[k] as u64).collect();
        let cells = hp.cells();
        for s in shards {
            let c = s.read_shaped::<u64>(COUNTS, &shape)?;
            let doc = s.read_json(DOC)?;
            let out = doc["out_of_range"].as_u64().ok_or_else(|| {
                UsageError::new(Input::Dir, format!("{}: {DOC} has no out_of_range count", s.dir.display()))
            })?;
            let overflow = || {
                UsageError::new(
                    Input::Dir,
                    format!(
                        "{}: the counts of its {COUNTS} and {DOC} cannot be added to the other shards' within u64 (2⁶⁴ − 1 samples); the shard is damaged, rerun it",
                        s.dir.display()
                    ),
                )
            };
            for (a, b) in self.counts[..cells].iter_mut().zip(&c) {
                *a = a.checked_add(*b).ok_or_else(overflow)?;
            }
            self.counts[cells] = self.counts[cells].checked_add(out).ok_or_else(overflow)?;
            // histogram.json's sample count is the sum of them all.
            self.counts.iter().try_fold(0u64, |t, &c| t.checked_add(c)).ok_or_else(overflow)?;
        }
        self.finish(store)
    }
}

/// The equilibria ±γ ξ^μ of an IDP network with orthogonal memories and constant saliencies
/// (docs/THEORY.md §3; with the diagonal zeroed each saliency acts as α − d, d = Σα/N, §3.7),
/// for a histogram of state coordinates; the last segment's input is used. Stable ones are
/// flagged; empty where the closed form does not apply (the classic model, whose input shifts
/// its equilibria; non-orthogonal memories) or the input differs between trajectories.
pub fn markers(plan: &Plan, hp: &HistogramPlan) -> Vec<Marker> {
    let mem = &plan.memories;
    let orthogonal = mem.gram().iter().enumerate().all(|(k, &g)| g == if k % (mem.p + 1) == 0 { 1.0 } else { 0.0 });
    let crate::plan::Model::Idp { zero_diagonal } = plan.model.model else { return Vec::new() };
    if !hp.of_state || !orthogonal {
        return Vec::new();
    }
    let Some(seg) = plan.input.segments.last() else { return Vec::new() };
    // One constant input for every trajectory (random weights and cues have their own each).
    if seg.noise > 0.0 || seg.pulse_steps.is_some() || seg.random.is_some() || seg.cue.is_some() {
        return Vec::new();
    }
    let d = if zero_diagonal { seg.coef64.iter().sum::<f64>() / mem.n as f64 } else { 0.0 };
    let saliency = &seg.coef64;
    let slope = plan.model.slope as f64;
    // The origin's eigenvalues: −1 + (α_ν − d)δ along each memory, −1 − dδ on their complement.
    let origin_stable = saliency.iter().all(|&a| (a - d) * slope < 1.0) && (mem.p == mem.n || d * slope > -1.0);
    let mut out = vec![([0.0, 0.0], origin_stable)];
    for (mu, &a) in saliency.iter().enumerate() {
        // The saliency as it acts: α − d.
        let Some(g) = crate::theory::gamma(a - d, slope) else { continue };
        // Stable against every other memory, and (with a negative d) on their complement,
        // where the eigenvalue is −1 − d Ψ'(γ).
        let t = (slope * g).tanh();
        let stable = a > crate::theory::shifted_critical(saliency, mu, d, slope)
            && (mem.p == mem.n || 1.0 + d * slope * (1.0 - t * t) > 0.0);
        for sign in [1.0, -1.0] {
            let at = |k: usize| sign * g * mem.get(hp.axes[k] as usize, mu) as f64;
            out.push(([at(0), if hp.dims == 2 { at(1) } else { 0.0 }], stable));
        }
    }
    out
}

/// Stores histogram.npy, histogram.json and density.png.
pub fn write(store: &mut Store, hp: &HistogramPlan, counts: &[u64], markers: &[Marker], title: &str) -> Result<()> {
    let cells = hp.cells();
    anyhow::ensure!(
        counts.len() == cells + 1,
        "internal error: histogram has {} slots, expected {}",
        counts.len(),
        cells + 1
    );
    let shape: Vec<u64> = (0..hp.dims).map(|k| hp.bins[k] as u64).collect();
    store.npy(COUNTS, &shape, counts[..cells].to_vec())?;
    let in_range: u64 = counts[..cells].iter().sum();
    let out_of_range = counts[cells];
    let edges: Vec<Vec<f64>> = (0..hp.dims)
        .map(|k| {
            let [lo, hi] = hp.range[k];
            (0..=hp.bins[k]).map(|j| lo + (hi - lo) * j as f64 / hp.bins[k] as f64).collect()
        })
        .collect();
    let cell_area: f64 = (0..hp.dims).map(|k| (hp.range[k][1] - hp.range[k][0]) / hp.bins[k] as f64).product();
    let names = axis_names(hp);
    let doc = json!({
        "of": if hp.of_state { "state" } else { "overlaps" },
        "axes": &hp.axes[..hp.dims],
        "axis_names": names,
        "bins": &hp.bins[..hp.dims],
        "range": &hp.range[..hp.dims],
        "edges": edges,
        "from_step": hp.from_steps,
        "every_steps": hp.every_steps,
        "samples": in_range + out_of_range,
        "in_range": in_range,
        "out_of_range": out_of_range,
        "cell_area": cell_area,
        "normalization": "density = counts / (in_range × cell_area) integrates to 1 over the box; multiply it by in_range / samples for the density of all samples",
        "markers": markers.iter().map(|(x, s)| json!({ "at": &x[..hp.dims], "stable": s })).collect::<Vec<_>>(),
    });
    store.json(DOC, doc)?;
    let samples = in_range + out_of_range;
    let stats = HistogramStats { samples, out_of_range };
    store.findings.put(stats);
    if let Some(f) = stats.out_of_range_fraction().filter(|&f| !store.partial() && f >= WARN_OUT_OF_RANGE) {
        store.warnings.push(format!(
            "{:.1} % of the histogram's samples ({out_of_range} of {samples}) fell outside observe.histogram.range {:?}; its density (density.png, and histogram.json's normalisation) covers the rest only: widen the range to include them",
            100.0 * f,
            &hp.range[..hp.dims]
        ));
    }
    let density: Vec<f64> = counts[..cells].iter().map(|&c| c as f64 / (in_range.max(1) as f64 * cell_area)).collect();
    store.picture(PICTURE, |f| plot::density_png(f, title, hp, &density, markers, &names))
}

/// All counts (cells, then the out-of-range count) of an in-memory result.
pub fn counts(store: &Store) -> Option<Vec<u64>> {
    let mut c: Vec<u64> = store.values("histogram")?;
    c.push(store.doc(DOC)?["out_of_range"].as_u64()?);
    Some(c)
}

/// Axis labels: x_i or m_μ.
pub fn axis_names(hp: &HistogramPlan) -> Vec<String> {
    (0..hp.dims).map(|k| format!("{}_{}", if hp.of_state { "x" } else { "m" }, hp.axes[k])).collect()
}

/// Reads a run's histogram (plan, counts with the out-of-range slot last, markers) back from
/// histogram.json and histogram.npy.
pub fn read(dir: &Path) -> Result<(HistogramPlan, Vec<u64>, Vec<Marker>)> {
    let doc: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join(DOC)).with_context(|| format!("{} has no {DOC}", dir.display()))?,
    )?;
    let arr = |k: &str| doc[k].as_array().cloned().unwrap_or_default();
    let dims = arr("axes").len();
    anyhow::ensure!(dims == 1 || dims == 2, "{}: {DOC} has no axes", dir.display());
    let mut hp = HistogramPlan {
        of_state: doc["of"] == "state",
        dims,
        axes: [0; 2],
        bins: [1; 2],
        lo: [0.0; 2],
        scale: [1.0; 2],
        range: [[0.0, 1.0]; 2],
        from_steps: doc["from_step"].as_u64().unwrap_or(0) as u32,
        every_steps: doc["every_steps"].as_u64().unwrap_or(1) as u32,
    };
    for k in 0..dims {
        hp.axes[k] = arr("axes")[k].as_u64().unwrap_or(0) as u32;
        hp.bins[k] = arr("bins")[k].as_u64().unwrap_or(1) as u32;
        let r = &arr("range")[k];
        hp.range[k] = [r[0].as_f64().unwrap_or(0.0), r[1].as_f64().unwrap_or(1.0)];
        hp.lo[k] = hp.range[k][0] as f32;
        hp.scale[k] = (hp.bins[k] as f64 / (hp.range[k][1] - hp.range[k][0])) as f32;
    }
    let bytes = std::fs::read(dir.join(COUNTS))?;
    let mut counts: Vec<u64> = npyz::NpyFile::new(&bytes[..])?.into_vec()?;
    anyhow::ensure!(counts.len() == hp.cells(), "{}: {COUNTS} does not match {DOC}", dir.display());
    counts.push(doc["out_of_range"].as_u64().unwrap_or(0));
    let markers = arr("markers")
        .iter()
        .map(|m| {
            let at = m["at"].as_array().cloned().unwrap_or_default();
            let x = |k: usize| at.get(k).and_then(|v| v.as_f64()).unwrap_or(0.0);
            ([x(0), x(1)], m["stable"].as_bool().unwrap_or(false))
        })
        .collect();
    Ok((hp, counts, markers))
}

/// The histogram's share of a sweep: the fraction of each point's samples that fell outside
/// `observe.histogram.range` (sweep.csv's `histogram_out_of_range`, a column of report.md's
/// table), and a paragraph naming the points that lost 1 % or more (each of their runs warned
/// too): their densities cover the samples inside the range only.
pub struct HistogramSweep;

impl HistogramSweep {
    fn fraction(sweep: &dyn SweepView, i: usize) -> Option<f64> {
        sweep.findings(i)?.get::<HistogramStats>()?.out_of_range_fraction()
    }

    fn observed(sweep: &dyn SweepView) -> bool {
        (0..sweep.points()).any(|i| sweep.plan(i).observe.histogram.is_some())
    }
}

impl SweepPart for HistogramSweep {
    fn csv(&self, sweep: &dyn SweepView) -> Block {
        if !Self::observed(sweep) {
            return Block::default();
        }
        let rows = (0..sweep.points()).map(|i| vec![cell(Self::fraction(sweep, i))]).collect();
        Block { head: vec!["histogram_out_of_range".into()], rows }
    }

    fn table(&self, sweep: &dyn SweepView) -> Block {
        if !Self::observed(sweep) {
            return Block::default();
        }
        let rows = (0..sweep.points())
            .map(|i| vec![Self::fraction(sweep, i).map_or("—".into(), |f| format!("{f:.4}"))])
            .collect();
        Block { head: vec!["histogram out of range".into()], rows }
    }

    fn notes(&self, sweep: &dyn SweepView) -> Result<Option<String>> {
        let lost: Vec<String> = (0..sweep.points())
            .filter_map(|i| {
                let f = Self::fraction(sweep, i)?;
                (f >= WARN_OUT_OF_RANGE).then(|| format!("{} ({:.1} %)", sweep.describe(i), 100.0 * f))
            })
            .collect();
        if lost.is_empty() {
            return Ok(None);
        }
        Ok(Some(format!(
            "\nThe histogram lost 1 % of its samples or more outside observe.histogram.range at {}: those points' densities cover the samples inside the range only (histogram_out_of_range in sweep.csv); widen the range to include them.\n",
            lost.join(", ")
        )))
    }
}
