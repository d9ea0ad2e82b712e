//! The catalogue of outputs. Each observable is one type implementing [`Output`]: it says which
//! files it writes, takes what each chunk delivers, finishes into a [`Store`] (a directory, or
//! arrays kept in memory), and merges the shards of a sharded run. Each file name is written
//! in one place: the output that owns it. The engine only runs the chunk loop and hands every
//! delivery to every output of [`catalogue`].

pub mod ensemble;
pub mod final_state;
pub mod first_passage;
pub mod histogram;
pub mod manifest;
pub mod occupancy;
pub mod retrieval;
pub mod saves;
pub mod store;

use anyhow::Result;

use crate::plan::Plan;
pub use store::{Array, ArrayData, Column, Shard, Store, Timing};

/// What a backend delivered for one chunk of trajectories, handed to every output once the
/// chunk is done (the ensemble sums take their block partials as they arrive instead).
pub struct ChunkData<'a> {
    /// Global index of the chunk's first trajectory.
    pub first: u64,
    pub count: usize,
    /// Per-trajectory saves [trajectory][save][Q] (see [`crate::plan::SaveLayout`]); empty
    /// unless the plan asks for per-trajectory saves.
    pub saves: &'a [f32],
    /// Final states [trajectory][N] (with observe.final_state).
    pub final_state: &'a [f32],
    /// Histogram counts of the chunk (cells, then out-of-range).
    pub histogram: &'a [u64],
    /// Occupancy counts of the chunk [row][equilibrium, then outside].
    pub occupancy: &'a [u64],
    /// The retrieval / first-passage observer's values [trajectory][S·P + 1].
    pub observations: &'a [f32],
}

/// One observable's outputs.
pub trait Output {
    /// Block partial sums [slot][block][Q][MOMENTS] of saves first..first+slots of a chunk of
    /// `count` trajectories.
    fn partials(&mut self, _first: usize, _slots: usize, _count: usize, _partials: &[f32]) -> Result<()> {
        Ok(())
    }

    /// One finished chunk.
    fn chunk(&mut self, _chunk: &ChunkData) -> Result<()> {
        Ok(())
    }

    /// What this output has taken of the current chunk before its end, as u64 words (a
    /// checkpoint keeps them); None when it takes nothing before a chunk ends.
    fn snapshot(&self) -> Option<Vec<u64>> {
        None
    }

    /// Takes back what [`Output::snapshot`] gave, in a fresh output of the same plan.
    fn restore(&mut self, _words: &[u64]) -> Result<()> {
        Ok(())
    }

    /// Writes (or keeps) the outputs once every chunk has been taken.
    fn finish(self: Box<Self>, store: &mut Store) -> Result<()>;

    /// Builds this output from the shards of one run (already checked to cover the ensemble
    /// once, with the same spec) and finishes it.
    fn merge(self: Box<Self>, shards: &[Shard], store: &mut Store) -> Result<()>;
}

/// Every output a plan asks for, in the order their files are listed in run.json.
pub fn catalogue(plan: &Plan, store: &Store) -> Result<Vec<Box<dyn Output>>> {
    let mut out: Vec<Box<dyn Output>> = vec![Box::new(ensemble::EnsembleSums::new(plan))];
    if plan.observe.per_trajectory_saves() {
        out.push(Box::new(saves::TrajectorySaves::new(plan, store)?));
    }
    if plan.observe.final_state {
        out.push(Box::new(final_state::FinalState::new(plan, store)?));
    }
    if let Some(h) = &plan.observe.histogram {
        out.push(Box::new(histogram::Histogram::new(plan, h)));
    }
    if plan.observe.retrieval.is_some() {
        out.push(Box::new(retrieval::Retrieval::new(plan, store)?));
    }
    if plan.observe.first_passage.is_some() {
        out.push(Box::new(first_passage::FirstPassage::new(plan, store)?));
    }
    if let Some(o) = &plan.observe.occupancy {
        out.push(Box::new(occupancy::Occupancy::new(plan, o)));
    }
    Ok(out)
}
