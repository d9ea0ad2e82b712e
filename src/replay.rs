//! `idpsim replay`: single trajectories of a finished run integrated again, their state and
//! overlaps kept at every `Δt`. A trajectory's random numbers are Philox counters of (seed,
//! global trajectory index, step, stream) and never depend on the rest of the ensemble, so the
//! run's backend integrating the block of [`BLOCK`] trajectories that holds it, stopped every Δt
//! the way a checkpoint stops a chunk, goes through exactly the states of the run: the final
//! ones are the bytes of the run's final_state.npy rows (checked against them when the run
//! saved them).

use std::path::Path;

use anyhow::Result;
use serde_json::{Value, json};

use crate::backend::{Chunk, ChunkResults, ChunkState, Progress, same_device};
use crate::error::{Input, UsageError, mention};
use crate::io;
use crate::outputs::manifest;
use crate::plan::{BLOCK, BackendChoice, Plan};
use crate::spec::Spec;

/// Most trajectories one replay takes.
pub const MAX_TRAJECTORIES: usize = 1024;
/// Most saved state values (trajectories × saves × N) one replay keeps.
pub const MAX_VALUES: u64 = 1 << 28;

/// A finished run, as its directory records it.
pub struct Run {
    /// The plan rebuilt from the run's recorded spec, restricted to its trajectories.
    pub plan: Plan,
    /// run.json.
    pub record: Value,
}

/// What a replay computed.
pub struct Replay {
    /// Global trajectory indices, in the order asked.
    pub trajectories: Vec<u64>,
    /// The steps of the saves: 0, k, 2k, … and the last step.
    pub steps: Vec<u32>,
    pub times: Vec<f64>,
    /// The time between saves (the last may be shorter).
    pub every: f64,
    /// x [trajectory][save][N].
    pub states: Vec<f32>,
    /// Signed overlaps m_μ(x) [trajectory][save][P].
    pub overlaps: Vec<f32>,
    pub n: usize,
    pub p: usize,
    pub backend: String,
    pub adapter: String,
    /// Whether the backend is the run's device (same bytes).
    pub same_device: bool,
    /// How the final states compare with the run's final_state.npy.
    pub final_state_check: String,
}

fn usage(input: Input, msg: String) -> anyhow::Error {
    UsageError::new(input, msg).into()
}

/// Reads the finished run in `dir`: refused (one line, exit 2) unless it holds run.json (written
/// last) and every file its manifest names, intact, on one device.
pub fn load(dir: &Path) -> Result<Run> {
    if !dir.is_dir() {
        return Err(usage(
            Input::Dir,
            format!("'{}' is not a directory; give a finished run's --out directory", dir.display()),
        ));
    }
    let run_json = dir.join(manifest::RUN_JSON);
    if !run_json.is_file() {
        let example = std::fs::read_dir(dir)
            .ok()
            .and_then(|it| {
                let mut v: Vec<String> = it
                    .filter_map(|e| e.ok())
                    .filter(|e| e.path().join(manifest::RUN_JSON).is_file())
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect();
                v.sort();
                v.into_iter().next()
            })
            .map(|d| format!(", e.g. {}", dir.join(d).display()));
        if dir.join("sweep.csv").is_file() {
            let example = example.unwrap_or_default();
            return Err(usage(
                Input::Dir,
                format!("'{}' is a sweep's directory; point at one of its points' directories{example}", dir.display()),
            ));
        }
        if let Some(example) = example {
            return Err(usage(
                Input::Dir,
                format!(
                    "'{}' holds no run.json, but its sub-directories hold runs (a sweep's or shards' directory); point at one of them{example}",
                    dir.display()
                ),
            ));
        }
        if crate::checkpoint::exists(dir) {
            return Err(usage(
                Input::Dir,
                format!(
                    "'{}' holds an interrupted run; finish it first with {} {}",
                    dir.display(),
                    mention(&Input::Resume),
                    dir.display()
                ),
            ));
        }
        return Err(usage(
            Input::Dir,
            format!(
                "'{}' holds no finished run (no run.json, which a run writes last); give a finished run's --out directory",
                dir.display()
            ),
        ));
    }
    let text = io::read_bounded(&run_json, io::MAX_DOCUMENT_BYTES)
        .and_then(|b| String::from_utf8(b).map_err(|_| "is not UTF-8 text".to_string()))
        .map_err(|e| usage(Input::Dir, format!("cannot read {} ({e})", run_json.display())))?;
    let record: Value = serde_json::from_str(&text)
        .map_err(|e| usage(Input::Dir, format!("{} is not valid JSON ({e})", run_json.display())))?;
    manifest::verify(dir, &record)
        .map_err(|e| usage(Input::Dir, format!("'{}' is not an intact run: {e}", dir.display())))?;
    if record["backend"] == "mixed" {
        return Err(usage(
            Input::Dir,
            format!(
                "'{}' was merged from shards of different devices (backend \"mixed\"); replay from the shard that ran the trajectory",
                dir.display()
            ),
        ));
    }
    let spec = Spec::from_json(&record["spec"].to_string())
        .map_err(|e| usage(Input::Dir, format!("{} records a spec that does not load ({e})", run_json.display())))?;
    let mut plan = crate::resolve::plan(&spec, Path::new(".")).map_err(|e| {
        usage(Input::Dir, format!("{} records a spec that cannot be rebuilt here ({e})", run_json.display()))
    })?;
    if record["memories_sha256"].as_str() != Some(plan.memories.digest().as_str()) {
        return Err(usage(
            Input::Dir,
            format!(
                "the memories the run's spec names have changed since the run in '{}' (memories_sha256 differs); its trajectories cannot be replayed",
                dir.display()
            ),
        ));
    }
    let tr = &record["trajectories"];
    match (tr["first"].as_u64(), tr["count"].as_u64(), tr["total"].as_u64()) {
        (Some(first), Some(count), Some(total))
            if count > 0 && first.checked_add(count).is_some_and(|e| e <= total) && total == plan.ensemble.total =>
        {
            plan.ensemble.first = first;
            plan.ensemble.trajectories = count;
            if let (Some(i), Some(n)) = (record["shard"]["index"].as_u64(), record["shard"]["count"].as_u64()) {
                plan.ensemble.shard = Some((i, n));
            }
        }
        _ => {
            return Err(usage(
                Input::Dir,
                format!(
                    "{} records no trajectory range of its spec's ensemble; it was not written by idpsim run",
                    run_json.display()
                ),
            ));
        }
    }
    Ok(Run { plan, record })
}

/// The steps between saves every `every` time units (None: the run's overlaps interval), k, and
/// the steps of the saves: 0, k, 2k, … and the run's last step.
pub fn save_steps(plan: &Plan, every: Option<f64>) -> Result<(u32, Vec<u32>)> {
    let dt = plan.time.dt_f64;
    let k = match every {
        None => plan.observe.save_every,
        Some(e) => {
            let k = (e / dt).round();
            if !e.is_finite() || k < 1.0 || (k * dt - e).abs() > 1e-9 * e.max(1.0) {
                return Err(usage(
                    Input::Every,
                    format!(
                        "{e} is not a positive multiple of the run's integrator.dt = {dt}; give e.g. {}",
                        dt * plan.observe.save_every as f64
                    ),
                ));
            }
            k.min(u32::MAX as f64) as u32
        }
    };
    let total = plan.time.total_steps;
    let mut steps: Vec<u32> = (0..=total / k).map(|j| j * k).collect();
    if steps.last() != Some(&total) {
        steps.push(total);
    }
    Ok((k, steps))
}

/// A replay's [`Progress`]: it stops at a signal.
struct Signals;

impl Progress for Signals {
    fn advance(&mut self, _: u64) -> Result<bool> {
        crate::interrupt::check()?;
        Ok(true)
    }
}

/// `idpsim replay`: checks `out` (new or empty), replays trajectories `which` of the run in
/// `dir` (see [`replay`]) on the run's device or on the backend named `backend` ("gpu", "cpu",
/// "cpu_fast"), and writes the replay into `out` (see [`write`]).
pub fn run(
    dir: &Path,
    which: &[u64],
    every: Option<f64>,
    backend: Option<&str>,
    out: &Path,
) -> Result<(Replay, Vec<String>)> {
    let backend = backend
        .map(|b| match b {
            "gpu" => Ok(BackendChoice::Gpu),
            "cpu" => Ok(BackendChoice::Cpu),
            "cpu_fast" => Ok(BackendChoice::CpuFast),
            _ => Err(usage(Input::Backend, format!("unknown backend '{b}'; accepted: gpu, cpu, cpu_fast"))),
        })
        .transpose()?;
    if let Some(e) = every
        && !(e.is_finite() && e > 0.0)
    {
        return Err(usage(Input::Every, format!("{e} is not a positive time")));
    }
    // Refused before any work when it could not be written.
    check_out(out)?;
    let r = replay(dir, which, every, backend)?;
    let files = write(&r, dir, out)?;
    Ok((r, files))
}

/// Refuses an `out` that exists and is not an empty directory.
fn check_out(out: &Path) -> Result<()> {
    crate::outputs::manifest::refuse_inside_run(out)?;
    let empty = out.is_dir() && std::fs::read_dir(out).is_ok_and(|mut d| d.next().is_none());
    if out.exists() && !empty {
        return Err(usage(
            Input::Out,
            format!("'{}' exists and is not an empty directory; give a new or empty directory", out.display()),
        ));
    }
    Ok(())
}

/// Replays trajectories `which` (global indices) of the run in `dir`, saving every `every` time
/// units (None: the run's overlaps interval), on the run's device or on `backend` if given.
pub fn replay(dir: &Path, which: &[u64], every: Option<f64>, backend: Option<BackendChoice>) -> Result<Replay> {
    let run = load(dir)?;
    let mut plan = run.plan;
    let e = &plan.ensemble;
    let (lo, hi) = (e.first, e.first + e.trajectories);
    if which.is_empty() {
        return Err(usage(
            Input::Trajectory,
            format!("give at least one trajectory index, e.g. {} 17,4242", mention(&Input::Trajectory)),
        ));
    }
    if which.len() > MAX_TRAJECTORIES {
        return Err(usage(
            Input::Trajectory,
            format!("{} trajectories; at most {MAX_TRAJECTORIES} are replayed at once", which.len()),
        ));
    }
    for (k, &t) in which.iter().enumerate() {
        if t < lo || t >= hi {
            let range = if e.shard.is_some() || lo > 0 || hi < e.total {
                format!(
                    "this shard's trajectories {lo}..{} (of {}); replay it from the shard or the merged run that holds it",
                    hi - 1,
                    e.total
                )
            } else {
                format!("this run's trajectories 0..{}", hi - 1)
            };
            return Err(usage(Input::Trajectory, format!("{t} is not one of {range}")));
        }
        if which[..k].contains(&t) {
            return Err(usage(Input::Trajectory, format!("{t} is given twice; give each trajectory once")));
        }
    }
    let (every_steps, steps) = save_steps(&plan, every)?;
    let (n, p) = (plan.n(), plan.p());
    let values = which.len() as u64 * steps.len() as u64 * n as u64;
    if values > MAX_VALUES {
        return Err(usage(
            Input::Every,
            format!(
                "{} trajectories × {} saves × N = {n} are {values} state values, more than the {MAX_VALUES} a replay keeps; give a longer {} or fewer trajectories",
                which.len(),
                steps.len(),
                mention(&Input::Every)
            ),
        ));
    }
    let recorded = (
        run.record["backend"].as_str().unwrap_or_default().to_string(),
        run.record["adapter"].as_str().unwrap_or_default().to_string(),
    );
    match backend {
        Some(b) => plan.run.backend = b,
        None => {
            plan.run.backend = match recorded.0.as_str() {
                "gpu" => BackendChoice::Gpu,
                "cpu" => BackendChoice::Cpu,
                "cpu_fast" => BackendChoice::CpuFast,
                other => {
                    return Err(usage(
                        Input::Dir,
                        format!(
                            "the run records backend '{other}', which replay does not know; pass {}",
                            mention(&Input::Backend)
                        ),
                    ));
                }
            };
            // The device the run's spec chose; of a run over several, the default one (the
            // devices must then be of one kind to give the run's bytes, checked below).
            if plan.run.adapter.as_deref().is_some_and(crate::gpu::context::is_many) {
                plan.run.adapter = None;
            }
        }
    }
    // The final states are read back at the last step. A histogram is not kept: it is no part
    // of a trajectory, and on the GPU it lets no submit stop at step 0.
    plan.observe.final_state = true;
    plan.observe.histogram = None;
    let mut b = crate::choose::open(&plan)?;
    let same = same_device((b.kind(), &b.adapter()), (&recorded.0, &recorded.1));
    if !same && backend.is_none() {
        return Err(usage(
            Input::Dir,
            format!(
                "the run was computed on {} ({}), and the device opened here is {} ({}); pass {} to replay on another device anyway (its bytes will differ)",
                recorded.1,
                recorded.0,
                b.adapter(),
                b.kind(),
                mention(&Input::Backend)
            ),
        ));
    }
    b.check(&plan)?;
    b.prepare(&plan)?;
    let t_count = steps.len();
    let mut states = vec![0f32; which.len() * t_count * n];
    // Blocks of BLOCK trajectories (as a run's chunks are cut), each integrated once.
    let mut blocks: Vec<u64> = which.iter().map(|t| t / BLOCK).collect();
    blocks.sort_unstable();
    blocks.dedup();
    for blk in blocks {
        let first = (blk * BLOCK).max(lo);
        let chunk = Chunk { first, count: ((blk + 1) * BLOCK).min(hi) - first };
        let members: Vec<(usize, usize)> = which
            .iter()
            .enumerate()
            .filter(|(_, t)| **t / BLOCK == blk)
            .map(|(k, t)| (k, (t - first) as usize))
            .collect();
        let mut keep = |s: usize, rows: &[f32]| {
            for &(k, j) in &members {
                states[(k * t_count + s) * n..(k * t_count + s + 1) * n].copy_from_slice(&rows[j * n..(j + 1) * n]);
            }
        };
        let mut state: Option<ChunkState> = None;
        for (s, &step) in steps.iter().enumerate() {
            let mut results = ChunkResults::new(&plan, chunk);
            let reached = b.run_chunk(&plan, chunk, state.as_ref(), step, &mut results, &mut Signals)?;
            anyhow::ensure!(reached == step, "internal error: the replay stopped at step {reached}, not {step}");
            if step == plan.time.total_steps {
                anyhow::ensure!(
                    results.final_state.len() == chunk.count as usize * n,
                    "internal error: {} final state values, expected {}",
                    results.final_state.len(),
                    chunk.count as usize * n
                );
                keep(s, &results.final_state);
            } else {
                let st = b.suspend(&plan, chunk)?;
                keep(s, &b.states_of(&plan, &st, chunk.count));
                // The initial states are drawn again rather than resumed from step 0.
                state = (step > 0).then_some(st);
            }
        }
    }
    let mut overlaps = vec![0f32; which.len() * t_count * p];
    for (row, m) in states.chunks(n).zip(overlaps.chunks_mut(p)) {
        let psi: Vec<f64> = row.iter().map(|&x| plan.psi(x) as f64).collect();
        for (mu, m) in m.iter_mut().enumerate() {
            let sum: f64 = psi.iter().enumerate().map(|(i, &v)| plan.memories.get(i, mu) as f64 * v).sum();
            *m = (sum / n as f64) as f32;
        }
    }
    let final_state_check = check_final_states(dir, &plan, which, &states, t_count, same)?;
    let times = steps.iter().map(|&s| s as f64 * plan.time.dt_f64).collect();
    Ok(Replay {
        trajectories: which.to_vec(),
        steps,
        times,
        every: every_steps as f64 * plan.time.dt_f64,
        states,
        overlaps,
        n,
        p,
        backend: b.kind().to_string(),
        adapter: b.adapter(),
        same_device: same,
        final_state_check,
    })
}

/// Compares the replayed final states with the run's final_state.npy rows (when the run saved
/// them): on the run's device they must be the same bytes, and a difference fails the replay.
fn check_final_states(
    dir: &Path,
    plan: &Plan,
    which: &[u64],
    states: &[f32],
    t_count: usize,
    same: bool,
) -> Result<String> {
    let path = dir.join("final_state.npy");
    if !path.is_file() {
        return Ok("not compared: the run saved no final_state.npy".into());
    }
    let n = plan.n();
    let rows = read_rows(&path, plan.ensemble.trajectories, n, which.iter().map(|t| t - plan.ensemble.first))?;
    let mut differ = Vec::new();
    for (k, (&t, row)) in which.iter().zip(&rows).enumerate() {
        let mine = &states[(k * t_count + t_count - 1) * n..(k * t_count + t_count) * n];
        if mine.iter().zip(row).any(|(a, b)| a.to_bits() != b.to_bits()) {
            differ.push(t.to_string());
        }
    }
    match (differ.is_empty(), same) {
        (true, _) => Ok("equal, bit for bit, to the run's final_state.npy rows".into()),
        (false, false) => Ok(format!(
            "differ from the run's final_state.npy rows (trajectories {}): replayed on another device",
            differ.join(", ")
        )),
        (false, true) => Err(anyhow::anyhow!(
            "the replayed final states of trajectories {} differ from the run's final_state.npy on the same device; the run's files or this build do not reproduce it",
            differ.join(", ")
        )),
    }
}

/// Rows `rows` of an NPY array [m][n] of little-endian f32, read without loading the file.
fn read_rows(path: &Path, m: u64, n: usize, rows: impl Iterator<Item = u64>) -> Result<Vec<Vec<f32>>> {
    use std::io::{Read, Seek, SeekFrom};
    let bad = |why: &str| anyhow::anyhow!("{}: {why}", path.display());
    let mut f = std::fs::File::open(path).map_err(|e| bad(&e.to_string()))?;
    let len = f.metadata()?.len();
    let mut head = [0u8; 12];
    f.read_exact(&mut head).map_err(|_| bad("is not an NPY file"))?;
    if &head[..6] != b"\x93NUMPY" {
        return Err(bad("is not an NPY file"));
    }
    let start = match head[6] {
        1 => 10 + u16::from_le_bytes([head[8], head[9]]) as u64,
        _ => 12 + u32::from_le_bytes([head[8], head[9], head[10], head[11]]) as u64,
    };
    let mut header = vec![0u8; (start.min(len) - 10.min(len)) as usize];
    f.seek(SeekFrom::Start(10))?;
    f.read_exact(&mut header).map_err(|_| bad("has a damaged header"))?;
    let header = String::from_utf8_lossy(&header);
    if !header.contains("'<f4'") || header.contains("'fortran_order': True") || start + m * n as u64 * 4 != len {
        return Err(bad(&format!("is not a C-ordered float32 array of {m} × {n}")));
    }
    let mut out = Vec::new();
    for r in rows {
        let mut buf = vec![0u8; n * 4];
        f.seek(SeekFrom::Start(start + r * n as u64 * 4))?;
        f.read_exact(&mut buf)?;
        out.push(buf.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect());
    }
    Ok(out)
}

/// Writes a replay into `out` (created; refused if it exists and is not empty): states.npy,
/// overlaps.npy, times.npy, trajectories.npy, one picture per trajectory and replay.json (last).
/// Returns the files written.
pub fn write(r: &Replay, dir: &Path, out: &Path) -> Result<Vec<String>> {
    check_out(out)?;
    std::fs::create_dir_all(out).map_err(|e| usage(Input::Out, format!("cannot create '{}': {e}", out.display())))?;
    let (k, t, n, p) = (r.trajectories.len() as u64, r.times.len() as u64, r.n as u64, r.p as u64);
    io::write_npy(&out.join("states.npy"), &[k, t, n], &r.states)?;
    io::write_npy(&out.join("overlaps.npy"), &[k, t, p], &r.overlaps)?;
    io::write_npy(&out.join("times.npy"), &[t], &r.times)?;
    io::write_npy(&out.join("trajectories.npy"), &[k], &r.trajectories)?;
    let mut files: Vec<String> =
        ["states.npy", "overlaps.npy", "times.npy", "trajectories.npy"].map(String::from).to_vec();
    for (j, &traj) in r.trajectories.iter().enumerate() {
        let name = format!("trajectory-{traj}.png");
        let m = &r.overlaps[j * (t * p) as usize..(j + 1) * (t * p) as usize];
        io::plot::series_png(
            &out.join(&name),
            &format!("trajectory {traj}: overlaps m_μ(t) (replayed on {})", r.backend),
            "m_μ = ξ^μ·Ψ(x)/N",
            &r.times,
            m,
            &vec![0.0; m.len()],
            r.p,
        )?;
        files.push(name);
    }
    let doc = json!({
        "run": dir.display().to_string(),
        "trajectories": r.trajectories,
        "backend": r.backend,
        "adapter": r.adapter,
        "same_device_as_run": r.same_device,
        "every": r.every,
        "steps": r.steps,
        "final_state": r.final_state_check,
        "files": {
            "states.npy": { "shape": [k, t, n], "dtype": "float32", "holds": "the state x of trajectory k (in the order of \"trajectories\") at times[t]; the last save is the final state" },
            "overlaps.npy": { "shape": [k, t, p], "dtype": "float32", "holds": "the signed overlaps m_μ = ξ^μ·Ψ(x)/N of those states, summed in f64 on the host" },
            "times.npy": { "shape": [t], "dtype": "float64", "holds": "the save times: every Δt from 0, and the run's end" },
            "trajectories.npy": { "shape": [k], "dtype": "uint64", "holds": "the global trajectory indices" },
        },
    });
    io::write_json(&out.join("replay.json"), &doc)?;
    files.push("replay.json".into());
    Ok(files)
}
