//! `idpsim merge`: shards of one run (`run --shard I/N`) put back together. The plan is rebuilt
//! from the spec the shards recorded, and every output of its catalogue merges its own files:
//! ensemble sums are exact integers, so the merged means and stds are byte-identical to one
//! whole run on the same backend; per-trajectory arrays are concatenated in trajectory order.
//! A file a shard should have and lacks, or of the wrong shape, is refused with its name.
//! Shards integrated on different devices (see [`same_device`]) are refused unless asked for:
//! their per-trajectory values need not be the bytes of one device.

use std::path::{Path, PathBuf};

use anyhow::Result;

use crate::backend::same_device;
use crate::error::{Input, UsageError, Words, mention};
use crate::io;
use crate::outputs::{self, Shard, Store, manifest};
use crate::spec::Spec;

fn load(dir: &Path) -> Result<Shard> {
    let path = dir.join("run.json");
    if !path.exists() && dir.join(manifest::INCOMPLETE).is_file() {
        let next = if resumable(dir) {
            format!("finish it with idpsim run {} {}", mention(&Input::Resume), dir.display())
        } else {
            format!("it has no checkpoint: run the shard again with {}", mention(&Input::Force))
        };
        return Err(UsageError::new(Input::Dir, format!("{} holds an interrupted run; {next}", dir.display())).into());
    }
    let text = io::read_bounded(&path, io::MAX_DOCUMENT_BYTES)
        .and_then(|b| String::from_utf8(b).map_err(|_| "is not UTF-8 text".to_string()))
        .map_err(|e| {
            UsageError::new(Input::Dir, format!("cannot read {} ({e}); is it an idpsim run directory?", path.display()))
        })?;
    let run: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| UsageError::new(Input::Dir, format!("{} is not valid JSON ({e})", path.display())))?;
    let get = |k: &str| run["trajectories"][k].as_u64();
    manifest::verify(dir, &run).map_err(|e| UsageError::new(Input::Dir, format!("{}: {e}", dir.display())))?;
    // The manifest covers the files, not the spec run.json holds: an edited spec would be the
    // merged run's record of files integrated with another.
    // (Records of builds before spec_sha256 was recorded have none to check.)
    if run.get("spec_sha256").is_some()
        && run["spec_sha256"].as_str() != Some(manifest::spec_digest(&run["spec"]).as_str())
    {
        return Err(UsageError::new(
            Input::Dir,
            format!(
                "{}: its spec does not match its spec_sha256 (run.json was edited); merge shards as idpsim wrote them",
                path.display()
            ),
        )
        .into());
    }
    match (get("first"), get("count"), get("total")) {
        (Some(first), Some(count), Some(total))
            if count > 0 && first.checked_add(count).is_some_and(|e| e <= total) =>
        {
            Ok(Shard { dir: dir.to_path_buf(), run, first, count, total })
        }
        (Some(first), Some(count), Some(total)) => Err(UsageError::new(
            Input::Dir,
            format!(
                "{} records trajectories {first}..{} of {total}, which is no part of a run",
                path.display(),
                first as u128 + count as u128
            ),
        )
        .into()),
        _ => Err(UsageError::new(
            Input::Dir,
            format!("{} has no trajectory range; it was not written by idpsim run", path.display()),
        )
        .into()),
    }
}

/// Whether `dir` holds a run stopped with a checkpoint (INCOMPLETE and a checkpoint folder),
/// which `run --resume` finishes.
fn resumable(dir: &Path) -> bool {
    dir.join(manifest::INCOMPLETE).is_file() && dir.join(manifest::CHECKPOINT_DIR).is_dir()
}

/// The spec a shard ran, without the `run` section (backends and tuning may differ per shard).
fn science(run: &serde_json::Value) -> serde_json::Value {
    manifest::science(&run["spec"])
}

/// The device a shard ran on: (backend kind, adapter) as its run.json records them.
fn device(run: &serde_json::Value) -> (&str, &str) {
    (run["backend"].as_str().unwrap_or_default(), run["adapter"].as_str().unwrap_or_default())
}

/// Refuses shards integrated on another device than the first shard (unless `mixed`).
fn check_devices(shards: &[Shard], mixed: bool) -> Result<()> {
    let first = &shards[0];
    match shards.iter().find(|s| !same_device(device(&s.run), device(&first.run))) {
        Some(s) if !mixed => Err(UsageError::new(Input::Dir, format!(
            "{} ran on {} ({}) and {} on {} ({}); shards of different devices do not make the bytes of one run: rerun one of them on the other's device, or pass {} to merge them anyway",
            first.dir.display(),
            device(&first.run).1,
            device(&first.run).0,
            s.dir.display(),
            device(&s.run).1,
            device(&s.run).0,
            mention(&Input::MixedBackends)
        ))
        .into()),
        _ => Ok(()),
    }
}

/// The build a shard was integrated with (`crate::SOURCES_SHA256` in its run.json; "" for shards
/// of builds before it was recorded), and its first 12 digits for messages.
fn build(run: &serde_json::Value) -> (&str, &str) {
    let b = run["build"].as_str().unwrap_or_default();
    (b, b.get(..12).unwrap_or("not recorded"))
}

/// Checks the shards form one run exactly (same spec, no overlap, no gap, one build) and orders
/// them.
fn check(mut shards: Vec<Shard>) -> Result<Vec<Shard>> {
    if shards.is_empty() {
        return Err(UsageError::new(Input::Dir, "give at least one shard directory").into());
    }
    let reference = science(&shards[0].run);
    for s in &shards[1..] {
        if science(&s.run) != reference || s.run["memories_sha256"] != shards[0].run["memories_sha256"] {
            return Err(UsageError::new(
                Input::Dir,
                format!(
                    "{} and {} ran different specs (or different memories); only shards of one run can be merged",
                    shards[0].dir.display(),
                    s.dir.display()
                ),
            )
            .into());
        }
        if build(&s.run).0 != build(&shards[0].run).0 {
            return Err(UsageError::new(
                Input::Dir,
                format!(
                    "{} and {} were integrated by different builds of idpsim (sources {} and {}), whose kernels or arithmetic may give other bytes; rerun one of them with the other's build",
                    shards[0].dir.display(),
                    s.dir.display(),
                    build(&shards[0].run).1,
                    build(&s.run).1
                ),
            )
            .into());
        }
        if s.total != shards[0].total {
            return Err(UsageError::new(
                Input::Dir,
                format!("{} belongs to a run of {} trajectories, not {}", s.dir.display(), s.total, shards[0].total),
            )
            .into());
        }
    }
    shards.sort_by_key(|s| s.first);
    let mut next = 0u64;
    for (k, s) in shards.iter().enumerate() {
        if s.first < next {
            return Err(UsageError::new(
                Input::Dir,
                format!(
                    "{} (trajectories {}..{}) overlaps {} (up to {next})",
                    s.dir.display(),
                    s.first,
                    s.first + s.count,
                    shards[k - 1].dir.display()
                ),
            )
            .into());
        }
        if s.first > next {
            return Err(UsageError::new(
                Input::Dir,
                format!("trajectories {next}..{} are missing (no shard covers them)", s.first),
            )
            .into());
        }
        next = s.first + s.count;
    }
    if next != shards[0].total {
        return Err(UsageError::new(
            Input::Dir,
            format!("trajectories {next}..{} are missing (no shard covers them)", shards[0].total),
        )
        .into());
    }
    Ok(shards)
}

/// Merges shard directories into `out`, after checking them (nothing is written if they do
/// not form one run on one device; `out` must be empty unless `force`).
pub fn merge(dirs: &[PathBuf], out: &Path, force: bool) -> Result<Vec<String>> {
    merge_with(dirs, out, force, false).map(|m| m.files)
}

/// What a merge did: the files of the merged run, and whether `out` already held this merge,
/// complete and intact (then nothing was written).
pub struct Merged {
    pub files: Vec<String>,
    pub already: bool,
}

/// [`merge`]; with `mixed`, shards integrated on different devices are merged too, and the
/// merged run.json names every device (`"backend": "mixed"`).
pub fn merge_with(dirs: &[PathBuf], out: &Path, force: bool, mixed: bool) -> Result<Merged> {
    let shards = check(dirs.iter().map(|d| load(d)).collect::<Result<Vec<_>>>()?)?;
    check_devices(&shards, mixed)?;
    if let Ok(o) = out.canonicalize()
        && let Some(s) = shards.iter().find(|s| s.dir.canonicalize().is_ok_and(|d| d == o))
    {
        return Err(UsageError::new(
            Input::Out,
            format!("'{}' is one of the shards being merged; give another directory", s.dir.display()),
        )
        .into());
    }
    let first = &shards[0];
    let total = first.total;
    let mut spec_json = first.run["spec"].clone();
    spec_json["ensemble"]["trajectories"] = serde_json::json!(total);
    let rebuilt = Spec::from_json(&spec_json.to_string()).and_then(|s| crate::resolve::plan(&s, Path::new(".")));
    let plan = rebuilt.map_err(|e| {
        UsageError::new(
            Input::Dir,
            format!("{}: run.json records a spec that cannot be rebuilt ({e})", first.dir.display()),
        )
    })?;
    if first.run["memories_sha256"].as_str() != Some(plan.memories.digest().as_str()) {
        return Err(UsageError::new(Input::Dir, format!(
            "the memories the shards' spec names are not those the shards ran with (memories_sha256 in {}/run.json): the memories file changed since",
            first.dir.display()
        ))
        .into());
    }
    manifest::refuse_inside_run(out)?;
    let one_device = shards.iter().all(|s| same_device(device(&s.run), device(&first.run)));
    let (backend, adapter) = if one_device {
        (first.run["backend"].clone(), first.run["adapter"].clone())
    } else {
        let mut all: Vec<String> = Vec::new();
        for s in &shards {
            let d = format!("{} ({})", device(&s.run).1, device(&s.run).0);
            if !all.contains(&d) {
                all.push(d);
            }
        }
        (serde_json::json!("mixed"), serde_json::json!(all.join(" + ")))
    };
    let head = serde_json::json!({
        "version": env!("CARGO_PKG_VERSION"),
        "build": first.run["build"],
        "spec": spec_json,
        "spec_sha256": manifest::spec_digest(&spec_json),
        "memories_sha256": first.run["memories_sha256"],
        "merged_from": shards.iter().map(|s| serde_json::json!({
            "dir": s.dir.display().to_string(),
            "first": s.first,
            "count": s.count,
            "backend": s.run["backend"],
            "adapter": s.run["adapter"],
            "wall_s": s.run["wall_s"],
        })).collect::<Vec<_>>(),
        "backend": backend,
        "adapter": adapter,
        "trajectories": { "first": 0, "count": total, "total": total },
        "steps": first.run["steps"],
        "saves": first.run["saves"],
        "wall_s": shards.iter().map(|s| s.run["wall_s"].as_f64().unwrap_or(0.0)).sum::<f64>(),
    });
    if !force && let Some(files) = already_merged(out, &head) {
        return Ok(Merged { files, already: true });
    }
    let _lock = manifest::claim(out, force, |_| Ok(()))?;
    manifest::mark_incomplete(out)?;
    let mut store = Store::dir(out);
    for output in outputs::catalogue(&plan, &store)? {
        output.merge(&shards, &mut store)?;
    }
    manifest::complete(out, &mut store, head)?;
    Ok(Merged { files: store.files, already: false })
}

/// The files of the merged run `out` holds when it is this merge (the record `head` would
/// write, but for the files and their summaries), complete and intact: a resubmitted merge then
/// has nothing to do. None otherwise (a merge of other shards, or of these shards rerun).
fn already_merged(out: &Path, head: &serde_json::Value) -> Option<Vec<String>> {
    let text = std::fs::read_to_string(out.join(manifest::RUN_JSON)).ok()?;
    let run: serde_json::Value = serde_json::from_str(&text).ok()?;
    let same = ["build", "spec_sha256", "memories_sha256", "merged_from", "backend", "adapter", "trajectories"]
        .iter()
        .all(|k| run.get(*k).is_some() && run[*k] == head[*k]);
    if !same || manifest::verify(out, &run).is_err() {
        return None;
    }
    run["files"].as_array().map(|f| f.iter().filter_map(|v| v.as_str().map(str::to_owned)).collect())
}

/// What `merge --check` found.
pub struct CheckReport {
    pub text: String,
    /// Every shard intact and the ensemble covered exactly once.
    pub complete: bool,
}

/// Checks shard directories without merging them: which are intact, which trajectory ranges no
/// intact shard covers, and the `idpsim run` commands that rerun exactly the missing shards.
pub fn check_shards(dirs: &[PathBuf]) -> CheckReport {
    check_shards_with(dirs, false)
}

/// [`check_shards`]; with `mixed`, shards integrated on different devices count as one run (as
/// [`merge_with`] merges them).
pub fn check_shards_with(dirs: &[PathBuf], mixed: bool) -> CheckReport {
    // One verdict per directory, in the order given: "ok" only for a shard that passes every
    // check, those against the other shards included.
    let mut verdicts: Vec<String> = vec![String::new(); dirs.len()];
    let mut good: Vec<(usize, Shard)> = Vec::new();
    let mut broken: Vec<(PathBuf, Option<(u64, u64)>)> = Vec::new();
    for (k, d) in dirs.iter().enumerate() {
        match load(d) {
            Ok(s) => good.push((k, s)),
            Err(e) => {
                // The shard it was meant to be, if its run.json says.
                let run: Option<serde_json::Value> = std::fs::read_to_string(d.join(manifest::RUN_JSON))
                    .ok()
                    .and_then(|t| serde_json::from_str(&t).ok());
                let shard = run.and_then(|r| Some((r["shard"]["index"].as_u64()?, r["shard"]["count"].as_u64()?)));
                verdicts[k] = format!(
                    "refused  {}: {}\n",
                    d.display(),
                    match e.downcast_ref::<UsageError>() {
                        Some(u) if u.input == Input::Dir => u.message_in(Words::Cli),
                        _ => format!("{e:#}"),
                    }
                );
                broken.push((d.clone(), shard));
            }
        }
    }
    // Shards stopped with a checkpoint: `run --resume` finishes them, nothing needs rerunning.
    let resumable = broken.iter().any(|(d, _)| resumable(d));
    let Some((_, first)) = good.first() else {
        let text = verdicts.concat()
            + if resumable {
                "no intact shard: finish those with a checkpoint with idpsim run --resume DIR, rerun the others\n"
            } else {
                "no intact shard: rerun them all\n"
            };
        return CheckReport { text, complete: false };
    };
    let reference = science(&first.run);
    let (total, count) = (first.total, first.run["shard"]["count"].as_u64().unwrap_or(1));
    if count == 0 || count > total.div_ceil(crate::plan::BLOCK) {
        let text = verdicts.concat()
            + &format!(
                "refused  {}: its run.json records {count} shards of {total} trajectories, which no run has\nincomplete\n",
                first.dir.display()
            );
        return CheckReport { text, complete: false };
    }
    let first_dir = first.dir.clone();
    let first_memories = first.run["memories_sha256"].clone();
    let first_device = (device(&first.run).0.to_string(), device(&first.run).1.to_string());
    let first_build = build(&first.run).0.to_string();
    let mut foreign = 0;
    good.retain(|(k, s)| {
        let same = science(&s.run) == reference && s.total == total && s.run["memories_sha256"] == first_memories;
        let why = if !same {
            Some("a shard of another run (its spec or size differ)".to_string())
        } else if build(&s.run).0 != first_build {
            Some(format!(
                "another build of idpsim (sources {}) integrated it than {} (sources {}); rerun it with that build",
                build(&s.run).1,
                first_dir.display(),
                first_build.get(..12).unwrap_or("not recorded")
            ))
        } else if !mixed && !same_device(device(&s.run), (&first_device.0, &first_device.1)) {
            Some(format!(
                "it ran on {} ({}), {} on {} ({}); rerun it there, or merge with --mixed-backends",
                device(&s.run).1,
                device(&s.run).0,
                first_dir.display(),
                first_device.1,
                first_device.0
            ))
        } else {
            None
        };
        verdicts[*k] = match &why {
            Some(why) => format!("refused  {}: {why}\n", s.dir.display()),
            None => format!("ok       {}: trajectories {}..{}\n", s.dir.display(), s.first, s.first + s.count),
        };
        foreign += why.is_some() as usize;
        why.is_none()
    });
    let mut text = verdicts.concat();
    let mut good: Vec<Shard> = good.into_iter().map(|(_, s)| s).collect();
    good.sort_by_key(|s| s.first);
    let mut missing = Vec::new();
    for i in 0..count {
        let (lo, hi) = crate::plan::shard_range(total, i, count);
        if !good.iter().any(|s| s.first == lo && s.first + s.count == hi) {
            missing.push((i, lo, hi));
        }
    }
    for (i, lo, hi) in &missing {
        let out = broken
            .iter()
            .find(|b| b.1 == Some((*i, count)))
            .map_or(format!("OUT_{i}"), |b| format!("{} --force", b.0.display()));
        text += &format!("missing  trajectories {lo}..{hi} (shard {i}/{count}); rerun with:\n");
        text += &format!("         idpsim run SPEC --shard {i}/{count} --out {out}\n");
    }
    if !missing.is_empty() {
        text += &format!(
            "(SPEC: the spec the shards ran, as recorded under \"spec\" in {}/run.json)\n",
            first_dir.display()
        );
        if resumable {
            text += "(a shard stopped with a checkpoint, named above, is one of these: idpsim run --resume DIR finishes it instead)\n";
        }
    }
    let complete = missing.is_empty() && broken.is_empty() && foreign == 0 && good.len() as u64 == count;
    text += if complete { "complete: merge them with idpsim merge DIR... --out OUT\n" } else { "incomplete\n" };
    CheckReport { text, complete }
}
