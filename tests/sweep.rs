//! Sweeps: the cartesian product, the CSV, the report, and a failing point that does not take
//! the others down.

mod common;

use common::{csv, idpsim};
use idpsim::spec::ModelKind;
use idpsim::sweep;
use serde_json::{Value, json};

fn base() -> Value {
    json!({
        "name": "tiny-sweep",
        "model": { "kind": "idp", "activation": { "kind": "tanh", "slope": 2.0 } },
        "memories": { "kind": "hadamard", "n": 8, "p": 3 },
        "input": { "segments": [
            { "duration": 1.0, "random_weights": { "dominant_memory": "random", "normalize_sum": 4.0 } },
            { "duration": 1.0, "random_weights": { "normalize_sum": 4.0 } }
        ] },
        "noise": { "sigma": 0.3 },
        "ensemble": { "trajectories": 200, "seed": 5 },
        "observe": { "retrieval": { "threshold": 0.8, "window": 0.2 }, "first_passage": {} },
        "run": { "backend": "cpu" }
    })
}

#[test]
fn the_product_of_the_axes_in_order() {
    let sw = json!({
        "noise.sigma": [0.0, 0.5, 1.0],
        "variants": {
            "idp": { "model.kind": "idp" },
            "pulsed": { "model.kind": "classic", "input.segments.*.pulse": 0.5 }
        },
        "ensemble.seed": [1, 2]
    });
    let axes = sweep::axes(sw.as_object().unwrap()).unwrap();
    assert_eq!(axes.iter().map(|a| a.name.as_str()).collect::<Vec<_>>(), ["noise.sigma", "variant", "ensemble.seed"]);
    assert!(axes[0].numeric() && !axes[1].numeric() && axes[2].numeric());
    let pts = sweep::points(&base(), &axes).unwrap();
    assert_eq!(pts.len(), 12);
    let mut seen = std::collections::HashSet::new();
    for (k, pt) in pts.iter().enumerate() {
        // First axis slowest, last fastest.
        let want = [k / 4, (k / 2) % 2, k % 2];
        assert_eq!(pt.coords, want, "point {k}");
        assert_eq!(pt.spec.noise.sigma, [0.0, 0.5, 1.0][want[0]]);
        assert_eq!(pt.spec.ensemble.seed, [1, 2][want[2]]);
        let pulsed = want[1] == 1;
        assert_eq!(pt.spec.model.kind, if pulsed { ModelKind::Classic } else { ModelKind::Idp });
        for seg in &pt.spec.input.segments {
            assert_eq!(seg.pulse, pulsed.then_some(0.5), "'*' sets every segment");
        }
        assert!(seen.insert(pt.dir.clone()), "directory names are distinct");
    }
    assert_eq!(pts[7].dir, "007_sigma=0.5_variant=pulsed_seed=2");
}

/// An axis lists each value once (1 and 1.0 are one value): a repeated value would make two
/// points with one coordinate, which no table or array can tell apart. The command line
/// refuses it before it writes anything.
#[test]
fn an_axis_that_repeats_a_value_is_refused() {
    for (list, repeated) in [(json!([0.5, 0.5]), "0.5"), (json!([0, 1, 1.0]), "1.0"), (json!(["a", "b", "a"]), "\"a\"")]
    {
        let sw = json!({ "noise.sigma": list });
        let e = sweep::axes(sw.as_object().unwrap()).unwrap_err().to_string();
        assert!(e.starts_with("sweep.noise.sigma: lists ") && e.contains(repeated) && e.contains("once"), "{e}");
    }
    // The two places are named as positions in the list (1-based).
    let e = sweep::axes(json!({ "noise.sigma": [0, 1, 1.0] }).as_object().unwrap()).unwrap_err().to_string();
    assert!(e.contains("twice (positions 2 and 3)"), "{e}");
    assert!(sweep::axes(json!({ "noise.sigma": [0, 0.5, 1] }).as_object().unwrap()).is_ok());
    let tmp = tempfile::tempdir().unwrap();
    let (spec, out) = (tmp.path().join("spec.json"), tmp.path().join("out"));
    let mut doc = base();
    doc["sweep"] = json!({ "noise.sigma": [0.5, 0.5] });
    std::fs::write(&spec, doc.to_string()).unwrap();
    let o = idpsim(&["run", spec.to_str().unwrap(), "--out", out.to_str().unwrap(), "--quiet"]);
    assert_eq!(o.status.code(), Some(2), "{}", common::stderr(&o));
    assert!(common::stderr(&o).contains("sweep.noise.sigma"), "{}", common::stderr(&o));
    assert!(!out.exists(), "a refused sweep wrote {out:?}");
}

#[test]
fn a_sweep_writes_one_directory_and_row_per_point_and_a_report() {
    let tmp = tempfile::tempdir().unwrap();
    let mut spec = base();
    spec["sweep"] =
        json!({ "noise.sigma": [0.0, 0.6], "variants": { "idp": {}, "classic": { "model.kind": "classic" } } });
    let path = tmp.path().join("sweep.json");
    std::fs::write(&path, spec.to_string()).unwrap();
    let out = tmp.path().join("out");
    let o = idpsim(&["run", path.to_str().unwrap(), "--out", out.to_str().unwrap()]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let (head, rows) = csv(&out.join("sweep.csv"));
    assert_eq!(rows.len(), 4);
    let col = |name: &str| head.iter().position(|h| h == name).unwrap_or_else(|| panic!("no column {name}"));
    for (k, row) in rows.iter().enumerate() {
        assert_eq!(row.len(), head.len(), "row {k}");
        assert_eq!(row[col("noise.sigma")], ["0.0", "0.0", "0.6", "0.6"][k]);
        assert_eq!(row[col("variant")], ["idp", "classic", "idp", "classic"][k]);
        assert_eq!(row[col("status")], "ok");
        assert_eq!(row[col("trajectories")], "200");
        // The row repeats what the point's own files say.
        let dir = out.join(&row[col("dir")]);
        let r: Value = serde_json::from_slice(&std::fs::read(dir.join("retrieval.json")).unwrap()).unwrap();
        let acc: f64 = row[col("accuracy")].parse().unwrap();
        assert_eq!(acc, r["accuracy"].as_f64().unwrap());
        for s in 0..2 {
            let a: f64 = row[col(&format!("accuracy_segment{s}"))].parse().unwrap();
            assert_eq!(a, r["segments"][s]["accuracy"].as_f64().unwrap());
        }
        let fr: f64 = (0..3).map(|mu| row[col(&format!("fraction_memory{mu}"))].parse::<f64>().unwrap()).sum::<f64>()
            + row[col("fraction_none")].parse::<f64>().unwrap();
        assert!((fr - 1.0).abs() < 1e-9, "fractions of the last segment sum to {fr}");
        let run: Value = serde_json::from_slice(&std::fs::read(dir.join("run.json")).unwrap()).unwrap();
        assert_eq!(run["spec"]["noise"]["sigma"].as_f64().unwrap(), [0.0, 0.0, 0.6, 0.6][k]);
        assert!(run["spec"].get("sweep").is_none(), "a point's spec is the point, not the sweep");
        let fp: Vec<f32> =
            npyz::NpyFile::new(&std::fs::read(dir.join("first_passage.npy")).unwrap()[..]).unwrap().into_vec().unwrap();
        assert_eq!(fp.len(), 200);
    }
    for f in ["sweep.png", "report.md"] {
        assert!(out.join(f).exists(), "{f}");
    }
    let report = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(report.contains("sweep.csv") && report.contains("sweep.png") && report.contains("noise.sigma"));
    assert_eq!(report.lines().filter(|l| l.starts_with("| 0.") || l.starts_with("| 0 ")).count(), 4, "{report}");
}

#[test]
fn a_failing_point_is_reported_and_the_others_still_run() {
    let tmp = tempfile::tempdir().unwrap();
    let mut spec = base();
    spec["sweep"] = json!({ "variants": {
        "good": {},
        "bad": { "run.backend": "gpu", "run.adapter": "no-such-adapter-xyz" },
        "also-good": { "noise.sigma": 0.1 }
    } });
    let path = tmp.path().join("sweep.json");
    std::fs::write(&path, spec.to_string()).unwrap();
    let out = tmp.path().join("out");
    let o = idpsim(&["run", path.to_str().unwrap(), "--out", out.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("1 of 3 sweep points failed"), "{err}");
    let (head, rows) = csv(&out.join("sweep.csv"));
    let status = head.iter().position(|h| h == "status").unwrap();
    let acc = head.iter().position(|h| h == "accuracy").unwrap();
    assert_eq!(rows.len(), 3);
    assert_eq!(rows[0][status], "ok");
    assert!(rows[1][status].starts_with("failed") || rows[1][status].starts_with("\"failed"), "{:?}", rows[1]);
    assert_eq!(rows[2][status], "ok");
    assert!(!rows[0][acc].is_empty() && !rows[2][acc].is_empty());
    assert!(out.join(&rows[2][rows[2].len() - 1]).join("retrieval.json").exists());
}

/// A forced rerun of a sweep removes the earlier sweep's files, in every point too.
#[test]
fn a_forced_sweep_rerun_leaves_no_file_of_the_earlier_one() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("sw");
    let write = |final_state: bool| {
        let mut s = base();
        s["observe"]["final_state"] = json!(final_state);
        s["sweep"] = json!({ "noise.sigma": [0.0, 0.5] });
        let p = tmp.path().join(format!("sweep-{final_state}.json"));
        std::fs::write(&p, s.to_string()).unwrap();
        p
    };
    let (with, without) = (write(true), write(false));
    let run = |spec: &std::path::Path, force: bool| {
        let mut args = vec!["run", spec.to_str().unwrap(), "--out", out.to_str().unwrap(), "--quiet"];
        if force {
            args.push("--force");
        }
        idpsim(&args)
    };
    assert!(run(&with, false).status.success());
    let finals = || {
        std::fs::read_dir(&out)
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.path().is_dir() && e.path().join("final_state.npy").exists())
            .count()
    };
    assert_eq!(finals(), 2);
    let o = run(&without, true);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(finals(), 0, "a point kept the earlier sweep's final_state.npy");
    for e in std::fs::read_dir(&out).unwrap().flatten().filter(|e| e.path().is_dir()) {
        let check = idpsim(&["merge", "--check", e.path().to_str().unwrap()]);
        assert!(check.status.success(), "{}", String::from_utf8_lossy(&check.stdout));
    }
}

/// --force replaces an earlier run of any shape and nothing else: a single run over a sweep, or
/// a sweep over one with other points, leaves no file or point of the earlier one; a directory
/// holding a file no idpsim run wrote is refused (exit 2, the file named) and left as it was.
#[test]
fn force_replaces_only_an_earlier_run() {
    let tmp = tempfile::tempdir().unwrap();
    let spec = |sweep: Option<Value>| {
        let mut s = base();
        if let Some(sw) = sweep {
            s["sweep"] = sw;
        }
        let p = tmp.path().join(format!("spec-{}.json", s["sweep"]));
        std::fs::write(&p, s.to_string()).unwrap();
        p
    };
    let (single, two, one) =
        (spec(None), spec(Some(json!({ "noise.sigma": [0.0, 0.5] }))), spec(Some(json!({ "noise.sigma": [0.25] }))));
    let out = tmp.path().join("out");
    let run = |spec: &std::path::Path, force: bool| {
        let mut args = vec!["run", spec.to_str().unwrap(), "--out", out.to_str().unwrap(), "--quiet"];
        if force {
            args.push("--force");
        }
        idpsim(&args)
    };
    let entries = || {
        let mut v: Vec<String> =
            std::fs::read_dir(&out).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().to_string()).collect();
        v.sort();
        v
    };
    assert!(run(&two, false).status.success());
    // A single run over the sweep: no table, report or point directory left.
    let o = run(&single, true);
    assert!(o.status.success(), "{}", common::stderr(&o));
    assert!(entries().iter().all(|e| !e.starts_with("00") && e != "sweep.csv"), "{:?}", entries());
    assert!(idpsim(&["merge", "--check", out.to_str().unwrap()]).status.success());
    // A sweep over another sweep: only its own point.
    assert!(run(&two, true).status.success());
    let o = run(&one, true);
    assert!(o.status.success(), "{}", common::stderr(&o));
    let points: Vec<String> = entries().into_iter().filter(|e| e.starts_with("00")).collect();
    assert_eq!(points, ["000_sigma=0.25"]);
    // A file of the user's: refused, and nothing removed.
    std::fs::write(out.join("notes.txt"), "mine").unwrap();
    let before = entries();
    let o = run(&single, true);
    assert_eq!(o.status.code(), Some(2), "{}", common::stderr(&o));
    assert!(
        common::stderr(&o).contains("--force") && common::stderr(&o).contains("notes.txt"),
        "{}",
        common::stderr(&o)
    );
    assert_eq!(entries(), before, "a refused --force changed the directory");
    assert_eq!(std::fs::read_to_string(out.join("notes.txt")).unwrap(), "mine");
    std::fs::remove_file(out.join("notes.txt")).unwrap();
    // A user's file inside a point, and a user's directory (even empty) beside the points: each
    // named, nothing removed.
    assert!(run(&two, true).status.success());
    assert!(!out.join("INCOMPLETE").exists(), "a finished sweep's directory is marked complete");
    // Rerun without --force: a finished sweep, said as such.
    let o = run(&two, false);
    assert_eq!(o.status.code(), Some(2));
    assert!(common::stderr(&o).contains("holds a finished sweep (sweep.csv)"), "{}", common::stderr(&o));
    let point = entries().into_iter().find(|e| e.starts_with("000")).unwrap();
    std::fs::write(out.join(&point).join("notes.txt"), "mine").unwrap();
    std::fs::create_dir(out.join("mine")).unwrap();
    let before = entries();
    let o = run(&single, true);
    assert_eq!(o.status.code(), Some(2), "{}", common::stderr(&o));
    assert!(common::stderr(&o).contains(&format!("holds {point}/notes.txt and 1 more")), "{}", common::stderr(&o));
    assert_eq!(entries(), before, "a refused --force changed the directory");
    std::fs::remove_file(out.join(&point).join("notes.txt")).unwrap();
    let o = run(&single, true);
    assert_eq!(o.status.code(), Some(2), "{}", common::stderr(&o));
    assert!(common::stderr(&o).contains("holds mine, which no earlier"), "{}", common::stderr(&o));
    assert!(out.join("mine").is_dir());
    // A spec the user named run.json is not an earlier run's record: refused, and kept.
    let own = tmp.path().join("own");
    std::fs::create_dir(&own).unwrap();
    std::fs::write(own.join("run.json"), base().to_string()).unwrap();
    let o = idpsim(&["run", single.to_str().unwrap(), "--out", own.to_str().unwrap(), "--quiet", "--force"]);
    assert_eq!(o.status.code(), Some(2), "{}", common::stderr(&o));
    assert!(common::stderr(&o).contains("run.json"), "{}", common::stderr(&o));
    assert_eq!(std::fs::read_to_string(own.join("run.json")).unwrap(), base().to_string());
}

/// A point's directory names its values as the table does, exponents' signs included.
#[test]
fn point_directories_keep_the_sign_of_exponents() {
    let axes = sweep::axes(json!({ "noise.sigma": [1e-38, 1e38, 1e20] }).as_object().unwrap()).unwrap();
    let dirs: Vec<String> = sweep::points(&base(), &axes).unwrap().into_iter().map(|p| p.dir).collect();
    let labels: Vec<&str> = axes[0].values.iter().map(|v| v.label.as_str()).collect();
    for (dir, label) in dirs.iter().zip(&labels) {
        assert!(dir.ends_with(&format!("_sigma={label}")), "{dir} for {label}");
    }
    assert_eq!(dirs.iter().filter(|d| d.contains("e-")).count(), 1, "{dirs:?}");
}

/// An option that sets what a sweep axis sets (--seed over "ensemble.seed", --trajectories
/// over "ensemble.trajectories", --backend over a variant's "run.backend") is refused, naming
/// both: it would make every point the same run under different labels.
#[test]
fn options_that_override_an_axis_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    for (sweep, flag, value) in [
        (json!({ "ensemble.seed": [1, 2] }), "--seed", "9"),
        (json!({ "ensemble.trajectories": [64, 128] }), "--trajectories", "64"),
        (
            json!({ "variants": { "a": { "run.backend": "cpu" }, "b": { "run.backend": "cpu_fast" } } }),
            "--backend",
            "cpu",
        ),
        (json!({ "ensemble": [{ "trajectories": 8, "seed": 1 }, { "trajectories": 8, "seed": 2 }] }), "--seed", "9"),
    ] {
        let mut s = base();
        s["sweep"] = sweep.clone();
        let p = tmp.path().join("spec.json");
        std::fs::write(&p, s.to_string()).unwrap();
        let out = tmp.path().join("out");
        let o = idpsim(&["run", p.to_str().unwrap(), "--out", out.to_str().unwrap(), flag, value, "--quiet"]);
        assert_eq!(o.status.code(), Some(2), "{sweep} {flag}: {}", common::stderr(&o));
        assert!(common::stderr(&o).starts_with(&format!("error: {flag}: the sweep sets ")), "{}", common::stderr(&o));
        assert!(!out.exists(), "{sweep} {flag}: a refused sweep wrote {out:?}");
    }
}

/// A forced rerun that draws fewer pictures leaves none of the earlier sweep's: a sweep over two
/// numeric axes draws every line picture and the heat map; rerun over variants only (no numeric
/// axis) and without first passages, it draws none, and none is left in the directory.
#[test]
fn a_forced_sweep_rerun_leaves_no_picture_of_the_earlier_one() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("sw");
    let write = |name: &str, sweep: Value, first_passage: bool| {
        let mut s = base();
        s["observe"]["first_passage"] = json!({ "threshold": 0.1 });
        if !first_passage {
            s["observe"].as_object_mut().unwrap().remove("first_passage");
        }
        s["ensemble"]["trajectories"] = json!(64);
        s["sweep"] = sweep;
        let p = tmp.path().join(format!("{name}.json"));
        std::fs::write(&p, s.to_string()).unwrap();
        p
    };
    let two = write("two", json!({ "noise.sigma": [0.0, 0.3], "model.activation.slope": [2, 4] }), true);
    let variants = write("variants", json!({ "variants": { "a": {}, "b": { "noise.sigma": 0.1 } } }), false);
    let run = |spec: &std::path::Path, force: bool| {
        let mut args = vec!["run", spec.to_str().unwrap(), "--out", out.to_str().unwrap(), "--quiet"];
        if force {
            args.push("--force");
        }
        idpsim(&args)
    };
    let pictures = || {
        let mut v: Vec<String> = std::fs::read_dir(&out)
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|f| f.ends_with(".png"))
            .collect();
        v.sort();
        v
    };
    let o = run(&two, false);
    assert!(o.status.success(), "{}", common::stderr(&o));
    assert_eq!(pictures(), ["sweep.png", "sweep_first_passage.png", "sweep_heatmap.png", "sweep_overlap.png"]);
    let o = run(&variants, true);
    assert!(o.status.success(), "{}", common::stderr(&o));
    assert!(pictures().is_empty(), "left from the earlier sweep: {:?}", pictures());
    let report = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(!report.contains("sweep_heatmap.png") && !report.contains("![accuracy]"), "{report}");
}

/// A sweep over two numeric axes (and variants) writes sweep_heatmap.png: it decodes, and every
/// point's accuracy from sweep.csv appears in it as its cell's colour (hundreds of pixels of
/// exactly colormap(accuracy)), one panel per variant.
#[test]
fn two_numeric_axes_draw_a_heat_map() {
    let tmp = tempfile::tempdir().unwrap();
    let spec = serde_json::json!({
        "name": "heat",
        "model": { "kind": "idp", "activation": { "kind": "tanh", "slope": 2.0 } },
        "memories": { "kind": "random", "n": 32, "p": 3, "seed": 1 },
        "input": { "segments": [ { "duration": 1.0, "random_weights": { "dominant_memory": "random" } } ] },
        "noise": { "sigma": 0.5 },
        "ensemble": { "trajectories": 64, "seed": 2 },
        "observe": { "overlaps": { "every": 0.5 }, "retrieval": { "threshold": 0.5, "window": 0.5 } },
        "run": { "backend": "cpu" },
        "sweep": { "noise.sigma": [0, 1, 3], "model.activation.slope": [1, 4],
                   "variants": { "idp": { "model.kind": "idp" }, "classic": { "model.kind": "classic" } } }
    });
    let path = tmp.path().join("s.json");
    std::fs::write(&path, spec.to_string()).unwrap();
    let out = tmp.path().join("out");
    let o = common::idpsim(&["run", path.to_str().unwrap(), "--quiet", "--out", out.to_str().unwrap()]);
    assert!(o.status.success(), "{}", common::stderr(&o));
    let img = image::open(out.join("sweep_heatmap.png")).expect("a PNG").to_rgb8();
    assert_eq!(img.width(), 120 + 420 * 2, "two panels (one per variant)");
    let csv = std::fs::read_to_string(out.join("sweep.csv")).unwrap();
    let head: Vec<&str> = csv.lines().next().unwrap().split(',').collect();
    let col = head.iter().position(|h| *h == "accuracy").unwrap();
    let mut checked = 0;
    for row in csv.lines().skip(1) {
        let acc: f64 = row.split(',').nth(col).unwrap().parse().unwrap();
        let c = idpsim::io::plot::colormap(acc);
        let n = img.pixels().filter(|p| p.0 == [c.0, c.1, c.2]).count();
        assert!(n > 500, "accuracy {acc}: {n} pixels of its colour");
        checked += 1;
    }
    assert_eq!(checked, 12);
}

/// The capacity presets resolve at every point of their sweeps.
#[test]
fn the_capacity_presets_resolve_at_every_point() {
    for (name, points) in [("capacity", 36 * 5usize), ("capacity-noise", 60)] {
        let text = idpsim::presets::get(name).expect("a preset");
        let doc: Value = serde_json::from_str(text).unwrap();
        let mut base = doc.clone();
        let sweep = base.as_object_mut().unwrap().remove("sweep").unwrap();
        let axes = idpsim::sweep::axes(sweep.as_object().unwrap()).unwrap();
        let pts = idpsim::sweep::points(&base, &axes).unwrap();
        assert_eq!(pts.len(), points, "{name}");
        for p in &pts {
            idpsim::resolve::plan(&p.spec, std::path::Path::new("."))
                .unwrap_or_else(|e| panic!("{name} {}: {e}", p.dir));
        }
    }
}

/// Pictures against `memories.p` give the load and mark the classic capacity 0.138 N when every
/// point has one N and a classic model is among them; otherwise neither.
#[test]
fn load_pictures_mark_the_classic_capacity() {
    let (label, marks) = idpsim::sweep::x_axis_of("memories.p", &[1000, 1000], true);
    assert!(label.contains("P / 1000"), "{label}");
    assert_eq!(marks.len(), 1);
    assert!((marks[0].x - 138.0).abs() < 1e-9);
    assert!(idpsim::sweep::x_axis_of("memories.p", &[1000, 1000], false).1.is_empty());
    assert!(idpsim::sweep::x_axis_of("memories.p", &[500, 1000], true).1.is_empty());
    assert!(idpsim::sweep::x_axis_of("noise.sigma", &[1000], true).1.is_empty());
}

/// The capacity preset, shrunk to N = 200 and 64 trajectories per point on the CPU reference:
/// the classic network retrieves its 10 %-flipped cues at load 0.05 (all 64) and not at 0.3
/// (at most 10 %), and the IDP network with the cue as its input still retrieves at 0.3 (at
/// least 90 %); the sweep draws the accuracy and the final overlap against the load.
#[test]
fn the_capacity_preset_separates_the_classic_limit_from_idp() {
    let tmp = tempfile::tempdir().unwrap();
    let mut doc: Value = serde_json::from_str(idpsim::presets::get("capacity").unwrap()).unwrap();
    doc["memories"]["n"] = serde_json::json!(200);
    doc["ensemble"]["trajectories"] = serde_json::json!(64);
    doc["run"] = serde_json::json!({ "backend": "cpu" });
    doc["sweep"]["memories.p"] = serde_json::json!([10, 60]);
    doc["sweep"].as_object_mut().unwrap().remove("replicates");
    let path = tmp.path().join("s.json");
    std::fs::write(&path, doc.to_string()).unwrap();
    let out = tmp.path().join("out");
    let o = common::idpsim(&["run", path.to_str().unwrap(), "--quiet", "--out", out.to_str().unwrap()]);
    assert!(o.status.success(), "{}", common::stderr(&o));
    let (head, rows) = csv(&out.join("sweep.csv"));
    let col = |h: &str| head.iter().position(|x| x == h).unwrap();
    let acc = |p: &str, v: &str| -> f64 {
        let r = rows.iter().find(|r| r[col("memories.p")] == p && r[col("variant")] == v).unwrap();
        r[col("accuracy")].parse().unwrap()
    };
    eprintln!(
        "classic: {} at 0.05, {} at 0.3; idp {} at 0.3",
        acc("10", "classic"),
        acc("60", "classic"),
        acc("60", "idp")
    );
    assert_eq!(acc("10", "classic"), 1.0);
    assert!(acc("60", "classic") <= 0.1);
    assert!(acc("60", "idp") >= 0.9);
    for png in ["sweep.png", "sweep_overlap.png"] {
        assert!(image::open(out.join(png)).is_ok(), "{png}");
    }
    let report = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(report.contains("(sweep_overlap.png)"));
}
