//! first_passage.npy [M]: the first time abs(m_memory) reached the threshold (NaN for never),
//! with exact quantiles in run.json; first_passage_steps.npy [M] holds the same as step counts
//! (u32, 4294967295 for never), which merge reads (f32 times are exact only up to 2^24 steps).

use crate::error::{Input, UsageError};
use anyhow::Result;

use super::store::concat;
use super::sweep_part::{Block, LinePicture, SweepPart, SweepView, cell};
use super::{ChunkResults, Column, Findings, Output, Shard, Store};
use crate::plan::{NO_STEP, Plan};
use crate::stats::retrieval::{PassageStats, passage_time};

const FILE: &str = "first_passage.npy";
const STEPS: &str = "first_passage_steps.npy";

pub struct FirstPassage {
    plan: Plan,
    stats: PassageStats,
    times: Column<f32>,
    steps: Column<u32>,
    raw: Option<Vec<f32>>,
}

impl FirstPassage {
    pub fn new(plan: &Plan, store: &Store) -> Result<Self> {
        Ok(FirstPassage {
            plan: plan.clone(),
            stats: PassageStats::default(),
            times: store.column(FILE, &[plan.ensemble.trajectories])?,
            steps: store.column(STEPS, &[plan.ensemble.trajectories])?,
            // The raw observer values are kept by the retrieval output when there is one.
            raw: (store.in_memory() && plan.observe.retrieval.is_none()).then(Vec::new),
        })
    }

    fn summarise(self, store: &mut Store) {
        let fp = self.plan.observe.first_passage.expect("a first-passage plan");
        store
            .summaries
            .insert("first_passage".into(), self.stats.summary(fp.memory, fp.threshold, self.plan.time.dt_f64));
        store.findings.put(self.stats);
    }
}

impl Output for FirstPassage {
    fn chunk(&mut self, c: &ChunkResults) -> Result<()> {
        let (ob, at) = (self.plan.obs_per_trajectory(), self.plan.input.segments.len() * self.plan.p());
        let (mut times, mut steps) = (Vec::with_capacity(c.count()), Vec::with_capacity(c.count()));
        for j in 0..c.count() {
            let step = c.observations[j * ob + at].to_bits();
            times.push(passage_time(step, self.plan.time.dt_f64));
            steps.push(step);
            self.stats.add(step);
        }
        if let Some(raw) = self.raw.as_mut() {
            raw.extend_from_slice(&c.observations);
        }
        self.steps.push(&steps)?;
        self.times.push(&times)
    }

    fn finish(mut self: Box<Self>, store: &mut Store) -> Result<()> {
        store.close(FILE, self.times.take())?;
        store.close(STEPS, self.steps.take())?;
        if let Some(raw) = self.raw.take() {
            store.keep("observations", &[self.plan.ensemble.trajectories, self.plan.obs_per_trajectory() as u64], raw);
        }
        self.summarise(store);
        Ok(())
    }

    fn merge(mut self: Box<Self>, shards: &[Shard], store: &mut Store) -> Result<()> {
        drop((self.times.take(), self.steps.take()));
        let total = self.plan.time.total_steps;
        for s in shards {
            for (j, step) in s.read_shaped::<u32>(STEPS, &[s.count])?.into_iter().enumerate() {
                if step > total && step != NO_STEP {
                    return Err(UsageError::new(Input::Dir, format!(
                        "{}: {STEPS} holds step {step} at trajectory {}; this run has {total} steps: the shard is damaged, rerun it",
                        s.dir.display(),
                        s.first + j as u64
                    ))
                    .into());
                }
                self.stats.add(step);
            }
        }
        concat::<f32>(shards, FILE, &[], store)?;
        concat::<u32>(shards, STEPS, &[], store)?;
        self.summarise(store);
        Ok(())
    }
}

/// Median first passage with the 25–75 % quantiles (only where at least 75 % pass).
pub fn passage(plan: &Plan, f: &Findings) -> Option<(f64, f64, f64)> {
    let ps = f.get::<PassageStats>()?;
    let t = |q: f64| ps.quantile_step(q).map(|st| st as f64 * plan.time.dt_f64);
    Some((t(0.5)?, t(0.25)?, t(0.75)?))
}

/// The first passages' share of a sweep: the median time and the fraction that passed, their
/// picture and the report's median column.
pub struct PassageSweep;

/// A point's median first passage (its time), if half of its trajectories passed; rounded to
/// 12 significant digits, so that 332 steps of 0.01 read 3.32, not 3.3200000000000003.
fn median(plan: &Plan, found: &Findings) -> Option<f64> {
    let ps = found.get::<PassageStats>()?;
    ps.quantile_step(0.5).map(|st| format!("{:.11e}", st as f64 * plan.time.dt_f64).parse().unwrap_or(f64::NAN))
}

impl SweepPart for PassageSweep {
    fn files(&self) -> &'static [&'static str] {
        &["sweep_first_passage.png"]
    }

    fn csv(&self, sweep: &dyn SweepView) -> Block {
        let rows = (0..sweep.points())
            .map(|i| match sweep.findings(i) {
                Some(found) => {
                    let ps = found.get::<PassageStats>();
                    let reached = ps.map(|x| {
                        let total = x.counts.values().sum::<u64>() + x.never;
                        (total - x.never) as f64 / total.max(1) as f64
                    });
                    vec![cell(median(sweep.plan(i), found)), cell(reached)]
                }
                None => vec![String::new(); 2],
            })
            .collect();
        Block { head: vec!["first_passage_median".into(), "first_passage_reached".into()], rows }
    }

    fn pictures(&self, sweep: &dyn SweepView) -> Vec<LinePicture> {
        let name = sweep.name();
        let title = match sweep.networks() {
            None => format!("{name}: median first passage (bars: 25–75 % quantiles)"),
            Some(k) => format!("{name}: median first passage, mean over {k} networks (± 1 s.e. over networks)"),
        };
        vec![LinePicture {
            file: "sweep_first_passage.png",
            alt: "first passage",
            title,
            y_desc: "time",
            measure: Box::new(passage),
            unit: false,
        }]
    }

    fn table(&self, sweep: &dyn SweepView) -> Block {
        let rows = (0..sweep.points())
            .map(|i| {
                vec![
                    sweep
                        .findings(i)
                        .and_then(|found| median(sweep.plan(i), found))
                        .map_or("—".into(), |t| format!("{t:.2}")),
                ]
            })
            .collect();
        Block { head: vec!["median first passage".into()], rows }
    }
}
