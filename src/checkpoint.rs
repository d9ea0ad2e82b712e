//! Checkpoints (`run --checkpoint-every T`, `run --resume DIR`; docs/ARCHITECTURE.md,
//! "Checkpoints"). A checkpointed run keeps in `DIR/.checkpoint/`:
//!
//! - `chunk-K/`: chunk K's outputs, finished as a shard of the run (arrays and documents with
//!   their manifest, no pictures); the run's files are merged from them at the end, exactly as
//!   `idpsim merge` puts shards together, so the bytes are those of an uninterrupted run;
//! - `state-K-S/`: the chunk in flight after S steps: the backend's state and observer values,
//!   and the chunk's results so far (its exact ensemble sums, per-trajectory saves and counts);
//! - `checkpoint.json`, replaced atomically after either was written: the spec as run and its
//!   digest, the backend and device, the chunks, how many are finished and which state is
//!   current, with the size and SHA-256 of every state file.
//!
//! Every finished chunk and every state records the spec digest too, and a resumed run checks
//! the whole checkpoint (each field of the record, as a spec is checked, and every file of
//! every chunk and state) before it integrates anything.
//!
//! The counter-based random numbers depend only on (trajectory, step, stream), so integration
//! goes on from a state exactly as it would have without stopping.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::backend::{Chunk, ChunkResults, ChunkState, same_device};
use crate::error::{Input, UsageError, mention};
use crate::io;
use crate::outputs::{Shard, Store, manifest};
use crate::plan::{BLOCK, Plan};
use crate::stats::SUMS;

/// The checkpoint folder inside a run directory.
pub const DIR: &str = manifest::CHECKPOINT_DIR;
/// Its record.
pub const RECORD: &str = "checkpoint.json";
/// What a state folder records of itself: the spec digest, the chunk and the step.
const STATE_RECORD: &str = "state.json";

/// The checkpoint folder of run directory `out`.
pub fn folder(out: &Path) -> PathBuf {
    out.join(DIR)
}

/// Whether `out` holds a checkpoint to resume.
pub fn exists(out: &Path) -> bool {
    folder(out).join(RECORD).is_file()
}

/// Removes `out`'s checkpoint, if any.
pub fn clear(out: &Path) -> Result<()> {
    let f = folder(out);
    if f.exists() {
        std::fs::remove_dir_all(&f).with_context(|| format!("cannot remove {}", f.display()))?;
    }
    Ok(())
}

/// The chunk in flight, as checkpoint.json records it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StateRecord {
    pub chunk: usize,
    pub step: u32,
    pub dir: String,
    /// Size and SHA-256 of each state file.
    pub manifest: Map<String, Value>,
}

/// What checkpoint.json holds.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Record {
    pub version: String,
    /// [`crate::SOURCES_SHA256`] of the build that started the run (empty in checkpoints of
    /// builds before it was recorded).
    #[serde(default)]
    pub build: String,
    /// The spec as run (what run.json records).
    pub spec: Value,
    /// [`manifest::spec_digest`] of `spec`, which every finished chunk and state records too.
    pub spec_sha256: String,
    /// [`crate::plan::Memories::digest`] of the run's memories.
    pub memories_sha256: String,
    /// SHA-256 of the spec's `run` section, which `spec_sha256` leaves out (how a run is
    /// computed, not what): an edited layout would read the state in another order. Empty in
    /// checkpoints of builds before it was recorded.
    #[serde(default)]
    pub run_sha256: String,
    /// The GPU's work layout the state was written in ("thread", "group", "tile"), which the
    /// resuming backend must use too.
    #[serde(default)]
    pub layout: Option<String>,
    /// (index, count) of a sharded run.
    pub shard: Option<(u64, u64)>,
    pub backend: String,
    pub adapter: String,
    /// Steps between checkpoints.
    pub every_steps: u32,
    pub dt: f64,
    /// The chunks, (first trajectory, count).
    pub chunks: Vec<(u64, u64)>,
    /// Chunks finished into chunk-K folders.
    pub done: usize,
    pub state: Option<StateRecord>,
    /// Integration wall time of the sessions so far.
    pub wall_s: f64,
    /// Times the run was resumed.
    pub resumed: u32,
}

/// The chunk in flight at a checkpoint: the backend's state and the chunk's results so far.
pub struct Pending {
    pub state: ChunkState,
    pub results: ChunkResults,
}

fn state_dir_name(chunk: usize, step: u32) -> String {
    format!("state-{chunk}-{step}")
}

/// Where chunk K's finished outputs are kept.
pub fn chunk_dir(out: &Path, k: usize) -> PathBuf {
    folder(out).join(format!("chunk-{k}"))
}

/// A fresh chunk-K.part folder of `out`'s checkpoint, for chunk K's outputs (a store without
/// pictures).
pub fn chunk_store(out: &Path, k: usize) -> Result<Store> {
    let part = chunk_part(out, k);
    if part.exists() {
        std::fs::remove_dir_all(&part).with_context(|| format!("cannot remove {}", part.display()))?;
    }
    std::fs::create_dir_all(&part).with_context(|| format!("cannot create {}", part.display()))?;
    manifest::mark_incomplete(&part)?;
    Ok(Store::dir_without_pictures(&part))
}

/// Where chunk K's outputs are written before it is finished.
fn chunk_part(out: &Path, k: usize) -> PathBuf {
    folder(out).join(format!("chunk-{k}.part"))
}

/// SHA-256 of a spec's `run` section, as its JSON text.
fn run_digest(spec: &Value) -> String {
    use sha2::Digest;
    let text = spec.get("run").unwrap_or(&Value::Null).to_string();
    sha2::Sha256::digest(text.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

impl Record {
    /// Refuses to go on in another work layout than the state was written in (its values
    /// would be read in another order).
    pub fn check_layout(&self, layout: Option<&str>) -> Result<()> {
        if let (Some(was), Some(now)) = (self.layout.as_deref(), layout)
            && was != now
        {
            anyhow::bail!(UsageError::new(
                Input::Resume,
                format!(
                    "the checkpoint's state was written in the {was} work layout, and this build would go on in the {now} layout; resume with the build that started the run, or rerun it with --force"
                ),
            ));
        }
        Ok(())
    }

    pub fn chunk(&self, k: usize) -> Chunk {
        Chunk { first: self.chunks[k].0, count: self.chunks[k].1 }
    }

    /// The record of a run that starts afresh in `out` on the device (`backend`, `adapter`),
    /// checkpointed every `every_steps` steps: the folder made, `out` marked incomplete and
    /// checkpoint.json written.
    pub fn start(
        out: &Path,
        plan: &Plan,
        (backend, adapter, layout): (&str, String, Option<&str>),
        every_steps: u32,
        chunks: &[Chunk],
    ) -> Result<Record> {
        std::fs::create_dir_all(folder(out)).with_context(|| format!("cannot create {}", folder(out).display()))?;
        manifest::mark_incomplete(out)?;
        let record = Record {
            version: env!("CARGO_PKG_VERSION").into(),
            build: crate::SOURCES_SHA256.into(),
            spec: serde_json::to_value(&plan.spec)?,
            spec_sha256: manifest::spec_digest_of(&plan.spec),
            memories_sha256: plan.memories.digest(),
            run_sha256: run_digest(&serde_json::to_value(&plan.spec)?),
            layout: layout.map(String::from),
            shard: plan.ensemble.shard,
            backend: backend.into(),
            adapter,
            every_steps: every_steps.max(1),
            dt: plan.time.dt_f64,
            chunks: chunks.iter().map(|c| (c.first, c.count)).collect(),
            done: 0,
            state: None,
            wall_s: 0.0,
            resumed: 0,
        };
        record.write(out)?;
        Ok(record)
    }

    /// This record as a new session takes it up: counted as resumed, and what it does not name
    /// removed from `out`'s checkpoint.
    pub fn resume(mut self, out: &Path) -> Result<Record> {
        self.resumed += 1;
        self.remove_stale(out)?;
        Ok(self)
    }

    /// Trajectory-steps integrated in the finished chunks.
    pub fn steps_done(&self, total_steps: u32) -> u64 {
        self.chunks[..self.done].iter().map(|c| c.1).sum::<u64>() * total_steps as u64
    }

    /// Writes checkpoint.json atomically (the folder must exist).
    pub fn write(&self, out: &Path) -> Result<()> {
        io::write_json(&folder(out).join(RECORD), &serde_json::to_value(self)?)
    }

    /// Keeps chunk `chunk` in flight: the backend's `state` and the chunk's `results` so far are
    /// written into a fresh folder, then checkpoint.json points at them, then the previous state
    /// is removed.
    pub fn save_state(&mut self, out: &Path, chunk: usize, state: &ChunkState, results: &ChunkResults) -> Result<()> {
        let name = state_dir_name(chunk, state.step);
        let tmp = folder(out).join(format!(".{name}.tmp"));
        if tmp.exists() {
            std::fs::remove_dir_all(&tmp).with_context(|| format!("cannot remove {}", tmp.display()))?;
        }
        std::fs::create_dir_all(&tmp).with_context(|| format!("cannot create {}", tmp.display()))?;
        let mut files = Vec::new();
        let mut put = |file: String, f: &dyn Fn(&Path) -> Result<()>| -> Result<()> {
            f(&tmp.join(&file))?;
            files.push(file);
            Ok(())
        };
        let (r, sums) = (results, results.sums.words());
        put("state.npy".into(), &|d| io::write_npy(d, &[state.state.len() as u64], &state.state))?;
        put("obs.npy".into(), &|d| io::write_npy(d, &[state.obs.len() as u64], &state.obs))?;
        put("saves.npy".into(), &|d| io::write_npy(d, &[r.saves.len() as u64], &r.saves))?;
        put("histogram.npy".into(), &|d| io::write_npy(d, &[r.counters.len() as u64], &r.counters))?;
        put("sums.npy".into(), &|d| io::write_npy(d, &[sums.len() as u64], &sums))?;
        let own = json!({ "spec_sha256": self.spec_sha256, "chunk": chunk, "step": state.step });
        put(STATE_RECORD.into(), &|d| io::write_json(d, &own))?;
        let dest = folder(out).join(&name);
        if dest.exists() {
            std::fs::remove_dir_all(&dest).with_context(|| format!("cannot remove {}", dest.display()))?;
        }
        std::fs::rename(&tmp, &dest)
            .with_context(|| format!("cannot rename {} to {}", tmp.display(), dest.display()))?;
        let manifest = manifest::manifest(&dest, &files)?;
        self.state = Some(StateRecord { chunk, step: state.step, dir: name.clone(), manifest });
        self.write(out)?;
        self.remove_stale(out)
    }

    /// Finishes chunk K of `plan`, integrated on the device (`backend`, `adapter`), whose
    /// outputs are complete in `store` (see [`chunk_store`]): its run.json is written last, the
    /// folder is renamed to chunk-K, then checkpoint.json says so, then the chunk's states are
    /// removed.
    pub fn finish_chunk(
        &mut self,
        out: &Path,
        k: usize,
        plan: &Plan,
        (backend, adapter): (&str, String),
        store: &mut Store,
    ) -> Result<()> {
        let (part, dest) = (chunk_part(out, k), chunk_dir(out, k));
        let c = self.chunk(k);
        let e = &plan.chunk_plan(c.first, c.count).ensemble;
        let head = json!({
            "version": env!("CARGO_PKG_VERSION"),
            "build": self.build,
            "spec": plan.spec,
            "spec_sha256": self.spec_sha256,
            "memories_sha256": self.memories_sha256,
            "backend": backend,
            "adapter": adapter,
            "trajectories": { "first": e.first, "count": e.trajectories, "total": e.total },
        });
        manifest::complete_checkpointed(&part, store, head)?;
        if dest.exists() {
            std::fs::remove_dir_all(&dest).with_context(|| format!("cannot remove {}", dest.display()))?;
        }
        std::fs::rename(&part, &dest)
            .with_context(|| format!("cannot rename {} to {}", part.display(), dest.display()))?;
        self.done = k + 1;
        self.state = None;
        self.write(out)?;
        self.remove_stale(out)
    }

    /// Removes what the record does not name: older states, chunks not recorded as finished
    /// and temporaries (left by a process that was killed while writing them). The chunk in
    /// flight keeps its folder (its outputs are being written there).
    pub fn remove_stale(&self, out: &Path) -> Result<()> {
        let f = folder(out);
        let keep_state = self.state.as_ref().map(|s| s.dir.clone());
        let in_flight = format!("chunk-{}.part", self.done);
        for e in std::fs::read_dir(&f).with_context(|| format!("cannot list {}", f.display()))?.flatten() {
            let name = e.file_name().to_string_lossy().to_string();
            let finished =
                name.strip_prefix("chunk-").and_then(|k| k.parse::<usize>().ok()).is_some_and(|k| k < self.done);
            if name == RECORD || name == in_flight || finished || keep_state.as_deref() == Some(name.as_str()) {
                continue;
            }
            let path = e.path();
            let r = if path.is_dir() { std::fs::remove_dir_all(&path) } else { std::fs::remove_file(&path) };
            r.with_context(|| format!("cannot remove {}", path.display()))?;
        }
        Ok(())
    }

    /// The finished chunks as shards, each checked (see [`Record::chunk_shard`]).
    pub fn shards(&self, out: &Path) -> Result<Vec<Shard>> {
        (0..self.done).map(|k| self.chunk_shard(out, k)).collect()
    }

    /// Finished chunk K as a shard of the run, checked: its files against its manifest, and
    /// what its run.json records against this record (the spec digest, the memories, the
    /// chunk's trajectories and the device), so that a chunk of another run is refused.
    fn chunk_shard(&self, out: &Path, k: usize) -> Result<Shard> {
        let dir = chunk_dir(out, k);
        let run = read_json(&dir.join(manifest::RUN_JSON)).map_err(|e| broken(out, format!("{e:#}")))?;
        manifest::verify(&dir, &run).map_err(|e| broken(out, format!("{}: {e}", dir.display())))?;
        let c = self.chunk(k);
        let text = |key: &str| run[key].as_str().unwrap_or_default().to_string();
        let foreign = if text("spec_sha256") != self.spec_sha256 || text("memories_sha256") != self.memories_sha256 {
            Some(format!("its spec_sha256 or memories_sha256 differs from {RECORD}'s"))
        } else if run["trajectories"]["first"].as_u64() != Some(c.first)
            || run["trajectories"]["count"].as_u64() != Some(c.count)
        {
            Some(format!("it holds other trajectories than chunks[{k}] of {RECORD}"))
        } else if text("build") != self.build {
            Some(format!("it was written by another build of idpsim than {RECORD}'s (its build differs)"))
        } else if !same_device((&text("backend"), &text("adapter")), (&self.backend, &self.adapter)) {
            Some(format!(
                "it was integrated on {} ({}), not on {RECORD}'s {} ({})",
                text("adapter"),
                text("backend"),
                self.adapter,
                self.backend
            ))
        } else {
            None
        };
        if let Some(why) = foreign {
            return Err(broken(out, format!("{} belongs to another run: {why}", dir.display())));
        }
        let total = self.chunks.iter().map(|c| c.1).sum();
        Ok(Shard { dir, run, first: c.first, count: c.count, total })
    }

    /// Checks the record's own fields, as a spec's are checked, before anything is read by
    /// them: the spec against its digest, the interval, the chunks and the state named.
    fn check_fields(&self) -> Result<(), String> {
        if manifest::spec_digest(&self.spec) != self.spec_sha256 {
            return Err("spec does not match its spec_sha256 (the record was edited)".into());
        }
        if !self.run_sha256.is_empty() && run_digest(&self.spec) != self.run_sha256 {
            return Err("spec.run does not match its run_sha256 (the record was edited)".into());
        }
        if self.every_steps == 0 {
            return Err("every_steps is 0; it must be at least 1".into());
        }
        if !(self.dt.is_finite() && self.dt > 0.0) {
            return Err(format!("dt is {}; it must be a positive time step", self.dt));
        }
        if !(self.wall_s.is_finite() && self.wall_s >= 0.0) {
            return Err(format!("wall_s is {}; it must be a time in seconds", self.wall_s));
        }
        if self.resumed == u32::MAX {
            return Err(format!("resumed is {}; it counts the sessions so far", self.resumed));
        }
        if self.chunks.is_empty() || self.done > self.chunks.len() {
            return Err(format!("done is {} of {} chunks", self.done, self.chunks.len()));
        }
        if let Some(s) = &self.state {
            if s.chunk != self.done {
                return Err(format!("state.chunk is {}; the chunk in flight is chunks[{}]", s.chunk, self.done));
            }
            if s.chunk >= self.chunks.len() || s.step == 0 {
                return Err(format!("state names chunk {} at step {}, which no run stops at", s.chunk, s.step));
            }
            if s.dir != state_dir_name(s.chunk, s.step) {
                return Err(format!("state.dir is '{}'; it must be '{}'", s.dir, state_dir_name(s.chunk, s.step)));
            }
        }
        Ok(())
    }
}

/// Checks `out`'s checkpoint against the plan rebuilt from its spec, before anything is
/// integrated, and gives its chunk in flight, if any: the record's interval and chunks, the
/// chunk in flight (see [`load_state`]) and every finished chunk (its files and that it belongs
/// to this run).
pub fn validate(out: &Path, record: &Record, plan: &Plan) -> Result<Option<Pending>> {
    let bad = |what: String| broken(out, format!("{RECORD}: {what}"));
    let dt = plan.time.dt_f64;
    if (record.dt - dt).abs() > 1e-12 * dt {
        return Err(bad(format!("dt is {}, and its spec's integrator.dt is {dt}", record.dt)));
    }
    let e = &plan.ensemble;
    let end = e.first + e.trajectories;
    let mut next = e.first;
    for (k, &(first, count)) in record.chunks.iter().enumerate() {
        let last = k + 1 == record.chunks.len();
        let whole = first % BLOCK == 0 && (last || count % BLOCK == 0);
        if first != next || count == 0 || !whole || count > end - first {
            return Err(bad(format!(
                "chunks[{k}] is [{first}, {count}]; the chunks must cover trajectories {}..{end} in order, in whole blocks of {BLOCK}",
                e.first
            )));
        }
        next = first + count;
    }
    if next != end {
        return Err(bad(format!("the chunks cover trajectories {0}..{next}, not {0}..{end}", e.first)));
    }
    if let Some(s) = record.state.as_ref().filter(|s| s.step >= plan.time.total_steps) {
        return Err(bad(format!("state.step is {}; the run has {} steps", s.step, plan.time.total_steps)));
    }
    let pending = load_state(out, record, plan)?;
    for k in 0..record.done {
        record.chunk_shard(out, k)?;
    }
    Ok(pending)
}

fn broken(out: &Path, what: String) -> anyhow::Error {
    UsageError::new(
        Input::Resume,
        format!(
            "the checkpoint in '{}' is damaged ({what}); start again with {}",
            out.display(),
            mention(&Input::Force)
        ),
    )
    .into()
}

fn read_json(path: &Path) -> Result<Value> {
    let bytes = io::read_bounded(path, io::MAX_DOCUMENT_BYTES)
        .map_err(|e| anyhow::anyhow!("cannot read {}: it {e}", path.display()))?;
    serde_json::from_slice(&bytes).with_context(|| format!("{} is not valid JSON", path.display()))
}

fn read_npy<T: npyz::Deserialize>(path: &Path) -> Result<Vec<T>> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let npy = npyz::NpyFile::new(&bytes[..]).with_context(|| format!("{} is not an NPY file", path.display()))?;
    npy.into_vec().with_context(|| format!("{} has the wrong element type", path.display()))
}

/// Reads `out`'s checkpoint record. A damaged record is refused.
pub fn load(out: &Path) -> Result<Record> {
    let path = folder(out).join(RECORD);
    if !path.is_file() {
        return Err(UsageError::new(
            Input::Resume,
            format!(
                "'{}' holds no checkpoint (only runs with {} leave one)",
                out.display(),
                mention(&Input::CheckpointEvery)
            ),
        )
        .into());
    }
    let record: Record = read_json(&path)
        .and_then(|v| serde_json::from_value(v).with_context(|| format!("{RECORD} does not hold a checkpoint record")))
        .map_err(|e| broken(out, format!("{e:#}")))?;
    if record.version != env!("CARGO_PKG_VERSION") {
        return Err(UsageError::new(
            Input::Resume,
            format!(
                "the checkpoint in '{}' was written by idpsim {}, this is {}; start again with {}",
                out.display(),
                record.version,
                env!("CARGO_PKG_VERSION"),
                mention(&Input::Force)
            ),
        )
        .into());
    }
    if record.build != crate::SOURCES_SHA256 {
        let theirs = match record.build.get(..12) {
            Some(id) => format!("sources {id}"),
            None => "sources not recorded".to_string(),
        };
        return Err(UsageError::new(
            Input::Resume,
            format!(
                "the checkpoint in '{}' was written by another build of idpsim ({theirs}; this is sources {}), whose kernels or arithmetic may give other bytes; resume it with the build that started it, or start again with {}",
                out.display(),
                crate::BUILD_ID,
                mention(&Input::Force)
            ),
        )
        .into());
    }
    record.check_fields().map_err(|e| broken(out, format!("{RECORD}: {e}")))?;
    Ok(record)
}

/// Reads the chunk in flight of `out`'s checkpoint, when there is one: its files checked against
/// the sizes and SHA-256 the record holds, its results against the sizes `plan` gives them. A
/// damaged state is refused.
fn load_state(out: &Path, record: &Record, plan: &Plan) -> Result<Option<Pending>> {
    let Some(s) = &record.state else { return Ok(None) };
    let dir = folder(out).join(&s.dir);
    let run = json!({ "manifest": s.manifest });
    manifest::verify_as(&dir, &run, RECORD).map_err(|e| broken(out, format!("{}: {e}", dir.display())))?;
    let (chunk, state) = (record.chunk(record.done), format!("{DIR}/{}", s.dir));
    let load = || -> Result<Pending> {
        let own = read_json(&dir.join(STATE_RECORD))?;
        anyhow::ensure!(
            own["spec_sha256"].as_str() == Some(record.spec_sha256.as_str()),
            "{STATE_RECORD} belongs to another run: its spec_sha256 differs from {RECORD}'s"
        );
        anyhow::ensure!(
            own["chunk"] == json!(s.chunk) && own["step"] == json!(s.step),
            "{STATE_RECORD} is the state of chunk {} at step {}, not the one {RECORD} names",
            own["chunk"],
            own["step"]
        );
        let (saves, counters): (Vec<f32>, Vec<u64>) =
            (read_npy(&dir.join("saves.npy"))?, read_npy(&dir.join("histogram.npy"))?);
        let (t, q) = (plan.n_saves(), plan.saves().q());
        let want = if plan.observe.per_trajectory_saves() { chunk.count as usize * t * q } else { 0 };
        anyhow::ensure!(
            saves.len() == want && counters.len() == plan.observe.counters(),
            "{state}: saves.npy or histogram.npy do not fit chunk {}",
            record.done
        );
        // Earlier checkpoints kept the same words as their first output's, output-0.npy.
        let sums_file = if s.manifest.contains_key("output-0.npy") { "output-0.npy" } else { "sums.npy" };
        let sums: Vec<u64> = read_npy(&dir.join(sums_file))?;
        anyhow::ensure!(sums.len() == 2 * t * q * SUMS, "{state}: {sums_file} does not fit this run's saves");
        let mut results = ChunkResults::new(plan, chunk);
        (results.saves, results.counters) = (saves, counters);
        results.sums.set_words(&sums);
        let st =
            ChunkState { step: s.step, state: read_npy(&dir.join("state.npy"))?, obs: read_npy(&dir.join("obs.npy"))? };
        Ok(Pending { state: st, results })
    };
    let pending = load().map_err(|e| broken(out, format!("{e:#}")))?;
    Ok(Some(pending))
}
