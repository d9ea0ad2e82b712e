//! The retrieval observer's outputs: retrieval.json (accuracy, fractions, confusion),
//! retrieved.npy and retrieved_sign.npy [M, S] (the memory each trajectory retrieved at each
//! segment's end, −1 for none, and the overlap's sign), retrieval_targets.npy [M, S] (each
//! segment's target, −1 for none) and retrieval_sums.npy (exact sums merge adds up).

use crate::error::{Input, UsageError};
use anyhow::Result;
use serde_json::json;

use super::store::concat;
use super::sweep_part::{Block, Heat, LinePicture, Measure, SweepPart, SweepView, cell};
use super::{ChunkResults, Column, Findings, Output, Shard, Store};
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
        store.findings.put(st);
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
        store.findings.put(st);
        Ok(())
    }
}

/// Accuracy ± 2 standard errors (≈ 95 %).
pub fn accuracy(_: &Plan, f: &Findings) -> Option<(f64, f64, f64)> {
    let (acc, se) = f.get::<RetrievalStats>()?.overall();
    Some((acc, (acc - 2.0 * se).max(0.0), (acc + 2.0 * se).min(1.0)))
}

/// Mean final abs(m) of the target in the last segment (no error bar).
pub fn final_overlap(_: &Plan, f: &Findings) -> Option<(f64, f64, f64)> {
    let seg = f.get::<RetrievalStats>()?.segments.last()?;
    (seg.with_target > 0).then(|| {
        let m = crate::stats::from_fixed(seg.sum_abs_target) / seg.with_target as f64;
        (m, m, m)
    })
}

/// The columns a sweep with replicate networks adds after `accuracy_stderr`: over the networks
/// of the row's point (the rows that differ only in `replicate`), how many finished, and the mean
/// and standard error of their accuracies and of their mean final abs(m) of the target.
pub const NETWORK_COLUMNS: [&str; 5] = [
    "networks",
    "accuracy_networks_mean",
    "accuracy_networks_stderr",
    "final_abs_m_target_networks_mean",
    "final_abs_m_target_networks_stderr",
];

/// Retrieval's share of a sweep: accuracy (overall, over networks, per segment), the final
/// overlap of the target and the fraction retrieving each memory in the last segment; the
/// accuracy and overlap pictures and heat maps; the report's accuracy columns.
pub struct RetrievalSweep;

/// The most segments and the largest P over a sweep's points.
fn widest(sweep: &dyn SweepView) -> (usize, usize) {
    let plans = (0..sweep.points()).map(|i| sweep.plan(i));
    let segs = plans.clone().map(|p| p.input.segments.len()).max().unwrap_or(0);
    (segs, plans.map(Plan::p).max().unwrap_or(0))
}

impl SweepPart for RetrievalSweep {
    fn files(&self) -> &'static [&'static str] {
        &["sweep.png", "sweep_overlap.png", "sweep_heatmap.png"]
    }

    fn csv(&self, sweep: &dyn SweepView) -> Block {
        let (segs, p) = widest(sweep);
        let mut head: Vec<String> = ["accuracy", "accuracy_stderr"].map(String::from).to_vec();
        let networks = (sweep.over_networks(&accuracy)).zip(sweep.over_networks(&final_overlap));
        if networks.is_some() {
            head.extend(NETWORK_COLUMNS.map(String::from));
        }
        head.extend((0..segs).map(|k| format!("accuracy_segment{k}")));
        head.push("final_abs_m_target".into());
        head.extend((0..p).map(|mu| format!("fraction_memory{mu}")));
        head.push("fraction_none".into());
        let rows = (0..sweep.points())
            .map(|i| {
                let plan = sweep.plan(i);
                let mut row = match sweep.findings(i) {
                    Some(found) => {
                        let ret = found.get::<RetrievalStats>();
                        let (acc, se) = ret.map(|x| x.overall()).unzip();
                        let mut row = vec![cell(acc), cell(se)];
                        for k in 0..segs {
                            row.push(cell(ret.filter(|x| k < x.segments.len()).and_then(|x| x.accuracy(k))));
                        }
                        let last = ret.and_then(|x| x.segments.last());
                        row.push(cell(final_overlap(plan, found).map(|v| v.0)));
                        let m = plan.ensemble.trajectories as f64;
                        for mu in 0..p {
                            row.push(cell(
                                last.and_then(|l| l.retrieved.get(mu).filter(|_| mu < plan.p())).map(|&c| c as f64 / m),
                            ));
                        }
                        row.push(cell(last.map(|l| l.retrieved[plan.p()] as f64 / m)));
                        row
                    }
                    None => vec![String::new(); 2 + segs + 1 + p + 1],
                };
                if let Some((acc, overlap)) = &networks {
                    let mut net = vec![acc[i].0.to_string()];
                    for v in [acc[i].1, overlap[i].1] {
                        net.push(cell(v.map(|m| m.0)));
                        net.push(cell(v.and_then(|m| m.1)));
                    }
                    row.splice(2..2, net);
                }
                row
            })
            .collect();
        Block { head, rows }
    }

    fn setup(&self, first: &Plan) -> Option<String> {
        let r = first.observe.retrieval?;
        Some(format!(
            "Retrieval: a trajectory retrieves memory μ at a segment's end when abs(m_μ), averaged over the last {} time units, is the largest overlap and at least {}; accuracy is the fraction of (trajectory, segment) pairs retrieving the segment's dominant memory, averaged over trajectories, with its standard error.\n\n",
            r.window_steps as f64 * first.time.dt_f64,
            r.threshold
        ))
    }

    fn pictures(&self, sweep: &dyn SweepView) -> Vec<LinePicture> {
        let name = sweep.name();
        let (acc_title, overlap_title) = match sweep.networks() {
            None => (
                format!("{name}: retrieval accuracy (± 2 standard errors)"),
                format!("{name}: mean final |m| of the target"),
            ),
            Some(k) => (
                format!("{name}: retrieval accuracy, mean over {k} networks (± 1 standard error over networks)"),
                format!("{name}: mean final |m| of the target, mean over {k} networks (± 1 s.e. over networks)"),
            ),
        };
        vec![
            LinePicture {
                file: "sweep.png",
                alt: "accuracy",
                title: acc_title,
                y_desc: "accuracy",
                measure: Box::new(accuracy),
                unit: true,
            },
            LinePicture {
                file: "sweep_overlap.png",
                alt: "mean final overlap",
                title: overlap_title,
                y_desc: "mean final |m|",
                measure: Box::new(final_overlap),
                unit: true,
            },
        ]
    }

    fn heat(&self) -> Option<Heat> {
        Some(Heat {
            file: "sweep_heatmap.png",
            what: "retrieval",
            measures: [Box::new(accuracy), Box::new(final_overlap)],
        })
    }

    fn over_networks(&self) -> Vec<(&'static str, Box<Measure>)> {
        vec![
            ("accuracy over networks ± s.e.", Box::new(accuracy)),
            ("final abs(m) of the target over networks ± s.e.", Box::new(final_overlap)),
        ]
    }

    fn table(&self, sweep: &dyn SweepView) -> Block {
        let segs = widest(sweep).0;
        let mut head = vec!["accuracy ± s.e.".to_string()];
        if segs > 1 {
            head.extend((0..segs).map(|k| format!("segment {k}")));
        }
        let rows = (0..sweep.points())
            .map(|i| {
                let Some(found) = sweep.findings(i) else { return vec!["—".to_string(); head.len()] };
                let ret = found.get::<RetrievalStats>();
                let mut row = vec![ret.map_or("—".into(), |x| {
                    let (a, se) = x.overall();
                    format!("{a:.4} ± {se:.4}")
                })];
                if segs > 1 {
                    for k in 0..segs {
                        row.push(
                            ret.filter(|x| k < x.segments.len())
                                .and_then(|x| x.accuracy(k))
                                .map_or("—".into(), |a| format!("{a:.3}")),
                        );
                    }
                }
                row
            })
            .collect();
        Block { head, rows }
    }
}
