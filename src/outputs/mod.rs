//! The catalogue of outputs. Each observable is one type implementing [`Output`]: it says which
//! files it writes, takes each chunk's [`ChunkResults`], finishes into a [`Store`] (a directory,
//! or arrays kept in memory), and merges the shards of a sharded run. Each file name is written
//! in one place: the output that owns it. The engine only runs the chunk loop and hands every
//! chunk's results to every output of [`catalogue`].

pub mod ensemble;
pub mod final_state;
pub mod first_passage;
pub mod histogram;
pub mod manifest;
pub mod occupancy;
pub mod retrieval;
pub mod saves;
pub mod store;
pub mod sweep_part;

use anyhow::Result;

pub use crate::backend::ChunkResults;
use crate::plan::Plan;
pub use store::{Array, ArrayData, Column, Findings, Shard, Store, Timing};
pub use sweep_part::SweepPart;

/// One observable's outputs.
pub trait Output {
    /// One finished chunk's results.
    fn chunk(&mut self, _results: &ChunkResults) -> Result<()> {
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

/// Every output's share of a sweep ([`SweepPart`]), in the order of their columns in sweep.csv
/// and report.md's table.
pub fn sweep_parts() -> Vec<Box<dyn SweepPart>> {
    vec![
        Box::new(retrieval::RetrievalSweep),
        Box::new(first_passage::PassageSweep),
        Box::new(occupancy::OccupancySweep),
        Box::new(histogram::HistogramSweep),
    ]
}
