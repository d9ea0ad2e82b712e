//! `idpsim merge`: shards of one run (`run --shard I/N`) put back together. The plan is rebuilt
//! from the spec the shards recorded, and every output of its catalogue merges its own files:
//! ensemble sums are exact integers, so the merged means and stds are byte-identical to one
//! whole run on the same backend; per-trajectory arrays are concatenated in trajectory order.
//! A file a shard should have and lacks, or of the wrong shape, is refused with its name.

use std::path::{Path, PathBuf};

use anyhow::Result;

use crate::error::UsageError;
use crate::io;
use crate::outputs::{self, Shard, Store};
use crate::spec::Spec;

fn load(dir: &Path) -> Result<Shard> {
    let path = dir.join("run.json");
    let text = std::fs::read_to_string(&path).map_err(|e| {
        UsageError(format!("DIR: cannot read {} ({e}); is it an idpsim run directory?", path.display()))
    })?;
    let run: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| UsageError(format!("DIR: {} is not valid JSON ({e})", path.display())))?;
    let get = |k: &str| run["trajectories"][k].as_u64();
    match (get("first"), get("count"), get("total")) {
        (Some(first), Some(count), Some(total)) => Ok(Shard { dir: dir.to_path_buf(), run, first, count, total }),
        _ => Err(UsageError(format!(
            "DIR: {} has no trajectory range; it was not written by idpsim run",
            path.display()
        ))
        .into()),
    }
}

/// The spec a shard ran, without the `run` section (backends and tuning may differ per shard).
fn science(run: &serde_json::Value) -> serde_json::Value {
    let mut spec = run["spec"].clone();
    if let Some(o) = spec.as_object_mut() {
        o.remove("run");
    }
    spec
}

/// Checks the shards form one run exactly (same spec, no overlap, no gap) and orders them.
fn check(mut shards: Vec<Shard>) -> Result<Vec<Shard>> {
    if shards.is_empty() {
        return Err(UsageError("DIR: give at least one shard directory".into()).into());
    }
    let reference = science(&shards[0].run);
    for s in &shards[1..] {
        if science(&s.run) != reference {
            return Err(UsageError(format!(
                "DIR: {} and {} ran different specs; only shards of one run can be merged",
                shards[0].dir.display(),
                s.dir.display()
            ))
            .into());
        }
        if s.total != shards[0].total {
            return Err(UsageError(format!(
                "DIR: {} belongs to a run of {} trajectories, not {}",
                s.dir.display(),
                s.total,
                shards[0].total
            ))
            .into());
        }
    }
    shards.sort_by_key(|s| s.first);
    let mut next = 0u64;
    for (k, s) in shards.iter().enumerate() {
        if s.first < next {
            return Err(UsageError(format!(
                "DIR: {} (trajectories {}..{}) overlaps {} (up to {next})",
                s.dir.display(),
                s.first,
                s.first + s.count,
                shards[k - 1].dir.display()
            ))
            .into());
        }
        if s.first > next {
            return Err(UsageError(format!(
                "DIR: trajectories {next}..{} are missing (no shard covers them)",
                s.first
            ))
            .into());
        }
        next = s.first + s.count;
    }
    if next != shards[0].total {
        return Err(UsageError(format!(
            "DIR: trajectories {next}..{} are missing (no shard covers them)",
            shards[0].total
        ))
        .into());
    }
    Ok(shards)
}

/// Merges shard directories into `out`, after checking them (nothing is written if they do
/// not form one run; `out` must be empty unless `force`).
pub fn merge(dirs: &[PathBuf], out: &Path, force: bool) -> Result<Vec<String>> {
    let shards = check(dirs.iter().map(|d| load(d)).collect::<Result<Vec<_>>>()?)?;
    let first = &shards[0];
    let total = first.total;
    let mut spec_json = first.run["spec"].clone();
    spec_json["ensemble"]["trajectories"] = serde_json::json!(total);
    let rebuilt = Spec::from_json(&spec_json.to_string()).and_then(|s| crate::resolve::plan(&s, Path::new(".")));
    let plan = rebuilt.map_err(|e| {
        UsageError(format!("DIR: {}: run.json records a spec that cannot be rebuilt ({e})", first.dir.display()))
    })?;
    io::prepare_out_dir(out, force).map_err(|e| UsageError(format!("--out: {e}")))?;
    let mut store = Store::dir(out);
    for output in outputs::catalogue(&plan, &store)? {
        output.merge(&shards, &mut store)?;
    }
    store.files.push("run.json".into());
    let run = serde_json::json!({
        "version": env!("CARGO_PKG_VERSION"),
        "spec": spec_json,
        "merged_from": shards.iter().map(|s| serde_json::json!({
            "dir": s.dir.display().to_string(),
            "first": s.first,
            "count": s.count,
            "backend": s.run["backend"],
            "adapter": s.run["adapter"],
            "wall_s": s.run["wall_s"],
        })).collect::<Vec<_>>(),
        "backend": first.run["backend"],
        "adapter": first.run["adapter"],
        "trajectories": { "first": 0, "count": total, "total": total },
        "steps": first.run["steps"],
        "saves": first.run["saves"],
        "wall_s": shards.iter().map(|s| s.run["wall_s"].as_f64().unwrap_or(0.0)).sum::<f64>(),
        "files": store.files,
        "retrieval": store.summaries.get("retrieval"),
        "first_passage": store.summaries.get("first_passage"),
    });
    io::write_json(&out.join("run.json"), &run)?;
    Ok(store.files)
}
