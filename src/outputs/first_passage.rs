//! first_passage.npy [M]: the first time abs(m_memory) reached the threshold (NaN for never),
//! with exact quantiles in run.json.

use anyhow::Result;

use super::store::concat;
use super::{ChunkData, Column, Output, Shard, Store};
use crate::observe::retrieval::{PassageStats, passage_time};
use crate::plan::{NO_STEP, Plan};

const FILE: &str = "first_passage.npy";

pub struct FirstPassage {
    plan: Plan,
    stats: PassageStats,
    times: Column<f32>,
    raw: Option<Vec<f32>>,
}

impl FirstPassage {
    pub fn new(plan: &Plan, store: &Store) -> Result<Self> {
        Ok(FirstPassage {
            plan: plan.clone(),
            stats: PassageStats::default(),
            times: store.column(FILE, &[plan.ensemble.trajectories])?,
            // The raw observer values are kept by the retrieval output when there is one.
            raw: (store.in_memory() && plan.observe.retrieval.is_none()).then(Vec::new),
        })
    }

    fn summarise(self, store: &mut Store) {
        let fp = self.plan.observe.first_passage.expect("a first-passage plan");
        store
            .summaries
            .insert("first_passage".into(), self.stats.summary(fp.memory, fp.threshold, self.plan.time.dt_f64));
        store.passages = Some(self.stats);
    }
}

impl Output for FirstPassage {
    fn chunk(&mut self, c: &ChunkData) -> Result<()> {
        let (ob, at) = (self.plan.obs_per_trajectory(), self.plan.input.segments.len() * self.plan.p());
        let mut times = Vec::with_capacity(c.count);
        for j in 0..c.count {
            let step = c.observations[j * ob + at].to_bits();
            times.push(passage_time(step, self.plan.time.dt_f64));
            self.stats.add(step);
        }
        if let Some(raw) = self.raw.as_mut() {
            raw.extend_from_slice(c.observations);
        }
        self.times.push(&times)
    }

    fn finish(mut self: Box<Self>, store: &mut Store) -> Result<()> {
        store.close(FILE, self.times.take())?;
        if let Some(raw) = self.raw.take() {
            store.keep("observations", &[self.plan.ensemble.trajectories, self.plan.obs_per_trajectory() as u64], raw);
        }
        self.summarise(store);
        Ok(())
    }

    fn merge(mut self: Box<Self>, shards: &[Shard], store: &mut Store) -> Result<()> {
        drop(self.times.take());
        let dt = self.plan.time.dt_f64;
        for s in shards {
            for t in s.read_shaped::<f32>(FILE, &[s.count])? {
                self.stats.add(if t.is_nan() { NO_STEP } else { (t as f64 / dt).round() as u32 });
            }
        }
        concat::<f32>(shards, FILE, &[], store)?;
        self.summarise(store);
        Ok(())
    }
}
