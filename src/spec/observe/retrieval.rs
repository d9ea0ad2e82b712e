//! The retrieval observer: per trajectory and segment, which memory the overlaps at the
//! segment's end (averaged over a window) retrieve. Its JSON, its rules and its plan.

use serde::{Deserialize, Serialize};

use super::{Observed, default_threshold};
use crate::error::{SpecError, SpecResult};
use crate::spec::checks::{check_positive, check_threshold, steps_of};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RetrievalSpec {
    /// A trajectory retrieves memory μ when abs(m_μ) is the largest overlap and ≥ threshold.
    #[serde(default = "default_threshold")]
    pub threshold: f64,
    /// Average the overlaps over this final part of each segment (time units; default dt, i.e.
    /// the value at the segment's end).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window: Option<f64>,
}

/// The retrieval observer: per trajectory and segment, the overlaps averaged over the
/// segment's last `window_steps` steps (the values after each of those steps).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RetrievalPlan {
    pub threshold: f32,
    pub window_steps: u32,
}

impl RetrievalPlan {
    /// Adds the overlaps after a step in the segment's final window to the segment's sums
    /// (`obs[segment][P]`).
    pub fn track(&self, at: &Observed, obs: &mut [f32]) {
        if at.done > at.segment_end - self.window_steps {
            let p = at.m.len();
            for mu in 0..p {
                obs[at.segment * p + mu] += at.m[mu];
            }
        }
    }
}

/// The retrieval plan; `segment_steps` are the input segments' lengths in steps (the window
/// must fit in each).
pub fn resolve(r: &RetrievalSpec, segment_steps: &[u32], dt: f64) -> SpecResult<RetrievalPlan> {
    check_threshold("observe.retrieval.threshold", r.threshold)?;
    let window_steps = match r.window {
        None => 1,
        Some(w) => {
            check_positive("observe.retrieval.window", w)?;
            steps_of("observe.retrieval.window", w, dt)?
        }
    };
    if let Some((k, &steps)) = segment_steps.iter().enumerate().find(|(_, s)| **s < window_steps) {
        return Err(SpecError::new(
            "observe.retrieval.window",
            format!(
                "{} is longer than segment {k} ({}); the window must fit in every segment",
                window_steps as f64 * dt,
                steps as f64 * dt
            ),
        ));
    }
    Ok(RetrievalPlan { threshold: r.threshold as f32, window_steps })
}
