//! Replicate networks: `"replicates": K` in a sweep runs every point on K networks of random
//! memories (memories.seed + 0 … K − 1), and sweep.csv, the report and the pictures add the mean
//! and standard error over networks.

mod common;

use common::{csv, idpsim, stderr};
use idpsim::sweep;
use serde_json::{Value, json};

fn base() -> Value {
    json!({
        "name": "replicated",
        "model": { "kind": "classic", "activation": { "kind": "tanh", "slope": 10.0 }, "zero_diagonal": true },
        "memories": { "kind": "random", "n": 40, "p": 2, "seed": 9 },
        "input": { "segments": [ { "duration": 2.0, "cue": { "index": "random", "amplitude": 0.0 } } ] },
        "noise": { "sigma": 0.3 },
        "integrator": { "dt": 0.05 },
        "ensemble": { "trajectories": 64, "seed": 3, "initial": { "kind": "memory", "index": "target", "flip": 0.15 } },
        "observe": { "overlaps": { "every": 0.5 }, "retrieval": { "threshold": 0.9, "window": 0.5 } },
        "run": { "backend": "cpu" }
    })
}

/// The replicate axis varies fastest and sets memories.seed = the point's seed + r; its
/// networks differ.
#[test]
fn replicates_are_the_fastest_axis_and_set_the_memories_seed() {
    let sw = json!({ "replicates": 3, "memories.p": [2, 6], "variants": { "a": {}, "b": { "memories.seed": 100 } } });
    let axes = sweep::axes(sw.as_object().unwrap());
    // A variant that sets memories.seed itself is refused.
    let e = axes.unwrap_err();
    assert_eq!(e.field, "sweep.replicates");
    let sw = json!({ "replicates": 3, "memories.p": [2, 6] });
    let axes = sweep::axes(sw.as_object().unwrap()).unwrap();
    assert_eq!(axes.iter().map(|a| a.name.as_str()).collect::<Vec<_>>(), ["memories.p", "replicate"]);
    assert!(!axes[1].numeric(), "the replicate axis is never a picture's x axis");
    let pts = sweep::points(&base(), &axes).unwrap();
    assert_eq!(pts.len(), 6);
    for (k, pt) in pts.iter().enumerate() {
        assert_eq!(pt.coords, [k / 3, k % 3]);
        assert_eq!(pt.spec.memories_seed(), Some(9 + (k % 3) as u64), "point {k}");
        assert!(pt.dir.ends_with(&format!("_replicate={}", k % 3)), "{}", pt.dir);
    }
    let digests: std::collections::HashSet<String> = pts[..3]
        .iter()
        .map(|p| idpsim::resolve::plan(&p.spec, std::path::Path::new(".")).unwrap().memories.digest())
        .collect();
    assert_eq!(digests.len(), 3, "three different networks");
    // Written as whole floats (Python writes 3 and 9 so when they went through a float), the
    // count and the seed are the same numbers.
    let sw = json!({ "replicates": 3.0, "memories.p": [2, 6] });
    let axes = sweep::axes(sw.as_object().unwrap()).unwrap();
    let mut doc = base();
    doc["memories"]["seed"] = json!(9.0);
    let again = sweep::points(&doc, &axes).unwrap();
    assert_eq!(again.len(), 6);
    for (a, b) in again.iter().zip(&pts) {
        assert_eq!((&a.dir, a.spec.memories_seed()), (&b.dir, b.spec.memories_seed()));
    }
}

/// sweep.csv: the per-network rows keep their columns, and the network columns after
/// accuracy_stderr hold the mean and standard error of the rows of each point, as computed
/// here from those rows; the report has the table over networks and the pictures are drawn.
#[test]
fn the_csv_holds_the_mean_and_standard_error_over_networks() {
    let tmp = tempfile::tempdir().unwrap();
    let mut spec = base();
    spec["sweep"] = json!({ "memories.p": [2, 8], "replicates": 4 });
    let path = tmp.path().join("s.json");
    std::fs::write(&path, spec.to_string()).unwrap();
    let out = tmp.path().join("out");
    let o = idpsim(&["run", path.to_str().unwrap(), "--quiet", "--out", out.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let (head, rows) = csv(&out.join("sweep.csv"));
    assert_eq!(
        head[..10],
        [
            "memories.p",
            "replicate",
            "status",
            "trajectories",
            "accuracy",
            "accuracy_stderr",
            "networks",
            "accuracy_networks_mean",
            "accuracy_networks_stderr",
            "final_abs_m_target_networks_mean"
        ]
    );
    assert_eq!(head[10], "final_abs_m_target_networks_stderr");
    assert_eq!(head[11], "accuracy_segment0");
    assert_eq!(rows.len(), 8);
    let col = |h: &str| head.iter().position(|x| x == h).unwrap();
    let num =
        |r: &Vec<String>, h: &str| -> f64 { r[col(h)].parse().unwrap_or_else(|_| panic!("{h}: {:?}", r[col(h)])) };
    let mut means = Vec::new();
    for p in ["2", "8"] {
        let group: Vec<&Vec<String>> = rows.iter().filter(|r| r[col("memories.p")] == p).collect();
        assert_eq!(group.len(), 4);
        for (measure, mean_col, se_col) in [
            ("accuracy", "accuracy_networks_mean", "accuracy_networks_stderr"),
            ("final_abs_m_target", "final_abs_m_target_networks_mean", "final_abs_m_target_networks_stderr"),
        ] {
            let v: Vec<f64> = group.iter().map(|r| num(r, measure)).collect();
            let mean = v.iter().sum::<f64>() / 4.0;
            let se = (v.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / 3.0 / 4.0).sqrt();
            for r in &group {
                assert_eq!(r[col("networks")], "4");
                assert!((num(r, mean_col) - mean).abs() <= 1e-15, "{p} {measure}: {} vs {mean}", num(r, mean_col));
                assert!((num(r, se_col) - se).abs() <= 1e-15, "{p} {measure}: {} vs {se}", num(r, se_col));
            }
            if measure == "accuracy" {
                means.push((mean, se));
            }
        }
        // The networks are different networks: their accuracies are not all one number.
        let accs: Vec<&str> = group.iter().map(|r| r[col("accuracy")].as_str()).collect();
        assert!(accs.iter().any(|a| *a != accs[0]) || p == "2", "{p}: {accs:?}");
    }
    // Each network's own run.json records its seed.
    for (k, r) in rows.iter().enumerate() {
        let run: Value =
            serde_json::from_str(&std::fs::read_to_string(out.join(r.last().unwrap()).join("run.json")).unwrap())
                .unwrap();
        assert_eq!(run["spec"]["memories"]["seed"], json!(9 + (k % 4) as u64));
    }
    let report = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(report.contains("- replicate: 4 networks per point, memories.seed = the point's seed + 0, …, + 3 (first point: 9, 10, 11, 12)"), "{report}");
    assert!(report.contains("Over networks"), "{report}");
    let line = format!("| 2 | 4 | {:.4} ± {:.4} |", means[0].0, means[0].1);
    assert!(report.contains(&line), "{line} in {report}");
    for png in ["sweep.png", "sweep_overlap.png"] {
        assert!(image::open(out.join(png)).is_ok(), "{png}");
    }
}

/// Without replicates nothing changes: no network columns.
#[test]
fn without_replicates_the_csv_has_no_network_columns() {
    let tmp = tempfile::tempdir().unwrap();
    let mut spec = base();
    spec["sweep"] = json!({ "memories.p": [2, 3] });
    let path = tmp.path().join("s.json");
    std::fs::write(&path, spec.to_string()).unwrap();
    let out = tmp.path().join("out");
    let o = idpsim(&["run", path.to_str().unwrap(), "--quiet", "--out", out.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let (head, _) = csv(&out.join("sweep.csv"));
    assert_eq!(head[..4], ["memories.p", "status", "trajectories", "accuracy"]);
    assert!(!head.iter().any(|h| h.contains("networks") || h == "replicate"), "{head:?}");
    assert!(!std::fs::read_to_string(out.join("report.md")).unwrap().contains("Over networks"));
}

/// Replicates need memories with a seed, and a number of networks from 2 to 1000: refused with
/// one line naming sweep.replicates, exit status 2, nothing written.
#[test]
fn replicates_are_refused_without_a_seed_or_a_count() {
    let tmp = tempfile::tempdir().unwrap();
    let hadamard = json!({ "kind": "hadamard", "n": 8, "p": 2 });
    let explicit = json!({ "kind": "explicit", "patterns": [[1, -1], [1, 1]] });
    let cases: Vec<(Value, Value, &str)> = vec![
        (json!({ "replicates": 4 }), hadamard, "memories.kind \"hadamard\" has no seed"),
        (json!({ "replicates": 4, "noise.sigma": [0, 1] }), explicit, "memories.kind \"explicit\" has no seed"),
        (json!({ "replicates": 1 }), Value::Null, "must be a whole number of networks from 2 to 1000"),
        (json!({ "replicates": 1001 }), Value::Null, "from 2 to 1000"),
        (json!({ "replicates": "8" }), Value::Null, "from 2 to 1000"),
        (json!({ "replicates": 2.5 }), Value::Null, "from 2 to 1000"),
        (json!({ "replicates": 3, "memories.seed": [1, 2] }), Value::Null, "sets memories.seed itself"),
        // Memories a variant gives whole, with a seed no network has: refused, not read as 0.
        (
            json!({ "replicates": 2, "variants": { "a": { "memories": { "kind": "random", "n": 8, "p": 2, "seed": 7.5 } } } }),
            Value::Null,
            "needs memories.seed to be a whole number from 0 to 2^64 − 1, not 7.5",
        ),
    ];
    for (k, (sw, memories, want)) in cases.into_iter().enumerate() {
        let mut spec = base();
        if !memories.is_null() {
            spec["memories"] = memories;
            spec["ensemble"]["initial"] = json!({ "kind": "normal" });
            spec["input"]["segments"] = json!([{ "duration": 0.5, "weights": [1.0, 2.0] }]);
        }
        spec["sweep"] = sw.clone();
        let path = tmp.path().join(format!("s{k}.json"));
        std::fs::write(&path, spec.to_string()).unwrap();
        let out = tmp.path().join(format!("out{k}"));
        let o = idpsim(&["run", path.to_str().unwrap(), "--quiet", "--out", out.to_str().unwrap()]);
        let e = stderr(&o);
        assert_eq!(o.status.code(), Some(2), "{sw}: {e}");
        assert_eq!(e.trim().lines().count(), 1, "{sw}: {e}");
        assert!(e.contains("sweep.replicates") && e.contains(want), "{sw}: {e}");
        assert!(!out.exists(), "{sw}: nothing written");
    }
}
