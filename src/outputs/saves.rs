//! Per-trajectory saves: energy.npy [M, T] (observe.energy.per_trajectory), overlaps.npy
//! [M, T, P] and, for the modern model, memory_layer.npy and saliency.npy [M, T, P]
//! (observe.overlaps.per_trajectory). In memory, also the raw saves [M, T, Q].

use std::ops::Range;

use anyhow::Result;

use super::store::concat;
use super::{ChunkResults, Column, Output, Shard, Store};
use crate::plan::{Plan, SaveLayout};

struct Part {
    file: &'static str,
    /// Columns of each save.
    columns: Range<usize>,
    /// One value per save (the energy: shape [M, T]); else P values ([M, T, P]).
    scalar: bool,
    col: Column<f32>,
}

pub struct TrajectorySaves {
    layout: SaveLayout,
    saves: usize,
    parts: Vec<Part>,
    raw: Option<(Vec<u64>, Vec<f32>)>,
}

impl TrajectorySaves {
    pub fn new(plan: &Plan, store: &Store) -> Result<Self> {
        let layout = plan.saves();
        let (m, t, p) = (plan.ensemble.trajectories, plan.n_saves() as u64, plan.p() as u64);
        let o = &plan.observe;
        let mut want: Vec<(&'static str, Range<usize>, bool)> = Vec::new();
        if let (true, Some(e)) = (o.energy_per_trajectory, layout.energy_index()) {
            want.push(("energy.npy", e..e + 1, true));
        }
        if o.per_trajectory {
            want.push(("overlaps.npy", layout.overlaps(), false));
            if let (Some(y), Some(a)) = (layout.memory_layer(), layout.saliency()) {
                want.push(("memory_layer.npy", y, false));
                want.push(("saliency.npy", a, false));
            }
        }
        let mut parts = Vec::new();
        for (file, columns, scalar) in want {
            let shape = if scalar { vec![m, t] } else { vec![m, t, p] };
            parts.push(Part { file, col: store.column(file, &shape)?, columns, scalar });
        }
        let raw = store.in_memory().then(|| (vec![m, t, layout.q() as u64], Vec::new()));
        Ok(TrajectorySaves { layout, saves: plan.n_saves(), parts, raw })
    }

    /// The files and the shape of one trajectory's rows in each.
    fn rows(&self) -> Vec<(&'static str, Vec<u64>)> {
        let (t, p) = (self.saves as u64, self.layout.p as u64);
        self.parts.iter().map(|x| (x.file, if x.scalar { vec![t] } else { vec![t, p] })).collect()
    }
}

impl Output for TrajectorySaves {
    fn chunk(&mut self, c: &ChunkResults) -> Result<()> {
        for part in &mut self.parts {
            part.col.push(&self.layout.columns(&c.saves, part.columns.clone()))?;
        }
        if let Some((_, raw)) = self.raw.as_mut() {
            raw.extend_from_slice(&c.saves);
        }
        Ok(())
    }

    fn finish(self: Box<Self>, store: &mut Store) -> Result<()> {
        for part in self.parts {
            store.close(part.file, part.col)?;
        }
        if let Some((shape, raw)) = self.raw {
            store.keep("saves", &shape, raw);
        }
        Ok(())
    }

    fn merge(self: Box<Self>, shards: &[Shard], store: &mut Store) -> Result<()> {
        let rows = self.rows();
        drop(self);
        for (file, row) in rows {
            concat::<f32>(shards, file, &row, store)?;
        }
        Ok(())
    }
}
