//! What the tool refuses instead of writing wrong, mixed or missing data.

mod common;

use std::path::Path;

use common::{idpsim, on_every_backend, plan, stderr, wait_for};
use idpsim::engine;
use serde_json::{Value, json};

/// The modern model with identity activations and saliency 3: the overlaps grow like e^{2t}
/// (about 1e13 at t = 15) while staying finite, so m² leaves the exact sums' range. The run
/// stops and says so; it never writes a wrapped mean or std.
#[test]
fn sums_that_outgrow_their_exact_range_stop_the_run() {
    let p = plan(json!({
        "model": { "kind": "modern", "activation": { "kind": "identity" } },
        "memories": { "kind": "hadamard", "n": 16, "p": 2 },
        "input": { "segments": [ { "duration": 15.0, "saliency": [3.0, 3.0] } ] },
        "noise": { "sigma": 0.1 },
        "ensemble": { "trajectories": 128, "seed": 1 },
        "observe": { "overlaps": { "every": 0.5 } }
    }));
    on_every_backend(|b| {
        let e = format!("{:#}", engine::run_in_memory(&p, b).err().expect("the run must stop"));
        assert!(e.contains("cannot be kept exactly") && e.contains("overlap m_"), "{e}");
    });
}

/// A spec is one JSON object and nothing else.
#[test]
fn a_spec_is_exactly_one_json_object() {
    let tmp = tempfile::tempdir().unwrap();
    let base = String::from_utf8(idpsim(&["preset", "quickstart"]).stdout).unwrap();
    let cases = [
        (format!("{base} {{\"ensemble\": {{\"trajectories\": 1}}}}"), "more after its closing brace"),
        (format!("[{base}]"), "one JSON object"),
        ("17".to_string(), "one JSON object"),
    ];
    for (k, (text, want)) in cases.iter().enumerate() {
        let spec = tmp.path().join(format!("s{k}.json"));
        std::fs::write(&spec, text).unwrap();
        let out = tmp.path().join(format!("o{k}"));
        let o = idpsim(&["run", spec.to_str().unwrap(), "--out", out.to_str().unwrap()]);
        assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
        assert!(stderr(&o).contains(want), "{}", stderr(&o));
        assert!(!out.exists(), "a refused run created its output directory");
    }
}

/// Sizes and values that the machine or the format cannot hold are refused before any work,
/// with exit status 2 and the field or flag named; nothing hangs, loops or aborts.
#[test]
fn limits_are_checked_before_work_starts() {
    let tmp = tempfile::tempdir().unwrap();
    let base: serde_json::Value = serde_json::from_slice(&idpsim(&["preset", "fpe2d-equal"]).stdout).unwrap();
    let write = |name: &str, v: &serde_json::Value| {
        let p = tmp.path().join(name);
        std::fs::write(&p, v.to_string()).unwrap();
        p.to_str().unwrap().to_string()
    };
    let mut huge_range = base.clone();
    huge_range["observe"]["histogram"]["range"] = json!([[-1e39, 1e39], [-4, 4]]);
    let mut tiny_bins = base.clone();
    tiny_bins["observe"]["histogram"]["range"] = json!([[1.0, 1.0000001], [-4, 4]]);
    let mut sweep = base.clone();
    let values: Vec<f64> = (0..65536).map(|k| k as f64 * 1e-3).collect();
    sweep["sweep"] =
        json!({ "noise.sigma": values, "integrator.dt": values, "input.gain": values, "ensemble.seed": values });
    let mut long_name = base.clone();
    long_name["name"] = json!("x".repeat(5_000_000));
    let mut many_saves = base.clone();
    many_saves["input"]["segments"][0]["duration"] = json!(20000.0);
    many_saves["observe"]["overlaps"] = json!({ "every": 0.01 });
    let mut flat_slope = base.clone();
    flat_slope["model"]["activation"]["slope"] = json!(1e-300);
    // An NPY file whose header claims 4 GiB of memories it does not hold.
    let npy = tmp.path().join("claims.npy");
    let header = "{'descr': '<f8', 'fortran_order': False, 'shape': (128, 4194304), }";
    let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
    let pad = 64 - (10 + header.len() + 1) % 64;
    let len = (header.len() + pad + 1) as u16;
    bytes.extend(len.to_le_bytes());
    bytes.extend(header.as_bytes());
    bytes.extend(std::iter::repeat_n(b' ', pad));
    bytes.push(b'\n');
    bytes.extend([0u8; 64]);
    std::fs::write(&npy, bytes).unwrap();
    let mut claims = base.clone();
    claims["memories"] = json!({ "kind": "file", "path": npy.to_str().unwrap() });
    let fifo = tmp.path().join("fifo.json");
    assert!(std::process::Command::new("mkfifo").arg(&fifo).status().unwrap().success());

    let out = tmp.path().join("out");
    let o = out.to_str().unwrap();
    let cases: Vec<(Vec<String>, &str)> = vec![
        (vec!["run".into(), write("range.json", &huge_range), "--out".into(), o.into()], "observe.histogram.range[0]"),
        (vec!["run".into(), write("bins.json", &tiny_bins), "--out".into(), o.into()], "observe.histogram.range[0]"),
        (vec!["run".into(), write("sweep.json", &sweep), "--out".into(), o.into()], "sweep"),
        (vec!["run".into(), write("name.json", &long_name), "--out".into(), o.into()], "name"),
        (vec!["run".into(), write("saves.json", &many_saves), "--out".into(), o.into()], "observe.overlaps.every"),
        (vec!["run".into(), write("slope.json", &flat_slope), "--out".into(), o.into()], "model.activation.slope"),
        (vec!["run".into(), write("claims.json", &claims), "--out".into(), o.into()], "memories.path"),
        (vec!["run".into(), "/dev/zero".into(), "--out".into(), o.into()], "regular file"),
        (vec!["run".into(), fifo.to_str().unwrap().into(), "--out".into(), o.into()], "regular file"),
        (vec!["theory".into(), "--saliency".into(), "1.5,2".into(), "--n".into(), "1048576".into()], "--n"),
        (
            vec![
                "fpe".into(),
                "--preset".into(),
                "fpe2d-equal".into(),
                "--grid".into(),
                "2000".into(),
                "--out".into(),
                o.into(),
            ],
            "--grid",
        ),
        (
            vec![
                "landscape".into(),
                "--saliency".into(),
                "1.5,2".into(),
                "--slope".into(),
                "1e-300".into(),
                "--out".into(),
                o.into(),
            ],
            "--slope",
        ),
    ];
    for (args, want) in cases {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let started = std::time::Instant::now();
        let r = idpsim(&args);
        let e = stderr(&r);
        assert_eq!(r.status.code(), Some(2), "{:?}: {e}", &args[..2]);
        assert!(e.contains(want), "{:?}: expected '{want}' in: {}", &args[..2], &e[..e.len().min(300)]);
        assert!(e.lines().count() <= 2 && e.len() < 2000, "{:?}: not a short message", &args[..2]);
        assert!(started.elapsed().as_secs() < 20, "{:?} took {:?}", &args[..2], started.elapsed());
        assert!(!out.exists(), "{:?}: a refused command wrote output", &args[..2]);
    }
}

/// Hidden temporaries (`.name.tmp`) in a directory.
fn temporaries(dir: &std::path::Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .filter(|n| n.starts_with('.') && n.ends_with(".tmp"))
        .collect()
}

/// A second run into a directory being written is refused (even with --force); a run stopped by
/// SIGTERM removes its temporaries and leaves no run.json; after SIGKILL (nothing can clean
/// up) the rerun says the directory holds an interrupted run; --force starts it again.
#[test]
fn runs_are_exclusive_and_interrupted_runs_say_so() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("run");
    let o = out.to_str().unwrap();
    let args = ["run", "--preset", "quickstart", "--backend", "cpu", "--trajectories", "400000", "--quiet", "--out", o];
    for signal in ["TERM", "KILL"] {
        let mut child = common::idpsim_cmd(&args).arg("--force").spawn().unwrap();
        wait_for("the run's temporary files", || out.exists() && !temporaries(&out).is_empty());
        let second = idpsim(&["run", "--preset", "quickstart", "--backend", "cpu", "--out", o, "--force"]);
        assert_eq!(second.status.code(), Some(2), "{}", stderr(&second));
        assert!(stderr(&second).contains("another idpsim process"), "{}", stderr(&second));
        let kill = std::process::Command::new("kill").args([&format!("-{signal}"), &child.id().to_string()]).status();
        assert!(kill.unwrap().success());
        let status = child.wait().unwrap();
        assert!(!out.join("run.json").exists(), "{signal}: an interrupted run wrote run.json");
        if signal == "TERM" {
            assert_eq!(status.code(), Some(128 + 15), "SIGTERM exits with 143");
            assert!(temporaries(&out).is_empty(), "SIGTERM left {:?}", temporaries(&out));
        }
        let rerun = idpsim(&args);
        assert_eq!(rerun.status.code(), Some(2), "{}", stderr(&rerun));
        assert!(stderr(&rerun).contains("interrupted run") && stderr(&rerun).contains("--force"), "{}", stderr(&rerun));
    }
    let small = [
        "run",
        "--preset",
        "quickstart",
        "--backend",
        "cpu",
        "--trajectories",
        "128",
        "--quiet",
        "--out",
        o,
        "--force",
    ];
    let o = idpsim(&small);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(out.join("run.json").exists() && temporaries(&out).is_empty());
}

/// A signal stops a run within seconds, however much work a step is: each backend reports its
/// progress, and so looks for signals, about every half second (`backend::Pace`), not after a
/// fixed number of steps. Before, the CPU reference at P = 250 took 33 s to stop and 250 000
/// quickstart trajectories on lavapipe 13 s (10 000 at N = 1024, 53 s), where Slurm sends
/// SIGKILL 30 s after SIGTERM by default. Each run is stopped once its integration is under
/// way (its kernels built); the bound, 5 s, is ten times what it takes on an idle machine.
#[test]
fn a_signal_stops_a_run_within_seconds() {
    use std::io::BufRead;
    let tmp = tempfile::tempdir().unwrap();
    let large_p = tmp.path().join("large-p.json");
    let spec = json!({
        "model": { "kind": "classic", "activation": { "kind": "tanh", "slope": 10.0 }, "zero_diagonal": true },
        "memories": { "kind": "random", "n": 1000, "p": 250, "seed": 1 },
        "input": { "segments": [ { "duration": 200.0, "cue": { "index": "random", "amplitude": 1.0 } } ] },
        "integrator": { "scheme": "euler_maruyama", "dt": 0.05 },
        "ensemble": { "trajectories": 256, "seed": 3, "initial": { "kind": "memory", "index": "target", "flip": 0.1 } },
        "observe": { "overlaps": { "every": 1.0 } }
    });
    std::fs::write(&large_p, spec.to_string()).unwrap();
    let cases: [(&str, Vec<&str>); 2] =
        [("cpu", vec![large_p.to_str().unwrap()]), ("gpu", vec!["--preset", "quickstart", "--trajectories", "250000"])];
    for (backend, spec) in cases {
        if backend == "gpu" && common::gpu().is_none() {
            continue;
        }
        let out = tmp.path().join(backend);
        let mut child = common::idpsim_cmd(
            &[&["run"][..], &spec, &["--backend", backend, "--out", out.to_str().unwrap()]].concat(),
        )
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
        // The GPU's kernels are built (a signal waits for a build to end) when it says so.
        let (tx, rx) = std::sync::mpsc::channel();
        let lines = std::io::BufReader::new(child.stderr.take().unwrap());
        let reader = std::thread::spawn(move || {
            for line in lines.lines().map_while(Result::ok) {
                if line.starts_with("built ") {
                    let _ = tx.send(());
                }
            }
        });
        if backend == "gpu" {
            rx.recv_timeout(std::time::Duration::from_secs(600)).expect("the kernels were built");
        }
        wait_for("the run's directory", || out.join("INCOMPLETE").exists());
        std::thread::sleep(std::time::Duration::from_secs(2));
        assert!(child.try_wait().unwrap().is_none(), "{backend}: the run ended before the signal");
        let sent = std::time::Instant::now();
        let kill = std::process::Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
        assert!(kill.unwrap().success());
        let status = child.wait().unwrap();
        let took = sent.elapsed();
        reader.join().unwrap();
        assert_eq!(status.code(), Some(143), "{backend}: SIGTERM exits with 143");
        assert!(took.as_secs_f64() < 5.0, "{backend}: the run took {took:?} to stop after SIGTERM");
        assert!(!out.join("run.json").exists(), "{backend}: a stopped run wrote run.json");
    }
}

/// A seeded mutation loop over every preset: 300 edits each (over 5000 specs), never a panic;
/// every refusal names a field path; and a sample of the specs that resolve, small enough to
/// run in a moment, run through the command line ending with status 0, 1 or 2 within a minute.
#[test]
fn spec_fuzz_over_every_preset() {
    let values = [
        json!(-1),
        json!(0),
        json!(1e308),
        json!(-1e308),
        json!(65536),
        json!(4294967296u64),
        json!("x"),
        json!([]),
        json!([1, 2, 3]),
        json!({}),
        json!(null),
        json!(3.5),
        json!(1e-300),
        json!(true),
    ];
    let mut state = 0x2545f4914f6cdd1du64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    fn pointers(v: &Value, at: String, out: &mut Vec<String>) {
        match v {
            Value::Object(m) => m.iter().for_each(|(k, c)| pointers(c, format!("{at}/{k}"), out)),
            Value::Array(a) => a.iter().enumerate().take(4).for_each(|(i, c)| pointers(c, format!("{at}/{i}"), out)),
            _ => {}
        }
        if !at.is_empty() {
            out.push(at);
        }
    }
    let tmp = tempfile::tempdir().unwrap();
    let (mut specs, mut refused, mut ran) = (0, 0, 0);
    for (name, _, text) in idpsim::presets::PRESETS {
        let base: Value = serde_json::from_str(text).unwrap();
        let mut ptrs = Vec::new();
        pointers(&base, String::new(), &mut ptrs);
        for _ in 0..300 {
            let mut spec = base.clone();
            for _ in 0..(1 + next() % 3) {
                let p = &ptrs[(next() % ptrs.len() as u64) as usize];
                if let Some(slot) = spec.pointer_mut(p) {
                    *slot = values[(next() % values.len() as u64) as usize].clone();
                }
            }
            let text = spec.to_string();
            specs += 1;
            let result = std::panic::catch_unwind(|| {
                idpsim::spec::Spec::from_json(&text).and_then(|s| idpsim::resolve::plan(&s, std::path::Path::new(".")))
            });
            let plan = match result {
                Err(_) => panic!("{name}: panicked on {text}"),
                Ok(Err(e)) => {
                    assert!(!e.field.is_empty() && !e.message.is_empty(), "{name}: an error without a field: {e}");
                    refused += 1;
                    continue;
                }
                Ok(Ok(plan)) => plan,
            };
            let work = plan.n() as u64 * plan.time.total_steps as u64 * 64;
            if plan.input.segments.len() > 8 || work > 20_000_000 || spec.get("sweep").is_some() || ran >= 25 {
                continue;
            }
            let path = tmp.path().join(format!("f{specs}.json"));
            std::fs::write(&path, &text).unwrap();
            let out = tmp.path().join(format!("o{specs}"));
            let started = std::time::Instant::now();
            let args = [
                "run",
                path.to_str().unwrap(),
                "--out",
                out.to_str().unwrap(),
                "--trajectories",
                "64",
                "--backend",
                "cpu",
                "--quiet",
            ];
            let o = idpsim(&args);
            assert!(matches!(o.status.code(), Some(0..=2)), "{name}: exit {:?} on {text}: {}", o.status, stderr(&o));
            assert!(started.elapsed().as_secs() < 60, "{name}: took {:?}", started.elapsed());
            ran += 1;
        }
    }
    eprintln!("{specs} specs: {refused} refused naming a field, {ran} run through the command line");
    assert!(specs >= 5000 && refused > 1000 && ran >= 10, "{specs} {refused} {ran}");
}

/// A forced rerun removes the earlier run's files first: a directory never mixes two runs.
#[test]
fn a_forced_rerun_leaves_no_file_of_the_earlier_run() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("o");
    let o = out.to_str().unwrap();
    let first =
        idpsim(&["run", "--preset", "quickstart", "--backend", "cpu", "--trajectories", "64", "--quiet", "--out", o]);
    assert!(first.status.success(), "{}", stderr(&first));
    assert!(out.join("final_state.npy").exists());
    let mut spec: serde_json::Value = serde_json::from_slice(&idpsim(&["preset", "quickstart"]).stdout).unwrap();
    spec["observe"]["final_state"] = json!(false);
    spec["ensemble"]["seed"] = json!(7);
    let path = tmp.path().join("no-final.json");
    std::fs::write(&path, spec.to_string()).unwrap();
    let args =
        ["run", path.to_str().unwrap(), "--backend", "cpu", "--trajectories", "64", "--quiet", "--out", o, "--force"];
    let second = idpsim(&args);
    assert!(second.status.success(), "{}", stderr(&second));
    assert!(!out.join("final_state.npy").exists(), "the earlier run's final_state.npy survived");
    let check = idpsim(&["merge", "--check", o]);
    assert!(check.status.success(), "{}", String::from_utf8_lossy(&check.stdout));
}

/// Edge cases found in review: a single memory keeps its axis in per-trajectory arrays; a
/// rerun whose recorded intervals do not round-trip through JSON text is still recognised;
/// merging into one of the shards is refused before anything is touched; a foreign run makes
/// `merge --check` incomplete; a one-task Slurm array is not a shard count.
#[test]
fn review_edge_cases() {
    // P = 1: overlaps.npy is [M, T, 1], as the ensemble arrays keep P.
    let one = plan(json!({
        "model": { "kind": "idp" },
        "memories": { "kind": "hadamard", "n": 4, "p": 1 },
        "input": { "segments": [ { "duration": 0.2, "weights": [1.5] } ] },
        "ensemble": { "trajectories": 70, "seed": 1 },
        "observe": { "overlaps": { "every": 0.1, "per_trajectory": true }, "energy": { "per_trajectory": true } }
    }));
    let mem = engine::run_in_memory(&one, &mut idpsim::cpu::CpuBackend::new()).unwrap();
    assert_eq!(mem.array("overlaps").unwrap().shape, vec![70, 3, 1]);
    assert_eq!(mem.array("energy").unwrap().shape, vec![70, 3]);

    let tmp = tempfile::tempdir().unwrap();
    // dt = 0.001 and a 1.3-unit segment: the recorded intervals are not exact in binary.
    let mut spec: serde_json::Value = serde_json::from_slice(&idpsim(&["preset", "quickstart"]).stdout).unwrap();
    spec["integrator"]["dt"] = json!(0.001);
    spec["input"]["segments"][0]["duration"] = json!(1.3);
    spec["observe"] = json!({ "overlaps": { "every": 0.013 } });
    let path = tmp.path().join("fine.json");
    std::fs::write(&path, spec.to_string()).unwrap();
    let out = tmp.path().join("fine");
    let args = [
        "run",
        path.to_str().unwrap(),
        "--backend",
        "cpu",
        "--trajectories",
        "64",
        "--quiet",
        "--out",
        out.to_str().unwrap(),
    ];
    assert!(idpsim(&args).status.success());
    let again = idpsim(&args);
    assert!(again.status.success() && stderr(&again).contains("nothing to do"), "{}", stderr(&again));

    // Two shards of it, and a run of something else.
    let shard = |i: usize| {
        let d = tmp.path().join(format!("s{i}")).to_str().unwrap().to_string();
        let s = format!("{i}/2");
        let mut a = args.to_vec();
        a[5] = "128";
        let last = a.len() - 1;
        a[last] = &d;
        a.extend(["--shard", &s]);
        let o = idpsim(&a);
        assert!(o.status.success(), "{}", stderr(&o));
        d
    };
    let (s0, s1) = (shard(0), shard(1));
    let before = std::fs::read(std::path::Path::new(&s0).join("run.json")).unwrap();
    let o = idpsim(&["merge", &s0, &s1, "--out", &s0, "--force"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("is one of the shards"), "{}", stderr(&o));
    assert_eq!(std::fs::read(std::path::Path::new(&s0).join("run.json")).unwrap(), before, "a shard was touched");
    let o = idpsim(&["merge", "--check", &s0, &s1, out.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1), "a foreign run is not part of a complete set");
    assert!(String::from_utf8_lossy(&o.stdout).contains("another run"));

    let single = [
        ("SLURM_ARRAY_TASK_ID", "0"),
        ("SLURM_ARRAY_TASK_MIN", "0"),
        ("SLURM_ARRAY_TASK_MAX", "0"),
        ("SLURM_ARRAY_TASK_COUNT", "1"),
    ];
    let d = tmp.path().join("one-task");
    let mut a = args.to_vec();
    let last = a.len() - 1;
    a[last] = d.to_str().unwrap();
    a.extend(["--shard", "slurm"]);
    let o = common::idpsim_cmd(&a).envs(single).output().unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("--shard 0/N") && !d.exists(), "{}", stderr(&o));
}

/// A write that fails (here: files capped at 100 KiB by `ulimit -f`, as a full disk would stop
/// them) ends the run with exit status 1 and names the file, and the directory stays marked
/// incomplete. (ci/full-disk.sh does the same on a real, full file system.)
#[test]
fn a_failed_write_names_its_file() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("r");
    let script = format!(
        "ulimit -f 100; trap '' XFSZ; exec '{}' run --preset quickstart --backend cpu --trajectories 512 --quiet --out '{}'",
        env!("CARGO_BIN_EXE_idpsim"),
        out.display()
    );
    let o = std::process::Command::new("bash").args(["-c", &script]).output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    let named =
        err.lines().any(|l| l.contains(&format!("cannot write {}/", out.display())) && l.contains("File too large"));
    assert!(named, "the error names the file: {err}");
    assert!(out.join("INCOMPLETE").exists() && !out.join("run.json").exists());
}

/// A memories file that changes between runs of one spec is noticed: merge refuses shards that
/// ran with different memories, or memories that differ from the file's now; a rerun into a
/// complete directory does not call it done.
#[test]
fn a_changed_memories_file_is_noticed() {
    let tmp = tempfile::tempdir().unwrap();
    let mem = tmp.path().join("mem.npy");
    let pattern = |flip: f64| -> Vec<f64> { (0..16).map(|k| if k % 3 == 0 { flip } else { 1.0 }).collect() };
    let spec_path = tmp.path().join("spec.json");
    let spec = json!({
        "name": "file-memories",
        "model": { "kind": "idp", "activation": { "kind": "tanh", "slope": 1.0 } },
        "memories": { "kind": "file", "path": mem.to_str().unwrap() },
        "input": { "segments": [ { "duration": 0.2, "weights": [1.5, 1.0] } ] },
        "noise": { "sigma": 0.3 },
        "ensemble": { "trajectories": 128, "seed": 1 },
        "run": { "backend": "cpu" }
    });
    std::fs::write(&spec_path, spec.to_string()).unwrap();
    let sp = spec_path.to_str().unwrap();
    let dir = |k: u32| tmp.path().join(format!("s{k}"));
    let run = |k: u32, extra: &[&str]| {
        let shard = format!("{k}/2");
        let d = dir(k);
        idpsim(&[&["run", sp, "--quiet", "--shard", &shard, "--out", d.to_str().unwrap()][..], extra].concat())
    };
    idpsim::io::write_npy(&mem, &[2, 8], &pattern(1.0)).unwrap();
    assert!(run(0, &[]).status.success());
    idpsim::io::write_npy(&mem, &[2, 8], &pattern(-1.0)).unwrap();
    assert!(run(1, &[]).status.success());
    let merge = |out: &str| idpsim(&["merge", dir(0).to_str().unwrap(), dir(1).to_str().unwrap(), "--out", out]);
    let m = merge(tmp.path().join("m1").to_str().unwrap());
    assert_eq!(m.status.code(), Some(2), "{}", stderr(&m));
    assert!(stderr(&m).contains("different memories"), "{}", stderr(&m));
    // Shard 0 ran the old memories: a rerun with the new ones is not "already done".
    let again = run(0, &[]);
    assert_eq!(again.status.code(), Some(2), "{}", stderr(&again));
    assert!(!stderr(&again).contains("nothing to do"), "{}", stderr(&again));
    assert!(run(0, &["--force"]).status.success());
    assert!(merge(tmp.path().join("m2").to_str().unwrap()).status.success());
    // Both shards ran the new memories; the file changes again before the merge.
    idpsim::io::write_npy(&mem, &[2, 8], &pattern(1.0)).unwrap();
    let m = merge(tmp.path().join("m3").to_str().unwrap());
    assert_eq!(m.status.code(), Some(2), "{}", stderr(&m));
    assert!(stderr(&m).contains("memories file changed"), "{}", stderr(&m));
}

/// Replaces `file` of run directory `dir` by an NPY array and records its new size and SHA-256
/// in run.json's manifest: a hand edit that keeps the manifest consistent.
fn forge_npy<T: npyz::AutoSerialize + Copy>(dir: &Path, file: &str, shape: &[u64], data: &[T]) {
    idpsim::io::write_npy(&dir.join(file), shape, data).unwrap();
    let (bytes, sha256) = idpsim::outputs::manifest::digest(&dir.join(file)).unwrap();
    let path = dir.join("run.json");
    let mut run: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    run["manifest"][file] = json!({ "bytes": bytes, "sha256": sha256 });
    std::fs::write(&path, run.to_string()).unwrap();
}

fn read_npy<T: npyz::Deserialize>(path: &Path) -> Vec<T> {
    npyz::NpyFile::new(&std::fs::read(path).unwrap()[..]).unwrap().into_vec().unwrap()
}

fn read_json(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

/// Copies a directory tree (`cp -a`).
fn copy_dir(from: &Path, to: &Path) {
    if to.exists() {
        std::fs::remove_dir_all(to).unwrap();
    }
    assert!(std::process::Command::new("cp").arg("-a").arg(from).arg(to).status().unwrap().success());
}

/// Runs idpsim, failing the test if it has not ended within `secs` seconds (it is killed).
fn idpsim_within(args: &[&str], secs: u64) -> std::process::Output {
    let mut child = common::idpsim_cmd(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let started = std::time::Instant::now();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed().as_secs() > secs {
            child.kill().unwrap();
            panic!("{args:?} still running after {secs} s");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

/// Runs shards 0/2 and 1/2 of a spec (`source`: its file, or --preset NAME, and flags) on the
/// CPU into `tmp/s0` and `tmp/s1`.
fn cpu_shards(tmp: &Path, source: &[&str]) -> (String, String) {
    let shard = |i: usize| {
        let d = tmp.join(format!("s{i}")).to_str().unwrap().to_string();
        let s = format!("{i}/2");
        let o = idpsim(&[&["run"][..], source, &["--backend", "cpu", "--quiet", "--shard", &s, "--out", &d]].concat());
        assert!(o.status.success(), "{}", stderr(&o));
        d
    };
    (shard(0), shard(1))
}

/// Runs of one spec on different backends or devices are different runs: merge refuses their
/// shards (unless --mixed-backends, and then run.json says so), `merge --check` names them, and
/// a rerun on another device does not take the directory's run for done. run.json's backend and
/// adapter, which are outside its manifest, stand in for a GPU here.
#[test]
fn runs_on_different_devices_are_different_runs() {
    let tmp = tempfile::tempdir().unwrap();
    let (s0, s1) = cpu_shards(tmp.path(), &["--preset", "quickstart", "--trajectories", "128"]);
    let run1 = Path::new(&s1).join("run.json");
    let mut run = read_json(&run1);
    run["backend"] = json!("gpu");
    run["adapter"] = json!("Some GPU (Vulkan, DiscreteGpu)");
    std::fs::write(&run1, run.to_string()).unwrap();
    let m = tmp.path().join("m");
    let mo = m.to_str().unwrap();
    let o = idpsim(&["merge", &s0, &s1, "--out", mo]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("Some GPU") && stderr(&o).contains("--mixed-backends"), "{}", stderr(&o));
    assert!(stderr(&o).lines().count() == 1 && !m.exists(), "{}", stderr(&o));
    let o = idpsim(&["merge", "--check", &s0, &s1]);
    let report = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(1), "{report}");
    assert!(report.contains(&format!("refused  {s1}")) && report.contains("Some GPU"), "{report}");
    // One verdict per shard, in the order given: the refused shard is not also "ok".
    let verdicts: Vec<&str> = report.lines().filter(|l| l.starts_with("ok ") || l.starts_with("refused ")).collect();
    assert_eq!(verdicts.len(), 2, "{report}");
    assert!(verdicts[0].starts_with(&format!("ok       {s0}")) && verdicts[1].starts_with("refused "), "{report}");
    let o = idpsim(&["merge", "--check", "--mixed-backends", &s0, &s1]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stdout));
    let o = idpsim(&["merge", "--mixed-backends", &s0, &s1, "--out", mo]);
    assert!(o.status.success(), "{}", stderr(&o));
    let merged = read_json(&m.join("run.json"));
    assert_eq!(merged["backend"], json!("mixed"));
    let adapter = merged["adapter"].as_str().unwrap();
    assert!(adapter.contains("Some GPU") && adapter.contains("cpu reference"), "{adapter}");
    // A rerun of shard 1 on the CPU into its directory is not "already done": it is refused,
    // and the directory is left as it was.
    let before = std::fs::read(&run1).unwrap();
    let args = ["run", "--preset", "quickstart", "--trajectories", "128", "--backend", "cpu", "--quiet"];
    let o = idpsim(&[&args[..], &["--shard", "1/2", "--out", &s1]].concat());
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(!stderr(&o).contains("nothing to do") && stderr(&o).contains("Some GPU"), "{}", stderr(&o));
    assert!(stderr(&o).contains("--force"), "{}", stderr(&o));
    assert_eq!(std::fs::read(&run1).unwrap(), before, "the refused rerun changed run.json");
    // On the device it ran on, it is.
    let o = idpsim(&[&args[..], &["--shard", "0/2", "--out", &s0]].concat());
    assert!(o.status.success() && stderr(&o).contains("nothing to do"), "{}", stderr(&o));
}

/// Every observer, 200 trajectories in chunks of 64, 70 steps, on the CPU reference.
fn chunked(seed: u64) -> Value {
    let mut s = common::everything();
    s["observe"]["overlaps"]["every"] = json!(0.03);
    s["ensemble"]["seed"] = json!(seed);
    s["run"] = json!({ "backend": "cpu", "chunk_trajectories": 64 });
    s
}

/// A checkpointed run of `spec` in `dir` stopped at its `calls`-th chunk call, with a
/// checkpoint every 3 steps (chunk 0 takes 24 calls).
fn stopped_run(spec: Value, dir: &Path, calls: usize) {
    let mut cpu = idpsim::cpu::CpuBackend::new();
    let mut crashing = common::Crashing { inner: &mut cpu, calls_left: calls };
    let how = engine::Checkpointing::Every(3);
    let e = engine::run_checkpointed(&plan(spec), &mut crashing, dir, how, &mut engine::Bar::pausing(true));
    assert!(format!("{:#}", e.unwrap_err()).contains("simulated crash"));
}

/// `--resume` checks the whole checkpoint before it integrates anything, and refuses (exit 2,
/// naming what and saying to start again with --force, the checkpoint left as it was) a
/// finished chunk of another run copied into it, a checkpoint.json edited by hand (its spec,
/// even with a matching digest: the chunks and the state record the run's digest too; an
/// interval of 0 steps, which would never end), and a damaged chunk; a directory that does not
/// exist is not created. The intact checkpoint then resumes to the bytes of the whole run.
#[test]
fn resume_checks_the_whole_checkpoint_first() {
    use idpsim::checkpoint;
    use idpsim::outputs::manifest::spec_digest;
    let tmp = tempfile::tempdir().unwrap();
    let (a, b, whole) = (tmp.path().join("a"), tmp.path().join("b"), tmp.path().join("whole"));
    engine::run_to_dir(&plan(chunked(8)), &mut idpsim::cpu::CpuBackend::new(), &whole, true).unwrap();
    // Chunk 0 finished, chunk 1 in flight at step 15; the same for another seed.
    stopped_run(chunked(8), &a, 30);
    stopped_run(chunked(9), &b, 30);
    let pristine = tmp.path().join("a.pristine");
    copy_dir(&a, &pristine);
    let record_path = checkpoint::folder(&a).join(checkpoint::RECORD);
    let record = read_json(&record_path);
    assert_eq!((record["done"].clone(), record["state"]["step"].clone()), (json!(1), json!(15)));
    let ao = a.to_str().unwrap();
    let refused = |want: &[&str]| {
        let before = std::fs::read(&record_path).unwrap();
        let o = idpsim_within(&["run", "--resume", ao, "--quiet"], 60);
        let e = stderr(&o);
        assert_eq!(o.status.code(), Some(2), "{want:?}: {e}");
        assert!(e.lines().count() == 1 && e.contains("--force"), "{want:?}: {e}");
        assert!(want.iter().all(|w| e.contains(w)), "{want:?}: {e}");
        assert_eq!(std::fs::read(&record_path).unwrap(), before, "{want:?}: the refused resume changed the checkpoint");
        copy_dir(&pristine, &a);
    };
    // A finished chunk of another run (same chunking, another seed).
    copy_dir(&checkpoint::folder(&b).join("chunk-0"), &checkpoint::folder(&a).join("chunk-0"));
    refused(&["chunk-0", "another run"]);
    // checkpoint.json edited: another seed; with its digest made to match; an interval of 0.
    let mut edited = record.clone();
    edited["spec"]["ensemble"]["seed"] = json!(9);
    std::fs::write(&record_path, edited.to_string()).unwrap();
    refused(&["checkpoint.json", "spec_sha256"]);
    edited["spec_sha256"] = json!(spec_digest(&edited["spec"]));
    std::fs::write(&record_path, edited.to_string()).unwrap();
    refused(&["state.json", "another run"]);
    let mut edited = record.clone();
    edited["every_steps"] = json!(0);
    std::fs::write(&record_path, edited.to_string()).unwrap();
    refused(&["every_steps"]);
    // Stopped between chunks (no state), under a record edited to another seed and its digest.
    let between = tmp.path().join("between");
    stopped_run(chunked(8), &between, 25);
    let between_record = checkpoint::folder(&between).join(checkpoint::RECORD);
    let mut edited = read_json(&between_record);
    assert_eq!((edited["done"].clone(), edited["state"].clone()), (json!(1), Value::Null));
    edited["spec"]["ensemble"]["seed"] = json!(9);
    edited["spec_sha256"] = json!(spec_digest(&edited["spec"]));
    std::fs::write(&between_record, edited.to_string()).unwrap();
    let o = idpsim(&["run", "--resume", between.to_str().unwrap(), "--quiet"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("chunk-0") && stderr(&o).contains("another run"), "{}", stderr(&o));
    // A damaged finished chunk is found before the chunk in flight is integrated.
    let sums = checkpoint::folder(&a).join("chunk-0").join("overlaps_sums.npy");
    let mut bytes = std::fs::read(&sums).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    std::fs::write(&sums, bytes).unwrap();
    refused(&["damaged", "overlaps_sums.npy"]);
    // A directory that does not exist.
    let missing = tmp.path().join("no-such-run");
    let o = idpsim(&["run", "--resume", missing.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("holds no checkpoint") && !missing.exists(), "{}", stderr(&o));
    // The intact checkpoint resumes to the whole run's bytes.
    let o = idpsim(&["run", "--resume", ao, "--quiet"]);
    assert!(o.status.success(), "{}", stderr(&o));
    for f in std::fs::read_dir(&whole).unwrap().map(|e| e.unwrap().file_name()) {
        if f != "run.json" {
            assert_eq!(std::fs::read(whole.join(&f)).unwrap(), std::fs::read(a.join(&f)).unwrap(), "{f:?}");
        }
    }
}

/// What merge reads from a shard's files is checked against what it indexes and adds, whatever
/// the manifest says (here edited together with the files): a retrieval target that is no
/// memory of the run, a first passage after the run's end, and histogram counts that would
/// wrap past u64 are refused with exit status 2 naming the shard and the file, never a panic
/// or a wrapped count; `merge --check` does not loop over a shard count no run has.
#[test]
fn merge_checks_what_it_reads_from_shards() {
    let tmp = tempfile::tempdir().unwrap();
    let mut spec = common::everything();
    spec["run"] = json!({ "backend": "cpu" });
    let path = tmp.path().join("everything.json");
    std::fs::write(&path, spec.to_string()).unwrap();
    let (s0, s1) = cpu_shards(tmp.path(), &[path.to_str().unwrap()]);
    let (d0, d1) = (Path::new(&s0), Path::new(&s1));
    let (pristine0, pristine) = (tmp.path().join("s0.pristine"), tmp.path().join("s1.pristine"));
    copy_dir(d0, &pristine0);
    copy_dir(d1, &pristine);
    let merge = |want: &[&str]| {
        let out = tmp.path().join("m");
        let o = idpsim(&["merge", &s0, &s1, "--out", out.to_str().unwrap(), "--force"]);
        let e = stderr(&o);
        assert_eq!(o.status.code(), Some(2), "{want:?}: {e}");
        assert!(e.lines().count() == 1 && want.iter().all(|w| e.contains(w)), "{want:?}: {e}");
        copy_dir(&pristine, d1);
    };
    // Shard 1 holds trajectories 128..200 (72), two segments, P = 3.
    let mut targets: Vec<i32> = read_npy(&d1.join("retrieval_targets.npy"));
    targets[5] = 7;
    forge_npy(d1, "retrieval_targets.npy", &[72, 2], &targets);
    merge(&[&s1, "retrieval_targets.npy", "holds 7 at trajectory 130, segment 1", "memories 0 to 2"]);
    let mut retrieved: Vec<i32> = read_npy(&d1.join("retrieved.npy"));
    retrieved[0] = -5;
    forge_npy(d1, "retrieved.npy", &[72, 2], &retrieved);
    merge(&[&s1, "retrieved.npy", "holds -5"]);
    let mut steps: Vec<u32> = read_npy(&d1.join("first_passage_steps.npy"));
    steps[3] = 71;
    forge_npy(d1, "first_passage_steps.npy", &[72], &steps);
    merge(&[&s1, "first_passage_steps.npy", "step 71 at trajectory 131"]);
    // Counts that fit in each shard but not in their sum.
    for d in [d0, d1] {
        let mut counts: Vec<u64> = read_npy(&d.join("histogram.npy"));
        counts[0] = u64::MAX / 2 + 1;
        forge_npy(d, "histogram.npy", &[8, 6], &counts);
    }
    merge(&[&s1, "histogram.npy", "u64"]);
    copy_dir(&pristine0, d0);
    // A spec edited in both shards' run.json (the files were integrated with the other one):
    // the merged record would certify files it did not make.
    for d in [d0, d1] {
        let mut run = read_json(&d.join("run.json"));
        run["spec"]["integrator"]["dt"] = json!(0.02);
        std::fs::write(d.join("run.json"), run.to_string()).unwrap();
    }
    merge(&["run.json", "its spec does not match its spec_sha256"]);
    copy_dir(&pristine0, d0);
    // Records of builds before spec_sha256 was recorded have none to check: they merge.
    for d in [d0, d1] {
        let mut run = read_json(&d.join("run.json"));
        run.as_object_mut().unwrap().remove("spec_sha256");
        std::fs::write(d.join("run.json"), run.to_string()).unwrap();
    }
    let o = idpsim(&["merge", &s0, &s1, "--out", tmp.path().join("old").to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    copy_dir(&pristine0, d0);
    copy_dir(&pristine, d1);
    // A shard count no run has (merge --check would list that many shards' ranges).
    let run0 = d0.join("run.json");
    let mut run = read_json(&run0);
    run["shard"]["count"] = json!(1u64 << 60);
    std::fs::write(&run0, run.to_string()).unwrap();
    let o = idpsim_within(&["merge", "--check", &s0, &s1], 30);
    assert_eq!(o.status.code(), Some(1), "{}", String::from_utf8_lossy(&o.stdout));
    assert!(String::from_utf8_lossy(&o.stdout).contains("which no run has"));
    // As they were written, they merge.
    copy_dir(&pristine0, d0);
    let o = idpsim(&["merge", &s0, &s1, "--out", tmp.path().join("ok").to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    // A shard stopped before its end (INCOMPLETE, no run.json) is named as interrupted, with
    // what to do: --resume where it left a checkpoint, else run it again.
    std::fs::remove_file(d1.join("run.json")).unwrap();
    std::fs::write(d1.join("INCOMPLETE"), "").unwrap();
    std::fs::create_dir(d1.join(".checkpoint")).unwrap();
    let o = idpsim(&["merge", "--check", &s0, &s1]);
    let said = String::from_utf8_lossy(&o.stdout);
    assert!(
        said.contains(&format!("{s1} holds an interrupted run; finish it with idpsim run --resume {s1}")),
        "{said}"
    );
    assert!(said.contains("is one of these: idpsim run --resume DIR finishes it instead"), "{said}");
    let o = idpsim(&["merge", "--check", &s1]);
    let said = String::from_utf8_lossy(&o.stdout);
    assert!(said.contains("no intact shard: finish those with a checkpoint with idpsim run --resume DIR"), "{said}");
    std::fs::remove_dir(d1.join(".checkpoint")).unwrap();
    let o = idpsim(&["merge", &s0, &s1, "--out", tmp.path().join("no").to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("it has no checkpoint: run the shard again with --force"), "{}", stderr(&o));
}

/// Histogram ranges are binned in f32 on every backend: a range whose edges f32 holds only as
/// subnormal numbers is refused at the spec (exit 2, the field and the usable magnitude named),
/// and a narrow range of normal numbers bins states that are exactly 0 into its cells on every
/// backend, with the same counts.
#[test]
fn histogram_ranges_are_normal_f32_numbers() {
    let spec = |range: Value| {
        json!({
            "model": { "kind": "idp" },
            "memories": { "kind": "hadamard", "n": 2, "p": 1 },
            "input": { "segments": [ { "duration": 0.1, "saliency": [0.0] } ] },
            "ensemble": { "trajectories": 64, "seed": 1, "initial": { "kind": "zero" } },
            "observe": { "histogram": { "of": "state", "axes": [0], "bins": [4], "range": [range] } }
        })
    };
    let tmp = tempfile::tempdir().unwrap();
    for range in [json!([-1e-40, 1e-40]), json!([0.0, 1e-39]), json!([-1e-30, 1e-30])] {
        let subnormal = range[1].as_f64().unwrap() < 1e-35;
        let path = tmp.path().join("h.json");
        std::fs::write(&path, spec(range.clone()).to_string()).unwrap();
        let out = tmp.path().join("h");
        let o = idpsim(&["run", path.to_str().unwrap(), "--backend", "cpu", "--quiet", "--out", out.to_str().unwrap()]);
        if subnormal {
            assert_eq!(o.status.code(), Some(2), "{range}: {}", stderr(&o));
            let e = stderr(&o);
            assert!(e.contains("observe.histogram.range[0]") && e.contains("1.1754944e-38"), "{range}: {e}");
            assert!(!out.exists());
        } else {
            assert!(o.status.success(), "{range}: {}", stderr(&o));
            std::fs::remove_dir_all(&out).unwrap();
        }
    }
    let p = plan(spec(json!([-1e-30, 1e-30])));
    let samples = 64 * p.observe.histogram.as_ref().unwrap().samples_per_trajectory(p.time.total_steps);
    assert_eq!(samples, 64 * 10, "a sample after each of the 10 steps");
    let mut first: Option<Vec<u64>> = None;
    on_every_backend(|b| {
        let store = engine::run_in_memory(&p, b).unwrap();
        let counts = idpsim::outputs::histogram::counts(&store).unwrap();
        assert_eq!((counts[..4].iter().sum::<u64>(), counts[4]), (samples, 0), "every sample in range: {counts:?}");
        match &first {
            None => first = Some(counts),
            Some(c) => assert_eq!(&counts, c, "the backends bin the same states alike"),
        }
    });
}

/// `fpe --compare DIR` compares only a run of the spec's own stationary problem: a run of
/// another model (here the classic model with the same memories, input and noise) is refused
/// with exit 2 naming the difference and nothing written; a run of the same problem with
/// another ensemble is compared, and --grid given with --compare is reported as unused.
#[test]
fn fpe_compares_only_runs_of_its_own_model() {
    let tmp = tempfile::tempdir().unwrap();
    let mut idp: Value = serde_json::from_slice(&idpsim(&["preset", "fpe2d-equal"]).stdout).unwrap();
    // Weights instead of saliencies, which the classic model does not take (orthogonal
    // memories: the same saliencies).
    idp["input"]["segments"][0] = json!({ "duration": 2.0, "weights": [1.5, 1.5] });
    idp["observe"]["histogram"]["from"] = json!(1.0);
    idp["ensemble"]["trajectories"] = json!(256);
    let mut classic = idp.clone();
    classic["model"]["kind"] = json!("classic");
    let file = |name: &str, v: &Value| {
        let p = tmp.path().join(name);
        std::fs::write(&p, v.to_string()).unwrap();
        p.to_str().unwrap().to_string()
    };
    let (idp_spec, classic_spec) = (file("idp.json", &idp), file("classic.json", &classic));
    let dir = |name: &str| tmp.path().join(name).to_str().unwrap().to_string();
    let (c, i, f) = (dir("classic-run"), dir("idp-run"), dir("fpe"));
    let run = |spec: &str, out: &str| {
        let o = idpsim(&["run", spec, "--backend", "cpu", "--trajectories", "128", "--quiet", "--out", out]);
        assert!(o.status.success(), "{}", stderr(&o));
    };
    run(&classic_spec, &c);
    run(&idp_spec, &i);
    let o = idpsim(&["fpe", &idp_spec, "--compare", &c, "--out", &f]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("--compare") && stderr(&o).contains("model"), "{}", stderr(&o));
    assert!(!Path::new(&f).exists(), "a refused comparison wrote output");
    let o = idpsim(&["fpe", &idp_spec, "--compare", &i, "--out", &f, "--grid", "50"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("--grid 50 is not used") && stderr(&o).contains("100 × 100"), "{}", stderr(&o));
    let doc = read_json(&Path::new(&f).join("fpe.json"));
    assert_eq!(doc["grid"]["bins"], json!([100, 100]));
    assert!(doc["compare"]["tv_distance"].as_f64().is_some_and(|t| t > 0.0 && t < 1.0), "{doc}");
}

/// Errors speak of what the user gave: the quick form of `theory` with 300 saliencies (and
/// `--n 512`) runs, its generated name cut short instead of refused.
#[test]
fn the_quick_form_takes_many_saliencies() {
    let values: Vec<String> = (0..300).map(|k| format!("{}", 0.5 + k as f64 * 0.001)).collect();
    let o = idpsim(&["theory", "--saliency", &values.join(","), "--n", "512", "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let doc: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(doc["segments"][0]["memories"].as_array().map(Vec::len), Some(300));
}

/// A GPU run too large for the device's kernels (N = 2²⁰ with P = 512, or P = 400 and 4096
/// trajectories) is refused (exit 1, naming the size) within seconds, before its output
/// directory is touched.
#[test]
fn too_large_gpu_runs_are_refused_before_any_work() {
    if common::gpu().is_none() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    for (p, m) in [(512, 64), (400, 4096)] {
        let saliency: Vec<f64> = (0..p).map(|k| if k == 0 { 1.5 } else { 0.5 }).collect();
        let spec = json!({
            "model": { "kind": "idp" },
            "memories": { "kind": "hadamard", "n": 1 << 20, "p": p },
            "input": { "segments": [ { "duration": 1.0, "saliency": saliency } ] },
            "ensemble": { "trajectories": m }
        });
        let path = tmp.path().join("big.json");
        std::fs::write(&path, spec.to_string()).unwrap();
        let out = tmp.path().join("big");
        let started = std::time::Instant::now();
        let o =
            idpsim_within(&["run", path.to_str().unwrap(), "--backend", "gpu", "--out", out.to_str().unwrap()], 120);
        let e = stderr(&o);
        assert_eq!(o.status.code(), Some(1), "P = {p}: {e}");
        assert!(e.contains("N = 1048576") && e.contains("too large") && e.lines().count() == 1, "P = {p}: {e}");
        assert!(started.elapsed().as_secs() < 60, "P = {p}: refused after {:?}", started.elapsed());
        assert!(!out.exists(), "P = {p}: the refused run created its output directory");
    }
}

/// The CPU reference writes the same bytes on any number of threads (one run on one core, one
/// on all), which is why runs on it count as one device whatever the machine's core count.
#[test]
fn the_cpu_reference_gives_the_same_bytes_on_any_thread_count() {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    if cores < 2 {
        eprintln!("\n*** SKIP: one CPU core; the thread-count check did not run ***\n");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let mut spec = common::everything();
    spec["run"] = json!({ "backend": "cpu" });
    let path = tmp.path().join("everything.json");
    std::fs::write(&path, spec.to_string()).unwrap();
    let (one, all) = (tmp.path().join("one"), tmp.path().join("all"));
    let run = |out: &Path, pinned: bool| {
        let args = ["run", path.to_str().unwrap(), "--quiet", "--out", out.to_str().unwrap()];
        let o = if pinned {
            std::process::Command::new("taskset")
                .args(["-c", "0", env!("CARGO_BIN_EXE_idpsim")])
                .args(args)
                .output()
                .unwrap()
        } else {
            idpsim(&args)
        };
        assert!(o.status.success(), "{}", stderr(&o));
        read_json(&out.join("run.json"))["adapter"].as_str().unwrap().to_string()
    };
    let adapters = (run(&one, true), run(&all, false));
    assert_eq!(adapters.0, "cpu reference (1 threads)");
    assert_eq!(adapters.1, format!("cpu reference ({cores} threads)"));
    for f in std::fs::read_dir(&all).unwrap().map(|e| e.unwrap().file_name()) {
        if f != "run.json" {
            assert_eq!(std::fs::read(one.join(&f)).unwrap(), std::fs::read(all.join(&f)).unwrap(), "{f:?}");
        }
    }
}
