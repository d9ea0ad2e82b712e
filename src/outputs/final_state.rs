//! final_state.npy [M, N]: every trajectory's state at the end of the run.

use anyhow::Result;

use super::store::concat;
use super::{ChunkResults, Column, Output, Shard, Store};
use crate::plan::Plan;

const FILE: &str = "final_state.npy";

pub struct FinalState {
    n: u64,
    col: Column<f32>,
}

impl FinalState {
    pub fn new(plan: &Plan, store: &Store) -> Result<Self> {
        let n = plan.n() as u64;
        Ok(FinalState { n, col: store.column(FILE, &[plan.ensemble.trajectories, n])? })
    }
}

impl Output for FinalState {
    fn chunk(&mut self, c: &ChunkResults) -> Result<()> {
        self.col.push(&c.final_state)
    }

    fn finish(self: Box<Self>, store: &mut Store) -> Result<()> {
        store.close(FILE, self.col)
    }

    fn merge(self: Box<Self>, shards: &[Shard], store: &mut Store) -> Result<()> {
        let n = self.n;
        drop(self);
        concat::<f32>(shards, FILE, &[n], store)
    }
}
