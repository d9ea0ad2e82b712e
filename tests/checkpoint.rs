//! Checkpoints and resume: a run stopped anywhere (a crash, SIGKILL, SIGTERM) and resumed
//! writes the same bytes as the run that was never stopped, on both backends.

mod common;

use std::path::Path;

use common::{Crashing, idpsim, idpsim_cmd, plan, stderr, wait_for};
use idpsim::backend::Backend;
use idpsim::checkpoint;
use idpsim::cpu::CpuBackend;
use idpsim::engine::{self, Bar, Checkpointing};
use serde_json::json;

/// Every observer (energy, per-trajectory saves, final state, histogram, retrieval over random
/// weights, first passage), 200 trajectories in chunks of 64 (the last one of 8), 70 steps
/// with a save every third; N = 10, so the last neuron block is padded.
fn everything() -> serde_json::Value {
    let mut s = common::everything();
    s["memories"]["n"] = json!(10);
    s["observe"]["overlaps"]["every"] = json!(0.03);
    s["run"] = json!({ "chunk_trajectories": 64 });
    s
}

/// The modern model with both dynamic layers (their state is checkpointed too).
fn modern() -> serde_json::Value {
    json!({
        "name": "modern",
        "model": { "kind": "modern", "activation": { "kind": "tanh", "slope": 1.0 }, "tau_alpha": 0.05, "tau_y": 0.03 },
        "memories": { "kind": "random", "n": 16, "p": 3, "seed": 2 },
        "input": { "segments": [ { "duration": 0.2, "weights": [2.0, 1.0, 0.5] },
                                 { "duration": 0.2, "weights": [0.5, 2.0, 1.0] } ] },
        "noise": { "sigma": 0.4 },
        "ensemble": { "trajectories": 150, "seed": 5 },
        "observe": { "overlaps": { "every": 0.02, "per_trajectory": true }, "final_state": true,
                     "first_passage": { "threshold": 0.5 } },
        "run": { "chunk_trajectories": 64 }
    })
}

/// Every file of `a` (but run.json) is in `b` with the same bytes, and `b` has no other.
fn assert_same_files(what: &str, a: &Path, b: &Path) {
    let names = |d: &Path| {
        let mut v: Vec<String> =
            std::fs::read_dir(d).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().to_string()).collect();
        v.sort();
        v
    };
    assert_eq!(names(a), names(b), "{what}: the same files");
    for f in names(a).iter().filter(|f| *f != "run.json") {
        let (x, y) = (std::fs::read(a.join(f)).unwrap(), std::fs::read(b.join(f)).unwrap());
        assert!(x == y, "{what}: {f} differs from the uninterrupted run");
    }
}

fn fresh_backends() -> Vec<Box<dyn Backend>> {
    common::backends()
}

/// A run that crashes after `crashes[0]` chunk calls, is resumed and crashes again after
/// `crashes[1]`, …, and is finally resumed to its end, matches the whole run byte for byte.
/// A fresh backend is opened for every session, as a new process would.
#[test]
fn crashed_and_resumed_runs_write_the_same_bytes() {
    let cases: [(&str, serde_json::Value, u32, &[usize]); 5] = [
        ("everything, crash before the first checkpoint", everything(), 3, &[1]),
        ("everything, crash mid-chunk", everything(), 3, &[5]),
        ("everything, crashes in three chunks", everything(), 7, &[14, 13, 2]),
        ("everything, one checkpoint per chunk", everything(), 1000, &[2]),
        ("modern, crashes mid-chunk twice", modern(), 4, &[4, 6]),
    ];
    let kinds = fresh_backends().len();
    for (what, spec, every, crashes) in cases {
        let p = plan(spec);
        for kind in 0..kinds {
            let tmp = tempfile::tempdir().unwrap();
            let (whole, ck) = (tmp.path().join("whole"), tmp.path().join("ck"));
            let mut b = fresh_backends().remove(kind);
            let label = format!("{what} ({})", b.kind());
            engine::run_to_dir(&p, b.as_mut(), &whole, true).unwrap();
            let mut how = Checkpointing::Every(every);
            for &n in crashes {
                let mut b = fresh_backends().remove(kind);
                let mut crashing = Crashing { inner: b.as_mut(), calls_left: n };
                let e = engine::run_checkpointed(&p, &mut crashing, &ck, how, &mut Bar::pausing(true)).unwrap_err();
                assert!(format!("{e:#}").contains("simulated crash"), "{label}: {e:#}");
                assert!(!ck.join("run.json").exists(), "{label}: a crashed run wrote run.json");
                let record = checkpoint::load(&ck).unwrap();
                let pending = checkpoint::validate(&ck, &record, &p).unwrap();
                how = Checkpointing::Resume(Box::new(record), pending.map(Box::new));
            }
            let mut b = fresh_backends().remove(kind);
            engine::run_checkpointed(&p, b.as_mut(), &ck, how, &mut Bar::pausing(true)).unwrap();
            assert!(!checkpoint::folder(&ck).exists(), "{label}: the checkpoint is removed at the end");
            assert_same_files(&label, &whole, &ck);
            let run: serde_json::Value =
                serde_json::from_str(&std::fs::read_to_string(ck.join("run.json")).unwrap()).unwrap();
            assert_eq!(run["checkpoints"]["resumed"], json!(crashes.len()), "{label}");
        }
    }
}

/// A run with checkpoints and never stopped writes what a run without them writes, on the
/// CPU with its work cut in slices of a single step.
#[test]
fn checkpoints_do_not_change_a_run() {
    let p = plan(everything());
    let tmp = tempfile::tempdir().unwrap();
    let (whole, ck) = (tmp.path().join("whole"), tmp.path().join("ck"));
    engine::run_to_dir(&p, &mut CpuBackend::new(), &whole, true).unwrap();
    engine::run_checkpointed(&p, &mut CpuBackend::new(), &ck, Checkpointing::Every(1), &mut Bar::pausing(true))
        .unwrap();
    assert_same_files("every step", &whole, &ck);
}

/// A chunk in flight whose exact sums were kept as output-0.npy (the name of the first output's
/// words) resumes to the same bytes as one kept as sums.npy.
#[test]
fn a_state_with_its_sums_as_output_0_resumes() {
    let p = plan(everything());
    let tmp = tempfile::tempdir().unwrap();
    let (whole, ck) = (tmp.path().join("whole"), tmp.path().join("ck"));
    engine::run_to_dir(&p, &mut CpuBackend::new(), &whole, true).unwrap();
    let mut cpu = CpuBackend::new();
    let mut crashing = Crashing { inner: &mut cpu, calls_left: 30 };
    let how = Checkpointing::Every(3);
    engine::run_checkpointed(&p, &mut crashing, &ck, how, &mut Bar::pausing(true)).unwrap_err();
    let record_path = checkpoint::folder(&ck).join(checkpoint::RECORD);
    let mut record: serde_json::Value = serde_json::from_slice(&std::fs::read(&record_path).unwrap()).unwrap();
    let state = checkpoint::folder(&ck).join(record["state"]["dir"].as_str().expect("a chunk in flight"));
    std::fs::rename(state.join("sums.npy"), state.join("output-0.npy")).unwrap();
    let manifest = record["state"]["manifest"].as_object_mut().unwrap();
    let entry = manifest.remove("sums.npy").unwrap();
    manifest.insert("output-0.npy".into(), entry);
    std::fs::write(&record_path, record.to_string()).unwrap();
    let record = checkpoint::load(&ck).unwrap();
    let pending = checkpoint::validate(&ck, &record, &p).unwrap();
    assert!(pending.is_some(), "the chunk in flight is read");
    let how = Checkpointing::Resume(Box::new(record), pending.map(Box::new));
    engine::run_checkpointed(&p, &mut CpuBackend::new(), &ck, how, &mut Bar::pausing(true)).unwrap();
    assert_same_files("sums as output-0.npy", &whole, &ck);
}

/// Whether a run directory holds a checkpoint of a chunk in flight.
fn has_state(dir: &Path) -> bool {
    std::fs::read_dir(checkpoint::folder(dir))
        .map(|r| r.flatten().any(|e| e.file_name().to_string_lossy().starts_with("state-")))
        .unwrap_or(false)
}

/// The processes: SIGTERM writes a checkpoint and exits 143 naming `--resume`; SIGKILL leaves
/// the last checkpoint; a plain rerun is refused and points at `--resume`; `--resume` finishes
/// with the bytes of the uninterrupted run. On `backend` with `m` trajectories (an uninterrupted
/// run of 3 to 6 seconds on lavapipe or the CPU reference: time to be stopped in).
fn killed_runs_resume_from_their_checkpoint(backend: &str, m: &str) {
    let tmp = tempfile::tempdir().unwrap();
    let whole = tmp.path().join(format!("whole-{backend}"));
    let base = ["run", "--preset", "quickstart", "--backend", backend, "--trajectories", m, "--quiet"];
    let o = idpsim(&[&base[..], &["--out", whole.to_str().unwrap()]].concat());
    assert!(o.status.success(), "{}", stderr(&o));
    for signal in ["TERM", "KILL"] {
        let dir = tmp.path().join(format!("{signal}-{backend}"));
        let d = dir.to_str().unwrap();
        let child = idpsim_cmd(&[&base[..], &["--out", d, "--checkpoint-every", "0.5"]].concat())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        wait_for("a checkpoint", || has_state(&dir));
        let kill = std::process::Command::new("kill").args([&format!("-{signal}"), &child.id().to_string()]).status();
        assert!(kill.unwrap().success());
        let out = child.wait_with_output().unwrap();
        let what = format!("{backend}, SIG{signal}");
        assert!(!dir.join("run.json").exists(), "{what}: stopped before the end, yet run.json was written");
        if signal == "TERM" {
            assert_eq!(out.status.code(), Some(143), "{what}: {}", stderr(&out));
            assert!(stderr(&out).contains(&format!("--resume {d}")), "{what}: {}", stderr(&out));
        }
        let rerun = idpsim(&[&base[..], &["--out", d]].concat());
        assert_eq!(rerun.status.code(), Some(2), "{what}: {}", stderr(&rerun));
        assert!(stderr(&rerun).contains("--resume") && stderr(&rerun).contains("--force"), "{}", stderr(&rerun));
        let resumed = idpsim(&["run", "--resume", d, "--quiet"]);
        assert!(resumed.status.success(), "{what}: {}", stderr(&resumed));
        assert_same_files(&what, &whole, &dir);
    }
}

/// SIGTERM while a finished chunk's outputs are written (its `chunk-K.part` folder exists):
/// the chunk is still finished and the run stops at its checkpoint, naming `--resume`, with no
/// `.part` left; resumed, it gives the uninterrupted run's bytes. (The chunk used to stop
/// half-written, with advice to start again with --force, which throws the checkpoint away.)
#[test]
fn a_signal_while_a_chunk_is_written_keeps_the_checkpoint() {
    let tmp = tempfile::tempdir().unwrap();
    let mut spec: serde_json::Value =
        serde_json::from_slice(&idpsim(&["preset", "quickstart"]).stdout).expect("the preset is JSON");
    spec["ensemble"]["trajectories"] = 768.into();
    spec["run"] = serde_json::json!({ "backend": "cpu", "chunk_trajectories": 64 });
    spec["observe"]["overlaps"]["per_trajectory"] = true.into();
    let file = tmp.path().join("spec.json");
    std::fs::write(&file, spec.to_string()).unwrap();
    let (whole, dir) = (tmp.path().join("whole"), tmp.path().join("ck"));
    let f = file.to_str().unwrap();
    assert!(idpsim(&["run", f, "--out", whole.to_str().unwrap(), "--quiet"]).status.success());
    let d = dir.to_str().unwrap();
    let child = idpsim_cmd(&["run", f, "--out", d, "--checkpoint-every", "100", "--quiet"])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let writing = || {
        std::fs::read_dir(checkpoint::folder(&dir))
            .map(|r| r.flatten().any(|e| e.file_name().to_string_lossy().ends_with(".part")))
            .unwrap_or(false)
    };
    let start = std::time::Instant::now();
    while !writing() {
        assert!(start.elapsed().as_secs() < 120, "no chunk was written");
    }
    let kill = std::process::Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
    assert!(kill.unwrap().success());
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(143), "{}", stderr(&out));
    assert!(stderr(&out).contains(&format!("--resume {d}")), "{}", stderr(&out));
    assert!(!writing(), "a chunk's .part folder was left");
    let resumed = idpsim(&["run", "--resume", d, "--quiet"]);
    assert!(resumed.status.success(), "{}", stderr(&resumed));
    assert_same_files("a signal while a chunk is written", &whole, &dir);
}

#[test]
fn killed_runs_resume_from_their_checkpoint_cpu() {
    killed_runs_resume_from_their_checkpoint("cpu", "600");
}

#[test]
fn killed_runs_resume_from_their_checkpoint_gpu() {
    if common::gpu().is_some() {
        killed_runs_resume_from_their_checkpoint("gpu", "5000");
    }
}

/// What --checkpoint-every and --resume refuse, with exit status 2 and the flag named.
#[test]
fn checkpoint_flags_refuse_what_they_cannot_do() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path().join("r");
    let o = d.to_str().unwrap();
    let run = ["run", "--preset", "quickstart", "--backend", "cpu", "--trajectories", "64", "--quiet", "--out", o];
    for bad in ["0", "-1", "NaN", "0.001", "inf", "0.015"] {
        let flag = format!("--checkpoint-every={bad}");
        let r = idpsim(&[&run[..], &[flag.as_str()]].concat());
        assert_eq!(r.status.code(), Some(2), "{bad}: {}", stderr(&r));
        assert!(stderr(&r).contains("--checkpoint-every"), "{}", stderr(&r));
        assert!(!d.exists(), "{bad}: a refused run wrote its directory");
    }
    // 0.015 is no whole number of steps of 0.01: refused, not rounded to 0.02.
    let r = idpsim(&[&run[..], &["--checkpoint-every", "0.015"]].concat());
    assert!(stderr(&r).contains("0.015 is not a whole number of time steps (dt = 0.01)"), "{}", stderr(&r));
    let r = idpsim(&["run", "--preset", "robustness-sweep", "--out", o, "--checkpoint-every", "1"]);
    assert_eq!(r.status.code(), Some(2), "{}", stderr(&r));
    assert!(stderr(&r).contains("--checkpoint-every: a sweep"), "{}", stderr(&r));
    // No checkpoint to resume.
    let r = idpsim(&["run", "--resume", o]);
    assert_eq!(r.status.code(), Some(2), "{}", stderr(&r));
    assert!(stderr(&r).contains("holds no checkpoint"), "{}", stderr(&r));
    // --resume takes nothing else.
    let r = idpsim(&["run", "--resume", o, "--preset", "quickstart"]);
    assert_eq!(r.status.code(), Some(2), "{}", stderr(&r));

    // A checkpoint left by a crash; then damaged in two ways.
    let p = plan(everything());
    let mut cpu = CpuBackend::new();
    let mut crashing = Crashing { inner: &mut cpu, calls_left: 4 };
    engine::run_checkpointed(&p, &mut crashing, &d, Checkpointing::Every(3), &mut Bar::pausing(true)).unwrap_err();
    let record_path = checkpoint::folder(&d).join(checkpoint::RECORD);
    let record = std::fs::read_to_string(&record_path).unwrap();
    let mut other: serde_json::Value = serde_json::from_str(&record).unwrap();
    other["backend"] = json!("gpu");
    other["adapter"] = json!("Some GPU");
    std::fs::write(&record_path, other.to_string()).unwrap();
    let r = idpsim(&["run", "--resume", o]);
    assert_eq!(r.status.code(), Some(2), "{}", stderr(&r));
    assert!(stderr(&r).contains("Some GPU") && stderr(&r).contains("--force"), "{}", stderr(&r));
    // Written by another build, or by one that did not record its build: refused, naming both.
    let mut other: serde_json::Value = serde_json::from_str(&record).unwrap();
    assert_eq!(other["build"], idpsim::SOURCES_SHA256);
    other["build"] = json!("0123456789ab".repeat(5) + "cdef");
    std::fs::write(&record_path, other.to_string()).unwrap();
    let r = idpsim(&["run", "--resume", o]);
    assert_eq!(r.status.code(), Some(2), "{}", stderr(&r));
    let want = format!("another build of idpsim (sources 0123456789ab; this is sources {})", idpsim::BUILD_ID);
    assert!(stderr(&r).contains(&want) && stderr(&r).contains("--force"), "{}", stderr(&r));
    other.as_object_mut().unwrap().remove("build");
    std::fs::write(&record_path, other.to_string()).unwrap();
    let r = idpsim(&["run", "--resume", o]);
    assert_eq!(r.status.code(), Some(2), "{}", stderr(&r));
    assert!(stderr(&r).contains("sources not recorded"), "{}", stderr(&r));
    // The spec's run section edited (a layout reads the state in its own order): refused.
    let mut other: serde_json::Value = serde_json::from_str(&record).unwrap();
    other["spec"]["run"]["layout"] = json!("group");
    std::fs::write(&record_path, other.to_string()).unwrap();
    let r = idpsim(&["run", "--resume", o]);
    assert_eq!(r.status.code(), Some(2), "{}", stderr(&r));
    assert!(stderr(&r).contains("run_sha256"), "{}", stderr(&r));
    // A state written in one work layout is not resumed in another.
    let mut other: serde_json::Value = serde_json::from_str(&record).unwrap();
    assert_eq!(other["layout"], json!(null), "the CPU has no work layout");
    other["layout"] = json!("thread");
    let rec: checkpoint::Record = serde_json::from_value(other).unwrap();
    let e = rec.check_layout(Some("group")).unwrap_err().to_string();
    assert!(e.contains("--resume") && e.contains("thread work layout") && e.contains("group layout"), "{e}");
    assert!(rec.check_layout(Some("thread")).is_ok() && rec.check_layout(None).is_ok());
    std::fs::write(&record_path, &record).unwrap();
    // A finished chunk of another build in the checkpoint's folder: refused too.
    let d2 = tmp.path().join("r2");
    let mut crashing = Crashing { inner: &mut cpu, calls_left: 14 };
    engine::run_checkpointed(&p, &mut crashing, &d2, Checkpointing::Every(7), &mut Bar::pausing(true)).unwrap_err();
    let chunk_run = checkpoint::chunk_dir(&d2, 0).join("run.json");
    let chunk_text = std::fs::read_to_string(&chunk_run).unwrap();
    let mut chunk: serde_json::Value = serde_json::from_str(&chunk_text).unwrap();
    assert_eq!(chunk["build"], idpsim::SOURCES_SHA256);
    chunk["build"] = json!("0123456789ab".repeat(5) + "cdef");
    std::fs::write(&chunk_run, chunk.to_string()).unwrap();
    let r = idpsim(&["run", "--resume", d2.to_str().unwrap()]);
    assert_eq!(r.status.code(), Some(2), "{}", stderr(&r));
    assert!(stderr(&r).contains("chunk-0") && stderr(&r).contains("another build"), "{}", stderr(&r));
    std::fs::write(&chunk_run, &chunk_text).unwrap();
    let r = idpsim(&["run", "--resume", d2.to_str().unwrap(), "--quiet"]);
    assert!(r.status.success(), "{}", stderr(&r));
    let state: serde_json::Value = serde_json::from_str(&record).unwrap();
    let state_dir = checkpoint::folder(&d).join(state["state"]["dir"].as_str().unwrap());
    let mut bytes = std::fs::read(state_dir.join("state.npy")).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    std::fs::write(state_dir.join("state.npy"), &bytes).unwrap();
    let r = idpsim(&["run", "--resume", o]);
    assert_eq!(r.status.code(), Some(2), "{}", stderr(&r));
    assert!(stderr(&r).contains("damaged") && stderr(&r).contains("state.npy"), "{}", stderr(&r));
    // The record that lists the state's files is the checkpoint's (the state has no run.json).
    assert!(stderr(&r).contains("state.npy does not match its checkpoint.json"), "{}", stderr(&r));
    // --force starts again and leaves no checkpoint behind.
    let r = idpsim(&[&run[..], &["--force"]].concat());
    assert!(r.status.success(), "{}", stderr(&r));
    assert!(!checkpoint::folder(&d).exists() && d.join("run.json").exists());
}

/// A run whose INCOMPLETE marker was removed by hand while it was stopped still resumes and
/// ends with status 0: run.json is what completes it, and the marker's absence is no failure.
#[test]
fn a_resumed_run_without_its_incomplete_marker_ends_well() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path().join("r");
    let p = plan(everything());
    let mut cpu = CpuBackend::new();
    let mut crashing = Crashing { inner: &mut cpu, calls_left: 4 };
    engine::run_checkpointed(&p, &mut crashing, &d, Checkpointing::Every(3), &mut Bar::pausing(true)).unwrap_err();
    std::fs::remove_file(d.join("INCOMPLETE")).unwrap();
    let r = idpsim(&["run", "--resume", d.to_str().unwrap(), "--quiet"]);
    assert!(r.status.success(), "{}", stderr(&r));
    assert!(d.join("run.json").exists() && !checkpoint::folder(&d).exists());
}
