//! The first-passage observer: per trajectory, the first time abs(m_μ) of a memory (or of the
//! segment's target) reaches a threshold. Its JSON, its rules and its plan.

use serde::{Deserialize, Serialize};

use super::{Observed, default_threshold};
use crate::error::{SpecError, SpecResult};
use crate::spec::MemoryChoice;
use crate::spec::checks::check_threshold;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct FirstPassageSpec {
    /// A memory index, or "target" (the dominant memory of the segment in effect).
    #[serde(default = "default_fp_memory")]
    pub memory: MemoryChoice,
    #[serde(default = "default_threshold")]
    pub threshold: f64,
}

fn default_fp_memory() -> MemoryChoice {
    MemoryChoice::Target
}

/// First-passage value meaning "never".
pub const NO_STEP: u32 = u32::MAX;

/// First passage: the first step count after which abs(m_memory) ≥ threshold (t = 0 included).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FirstPassagePlan {
    /// None: the target (dominant memory) of the segment in effect.
    pub memory: Option<u32>,
    pub threshold: f32,
}

impl FirstPassagePlan {
    /// Records the step count in the last value of `obs` when abs(m) of the memory (or of the
    /// segment's target) first reaches the threshold.
    pub fn track(&self, at: &Observed, obs: &mut [f32]) {
        let slot = obs.len() - 1;
        if obs[slot].to_bits() == NO_STEP
            && let Some(mem) = self.memory.or(at.target)
            && at.m[mem as usize].abs() >= self.threshold
        {
            obs[slot] = f32::from_bits(at.done);
        }
    }
}

/// The first-passage plan, with P memories.
pub fn resolve(f: &FirstPassageSpec, p: usize) -> SpecResult<FirstPassagePlan> {
    check_threshold("observe.first_passage.threshold", f.threshold)?;
    let memory = match f.memory {
        MemoryChoice::Index(i) if i < p => Some(i as u32),
        MemoryChoice::Target => None,
        other => {
            return Err(SpecError::new(
                "observe.first_passage.memory",
                format!(
                    "{} is not accepted; give a memory index 0 to {} or \"target\"",
                    serde_json::to_string(&other).unwrap_or_default(),
                    p - 1
                ),
            ));
        }
    };
    Ok(FirstPassagePlan { memory, threshold: f.threshold as f32 })
}
