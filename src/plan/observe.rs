//! The observers of a plan: what is saved, sampled and recorded per trajectory.

/// Everything a run observes.
#[derive(Debug, Clone, PartialEq)]
pub struct ObservePlan {
    /// Steps between saves; save k is at step k·save_every (k = 0 is the initial state).
    pub save_every: u32,
    /// Write every trajectory's saved overlaps (and the modern model's layers).
    pub per_trajectory: bool,
    pub final_state: bool,
    pub histogram: Option<HistogramPlan>,
    /// Save the energy with the overlaps.
    pub energy: bool,
    pub energy_per_trajectory: bool,
    pub retrieval: Option<RetrievalPlan>,
    pub first_passage: Option<FirstPassagePlan>,
}

impl ObservePlan {
    /// Whether backends must deliver per-trajectory saves (overlaps or energies).
    pub fn per_trajectory_saves(&self) -> bool {
        self.per_trajectory || self.energy_per_trajectory
    }

    /// Whether the backends record per-trajectory observations at segment ends or first
    /// passages.
    pub fn observes_trajectories(&self) -> bool {
        self.retrieval.is_some() || self.first_passage.is_some()
    }
}

/// First-passage value meaning "never".
pub const NO_STEP: u32 = u32::MAX;

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

/// The retrieval observer: per trajectory and segment, the overlaps averaged over the
/// segment's last `window_steps` steps (the values after each of those steps).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RetrievalPlan {
    pub threshold: f32,
    pub window_steps: u32,
}

/// First passage: the first step count after which abs(m_memory) ≥ threshold (t = 0 included).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FirstPassagePlan {
    /// None: the target (dominant memory) of the segment in effect.
    pub memory: Option<u32>,
    pub threshold: f32,
}
