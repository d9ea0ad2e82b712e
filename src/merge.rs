//! `idpsim merge`: shards of one run (`run --shard I/N`) put back together. Ensemble sums are
//! exact integers, so the merged means and stds are byte-identical to one whole run on the same
//! backend; per-trajectory arrays are concatenated in trajectory order.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use crate::cli::UsageError;
use crate::engine::{self, SUMS_FILE};
use crate::io::{self, NpyStream};
use crate::observe::OverlapSums;
use crate::observe::retrieval::{PassageStats, RetrievalStats};

/// What merge needs from one shard's run.json.
struct Shard {
    dir: PathBuf,
    run: serde_json::Value,
    first: u64,
    count: u64,
    total: u64,
}

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

/// Concatenates one NPY array per shard along the first axis into `dest`.
fn concat<T: npyz::Deserialize + npyz::AutoSerialize + Copy>(shards: &[Shard], name: &str, dest: &Path) -> Result<()> {
    let mut shape: Option<Vec<u64>> = None;
    let mut rows = 0;
    for s in shards {
        let bytes = std::fs::read(s.dir.join(name)).with_context(|| format!("{} has no {name}", s.dir.display()))?;
        let npy = npyz::NpyFile::new(&bytes[..])?;
        let sh = npy.shape().to_vec();
        rows += sh[0];
        shape.get_or_insert(sh);
    }
    let mut shape = shape.expect("at least one shard");
    shape[0] = rows;
    let mut out = NpyStream::<T>::create(dest, &shape)?;
    for s in shards {
        let bytes = std::fs::read(s.dir.join(name))?;
        let data: Vec<T> = npyz::NpyFile::new(&bytes[..])?.into_vec()?;
        out.push(&data)?;
    }
    out.finish()
}

/// Merges shard directories into `out`, after checking them (nothing is written if they do
/// not form one run; `out` must be empty unless `force`).
pub fn merge(dirs: &[PathBuf], out: &Path, force: bool) -> Result<Vec<String>> {
    let shards = check(dirs.iter().map(|d| load(d)).collect::<Result<Vec<_>>>()?)?;
    io::prepare_out_dir(out, force).map_err(UsageError)?;
    let first = &shards[0];
    let total = first.total;
    let mut sums: Option<OverlapSums> = None;
    for s in &shards {
        let part = engine::read_sums(&s.dir.join(SUMS_FILE), s.count)?;
        match sums.as_mut() {
            None => sums = Some(part),
            Some(acc) => acc.merge(&part),
        }
    }
    let sums = sums.expect("at least one shard");
    let times_bytes = std::fs::read(first.dir.join("times.npy"))?;
    let times: Vec<f64> = npyz::NpyFile::new(&times_bytes[..])?.into_vec()?;
    let name = first.run["spec"]["name"].as_str().unwrap_or("unnamed").to_string();
    let model = first.run["spec"]["model"]["kind"].as_str().unwrap_or("?").to_string();
    let energy = !first.run["spec"]["observe"]["energy"].is_null();
    let layers = model == "modern";
    let mut files = engine::write_ensemble_outputs(out, &name, &model, &times, &sums, energy, layers)?;
    for f in ["overlaps.npy", "final_state.npy", "energy.npy", "memory_layer.npy", "saliency.npy"] {
        if shards.iter().all(|s| s.dir.join(f).is_file()) {
            concat::<f32>(&shards, f, &out.join(f))?;
            files.push(f.into());
        }
    }
    let spec_json = &first.run["spec"];
    let read = |path: &Path| -> Result<Vec<u8>> {
        std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))
    };
    let mut retrieval = serde_json::Value::Null;
    if let Some(r) = spec_json["observe"].get("retrieval").filter(|r| !r.is_null()) {
        concat::<i32>(&shards, "retrieved.npy", &out.join("retrieved.npy"))?;
        concat::<i32>(&shards, "retrieval_targets.npy", &out.join("retrieval_targets.npy"))?;
        concat::<i8>(&shards, "retrieved_sign.npy", &out.join("retrieved_sign.npy"))?;
        let got: Vec<i32> = npyz::NpyFile::new(&read(&out.join("retrieved.npy"))?[..])?.into_vec()?;
        let tg: Vec<i32> = npyz::NpyFile::new(&read(&out.join("retrieval_targets.npy"))?[..])?.into_vec()?;
        let sg: Vec<i8> = npyz::NpyFile::new(&read(&out.join("retrieved_sign.npy"))?[..])?.into_vec()?;
        let segs = spec_json["input"]["segments"].as_array().map_or(1, |a| a.len());
        let sums_path = first.dir.join(engine::RETRIEVAL_SUMS_FILE);
        let shape = npyz::NpyFile::new(&read(&sums_path)?[..])?.shape().to_vec();
        let p = shape.get(1).map_or(1, |&v| v as usize - 1);
        let dt = spec_json["integrator"]["dt"].as_f64().unwrap_or(0.01);
        let window = (r["window"].as_f64().unwrap_or(dt) / dt).round() as u32;
        let mut stats = RetrievalStats::empty(r["threshold"].as_f64().unwrap_or(0.9) as f32, window, p, segs);
        let opt = |v: i32| (v >= 0).then_some(v as u32);
        for j in 0..got.len() / segs {
            let targets: Vec<Option<u32>> = tg[j * segs..(j + 1) * segs].iter().map(|&v| opt(v)).collect();
            let res: Vec<Option<(u32, i8)>> =
                (0..segs).map(|k| opt(got[j * segs + k]).map(|g| (g, sg[j * segs + k]))).collect();
            stats.count(&targets, &res);
        }
        for s in &shards {
            let words: Vec<u64> =
                npyz::NpyFile::new(&read(&s.dir.join(engine::RETRIEVAL_SUMS_FILE))?[..])?.into_vec()?;
            stats.add_sums_words(&words)?;
        }
        io::write_json(&out.join("retrieval.json"), &stats.to_json())?;
        io::write_npy(&out.join(engine::RETRIEVAL_SUMS_FILE), &shape, &stats.sums_words())?;
        retrieval = engine::retrieval_summary(&stats);
        files.extend(
            [
                "retrieval.json",
                "retrieved.npy",
                "retrieved_sign.npy",
                "retrieval_targets.npy",
                engine::RETRIEVAL_SUMS_FILE,
            ]
            .map(String::from),
        );
    }
    let mut first_passage = serde_json::Value::Null;
    if let Some(f) = spec_json["observe"].get("first_passage").filter(|f| !f.is_null()) {
        concat::<f32>(&shards, "first_passage.npy", &out.join("first_passage.npy"))?;
        let times: Vec<f32> = npyz::NpyFile::new(&read(&out.join("first_passage.npy"))?[..])?.into_vec()?;
        let dt = spec_json["integrator"]["dt"].as_f64().unwrap_or(0.01);
        let stats = PassageStats::from_times(&times, dt);
        let memory = f["memory"].as_u64().map(|m| m as u32);
        first_passage = stats.summary(memory, f["threshold"].as_f64().unwrap_or(0.9) as f32, dt);
        files.push("first_passage.npy".into());
    }
    if shards.iter().all(|s| s.dir.join("histogram.json").is_file()) {
        let (hp, mut counts, markers) = crate::observe::histogram::read(&first.dir)?;
        for s in &shards[1..] {
            let (h, c, _) = crate::observe::histogram::read(&s.dir)?;
            anyhow::ensure!(h == hp, "{} has a different histogram from {}", s.dir.display(), first.dir.display());
            for (a, b) in counts.iter_mut().zip(&c) {
                *a += b;
            }
        }
        let title = format!("{name} — stationary density estimate");
        files.extend(crate::observe::histogram::write(out, &hp, &counts, &markers, &title)?);
    }
    files.push("run.json".into());
    let mut spec = first.run["spec"].clone();
    spec["ensemble"]["trajectories"] = serde_json::json!(total);
    let run = serde_json::json!({
        "version": env!("CARGO_PKG_VERSION"),
        "spec": spec,
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
        "files": files,
        "retrieval": retrieval,
        "first_passage": first_passage,
    });
    io::write_json(&out.join("run.json"), &run)?;
    Ok(files)
}
