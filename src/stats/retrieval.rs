//! Retrieval and first passage: one definition for both backends. The backends deliver, per
//! trajectory, the overlaps summed over each segment's final window and the first step count at
//! which abs(m) reached the first-passage threshold; everything here is host arithmetic on those
//! (docs/THEORY.md §11). The outputs that write them are in `crate::outputs`.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use crate::plan::{NO_STEP, Plan};
use crate::stats::{SumOverflow, add_fixed, from_fixed, to_fixed};

/// Mean overlaps over a window of `window` steps from their sum (f32, as written).
pub fn window_mean(sums: &[f32], window: u32) -> Vec<f32> {
    sums.iter().map(|s| s / window as f32).collect()
}

/// The retrieved memory of one trajectory: the index of the largest abs(m_μ) (the lowest index
/// on ties) when it is ≥ `threshold`, with the sign of that overlap; None when no overlap
/// reaches the threshold (or an overlap is NaN).
pub fn retrieved(m: &[f32], threshold: f32) -> Option<(u32, i8)> {
    let mut best = 0usize;
    for (mu, v) in m.iter().enumerate() {
        if v.is_nan() {
            return None;
        }
        if v.abs() > m[best].abs() {
            best = mu;
        }
    }
    let v = *m.get(best)?;
    (v.abs() >= threshold).then_some((best as u32, if v < 0.0 { -1 } else { 1 }))
}

/// A first-passage step count as a time (NaN for never).
pub fn passage_time(step: u32, dt: f64) -> f32 {
    if step == NO_STEP { f32::NAN } else { (step as f64 * dt) as f32 }
}

/// Per segment: the aggregates of retrieval.json.
#[derive(Debug, Clone, PartialEq)]
pub struct SegmentStats {
    /// Trajectories retrieving each memory, then those retrieving none.
    pub retrieved: Vec<u64>,
    /// Retrieved memories with a negative overlap.
    pub negative: u64,
    /// confusion[target][retrieved] (retrieved = P: none).
    pub confusion: Vec<Vec<u64>>,
    /// Trajectories with a target, and those whose retrieved memory is it.
    pub with_target: u64,
    pub correct: u64,
    /// Σ over trajectories of abs(window-mean m_μ), and of abs(m_target), in exact 2⁻⁶⁴ fixed
    /// point (order-free, so shards merge to the same bytes).
    pub sum_abs: Vec<i128>,
    pub sum_abs_target: i128,
}

/// The retrieval observer's ensemble aggregates (order-free integer counts and f64 sums).
#[derive(Debug, Clone, PartialEq)]
pub struct RetrievalStats {
    pub threshold: f32,
    pub window_steps: u32,
    pub trajectories: u64,
    pub segments: Vec<SegmentStats>,
    /// Σ and Σ² over trajectories of the fraction of segments retrieved correctly (for the
    /// Monte-Carlo error of the overall accuracy).
    pub score_sum: f64,
    pub score_sq: f64,
}

impl RetrievalStats {
    pub fn new(plan: &Plan) -> Self {
        let r = plan.observe.retrieval.expect("a retrieval plan");
        Self::empty(r.threshold, r.window_steps, plan.p(), plan.input.segments.len())
    }

    pub fn empty(threshold: f32, window_steps: u32, p: usize, s: usize) -> Self {
        RetrievalStats {
            threshold,
            window_steps,
            trajectories: 0,
            segments: (0..s)
                .map(|_| SegmentStats {
                    retrieved: vec![0; p + 1],
                    negative: 0,
                    confusion: vec![vec![0; p + 1]; p],
                    with_target: 0,
                    correct: 0,
                    sum_abs: vec![0; p],
                    sum_abs_target: 0,
                })
                .collect(),
            score_sum: 0.0,
            score_sq: 0.0,
        }
    }

    /// Adds one trajectory: its window means [segment][P], targets and retrieved memories.
    pub fn add(
        &mut self,
        means: &[f32],
        targets: &[Option<u32>],
        got: &[Option<(u32, i8)>],
    ) -> Result<(), SumOverflow> {
        let p = self.segments[0].sum_abs.len();
        for (k, st) in self.segments.iter_mut().enumerate() {
            let m = &means[k * p..(k + 1) * p];
            for (acc, v) in st.sum_abs.iter_mut().zip(m) {
                *acc = add_fixed(*acc, to_fixed(v.abs())?)?;
            }
            if let Some(t) = targets[k] {
                st.sum_abs_target = add_fixed(st.sum_abs_target, to_fixed(m[t as usize].abs())?)?;
            }
        }
        self.count(targets, got);
        Ok(())
    }

    /// Counts one trajectory's targets and retrieved memories (everything but the sums).
    pub fn count(&mut self, targets: &[Option<u32>], got: &[Option<(u32, i8)>]) {
        let p = self.segments[0].sum_abs.len();
        let (mut scored, mut right) = (0u32, 0u32);
        for (k, st) in self.segments.iter_mut().enumerate() {
            let col = got[k].map_or(p, |g| g.0 as usize);
            st.retrieved[col] += 1;
            if got[k].is_some_and(|g| g.1 < 0) {
                st.negative += 1;
            }
            if let Some(t) = targets[k] {
                st.confusion[t as usize][col] += 1;
                st.with_target += 1;
                scored += 1;
                if col == t as usize {
                    st.correct += 1;
                    right += 1;
                }
            }
        }
        if scored > 0 {
            let score = right as f64 / scored as f64;
            self.score_sum += score;
            self.score_sq += score * score;
        }
        self.trajectories += 1;
    }

    /// The fixed-point sums as u64 words [segment][P + 1][low, high] (retrieval_sums.npy).
    pub fn sums_words(&self) -> Vec<u64> {
        let mut out = Vec::new();
        for s in &self.segments {
            for &v in s.sum_abs.iter().chain(std::iter::once(&s.sum_abs_target)) {
                out.extend([v as u64, (v >> 64) as u64]);
            }
        }
        out
    }

    /// Adds sums read from [`Self::sums_words`] of another part of the ensemble.
    pub fn add_sums_words(&mut self, words: &[u64]) -> anyhow::Result<()> {
        let p = self.segments[0].sum_abs.len();
        anyhow::ensure!(words.len() == self.segments.len() * (p + 1) * 2, "retrieval sums have the wrong shape");
        let mut it = words.chunks(2).map(|w| (w[0] as u128 | ((w[1] as u128) << 64)) as i128);
        for s in &mut self.segments {
            for v in s.sum_abs.iter_mut() {
                *v = add_fixed(*v, it.next().expect("length checked"))?;
            }
            s.sum_abs_target = add_fixed(s.sum_abs_target, it.next().expect("length checked"))?;
        }
        Ok(())
    }

    /// Mean over trajectories of abs(window-mean m_μ) at segment k's end, per memory.
    pub fn mean_abs_final(&self, k: usize) -> Vec<f64> {
        let m = self.trajectories.max(1) as f64;
        self.segments[k].sum_abs.iter().map(|&v| from_fixed(v) / m).collect()
    }

    /// Accuracy of segment k against its targets (None without targets).
    pub fn accuracy(&self, k: usize) -> Option<f64> {
        let s = &self.segments[k];
        (s.with_target > 0).then(|| s.correct as f64 / s.with_target as f64)
    }

    /// Mean over trajectories of the fraction of segments retrieved correctly, and its
    /// standard error (std / √M).
    pub fn overall(&self) -> (f64, f64) {
        let m = self.trajectories.max(1) as f64;
        let mean = self.score_sum / m;
        let var = (self.score_sq / m - mean * mean).max(0.0);
        (mean, (var / m).sqrt())
    }

    /// retrieval.json.
    pub fn to_json(&self) -> Value {
        let m = self.trajectories.max(1) as f64;
        let segments: Vec<Value> = self
            .segments
            .iter()
            .enumerate()
            .map(|(k, s)| {
                let p = s.sum_abs.len();
                let acc = self.accuracy(k);
                json!({
                    "accuracy": acc,
                    "accuracy_stderr": acc.map(|a| (a * (1.0 - a) / s.with_target as f64).sqrt()),
                    "fractions": s.retrieved[..p].iter().map(|&c| c as f64 / m).collect::<Vec<_>>(),
                    "none": s.retrieved[p] as f64 / m,
                    "negative": s.negative as f64 / m,
                    "confusion": s.confusion,
                    "trajectories_with_target": s.with_target,
                    "mean_abs_final": s.sum_abs.iter().map(|&v| from_fixed(v) / m).collect::<Vec<_>>(),
                    "mean_abs_target": (s.with_target > 0).then(|| from_fixed(s.sum_abs_target) / s.with_target as f64),
                })
            })
            .collect();
        let (acc, se) = self.overall();
        json!({
            "threshold": self.threshold,
            "window_steps": self.window_steps,
            "trajectories": self.trajectories,
            "accuracy": acc,
            "accuracy_stderr": se,
            "definition": "retrieved memory = argmax_mu abs(m_mu) of the overlaps averaged over the segment's last window_steps steps, if that abs(m) >= threshold, else none; accuracy = fraction of trajectories whose retrieved memory is the segment's target (dominant) memory, either sign; confusion[target][retrieved], the last column counting none",
            "segments": segments,
        })
    }
}

/// Exact quantiles of first-passage times from counts of step values.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PassageStats {
    pub counts: BTreeMap<u32, u64>,
    pub never: u64,
}

impl PassageStats {
    pub fn add(&mut self, step: u32) {
        if step == NO_STEP {
            self.never += 1;
        } else {
            *self.counts.entry(step).or_default() += 1;
        }
    }

    /// The q-quantile (lower) over all trajectories, never-passing ones counting as +∞; None
    /// (JSON null) when it falls among those.
    pub fn quantile_step(&self, q: f64) -> Option<u32> {
        let total = self.counts.values().sum::<u64>() + self.never;
        if total == 0 {
            return None;
        }
        let rank = ((q * total as f64).ceil() as u64).clamp(1, total);
        let mut seen = 0;
        for (&step, &c) in &self.counts {
            seen += c;
            if seen >= rank {
                return Some(step);
            }
        }
        None
    }

    /// Rebuilds the counts from first-passage times (first_passage.npy) of steps of `dt`.
    pub fn from_times(times: &[f32], dt: f64) -> Self {
        let mut s = PassageStats::default();
        for &t in times {
            s.add(if t.is_nan() { NO_STEP } else { (t as f64 / dt).round() as u32 });
        }
        s
    }

    pub fn to_json(&self, plan: &Plan) -> Value {
        let fp = plan.observe.first_passage.expect("a first-passage plan");
        self.summary(fp.memory, fp.threshold, plan.time.dt_f64)
    }

    /// The summary written to run.json.
    pub fn summary(&self, memory: Option<u32>, threshold: f32, dt: f64) -> Value {
        let total = self.counts.values().sum::<u64>() + self.never;
        let q = |x: f64| self.quantile_step(x).map(|s| s as f64 * dt);
        json!({
            "memory": memory.map_or(json!("target"), |m| json!(m)),
            "threshold": threshold,
            "trajectories": total,
            "reached": total - self.never,
            "never": self.never,
            "fraction_reached": if total > 0 { (total - self.never) as f64 / total as f64 } else { 0.0 },
            "quantiles": { "0.1": q(0.1), "0.25": q(0.25), "0.5": q(0.5), "0.75": q(0.75), "0.9": q(0.9) },
        })
    }
}
