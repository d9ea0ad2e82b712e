//! The histogram observer: an on-device histogram of one or two state coordinates or signed
//! overlaps, counted after every step from a burn-in on. Its JSON, its rules, its limits and its
//! plan (one definition of the binning for both backends: [`HistogramPlan::bin`]).

use serde::{Deserialize, Serialize};

use super::Observed;
use crate::error::{SpecError, SpecResult};
use crate::spec::checks::{check_nonnegative, check_positive, steps_of};

/// Largest number of histogram cells.
pub const MAX_HIST_CELLS: u64 = 1 << 24;

/// Largest |edge| of a histogram range (the kernels bin in f32; the pictures need finite axes).
pub const MAX_HIST_EDGE: f64 = 1e15;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct HistogramSpec {
    pub of: HistogramOf,
    /// One or two neuron (or memory) indices.
    #[serde(deserialize_with = "crate::spec::whole::list")]
    pub axes: Vec<usize>,
    /// Bins per axis.
    #[serde(deserialize_with = "crate::spec::whole::list")]
    pub bins: Vec<u32>,
    /// [low, high] per axis.
    pub range: Vec<[f64; 2]>,
    /// Burn-in: samples are taken from this time on (default 0).
    #[serde(default)]
    pub from: f64,
    /// Time between samples (a multiple of dt; default dt, every step).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub every: Option<f64>,
}

/// What a histogram counts: "state" (neuron coordinates x_i) or "overlaps" (signed m_μ).
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum HistogramOf {
    State,
    Overlaps,
}

/// An on-device histogram (one definition for both backends: see [`HistogramPlan::bin`]).
#[derive(Debug, Clone, PartialEq)]
pub struct HistogramPlan {
    /// Neuron coordinates (true) or signed overlaps (false).
    pub of_state: bool,
    pub dims: usize,
    pub axes: [u32; 2],
    pub bins: [u32; 2],
    /// Lower edges and bins per unit length, as the kernels use them.
    pub lo: [f32; 2],
    pub scale: [f32; 2],
    pub range: [[f64; 2]; 2],
    /// Samples are taken after `done` steps when done ≥ from_steps, done ≥ 1 and done is a
    /// multiple of every_steps.
    pub from_steps: u32,
    pub every_steps: u32,
}

impl HistogramPlan {
    /// Cells in range; the count of out-of-range samples is kept after them.
    pub fn cells(&self) -> usize {
        (self.bins[0] as usize) * if self.dims == 2 { self.bins[1] as usize } else { 1 }
    }

    /// Whether a sample is taken after `done` steps.
    pub fn samples_at(&self, done: u32) -> bool {
        done >= 1 && done >= self.from_steps && done.is_multiple_of(self.every_steps)
    }

    /// Samples per trajectory over a run of `total` steps.
    pub fn samples_per_trajectory(&self, total: u32) -> u64 {
        let first = self.from_steps.max(1).div_ceil(self.every_steps);
        let last = total / self.every_steps;
        (last + 1).saturating_sub(first) as u64
    }

    /// Bin of one coordinate: floor((v − lo)·scale) if in [0, bins), else None (NaN included).
    /// Same f32 arithmetic as `hist_bin` in `shaders/params.wgsl`.
    pub fn axis_bin(&self, k: usize, v: f32) -> Option<u32> {
        let y = (v - self.lo[k]) * self.scale[k];
        if y >= 0.0 && y < self.bins[k] as f32 { Some((y as u32).min(self.bins[k] - 1)) } else { None }
    }

    /// Counts the sample after a step, if one is taken then, in `counters` (the cells, then the
    /// out-of-range count).
    pub fn count(&self, at: &Observed, counters: &mut [u64]) {
        if self.samples_at(at.done) {
            let pick = |a: u32| if self.of_state { at.x[a as usize] } else { at.m[a as usize] };
            counters[self.bin([pick(self.axes[0]), pick(self.axes[1])])] += 1;
        }
    }

    /// Cell of a sample (values along the axes), or `cells()` (the out-of-range slot).
    pub fn bin(&self, v: [f32; 2]) -> usize {
        let b0 = self.axis_bin(0, v[0]);
        if self.dims == 1 {
            return b0.map_or(self.cells(), |b| b as usize);
        }
        match (b0, self.axis_bin(1, v[1])) {
            (Some(a), Some(b)) => a as usize * self.bins[1] as usize + b as usize,
            _ => self.cells(),
        }
    }
}

/// The histogram's plan: N or P is the range of its axes (state or overlaps).
pub fn resolve(h: &HistogramSpec, n: usize, p: usize, dt: f64, total_steps: u32) -> SpecResult<HistogramPlan> {
    let of_state = h.of == HistogramOf::State;
    let dims = h.axes.len();
    if dims == 0 || dims > 2 {
        return Err(SpecError::new("observe.histogram.axes", format!("has {dims} entries; give 1 or 2 indices")));
    }
    let limit = if of_state { n } else { p };
    for (k, &a) in h.axes.iter().enumerate() {
        if a >= limit {
            let what = if of_state { "neuron" } else { "memory" };
            return Err(SpecError::new(
                format!("observe.histogram.axes[{k}]"),
                format!("{what} {a} does not exist; accepted: 0 to {}", limit - 1),
            ));
        }
    }
    if dims == 2 && h.axes[0] == h.axes[1] {
        return Err(SpecError::new("observe.histogram.axes[1]", "repeats axes[0]; give two different indices"));
    }
    if h.bins.len() != dims {
        return Err(SpecError::new(
            "observe.histogram.bins",
            format!("has {} entries; it must have one per axis ({dims})", h.bins.len()),
        ));
    }
    if h.range.len() != dims {
        return Err(SpecError::new(
            "observe.histogram.range",
            format!("has {} entries; it must have one [low, high] per axis ({dims})", h.range.len()),
        ));
    }
    let mut cells = 1u64;
    for k in 0..dims {
        if h.bins[k] == 0 {
            return Err(SpecError::new(format!("observe.histogram.bins[{k}]"), "must be at least 1"));
        }
        cells *= h.bins[k] as u64;
        let [lo, hi] = h.range[k];
        // The kernels bin in f32: the edges must be f32 values and a bin wide enough for f32 to
        // tell its edges apart; the pictures need a finite axis too. Edges and bin widths that
        // f32 holds only as subnormals (GPUs may flush them to 0, and the bins per unit overflow)
        // cannot be binned.
        let edge = lo.abs().max(hi.abs());
        let width = (hi - lo) / h.bins[k].max(1) as f64;
        let resolvable = width >= 1e-6 * edge;
        let normal = |v: f64| v == 0.0 || v.abs() >= f32::MIN_POSITIVE as f64;
        let subnormal = !(normal(lo) && normal(hi) && width >= f32::MIN_POSITIVE as f64);
        if subnormal && lo.is_finite() && hi.is_finite() && lo < hi {
            return Err(SpecError::new(
                format!("observe.histogram.range[{k}]"),
                format!(
                    "[{lo}, {hi}] is not accepted: f32, in which the kernels bin, holds it only as subnormal numbers; give edges that are 0 or at least {:e} in magnitude, with bins at least that wide",
                    f32::MIN_POSITIVE
                ),
            ));
        }
        if !(lo.is_finite() && hi.is_finite() && lo < hi && edge <= MAX_HIST_EDGE && resolvable) {
            return Err(SpecError::new(
                format!("observe.histogram.range[{k}]"),
                format!(
                    "[{lo}, {hi}] is not accepted; give finite low < high within ±{MAX_HIST_EDGE:e}, with bins wider than 1e-6 of the largest |edge| (the kernels bin in f32)"
                ),
            ));
        }
    }
    if cells > MAX_HIST_CELLS {
        return Err(SpecError::new("observe.histogram.bins", format!("{cells} cells is more than {MAX_HIST_CELLS}")));
    }
    check_nonnegative("observe.histogram.from", h.from)?;
    let from_steps = if h.from == 0.0 { 0 } else { steps_of("observe.histogram.from", h.from, dt)? };
    if from_steps > total_steps {
        return Err(SpecError::new(
            "observe.histogram.from",
            format!("{} is after the end of the run ({})", h.from, total_steps as f64 * dt),
        ));
    }
    let every_steps = match h.every {
        None => 1,
        Some(e) => {
            check_positive("observe.histogram.every", e)?;
            steps_of("observe.histogram.every", e, dt)?
        }
    };
    // At least one sample: a histogram of no sample would be written as an empty density.
    let first = from_steps.max(1).div_ceil(every_steps);
    if first > total_steps / every_steps {
        return Err(SpecError::new(
            if h.every.is_some() { "observe.histogram.every" } else { "observe.histogram.from" },
            format!(
                "takes no sample: the first sample after t = {} would be at t = {}, after the end of the run ({}); give a shorter every or an earlier from",
                h.from,
                first as f64 * every_steps as f64 * dt,
                total_steps as f64 * dt
            ),
        ));
    }
    let mut axes = [0u32; 2];
    let mut bins = [1u32; 2];
    let mut lo = [0f32; 2];
    let mut scale = [1f32; 2];
    let mut range = [[0f64; 2]; 2];
    for k in 0..dims {
        axes[k] = h.axes[k] as u32;
        bins[k] = h.bins[k];
        lo[k] = h.range[k][0] as f32;
        scale[k] = (h.bins[k] as f64 / (h.range[k][1] - h.range[k][0])) as f32;
        range[k] = h.range[k];
    }
    Ok(HistogramPlan { of_state, dims, axes, bins, lo, scale, range, from_steps, every_steps })
}
