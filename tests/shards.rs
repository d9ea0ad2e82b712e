//! Shards and merge: a run split into shards and merged is byte-identical to the whole run;
//! merge refuses shards of different runs, overlapping shards and missing ones.

mod common;

use std::path::Path;

use common::{idpsim, idpsim_cmd};

const SPEC: &str = r#"{
  "name": "shards",
  "model": { "kind": "idp", "zero_diagonal": true },
  "memories": { "kind": "random", "n": 12, "p": 3, "seed": 4 },
  "input": { "segments": [ { "duration": 0.5, "weights": [2.0, 1.0, 0.5], "noise": 0.2 },
                           { "duration": 0.3, "random_weights": { "dominant_memory": "random", "normalize_sum": 3.0 } } ] },
  "noise": { "sigma": 0.7 },
  "ensemble": { "trajectories": 300, "seed": 8 },
  "observe": { "overlaps": { "every": 0.1, "per_trajectory": true }, "final_state": true, "energy": { "per_trajectory": true },
               "retrieval": { "threshold": 0.3, "window": 0.05 }, "first_passage": { "threshold": 0.3 },
               "histogram": { "of": "state", "axes": [0, 5], "bins": [20, 30], "range": [[-3, 3], [-2, 2]], "from": 0.2, "every": 0.05 } }
}"#;

const COMPARED: [&str; 19] = [
    "retrieval.json",
    "retrieved.npy",
    "retrieved_sign.npy",
    "retrieval_targets.npy",
    "retrieval_sums.npy",
    "first_passage.npy",
    "energy_mean.npy",
    "energy_std.npy",
    "energy.npy",
    "histogram.npy",
    "histogram.json",
    "times.npy",
    "overlaps_mean.npy",
    "overlaps_std.npy",
    "overlaps_abs_mean.npy",
    "overlaps_abs_std.npy",
    "overlaps_sums.npy",
    "overlaps.npy",
    "final_state.npy",
];

fn run(spec: &Path, out: &Path, backend: &str, extra: &[&str]) {
    let mut args = vec!["run", spec.to_str().unwrap(), "--out", out.to_str().unwrap(), "--backend", backend, "--quiet"];
    args.extend_from_slice(extra);
    let o = idpsim(&args);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

fn check_backend(backend: &str) {
    let tmp = tempfile::tempdir().unwrap();
    let spec = tmp.path().join("spec.json");
    std::fs::write(&spec, SPEC).unwrap();
    let whole = tmp.path().join("whole");
    run(&spec, &whole, backend, &[]);
    let shards: Vec<_> = (0..3).map(|i| tmp.path().join(format!("s{i}"))).collect();
    // Out of order on purpose; merge sorts by trajectory range.
    for i in [2, 0, 1] {
        run(&spec, &shards[i], backend, &["--shard", &format!("{i}/3")]);
    }
    let ranges: Vec<(u64, u64)> = shards
        .iter()
        .map(|d| {
            let r: serde_json::Value = serde_json::from_slice(&std::fs::read(d.join("run.json")).unwrap()).unwrap();
            (r["trajectories"]["first"].as_u64().unwrap(), r["trajectories"]["count"].as_u64().unwrap())
        })
        .collect();
    assert_eq!(ranges, vec![(0, 64), (64, 128), (192, 108)], "300 trajectories = 5 blocks of 64 split 1/2/2");
    let merged = tmp.path().join("merged");
    let dirs: Vec<&str> = shards.iter().rev().map(|d| d.to_str().unwrap()).collect();
    let mut args = vec!["merge"];
    args.extend(&dirs);
    args.extend(["--out", merged.to_str().unwrap()]);
    let o = idpsim(&args);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    for f in COMPARED {
        assert_eq!(
            std::fs::read(whole.join(f)).unwrap(),
            std::fs::read(merged.join(f)).unwrap(),
            "{backend}: merged {f} differs"
        );
    }

    // Refusals, each exit 2 naming the problem, nothing written.
    let refuse = |dirs: &[&Path], want: &str| {
        let out = tmp.path().join(format!("refused-{}", want.replace(' ', "-")));
        let mut args = vec!["merge".to_string()];
        args.extend(dirs.iter().map(|d| d.to_str().unwrap().to_string()));
        args.extend(["--out".to_string(), out.to_str().unwrap().to_string()]);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let o = idpsim(&args);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{err}");
        assert!(err.contains(want), "expected '{want}' in: {err}");
        assert!(!out.exists(), "a refused merge created its output directory");
    };
    refuse(&[&shards[0], &shards[2]], "missing");
    refuse(&[&shards[0], &shards[1]], "missing");
    refuse(&[&shards[0], &shards[1], &shards[1], &shards[2]], "overlaps");
    let other = tmp.path().join("other.json");
    std::fs::write(&other, SPEC.replace("\"seed\": 8", "\"seed\": 9")).unwrap();
    let odd = tmp.path().join("odd");
    run(&other, &odd, backend, &["--shard", "1/3"]);
    refuse(&[&shards[0], &odd, &shards[2]], "different specs");

    // Every run.json names the build that integrated it; the merged one names the shards'.
    let build = |d: &Path| -> serde_json::Value {
        serde_json::from_slice::<serde_json::Value>(&std::fs::read(d.join("run.json")).unwrap()).unwrap()["build"]
            .clone()
    };
    for d in [&whole, &shards[1], &merged] {
        assert_eq!(build(d), idpsim::SOURCES_SHA256, "{}", d.display());
    }
    // A shard of another build (its run.json says so; its files are intact) is refused by merge
    // and by the shards' check, which says to rerun it.
    let foreign = tmp.path().join("foreign");
    std::fs::create_dir(&foreign).unwrap();
    for e in std::fs::read_dir(&shards[1]).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), foreign.join(e.file_name())).unwrap();
    }
    let mut run_json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(foreign.join("run.json")).unwrap()).unwrap();
    run_json["build"] = serde_json::json!("0123456789ab".repeat(5) + "cdef");
    std::fs::write(foreign.join("run.json"), serde_json::to_vec_pretty(&run_json).unwrap()).unwrap();
    refuse(&[&shards[0], &foreign, &shards[2]], "different builds of idpsim (sources ");
    let report = idpsim::merge::check_shards(&[shards[0].clone(), foreign.clone(), shards[2].clone()]);
    assert!(!report.complete, "{}", report.text);
    assert!(report.text.contains("another build of idpsim (sources 0123456789ab)"), "{}", report.text);
    assert!(report.text.contains("--shard 1/3"), "{}", report.text);
}

#[test]
fn shards_merge_to_the_whole_run_cpu() {
    check_backend("cpu");
}

#[test]
fn shards_merge_to_the_whole_run_gpu() {
    let o = idpsim(&["devices"]);
    if !String::from_utf8_lossy(&o.stdout).contains("backend") {
        assert!(std::env::var("REQUIRE_GPU").as_deref() != Ok("1"), "REQUIRE_GPU=1 but no GPU adapter");
        eprintln!("\n*** SKIP: no GPU adapter; GPU shard test did not run ***\n");
        return;
    }
    check_backend("gpu");
}

#[test]
fn bad_shards_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let spec = tmp.path().join("spec.json");
    std::fs::write(&spec, SPEC).unwrap();
    for (flag, want) in [("3/3", "0 ≤ I < N"), ("x", "I/N"), ("0/6", "at most 5")] {
        let out = tmp.path().join("o");
        let o = idpsim(&["run", spec.to_str().unwrap(), "--out", out.to_str().unwrap(), "--shard", flag]);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{flag}: {err}");
        assert!(err.contains(want), "{flag}: {err}");
        assert!(!out.exists());
    }
    // The shard is never read silently from the environment: a plain run inside a Slurm array
    // task runs the whole ensemble; `--shard slurm` reads the task of an array 0..N−1 and
    // refuses anything else (a resubmitted task, a task id that is not a number).
    let slurm = |name: &str, shard: Option<&str>, vars: [(&str, &str); 4]| {
        let out = tmp.path().join(name);
        let mut args =
            vec!["run", spec.to_str().unwrap(), "--out", out.to_str().unwrap(), "--backend", "cpu", "--quiet"];
        if let Some(s) = shard {
            args.extend(["--shard", s]);
        }
        let o = idpsim_cmd(&args).envs(vars).output().unwrap();
        let run =
            std::fs::read(out.join("run.json")).ok().map(|b| serde_json::from_slice::<serde_json::Value>(&b).unwrap());
        (o, run)
    };
    let array = [
        ("SLURM_ARRAY_TASK_ID", "1"),
        ("SLURM_ARRAY_TASK_MIN", "0"),
        ("SLURM_ARRAY_TASK_MAX", "2"),
        ("SLURM_ARRAY_TASK_COUNT", "3"),
    ];
    let (o, run) = slurm("plain", None, array);
    assert!(o.status.success(), "{}", common::stderr(&o));
    assert_eq!(run.unwrap()["trajectories"]["count"], 300, "a plain run is the whole ensemble");
    let (o, run) = slurm("task", Some("slurm"), array);
    assert!(o.status.success(), "{}", common::stderr(&o));
    let run = run.unwrap();
    assert_eq!((run["shard"]["index"].as_u64(), run["shard"]["count"].as_u64()), (Some(1), Some(3)));
    assert_eq!(run["trajectories"]["first"], 64);
    let resubmitted = [
        ("SLURM_ARRAY_TASK_ID", "2"),
        ("SLURM_ARRAY_TASK_MIN", "2"),
        ("SLURM_ARRAY_TASK_MAX", "2"),
        ("SLURM_ARRAY_TASK_COUNT", "1"),
    ];
    let not_a_number = [
        ("SLURM_ARRAY_TASK_ID", "abc"),
        ("SLURM_ARRAY_TASK_MIN", "0"),
        ("SLURM_ARRAY_TASK_MAX", "2"),
        ("SLURM_ARRAY_TASK_COUNT", "3"),
    ];
    for (name, vars, want) in
        [("resubmitted", resubmitted, "--shard 2/N"), ("abc", not_a_number, "SLURM_ARRAY_TASK_ID")]
    {
        let (o, run) = slurm(name, Some("slurm"), vars);
        assert_eq!(o.status.code(), Some(2), "{name}: {}", common::stderr(&o));
        assert!(common::stderr(&o).contains(want), "{name}: {}", common::stderr(&o));
        assert!(run.is_none() && !tmp.path().join(name).exists(), "{name}: a refused run wrote output");
    }
}

/// examples/slurm/merge.sbatch, run as a script (bash, the binary in IDPSIM): it merges; run
/// again it has nothing to do (exit 0, the merged files untouched); after a merge stopped
/// part-way (INCOMPLETE, no run.json) it merges again; a merged run that is damaged, or that
/// the shards no longer make (rerun since), is refused (exit 2) and left as it is.
#[test]
fn the_slurm_merge_script_can_be_resubmitted() {
    let tmp = tempfile::tempdir().unwrap();
    let spec = tmp.path().join("spec.json");
    std::fs::write(&spec, SPEC).unwrap();
    let prefix = tmp.path().join("my-run");
    let shards = |extra: &[&str]| {
        for i in 0..2 {
            let out = prefix.join(format!("shard-{i}"));
            let shard = format!("{i}/2");
            let mut args = vec![
                "run",
                spec.to_str().unwrap(),
                "--out",
                out.to_str().unwrap(),
                "--shard",
                &shard,
                "--backend",
                "cpu",
            ];
            args.extend(["--quiet"].iter().chain(extra));
            let o = idpsim(&args);
            assert!(o.status.success(), "{}", common::stderr(&o));
        }
    };
    shards(&[]);
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/slurm/merge.sbatch");
    let merge = || {
        std::process::Command::new("bash")
            .arg(&script)
            .arg(&prefix)
            .env("IDPSIM", env!("CARGO_BIN_EXE_idpsim"))
            .output()
            .unwrap()
    };
    let merged = prefix.join("merged");
    let o = merge();
    assert!(o.status.success(), "{}", common::stderr(&o));
    let record = std::fs::read(merged.join("run.json")).unwrap();
    let o = merge();
    assert!(o.status.success(), "{}", common::stderr(&o));
    assert!(common::stderr(&o).contains("already holds this merge of 2 shards"), "{}", common::stderr(&o));
    assert_eq!(std::fs::read(merged.join("run.json")).unwrap(), record, "a resubmission rewrote the merged run");
    // Stopped part-way: merged again.
    std::fs::remove_file(merged.join("run.json")).unwrap();
    std::fs::write(merged.join("INCOMPLETE"), "").unwrap();
    let o = merge();
    assert!(o.status.success(), "{}", common::stderr(&o));
    assert!(merged.join("run.json").is_file() && !merged.join("INCOMPLETE").exists());
    assert!(idpsim(&["merge", "--check", merged.to_str().unwrap()]).status.success());
    // Damaged: refused, and left for a person to look at.
    let kept = std::fs::read(merged.join("overlaps_mean.npy")).unwrap();
    std::fs::write(merged.join("overlaps_mean.npy"), b"damaged").unwrap();
    let o = merge();
    assert_eq!(o.status.code(), Some(2), "{}", common::stderr(&o));
    assert!(common::stderr(&o).contains("--force"), "{}", common::stderr(&o));
    assert_eq!(std::fs::read(merged.join("overlaps_mean.npy")).unwrap(), b"damaged");
    std::fs::write(merged.join("overlaps_mean.npy"), kept).unwrap();
    // The shards rerun with another seed no longer make the merged run: refused, not skipped.
    shards(&["--seed", "999", "--force"]);
    let o = merge();
    assert_eq!(o.status.code(), Some(2), "{}", common::stderr(&o));
    let run: serde_json::Value = serde_json::from_slice(&std::fs::read(merged.join("run.json")).unwrap()).unwrap();
    assert_eq!(run["spec"]["ensemble"]["seed"], 8, "the merged run was replaced without --force");
}
