//! `idpsim run`: one run, one shard of a run, or every point of a sweep, through [`crate::job`];
//! this module turns the flags into a job and prints what happened.

use anyhow::Result;

use super::args::{RunArgs, load_spec};
use crate::engine::{self, Bar, RunSummary};
use crate::error::{Input, UsageError};
use crate::job::{self, Job, Options, RunOutcome, SweepWatch};
use crate::plan::Plan;
use crate::stats::retrieval::RetrievalStats;
use crate::sweep::{self, Point};

pub use crate::job::open_backend;

/// The job the flags describe.
fn job_of(a: &RunArgs) -> Result<Job> {
    let (spec, base) = load_spec(a.source.spec.as_deref(), a.source.preset.as_deref())?;
    Ok(Job {
        spec,
        base,
        options: options(a),
        out: a.out.clone(),
        force: a.force,
        shard: shard_of(a.shard.as_deref())?,
        checkpoint_every: a.checkpoint_every,
    })
}

/// The run flags that override spec values.
pub fn options(a: &RunArgs) -> Options {
    Options { backend: a.backend.clone(), adapter: a.adapter.clone(), trajectories: a.trajectories, seed: a.seed }
}

pub fn cmd_run(a: &RunArgs) -> Result<()> {
    if let Some(dir) = &a.resume {
        let (plan, summary) = job::resume(dir, &mut Bar::pausing(a.quiet))?;
        report(&plan, &summary, a.quiet);
        return Ok(());
    }
    let job = job_of(a)?;
    if job.is_sweep() {
        return run_sweep(&job, a.quiet);
    }
    let mut bar = if job.checkpoint_every.is_some() { Bar::pausing(a.quiet) } else { Bar::new(a.quiet) };
    match job.run(&mut bar)? {
        RunOutcome::Written(summary) => report(&job.plan()?, &summary, a.quiet),
        RunOutcome::AlreadyThere => eprintln!(
            "{}: {} already holds this run, complete and intact (checked against its manifest); nothing to do",
            job.spec.name,
            a.out.as_deref().expect("clap requires --out without --resume").display()
        ),
        RunOutcome::InMemory { .. } => unreachable!("clap requires --out"),
    }
    Ok(())
}

/// The summary line of a finished run.
fn report(plan: &Plan, summary: &RunSummary, quiet: bool) {
    if !quiet {
        eprintln!(
            "{}: {} trajectories × {} steps on {} in {:.2} s ({:.3e} neuron-steps/s); wrote {} files to {}",
            plan.spec.name,
            plan.ensemble.trajectories,
            plan.time.total_steps,
            summary.adapter,
            summary.wall_s,
            summary.neuron_steps_per_s,
            summary.files.len(),
            summary.out.display()
        );
        if let Some(r) = summary.findings.get::<RetrievalStats>() {
            let (acc, se) = r.overall();
            eprintln!("retrieval accuracy {acc:.4} ± {se:.4} (see retrieval.json)");
        }
    }
}

/// A sweep on the command line: a line per point unless `quiet` (no progress bar).
struct PointLines {
    quiet: bool,
}

impl engine::Watch for PointLines {
    fn progress(&mut self, _done: u64, _total: u64) -> Result<()> {
        Ok(crate::interrupt::check()?)
    }
}

impl SweepWatch for PointLines {
    fn point_ends(&mut self, point: &Point, count: usize, what: &str, outcome: &Result<RunSummary>) {
        if self.quiet {
            return;
        }
        match outcome {
            Ok(s) => eprintln!(
                "point {}/{count} ({what}): {}{:.2} s, {:.3e} neuron-steps/s",
                point.index + 1,
                s.findings.get::<RetrievalStats>().map_or(String::new(), |r| {
                    let (a, se) = r.overall();
                    format!("accuracy {a:.4} ± {se:.4}, ")
                }),
                s.wall_s,
                s.neuron_steps_per_s
            ),
            Err(e) => eprintln!("point {}/{count} ({what}): FAILED: {e:#}", point.index + 1),
        }
    }
}

/// Runs every point of a sweep spec into sub-directories of --out (see `crate::sweep`).
fn run_sweep(job: &Job, quiet: bool) -> Result<()> {
    let out = job.out.as_deref().expect("clap requires --out without --resume");
    let done = job.run_sweep(&mut PointLines { quiet })?;
    let total = done.results.len();
    if done.failed > 0 {
        anyhow::bail!("{} of {total} sweep points failed (see {})", done.failed, out.join(sweep::CSV).display());
    }
    if !quiet {
        let wrote: Vec<&str> =
            crate::outputs::manifest::sweep_files().into_iter().filter(|f| out.join(f).exists()).collect();
        eprintln!(
            "{}: {total} sweep points in {:.1} s; wrote {} to {}",
            done.name,
            done.wall_s,
            wrote.join(", "),
            out.display()
        );
    }
    Ok(())
}

/// The shard to run: `--shard I/N`, or `--shard slurm` (the array task's index of the array's
/// task count, refused unless the array is exactly tasks 0..N−1); none without `--shard` (the
/// environment is never read silently).
fn shard_of(flag: Option<&str>) -> Result<Option<(u64, u64)>> {
    let Some(f) = flag else { return Ok(None) };
    if f.trim() == "slurm" {
        return slurm_shard().map(Some);
    }
    let parsed = f.split_once('/').and_then(|(i, n)| Some((i.trim().parse().ok()?, n.trim().parse().ok()?)));
    match parsed {
        Some(s) => Ok(Some(s)),
        None => Err(UsageError::new(
            Input::Shard,
            format!("'{f}' is not I/N (e.g. 0/4 for the first of four shards) or \"slurm\""),
        )
        .into()),
    }
}

/// `--shard slurm`: SLURM_ARRAY_TASK_ID of SLURM_ARRAY_TASK_COUNT, for an array of exactly the
/// tasks 0..N−1. A resubmitted task (`--array=2`) has a count of 1, which would run the whole
/// ensemble into one shard's directory: that is refused, pointing to `--shard I/N`.
fn slurm_shard() -> Result<(u64, u64)> {
    let var = |k: &str| -> Result<u64> {
        let v = std::env::var(k).map_err(|_| {
            UsageError::new(Input::Shard, format!("slurm: {k} is not set; is this a Slurm array task?"))
        })?;
        v.trim()
            .parse()
            .map_err(|_| UsageError::new(Input::Shard, format!("slurm: {k} is '{v}', not a task number")).into())
    };
    let (id, count, min, max) = (
        var("SLURM_ARRAY_TASK_ID")?,
        var("SLURM_ARRAY_TASK_COUNT")?,
        var("SLURM_ARRAY_TASK_MIN")?,
        var("SLURM_ARRAY_TASK_MAX")?,
    );
    if min != 0 || max + 1 != count || id > max || count < 2 {
        return Err(UsageError::new(Input::Shard, format!(
            "slurm: this array has tasks {min}..{max} ({count} in all, this one {id}), not exactly 0..N−1, so the shard count is unknown (a resubmitted task?); pass it explicitly: --shard {id}/N"
        ))
        .into());
    }
    log::info!("Slurm array task {id} of {count}");
    Ok((id, count))
}
