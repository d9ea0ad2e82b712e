//! The retrieval observer's outputs: retrieval.json (accuracy, fractions, confusion),
//! retrieved.npy and retrieved_sign.npy [M, S] (the memory each trajectory retrieved at each
//! segment's end, −1 for none, and the overlap's sign), retrieval_targets.npy [M, S] (each
//! segment's target, −1 for none) and retrieval_sums.npy (exact sums merge adds up).

use crate::error::{Input, UsageError};
use anyhow::Result;
use serde_json::json;

use super::store::concat;
use super::{ChunkResults, Column, Output, Shard, Store};
use crate::model::input::segment_target;
use crate::plan::Plan;
use crate::stats::retrieval::{RetrievalStats, retrieved, window_mean};

const DOC: &str = "retrieval.json";
const RETRIEVED: &str = "retrieved.npy";
const SIGNS: &str = "retrieved_sign.npy";
const TARGETS: &str = "retrieval_targets.npy";
const SUMS: &str = "retrieval_sums.npy";

pub struct Retrieval {
    plan: Plan,
    stats: RetrievalStats,
    retrieved: Column<i32>,
    signs: Column<i8>,
    targets: Column<i32>,
    raw: Option<Vec<f32>>,
}

impl Retrieval {
    pub fn new(plan: &Plan, store: &Store) -> Result<Self> {
        let shape = [plan.ensemble.trajectories, plan.input.segments.len() as u64];
        Ok(Retrieval {
            plan: plan.clone(),
            stats: RetrievalStats::new(plan),
            retrieved: store.column(RETRIEVED, &shape)?,
            signs: store.column(SIGNS, &shape)?,
            targets: store.column(TARGETS, &shape)?,
            raw: store.in_memory().then(Vec::new),
        })
    }
}

/// Refuses a shard whose retrieved memories or targets (what the counts index) are not memories
/// of this run or −1, or whose signs do not go with them, naming the file and the entry:
/// whatever its manifest says, a value read from disk indexes nothing unchecked.
fn check_indices(sh: &Shard, p: usize, s: usize, got: &[i32], tg: &[i32], sg: &[i8]) -> Result<()> {
    let at = |k: usize| format!("trajectory {}, segment {}", sh.first + (k / s) as u64, k % s);
    let memory = |v: i32| (-1..p as i64).contains(&(v as i64));
    for (file, values) in [(RETRIEVED, got), (TARGETS, tg)] {
        if let Some(k) = values.iter().position(|&v| !memory(v)) {
            return Err(UsageError::new(Input::Dir, format!(
                "{}: {file} holds {} at {}; this run has memories 0 to {} (−1 for none): the shard is damaged, rerun it",
                sh.dir.display(),
                values[k],
                at(k),
                p - 1
            ))
            .into());
        }
    }
    if let Some(k) = (0..got.len()).find(|&k| !matches!((got[k], sg[k]), (-1, 0) | (0.., -1 | 1))) {
        return Err(UsageError::new(
            Input::Dir,
            format!(
                "{}: {SIGNS} holds {} at {}, where {RETRIEVED} holds {}: the shard is damaged, rerun it",
                sh.dir.display(),
                sg[k],
                at(k),
                got[k]
            ),
        )
        .into());
    }
    Ok(())
}

/// The retrieval summary in run.json.
pub fn summary(r: &RetrievalStats) -> serde_json::Value {
    let (acc, se) = r.overall();
    json!({
        "accuracy": acc,
        "accuracy_stderr": se,
        "per_segment": (0..r.segments.len()).map(|k| r.accuracy(k)).collect::<Vec<_>>(),
    })
}

impl Output for Retrieval {
    fn chunk(&mut self, c: &ChunkResults) -> Result<()> {
        let plan = &self.plan;
        let r = plan.observe.retrieval.expect("a retrieval plan");
        let (p, s, ob) = (plan.p(), plan.input.segments.len(), plan.obs_per_trajectory());
        let (mut tg, mut got_all, mut signs) = (Vec::new(), Vec::new(), Vec::new());
        for j in 0..c.count() {
            let row = &c.observations[j * ob..(j + 1) * ob];
            let traj = c.first() + j as u64;
            let means = window_mean(&row[..s * p], r.window_steps);
            let targets: Vec<Option<u32>> = (0..s).map(|k| segment_target(plan, k, traj)).collect();
            let got: Vec<Option<(u32, i8)>> =
                (0..s).map(|k| retrieved(&means[k * p..(k + 1) * p], r.threshold)).collect();
            for k in 0..s {
                tg.push(targets[k].map_or(-1, |t| t as i32));
                got_all.push(got[k].map_or(-1, |g| g.0 as i32));
                signs.push(got[k].map_or(0, |g| g.1));
            }
            self.stats.add(&means, &targets, &got).map_err(|e| {
                anyhow::anyhow!("the retrieval observer's exact sums cannot hold trajectory {traj}'s overlaps: {e}")
            })?;
        }
        self.targets.push(&tg)?;
        self.retrieved.push(&got_all)?;
        self.signs.push(&signs)?;
        if let Some(raw) = self.raw.as_mut() {
            raw.extend_from_slice(&c.observations);
        }
        Ok(())
    }

    fn finish(self: Box<Self>, store: &mut Store) -> Result<()> {
        let st = self.stats;
        store.json(DOC, st.to_json())?;
        store.close(RETRIEVED, self.retrieved)?;
        store.close(SIGNS, self.signs)?;
        store.close(TARGETS, self.targets)?;
        let (s, p) = (self.plan.input.segments.len() as u64, self.plan.p() as u64);
        store.npy(SUMS, &[s, p + 1, 2], st.sums_words())?;
        if let Some(raw) = self.raw {
            store.keep("observations", &[self.plan.ensemble.trajectories, self.plan.obs_per_trajectory() as u64], raw);
        }
        store.summaries.insert("retrieval".into(), summary(&st));
        store.retrieval = Some(st);
        Ok(())
    }

    fn merge(mut self: Box<Self>, shards: &[Shard], store: &mut Store) -> Result<()> {
        // The merged arrays are concatenated from the shards' files instead.
        drop((self.retrieved.take(), self.signs.take(), self.targets.take()));
        let (s, p) = (self.plan.input.segments.len(), self.plan.p());
        for sh in shards {
            let shape = [sh.count, s as u64];
            let got: Vec<i32> = sh.read_shaped(RETRIEVED, &shape)?;
            let tg: Vec<i32> = sh.read_shaped(TARGETS, &shape)?;
            let sg: Vec<i8> = sh.read_shaped(SIGNS, &shape)?;
            check_indices(sh, p, s, &got, &tg, &sg)?;
            let opt = |v: i32| (v >= 0).then_some(v as u32);
            for j in 0..sh.count as usize {
                let targets: Vec<Option<u32>> = tg[j * s..(j + 1) * s].iter().map(|&v| opt(v)).collect();
                let res: Vec<Option<(u32, i8)>> =
                    (0..s).map(|k| opt(got[j * s + k]).map(|g| (g, sg[j * s + k]))).collect();
                self.stats.count(&targets, &res);
            }
            self.stats.add_sums_words(&sh.read_shaped::<u64>(SUMS, &[s as u64, p as u64 + 1, 2])?).map_err(|e| {
                UsageError::new(Input::Dir, format!("{}: its {SUMS} cannot be added exactly: {e}", sh.dir.display()))
            })?;
        }
        let st = std::mem::replace(&mut self.stats, RetrievalStats::new(&self.plan));
        store.json(DOC, st.to_json())?;
        for (file, i8s) in [(RETRIEVED, false), (SIGNS, true), (TARGETS, false)] {
            if i8s {
                concat::<i8>(shards, file, &[s as u64], store)?;
            } else {
                concat::<i32>(shards, file, &[s as u64], store)?;
            }
        }
        store.npy(SUMS, &[s as u64, p as u64 + 1, 2], st.sums_words())?;
        store.summaries.insert("retrieval".into(), summary(&st));
        store.retrieval = Some(st);
        Ok(())
    }
}
