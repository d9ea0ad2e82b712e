//! The manifest of a run directory: every file the run wrote with its size and SHA-256, recorded
//! in run.json (written last). `merge` and reruns check a directory against its own manifest,
//! so a missing, changed, extra or half-written file is found before anything is read.

use crate::error::{Input, UsageError, mention};
use std::io::Read;
use std::path::Path;

use anyhow::{Context, Result};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use super::store::Store;

/// The file run.json, which holds the manifest and is itself not in it.
pub const RUN_JSON: &str = "run.json";

/// A file present while a run is being written: an interrupted run keeps it (with no
/// run.json), which is how a rerun knows the directory holds an unfinished run.
pub const INCOMPLETE: &str = "INCOMPLETE";
/// A checkpointed run's folder in its directory (`crate::checkpoint`).
pub const CHECKPOINT_DIR: &str = ".checkpoint";
/// A sweep's table and report beside its points' directories (`crate::sweep`).
pub const SWEEP_CSV: &str = "sweep.csv";
pub const SWEEP_REPORT: &str = "report.md";

/// The files a sweep writes beside its points' directories: its table, its report and the
/// pictures of its outputs' sweep parts.
pub fn sweep_files() -> Vec<&'static str> {
    [SWEEP_CSV, SWEEP_REPORT]
        .into_iter()
        .chain(super::sweep_parts().iter().flat_map(|p| p.files().iter().copied()))
        .collect()
}

/// Marks `dir` as holding a run being written.
pub fn mark_incomplete(dir: &Path) -> Result<()> {
    mark_with(dir, "idpsim is writing this run, or was stopped before its end: run.json, written last, completes it.\n")
}

/// Marks `dir` as holding a sweep being written.
pub fn mark_sweep_incomplete(dir: &Path) -> Result<()> {
    mark_with(
        dir,
        "idpsim is writing this sweep, or was stopped before its end, or some of its points failed (sweep.csv says which): this file is removed once every point has finished.\n",
    )
}

fn mark_with(dir: &Path, text: &str) -> Result<()> {
    std::fs::write(dir.join(INCOMPLETE), text)
        .with_context(|| format!("cannot write {}", dir.join(INCOMPLETE).display()))
}

/// Marks `dir` complete (after run.json was written); a marker already gone (removed by hand
/// while the run was stopped) is no failure: run.json is what completes a run.
pub fn mark_complete(dir: &Path) -> Result<()> {
    match std::fs::remove_file(dir.join(INCOMPLETE)) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            Err(e).with_context(|| format!("cannot remove {}", dir.join(INCOMPLETE).display()))
        }
        _ => Ok(()),
    }
}

/// A plain file name (one path component, no `..`): what a manifest may name.
fn plain_name(name: &str) -> bool {
    let mut parts = Path::new(name).components();
    matches!((parts.next(), parts.next()), (Some(std::path::Component::Normal(_)), None))
}

/// A recorded spec without its `run` section: what makes two runs the same science (backends
/// and tuning may differ between shards or reruns).
pub fn science(spec: &Value) -> Value {
    let mut s = spec.clone();
    if let Some(o) = s.as_object_mut() {
        o.remove("run");
    }
    s
}

/// The spec digest: SHA-256 (hex) of the JSON text of a recorded spec without its `run` section
/// ([`science`]), what makes two runs, shards or checkpointed chunks one run. `spec` is the
/// spec as a record holds it, read back from the record's text.
pub fn spec_digest(spec: &Value) -> String {
    let text = science(spec).to_string();
    Sha256::digest(text.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

/// [`spec_digest`] of a spec as it reads back from the record it is written into (floats parse
/// back to the value the text gives, which need not be the one in memory).
pub fn spec_digest_of(spec: &crate::spec::Spec) -> String {
    let text = serde_json::json!(spec).to_string();
    spec_digest(&serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// Completes a run directory: run.json, written last, holds the run's own fields `head`, then
/// its files (run.json last), their manifest and the outputs' summaries. A signal received
/// while the outputs were finished still stops the run here, before it is declared complete;
/// after run.json, INCOMPLETE is removed.
pub fn complete(dir: &Path, store: &mut Store, head: Value) -> Result<()> {
    complete_as(dir, store, head, true)
}

/// [`complete`] for a checkpointed run's chunk and its final directory, which a signal does
/// not stop: the run looks for signals itself between chunks and checkpoints, where it can
/// say how to go on (a chunk stopped half-written would leave neither its outputs nor that
/// advice).
pub fn complete_checkpointed(dir: &Path, store: &mut Store, head: Value) -> Result<()> {
    complete_as(dir, store, head, false)
}

fn complete_as(dir: &Path, store: &mut Store, head: Value, stop_at_signal: bool) -> Result<()> {
    store.files.push(RUN_JSON.into());
    let Value::Object(mut run) = head else { anyhow::bail!("internal error: run.json's fields are not an object") };
    run.insert("files".into(), json!(store.files));
    run.insert("manifest".into(), Value::Object(manifest(dir, &store.files)?));
    add_summaries(&mut run, store);
    if stop_at_signal {
        crate::interrupt::check()?;
    }
    crate::io::write_json(&dir.join(RUN_JSON), &Value::Object(run))?;
    mark_complete(dir)?;
    store.say_warnings();
    Ok(())
}

/// Summaries every run.json holds, null when the run did not observe them.
const ALWAYS_SUMMARISED: [&str; 2] = ["retrieval", "first_passage"];

/// Adds the outputs' summaries to run.json's fields (each under the key its output chose, in
/// the order the outputs finished; `retrieval` and `first_passage` always, null when absent).
pub fn add_summaries(run: &mut serde_json::Map<String, Value>, store: &Store) {
    for key in ALWAYS_SUMMARISED {
        run.insert(key.into(), Value::Null);
    }
    for (key, v) in &store.summaries {
        run.insert(key.clone(), v.clone());
    }
}

/// Size and SHA-256 (hex) of one file.
pub fn digest(path: &Path) -> Result<(u64, String)> {
    let mut f = std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut bytes = 0u64;
    loop {
        let n = f.read(&mut buf).with_context(|| format!("cannot read {}", path.display()))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        bytes += n as u64;
    }
    let hex: String = hasher.finalize().iter().map(|b| format!("{b:02x}")).collect();
    Ok((bytes, hex))
}

/// The manifest of `files` in `dir` (run.json excluded).
pub fn manifest(dir: &Path, files: &[String]) -> Result<Map<String, Value>> {
    let mut m = Map::new();
    for f in files.iter().filter(|f| *f != RUN_JSON) {
        let (bytes, sha256) = digest(&dir.join(f))?;
        m.insert(f.clone(), json!({ "bytes": bytes, "sha256": sha256 }));
    }
    Ok(m)
}

/// Checks `dir` against the manifest in its run.json `run`: every listed file present with its
/// size and SHA-256, and nothing else but run.json. The error names the file.
pub fn verify(dir: &Path, run: &Value) -> std::result::Result<(), String> {
    verify_as(dir, run, RUN_JSON)
}

/// [`verify`] against the manifest `record` (named `record_name` in errors) holds of `dir`: a
/// checkpoint's record lists the files of its state's directory.
pub fn verify_as(dir: &Path, record: &Value, record_name: &str) -> std::result::Result<(), String> {
    let Some(listed) = record.get("manifest").and_then(Value::as_object) else {
        return Err(format!(
            "{record_name} has no manifest of its files (written by an older idpsim, or not by idpsim run); rerun it"
        ));
    };
    for (name, entry) in listed {
        if !plain_name(name) {
            return Err(format!("its {record_name} lists '{name}', which is not a file name of this directory"));
        }
        let path = dir.join(name);
        let (bytes, sha) = digest(&path).map_err(|_| format!("{name} is missing (listed in its {record_name})"))?;
        if Some(bytes) != entry["bytes"].as_u64() || Some(sha.as_str()) != entry["sha256"].as_str() {
            return Err(format!(
                "{name} does not match its {record_name} (size or SHA-256 differ: changed after it was written)"
            ));
        }
    }
    let entries = std::fs::read_dir(dir).map_err(|e| format!("cannot list the directory ({e})"))?;
    for e in entries {
        let name = e.map_err(|e| format!("cannot list the directory ({e})"))?.file_name().to_string_lossy().to_string();
        if name != RUN_JSON && !listed.contains_key(&name) {
            return Err(format!(
                "{name} is not part of this run (a file left by an earlier run, or a half-written one)"
            ));
        }
    }
    Ok(())
}

/// Takes `dir` for a run's outputs: locked against other writers for as long as the returned
/// lock lives, then (with `force`) cleared of an earlier run's files and `also` (say, its
/// checkpoint or its sweep points), else refused unless empty or missing (see
/// [`io::prepare_out_dir`]). Every writer of a run directory takes it this way.
pub fn claim(dir: &Path, force: bool, also: impl FnOnce(&Path) -> Result<()>) -> Result<std::fs::File> {
    let lock = crate::io::lock_dir(dir).map_err(|e| UsageError::new(Input::Out, e))?;
    if force {
        // Nothing is removed unless everything there is an earlier run's: --force must not
        // leave another run's files (or a user's) beside the new run's, nor remove a user's.
        let foreign = foreign_entries(dir);
        if let Some(first) = foreign.first() {
            let more = if foreign.len() > 1 { format!(" and {} more", foreign.len() - 1) } else { String::new() };
            return Err(UsageError::new(
                Input::Force,
                format!(
                    "'{}' holds {first}{more}, which no earlier idpsim run there wrote; {} replaces only an earlier run's files: remove them or choose another directory",
                    dir.display(),
                    mention(&Input::Force)
                ),
            )
            .into());
        }
        also(dir)?;
        clear_previous(dir)?;
        clear_points(dir)?;
    }
    crate::io::prepare_out_dir(dir, force, crate::io::Writes::Run { holds: sweep_held(dir) })?;
    Ok(lock)
}

/// What `dir` holds when it is a sweep's directory: a finished sweep (its table written, no
/// INCOMPLETE) or an unfinished one (points' directories, and INCOMPLETE or no table).
fn sweep_held(dir: &Path) -> Option<&'static str> {
    if dir.join(RUN_JSON).exists() {
        return None;
    }
    let finished = dir.join(SWEEP_CSV).is_file() && !dir.join(INCOMPLETE).exists();
    let points = std::fs::read_dir(dir).ok()?.flatten().any(|e| {
        let p = e.path();
        p.is_dir() && !p.is_symlink() && (run_record(&p).is_some() || p.join(INCOMPLETE).is_file())
    });
    match (finished, points) {
        (true, _) => Some("a finished sweep (sweep.csv)"),
        (false, true) => Some("an unfinished sweep (interrupted, or with failed points: its INCOMPLETE stays)"),
        _ => None,
    }
}

/// `dir`'s run.json when it reads as a run's record (a spec may be named run.json too).
fn run_record(dir: &Path) -> Option<Value> {
    let text = std::fs::read_to_string(dir.join(RUN_JSON)).ok()?;
    serde_json::from_str::<Value>(&text).ok().filter(|r| r.get("manifest").is_some() && r.get("spec").is_some())
}

/// The plain file names a run's record lists in its manifest.
fn listed_files(record: Option<&Value>) -> Vec<String> {
    record
        .and_then(|r| r.get("manifest"))
        .and_then(Value::as_object)
        .map(|m| m.keys().filter(|k| plain_name(k)).cloned().collect())
        .unwrap_or_default()
}

/// Refuses an output directory inside an idpsim run's or sweep's directory (one holding a
/// run's run.json, INCOMPLETE, a checkpoint or sweep.csv): the new directory would be a file that
/// run never wrote, and every later check would find it no longer intact.
pub fn refuse_inside_run(out: &Path) -> Result<(), UsageError> {
    let Ok(abs) = std::path::absolute(out) else { return Ok(()) };
    for dir in abs.ancestors().skip(1) {
        let owned = run_record(dir).is_some()
            || dir.join(INCOMPLETE).is_file()
            || dir.join(CHECKPOINT_DIR).is_dir()
            || dir.join(SWEEP_CSV).is_file();
        if owned {
            return Err(UsageError::new(
                Input::Out,
                format!(
                    "'{}' is inside '{}', the directory of an idpsim run, which a directory it did not write would leave no longer intact; choose a directory outside it",
                    out.display(),
                    dir.display()
                ),
            ));
        }
    }
    Ok(())
}

/// The entries of `dir` that are no earlier idpsim run's or sweep's own, which a forced rerun
/// must not remove and so refuses to write beside: everything but the files an earlier run's
/// run.json lists, run.json, INCOMPLETE, hidden temporaries and the checkpoint folder, a
/// sweep's table, report and pictures, and directories (a sweep's points) holding only such
/// files of their own run.
pub fn foreign_entries(dir: &Path) -> Vec<String> {
    foreign_in(dir, true)
}

fn foreign_in(dir: &Path, top: bool) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(dir) else { return Vec::new() };
    let record = run_record(dir);
    let listed = listed_files(record.as_ref());
    let sweep_files = if top { sweep_files() } else { Vec::new() };
    // A directory marked INCOMPLETE was being written by idpsim: its files are that run's,
    // finished before it stopped, though no run.json lists them.
    let interrupted = dir.join(INCOMPLETE).is_file();
    let mut foreign = Vec::new();
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().to_string();
        let path = e.path();
        let own = if path.is_dir() && !path.is_symlink() {
            // A sweep's point: a run's directory (its record, or INCOMPLETE while written)
            // holding nothing else. Anything inside it that is not the run's is named.
            let point = top && (run_record(&path).is_some() || path.join(INCOMPLETE).is_file());
            if point && let Some(inner) = foreign_in(&path, false).first() {
                foreign.push(format!("{name}/{inner}"));
                continue;
            }
            name == CHECKPOINT_DIR || point
        } else {
            interrupted
                || (name == RUN_JSON && record.is_some())
                || name == INCOMPLETE
                || (name.starts_with('.') && name.ends_with(".tmp"))
                || listed.contains(&name)
                || sweep_files.contains(&name.as_str())
        };
        if !own {
            foreign.push(name);
        }
    }
    foreign.sort();
    foreign
}

/// Removes an earlier sweep's table, report, pictures and point directories from `dir` (after
/// [`foreign_entries`] found nothing else there).
fn clear_points(dir: &Path) -> Result<()> {
    for f in sweep_files() {
        let path = dir.join(f);
        if path.is_file() {
            std::fs::remove_file(&path).with_context(|| format!("cannot remove {}", path.display()))?;
        }
    }
    for e in std::fs::read_dir(dir).with_context(|| format!("cannot read {}", dir.display()))?.flatten() {
        let path = e.path();
        if path.is_dir() && !path.is_symlink() && e.file_name() != CHECKPOINT_DIR {
            std::fs::remove_dir_all(&path).with_context(|| format!("cannot remove {}", path.display()))?;
        }
    }
    Ok(())
}

/// Removes what an earlier run left in `dir` before a forced rerun: the files its run.json
/// lists (and run.json), INCOMPLETE, hidden temporaries, and every file of an interrupted run
/// (marked INCOMPLETE), so no earlier file survives next to the new run's. Other files are left
/// alone.
pub fn clear_previous(dir: &Path) -> Result<()> {
    let mut doomed = listed_files(run_record(dir).as_ref());
    doomed.extend([RUN_JSON.to_string(), INCOMPLETE.to_string()]);
    // An interrupted run's files are all its own (see `foreign_entries`).
    let interrupted = dir.join(INCOMPLETE).is_file();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().to_string();
            if interrupted || (name.starts_with('.') && name.ends_with(".tmp")) {
                doomed.push(name);
            }
        }
    }
    for name in doomed {
        let path = dir.join(&name);
        if path.is_file() {
            std::fs::remove_file(&path).with_context(|| format!("cannot remove {}", path.display()))?;
        }
    }
    Ok(())
}
