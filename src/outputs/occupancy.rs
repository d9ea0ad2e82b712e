//! The basin-occupancy observer: occupancy.npy (u64 counts [rows][equilibria + 1]: the
//! trajectories within the radius of each equilibrium, then those outside all of them, after
//! every `every` time units), occupancy.json (the equilibria, the times, the pooled counts and
//! masses) and occupancy.png. Exact integer counts, merged by adding.

use std::ops::Range;

use anyhow::Result;
use serde_json::json;

use super::sweep_part::{Block, SweepPart, SweepView, cell};
use super::{ChunkResults, Findings, Output, Shard, Store};
use crate::io::plot::{self, SweepLine};
use crate::plan::{OccupancyNorm, OccupancyPlan, Plan};

const COUNTS: &str = "occupancy.npy";
const DOC: &str = "occupancy.json";
const PICTURE: &str = "occupancy.png";

/// Most lines on occupancy.png: one per equilibrium up to this many, else one per memory.
const MAX_LINES: usize = 9;

/// What a run's occupancy comes to: the pooled counts per slot (equilibria, then outside).
#[derive(Debug, Clone, PartialEq)]
pub struct OccupancyStats {
    pub labels: Vec<String>,
    /// Per equilibrium, the memory it lies along (None: the origin or a mixture).
    pub memory: Vec<Option<u32>>,
    /// P of the plan.
    pub p: usize,
    /// Pooled counts per slot, then outside.
    pub pooled: Vec<u64>,
    /// Samples pooled: trajectories × pooled rows.
    pub samples: u64,
}

impl OccupancyStats {
    /// Fraction of the pooled samples in slot k (the last slot is outside).
    pub fn mass(&self, k: usize) -> f64 {
        self.pooled[k] as f64 / self.samples.max(1) as f64
    }

    /// Fraction of the pooled samples near ±γ_μ ξ^μ (the equilibria along memory μ).
    pub fn memory_mass(&self, mu: usize) -> f64 {
        (0..self.labels.len()).filter(|&k| self.memory[k] == Some(mu as u32)).map(|k| self.mass(k)).sum()
    }

    /// Memory μ's mass over memory 0's (inf when memory 0 has none and μ has some, NaN when
    /// neither has any).
    pub fn ratio(&self, mu: usize) -> f64 {
        self.memory_mass(mu) / self.memory_mass(0)
    }
}

pub struct Occupancy {
    op: OccupancyPlan,
    p: usize,
    trajectories: u64,
    dt: f64,
    counts: Vec<u64>,
    /// Where the counts sit in a chunk's counters.
    range: Range<usize>,
    title: String,
}

impl Occupancy {
    pub fn new(plan: &Plan, op: &OccupancyPlan) -> Self {
        Occupancy {
            op: op.clone(),
            p: plan.p(),
            trajectories: plan.ensemble.trajectories,
            dt: plan.time.dt_f64,
            counts: vec![0; op.counts()],
            range: plan.observe.occupancy_counters(),
            title: format!("{} — basin occupancy (radius {})", plan.spec.name, op.radius),
        }
    }

    fn write(self, store: &mut Store) -> Result<()> {
        let op = &self.op;
        let (rows, slots) = (op.rows as usize, op.slots());
        store.npy(COUNTS, &[rows as u64, slots as u64], self.counts.clone())?;
        let first = op.first_pooled();
        let mut pooled = vec![0u64; slots];
        for r in first..rows {
            for (k, v) in pooled.iter_mut().enumerate() {
                *v += self.counts[r * slots + k];
            }
        }
        let stats = OccupancyStats {
            labels: op.equilibria.iter().map(|e| e.label.clone()).collect(),
            memory: op.equilibria.iter().map(|e| e.memory.map(|m| m.0)).collect(),
            p: self.p,
            pooled,
            samples: self.trajectories * (rows - first) as u64,
        };
        let times: Vec<f64> = (1..=rows).map(|r| (r as u64 * op.every_steps as u64) as f64 * self.dt).collect();
        let points: Vec<_> = op
            .equilibria
            .iter()
            .map(|e| {
                json!({
                    "label": e.label,
                    "memory": e.memory.map(|m| m.0),
                    "sign": e.memory.map(|m| m.1),
                    "gamma": e.gamma,
                    "x": (e.x.len() <= 16).then_some(&e.x),
                })
            })
            .collect();
        let masses: Vec<f64> = (0..slots).map(|k| stats.mass(k)).collect();
        let summary = json!({
            "pooled_from": op.from_steps as f64 * self.dt,
            "pooled_rows": rows - first,
            "samples": stats.samples,
            "counts": stats.pooled,
            "mass": masses,
            "memory_mass": (0..self.p).map(|mu| stats.memory_mass(mu)).collect::<Vec<_>>(),
        });
        let doc = json!({
            "equilibria": if op.theory { "theory" } else { "memories" },
            "norm": match op.norm { OccupancyNorm::Euclidean => "euclidean", OccupancyNorm::Rms => "rms", OccupancyNorm::Max => "max" },
            "radius": op.radius,
            "points": points,
            "slots": stats.labels.iter().cloned().chain(["outside".to_string()]).collect::<Vec<_>>(),
            "every_steps": op.every_steps,
            "times": times,
            "trajectories": self.trajectories,
            "pooled": summary,
        });
        store.json(DOC, doc)?;
        store.summaries.insert("occupancy".into(), summary);
        // Lines: each equilibrium (or each memory's pair when there are many), then outside.
        let frac = |r: usize, ks: &[usize]| ks.iter().map(|&k| self.counts[r * slots + k]).sum::<u64>() as f64;
        let groups: Vec<(String, Vec<usize>)> = if op.equilibria.len() <= MAX_LINES {
            op.equilibria.iter().enumerate().map(|(k, e)| (e.label.clone(), vec![k])).collect()
        } else {
            (0..self.p.min(MAX_LINES))
                .map(|mu| {
                    (format!("±xi{mu}"), (0..slots - 1).filter(|&k| stats.memory[k] == Some(mu as u32)).collect())
                })
                .collect()
        };
        let lines: Vec<SweepLine> = groups
            .iter()
            .cloned()
            .chain([("outside".to_string(), vec![slots - 1])])
            .map(|(label, ks)| SweepLine {
                label,
                points: (0..rows)
                    .map(|r| {
                        let y = frac(r, &ks) / self.trajectories.max(1) as f64;
                        (times[r], y, y, y)
                    })
                    .collect(),
            })
            .collect();
        store.findings.put(stats);
        let title = &self.title;
        store.picture(PICTURE, |f| {
            plot::sweep_png(f, title, "time", "fraction of trajectories within the radius", &lines, true, &[])
        })
    }
}

impl Output for Occupancy {
    fn chunk(&mut self, c: &ChunkResults) -> Result<()> {
        let counts = c.counts(self.range.clone());
        anyhow::ensure!(
            counts.len() == self.counts.len(),
            "internal error: {} occupancy counts, expected {}",
            counts.len(),
            self.counts.len()
        );
        for (a, b) in self.counts.iter_mut().zip(counts) {
            *a += b;
        }
        Ok(())
    }

    fn finish(self: Box<Self>, store: &mut Store) -> Result<()> {
        self.write(store)
    }

    fn merge(mut self: Box<Self>, shards: &[Shard], store: &mut Store) -> Result<()> {
        let shape = [self.op.rows as u64, self.op.slots() as u64];
        for s in shards {
            let c = s.read_shaped::<u64>(COUNTS, &shape)?;
            for (row, chunk) in c.chunks(self.op.slots()).enumerate() {
                if chunk.iter().try_fold(0u64, |t, &v| t.checked_add(v)) != Some(s.count) {
                    return Err(crate::error::UsageError::new(crate::error::Input::Dir, format!(
                        "{}: {COUNTS} row {row} does not add up to the shard's {} trajectories; the shard is damaged, rerun it",
                        s.dir.display(),
                        s.count
                    ))
                    .into());
                }
            }
            for (a, b) in self.counts.iter_mut().zip(&c) {
                *a += b;
            }
        }
        self.write(store)
    }
}

/// Occupancy's share of a sweep (nothing unless a point observes occupancy): sweep.csv's pooled
/// mass near each equilibrium (by label, over every point's equilibria) and outside, per memory
/// (±γ_μ ξ^μ together), and each memory's mass over memory 0's; sweep_occupancy.png.
pub struct OccupancySweep;

const SWEEP_PICTURE: &str = "sweep_occupancy.png";

/// The labels of every point's equilibria (in order of first appearance) and the largest P of
/// the points that observe occupancy; None when none does.
fn labels_and_p(sweep: &dyn SweepView) -> Option<(Vec<String>, usize)> {
    let mut labels: Vec<String> = Vec::new();
    let mut p = None;
    for i in 0..sweep.points() {
        let plan = sweep.plan(i);
        if let Some(o) = &plan.observe.occupancy {
            p = Some(p.unwrap_or(0).max(plan.p()));
            for e in &o.equilibria {
                if !labels.contains(&e.label) {
                    labels.push(e.label.clone());
                }
            }
        }
    }
    p.map(|p| (labels, p))
}

impl SweepPart for OccupancySweep {
    fn files(&self) -> &'static [&'static str] {
        &[SWEEP_PICTURE]
    }

    fn csv(&self, sweep: &dyn SweepView) -> Block {
        let Some((labels, p)) = labels_and_p(sweep) else { return Block::default() };
        let name = |l: &str| format!("occupancy_{}", l.replace('+', "plus_").replace('-', "minus_"));
        let mut head: Vec<String> = labels.iter().map(|l| name(l)).collect();
        head.push("occupancy_outside".into());
        head.extend((0..p).map(|mu| format!("occupancy_memory{mu}")));
        head.extend((1..p).map(|mu| format!("occupancy_ratio_memory{mu}_memory0")));
        let rows = (0..sweep.points())
            .map(|i| {
                let s = sweep.findings(i).and_then(|f| f.get::<OccupancyStats>());
                let mut row: Vec<String> = labels
                    .iter()
                    .map(|l| cell(s.and_then(|s| s.labels.iter().position(|m| m == l).map(|k| s.mass(k)))))
                    .collect();
                row.push(cell(s.map(|s| s.mass(s.labels.len()))));
                row.extend((0..p).map(|mu| cell(s.filter(|s| mu < s.p).map(|s| s.memory_mass(mu)))));
                row.extend((1..p).map(|mu| cell(s.filter(|s| mu < s.p).map(|s| s.ratio(mu)))));
                row
            })
            .collect();
        Block { head, rows }
    }

    /// sweep_occupancy.png: the pooled occupancy mass of each memory (and outside) against the
    /// first numeric axis, one line per memory and combination of the other axes, with its
    /// paragraph; nothing when no point observes occupancy or no axis is numeric.
    fn notes(&self, sweep: &dyn SweepView) -> Result<Option<String>> {
        let Some((_, p)) = labels_and_p(sweep) else { return Ok(None) };
        let mut all = Vec::new();
        let mut xa = None;
        for k in 0..=p.min(8) {
            let outside = k == p.min(8);
            let measure = move |_: &Plan, f: &Findings| -> Option<(f64, f64, f64)> {
                let o = f.get::<OccupancyStats>()?;
                let y = if outside { o.mass(o.labels.len()) } else { (k < o.p).then(|| o.memory_mass(k))? };
                Some((y, y, y))
            };
            let Some((x, lines)) = sweep.lines(&measure) else { return Ok(None) };
            xa = Some(x);
            let what = if outside { "outside".to_string() } else { format!("memory {k}") };
            all.extend(lines.into_iter().map(|mut l| {
                l.label = if l.label == "all points" { what.clone() } else { format!("{what}, {}", l.label) };
                l
            }));
        }
        let Some(xa) = xa else { return Ok(None) };
        let title = format!("{}: pooled basin occupancy", sweep.name());
        sweep.draw(SWEEP_PICTURE, &title, "fraction of samples", xa, &all, true)?;
        Ok(Some(format!(
            "\nBasin occupancy: the pooled fraction of samples within the radius of ±γ_μ ξ^μ (each memory's two equilibria together; occupancy_* columns of sweep.csv).\n\n![occupancy]({SWEEP_PICTURE})\n"
        )))
    }
}
