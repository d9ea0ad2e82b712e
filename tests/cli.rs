//! The command line: exit codes, one-line errors naming the field, outputs on disk, and no
//! damage to anything on disk when the input is bad.

mod common;

use std::path::Path;

use common::{idpsim, stderr};
use serde_json::{Value, json};

fn base() -> Value {
    let o = idpsim(&["preset", "quickstart"]);
    assert!(o.status.success());
    serde_json::from_slice(&o.stdout).unwrap()
}

/// Sets a value at a JSON pointer (creating the last key).
fn set(v: &mut Value, pointer: &str, new: Value) {
    let (parent, key) = pointer.rsplit_once('/').unwrap();
    let target = v.pointer_mut(parent).unwrap_or_else(|| panic!("no {parent}"));
    match target {
        Value::Object(m) => {
            m.insert(key.to_string(), new);
        }
        Value::Array(a) => a[key.parse::<usize>().unwrap()] = new,
        _ => panic!("{parent} is not a container"),
    }
}

/// Every validation rule: (pointer, value, text the message must contain). A table, one row a
/// rule: long on purpose.
fn bad_cases() -> Vec<(&'static str, Value, &'static str)> {
    vec![
        ("/model/kind", json!("modern2"), "model.kind"),
        ("/model/activation/kind", json!("relu"), "model.activation.kind"),
        ("/model/activation/slope", json!(0.0), "model.activation.slope"),
        ("/model/activation/slope", json!(-1.0), "model.activation.slope"),
        (
            "/model",
            json!({ "kind": "modern", "activation": { "kind": "identity", "slope": 5.0 } }),
            "model.activation.slope: the identity",
        ),
        (
            "/ensemble/initial",
            json!({ "kind": "zero", "std": 1.0 }),
            "ensemble.initial.std: unknown field `std` for kind \"zero\"",
        ),
        (
            "/ensemble/initial",
            json!({ "kind": "memory", "index": 0, "std": 0.1, "jitter": 0.1 }),
            "ensemble.initial: give `jitter`",
        ),
        ("/ensemble/initial", json!({ "kind": "memory", "index": 0.5 }), "ensemble.initial.index"),
        ("/ensemble/initial", json!({ "kind": "point" }), "ensemble.initial: missing field `x`"),
        (
            "/ensemble/trajectories",
            json!(64.5),
            "ensemble.trajectories: invalid value: floating point `64.5`, expected a whole number",
        ),
        ("/ensemble/seed", json!(1e17), "ensemble.seed: 1e17 is beyond 2^53"),
        (
            "/memories",
            json!({ "kind": "hadamard", "n": 64.5, "p": 4 }),
            "memories.n: invalid value: floating point `64.5`",
        ),
        (
            "/memories",
            json!({ "kind": "hadamard", "n": 64, "p": 4, "seed": 3 }),
            "memories.seed: unknown field `seed` for kind \"hadamard\"",
        ),
        ("/memories", json!({ "kind": "random", "n": 64 }), "memories: missing field `p`"),
        (
            "/memories",
            json!({ "kind": "hadamard", "n": 8, "p": 2, "columns": [1, 2.5] }),
            "memories.columns[1]: invalid value",
        ),
        (
            "/run/steps_per_dispatch",
            json!(4294967296u64),
            "run.steps_per_dispatch: invalid value: integer `4294967296`",
        ),
        (
            "/observe/histogram",
            json!({ "of": "state", "axes": [0.5], "bins": [10], "range": [[-1, 1]] }),
            "observe.histogram.axes[0]",
        ),
        ("/model/colour", json!(1), "colour"),
        ("/memories", json!({ "kind": "hadamard", "n": 48, "p": 2 }), "memories.n"),
        ("/memories", json!({ "kind": "hadamard", "n": 4, "p": 5 }), "memories.p"),
        ("/memories", json!({ "kind": "hadamard", "n": 8, "p": 2, "columns": [1] }), "memories.columns"),
        ("/memories", json!({ "kind": "hadamard", "n": 8, "p": 2, "columns": [1, 8] }), "memories.columns[1]"),
        ("/memories", json!({ "kind": "hadamard", "n": 8, "p": 2, "columns": [3, 3] }), "memories.columns[1]"),
        ("/memories", json!({ "kind": "random", "n": 0, "p": 2 }), "memories.n"),
        ("/memories", json!({ "kind": "random", "n": 8, "p": 0 }), "memories.p"),
        ("/memories", json!({ "kind": "random", "n": 8, "p": 513 }), "memories.p"),
        ("/memories", json!({ "kind": "explicit", "patterns": [] }), "memories.patterns"),
        ("/memories", json!({ "kind": "explicit", "patterns": [[1, -1], [1]] }), "memories.patterns[1]"),
        ("/memories", json!({ "kind": "explicit", "patterns": [[1, 0.5]] }), "memories.patterns[0][1]"),
        ("/memories", json!({ "kind": "file", "path": "no-such-file.npy" }), "memories.path"),
        ("/memories", json!({ "kind": "sparse", "n": 4, "p": 1 }), "memories.kind: unknown variant `sparse`"),
        ("/input/segments", json!([]), "input.segments"),
        ("/input/gain", json!(f64::NAN), "input.gain"),
        ("/input/segments/0/duration", json!(0.0), "input.segments[0].duration"),
        ("/input/segments/0/duration", json!(1.005), "input.segments[0].duration"),
        ("/input/segments/0/weights", json!([1, 2]), "input.segments[0].weights"),
        ("/input/segments/0/vector", json!([1, 2]), "input.segments[0]"),
        ("/input/segments/0/ramp", json!(50.0), "input.segments[0].ramp"),
        ("/input/segments/0/ramp", json!(-1.0), "input.segments[0].ramp"),
        ("/input/segments/0/pulse", json!(0.0), "input.segments[0].pulse"),
        ("/input/segments/0/noise", json!(-0.1), "input.segments[0].noise"),
        ("/input/segments/0/speed", json!(1), "speed"),
        ("/noise/sigma", json!(-1.0), "noise.sigma"),
        ("/integrator/dt", json!(0.0), "integrator.dt"),
        ("/integrator/dt", json!(2.0), "integrator.dt"),
        ("/integrator/scheme", json!("rk4"), "integrator.scheme"),
        ("/ensemble/trajectories", json!(0), "ensemble.trajectories"),
        ("/ensemble/trajectories", json!(-5), "ensemble.trajectories"),
        ("/ensemble/initial", json!({ "kind": "point", "x": [1, 2] }), "ensemble.initial.x"),
        ("/ensemble/initial", json!({ "kind": "memory", "index": 9 }), "ensemble.initial.index"),
        ("/ensemble/initial", json!({ "kind": "memory", "index": "random" }), "ensemble.initial.index"),
        ("/ensemble/initial", json!({ "kind": "memory", "index": 0, "flip": 1.5 }), "ensemble.initial.flip"),
        ("/ensemble/initial", json!({ "kind": "memory", "index": 0, "flip": -0.1 }), "ensemble.initial.flip"),
        ("/noise/increments", json!("uniform"), "noise.increments"),
        ("/ensemble/initial", json!({ "kind": "normal", "std": -1 }), "ensemble.initial.std"),
        ("/observe/overlaps/every", json!(0.015), "observe.overlaps.every"),
        ("/observe/overlaps/every", json!(100.0), "observe.overlaps.every"),
        ("/input/segments/0/duration", json!(1e6), "observe.overlaps.every"),
        (
            "/observe/histogram",
            json!({"of": "energy", "axes": [0, 1], "bins": [10, 10], "range": [[-1, 1], [-1, 1]]}),
            "observe.histogram.of",
        ),
        (
            "/observe/histogram",
            json!({"of": "state", "axes": [0, 1, 2], "bins": [10, 10], "range": [[-1, 1], [-1, 1]]}),
            "observe.histogram.axes",
        ),
        (
            "/observe/histogram",
            json!({"of": "state", "axes": [0, 64], "bins": [10, 10], "range": [[-1, 1], [-1, 1]]}),
            "observe.histogram.axes[1]",
        ),
        (
            "/observe/histogram",
            json!({"of": "state", "axes": [3, 3], "bins": [10, 10], "range": [[-1, 1], [-1, 1]]}),
            "observe.histogram.axes[1]",
        ),
        (
            "/observe/histogram",
            json!({"of": "overlaps", "axes": [0, 4], "bins": [10, 10], "range": [[-1, 1], [-1, 1]]}),
            "observe.histogram.axes[1]",
        ),
        (
            "/observe/histogram",
            json!({"of": "state", "axes": [0, 1], "bins": [10], "range": [[-1, 1], [-1, 1]]}),
            "observe.histogram.bins",
        ),
        (
            "/observe/histogram",
            json!({"of": "state", "axes": [0, 1], "bins": [10, 0], "range": [[-1, 1], [-1, 1]]}),
            "observe.histogram.bins[1]",
        ),
        (
            "/observe/histogram",
            json!({"of": "state", "axes": [0, 1], "bins": [5000, 5000], "range": [[-1, 1], [-1, 1]]}),
            "observe.histogram.bins",
        ),
        (
            "/observe/histogram",
            json!({"of": "state", "axes": [0, 1], "bins": [10, 10], "range": [[-1, 1]]}),
            "observe.histogram.range",
        ),
        (
            "/observe/histogram",
            json!({"of": "state", "axes": [0, 1], "bins": [10, 10], "range": [[1, -1], [-1, 1]]}),
            "observe.histogram.range[0]",
        ),
        (
            "/observe/histogram",
            json!({"of": "state", "axes": [0, 1], "bins": [10, 10], "range": [[-1, 1], [-1, 1]], "from": -1}),
            "observe.histogram.from",
        ),
        (
            "/observe/histogram",
            json!({"of": "state", "axes": [0, 1], "bins": [10, 10], "range": [[-1, 1], [-1, 1]], "from": 500}),
            "observe.histogram.from",
        ),
        (
            "/observe/histogram",
            json!({"of": "state", "axes": [0, 1], "bins": [10, 10], "range": [[-1, 1], [-1, 1]], "every": 0.015}),
            "observe.histogram.every",
        ),
        (
            "/observe/histogram",
            json!({"of": "state", "axes": [0, 1], "bins": [10, 10], "range": [[-1, 1], [-1, 1]], "every": 0}),
            "observe.histogram.every",
        ),
        // No sample: every longer than the run, or no multiple of every from `from` on.
        (
            "/observe/histogram",
            json!({"of": "state", "axes": [0, 1], "bins": [10, 10], "range": [[-1, 1], [-1, 1]], "every": 25}),
            "observe.histogram.every: takes no sample",
        ),
        (
            "/observe/histogram",
            json!({"of": "state", "axes": [0, 1], "bins": [10, 10], "range": [[-1, 1], [-1, 1]], "from": 15, "every": 12}),
            "observe.histogram.every: takes no sample",
        ),
        (
            "/observe/histogram",
            json!({"of": "state", "axes": [0, 1], "bins": [10, 10], "range": [[-1, 1], [-1, 1]], "weight": 1}),
            "weight",
        ),
        ("/observe/energy", json!({"every": 0.2}), "observe.energy.every"),
        ("/observe/energy", json!({"every": -1}), "observe.energy.every"),
        ("/observe/energy", json!({"per_trajectory": 3}), "observe.energy.per_trajectory"),
        ("/run/backend", json!("tpu"), "run.backend"),
        ("/run/layout", json!("diagonal"), "run.layout"),
        ("/run/steps_per_dispatch", json!(0), "run.steps_per_dispatch"),
        (
            "/input/segments/0",
            json!({"duration": 20.0, "random_weights": {"background": [1.5, 0.8]}}),
            "input.segments[0].random_weights.background",
        ),
        (
            "/input/segments/0",
            json!({"duration": 20.0, "random_weights": {"dominant": [-1.0, 2.0]}}),
            "input.segments[0].random_weights.dominant",
        ),
        (
            "/input/segments/0",
            json!({"duration": 20.0, "random_weights": {"dominant": [0.0, 2.0]}}),
            "input.segments[0].random_weights.dominant",
        ),
        (
            "/input/segments/0",
            json!({"duration": 20.0, "random_weights": {"previous": [0.6, 0.2]}}),
            "input.segments[0].random_weights.previous",
        ),
        (
            "/input/segments/0",
            json!({"duration": 20.0, "random_weights": {"previous": [0.2]}}),
            "input.segments[0].random_weights.previous",
        ),
        (
            "/input/segments/0",
            json!({"duration": 20.0, "random_weights": {"normalize_sum": "sqrt"}}),
            "input.segments[0].random_weights.normalize_sum",
        ),
        (
            "/input/segments/0",
            json!({"duration": 20.0, "random_weights": {"normalize_sum": -3.0}}),
            "input.segments[0].random_weights.normalize_sum",
        ),
        (
            "/input/segments/0",
            json!({"duration": 20.0, "random_weights": {"dominant_memory": 7}}),
            "input.segments[0].random_weights.dominant_memory",
        ),
        (
            "/input/segments/0",
            json!({"duration": 20.0, "random_weights": {"dominant_memory": "any"}}),
            "input.segments[0].random_weights.dominant_memory",
        ),
        ("/input/segments/0", json!({"duration": 20.0, "random_weights": {"mean": 1.0}}), "mean"),
        ("/input/segments/0/random_weights", json!({}), "input.segments[0]"),
        ("/observe/retrieval", json!({"threshold": 1.5}), "observe.retrieval.threshold"),
        ("/observe/retrieval", json!({"threshold": 0.0}), "observe.retrieval.threshold"),
        ("/observe/retrieval", json!({"window": 50.0}), "observe.retrieval.window"),
        ("/observe/retrieval", json!({"window": 0.015}), "observe.retrieval.window"),
        ("/observe/retrieval", json!({"every": 1.0}), "every"),
        ("/observe/first_passage", json!({"memory": 9}), "observe.first_passage.memory"),
        ("/observe/first_passage", json!({"memory": "dominant"}), "observe.first_passage.memory"),
        ("/observe/first_passage", json!({"threshold": -1.0}), "observe.first_passage.threshold"),
        ("/sweep", json!({}), "sweep"),
        ("/sweep", json!({"noise.sigma": []}), "sweep.noise.sigma"),
        ("/sweep", json!({"noise.sigma": 1.0}), "sweep.noise.sigma"),
        ("/sweep", json!({"noise.sigma": [0.5, -1.0]}), "noise.sigma"),
        ("/sweep", json!({"nosie.sigma": [1.0]}), "sweep.nosie.sigma"),
        ("/sweep", json!({"model.kind": ["idp", "hopfield"]}), "model.kind"),
        ("/sweep", json!({"input.segments.5.duration": [1.0]}), "sweep.input.segments.5.duration"),
        ("/sweep", json!({"input.segments.0.speed": [1.0]}), "speed"),
        ("/sweep", json!({"variants": {"a": 3}}), "sweep.variants.a"),
        ("/sweep", json!({"variants": []}), "sweep.variants"),
        ("/model", json!({"kind": "modern", "tau_x": 0.0}), "model.tau_x"),
        ("/model", json!({"kind": "modern", "tau_alpha": -1.0}), "model.tau_alpha"),
        ("/model", json!({"kind": "modern", "tau_alpha": 0.001}), "model.tau_alpha"),
        ("/model", json!({"kind": "modern", "tau_y": 1e9}), "model.tau_y"),
        ("/model", json!({"kind": "modern", "psi_alpha": "relu"}), "model.psi_alpha"),
        ("/model", json!({"kind": "modern", "psi_y": "sigmoid"}), "model.psi_y"),
        ("/model", json!({"kind": "modern", "psi_y": {"softmax": {"beta": 0.0}}}), "model.psi_y.softmax.beta"),
        ("/model", json!({"kind": "modern", "psi_y": {"softmax": {"temperature": 1.0}}}), "model.psi_y"),
        ("/model", json!({"kind": "modern", "sigma_alpha": 0.5}), "model.sigma_alpha"),
        ("/model", json!({"kind": "modern", "tau_y": 0.5, "sigma_y": -0.5}), "model.sigma_y"),
        ("/model", json!({"kind": "modern", "zero_diagonal": true}), "model.zero_diagonal"),
        ("/model", json!({"kind": "idp", "tau_alpha": 1.0}), "model.tau_alpha"),
        ("/model", json!({"kind": "classic", "psi_y": "tanh"}), "model.psi_y"),
        ("/model", json!({"kind": "idp", "activation": {"kind": "identity"}}), "model.activation.kind"),
    ]
}

#[test]
fn every_bad_spec_exits_2_naming_the_field_and_touches_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    for (k, (pointer, value, field)) in bad_cases().into_iter().enumerate() {
        let mut spec = base();
        set(&mut spec, "/run/backend", json!("cpu"));
        set(&mut spec, "/ensemble/trajectories", json!(64));
        set(&mut spec, pointer, value.clone());
        let path = tmp.path().join(format!("bad{k}.json"));
        let text = serde_json::to_string(&spec).unwrap().replace("null", "NaN");
        std::fs::write(&path, text).unwrap();
        let out = tmp.path().join(format!("out{k}"));
        let o = idpsim(&["run", path.to_str().unwrap(), "--out", out.to_str().unwrap()]);
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(2), "{pointer} = {value}: exit {:?}, stderr {err}", o.status.code());
        assert_eq!(err.lines().count(), 1, "{pointer} = {value}: error is not one line:\n{err}");
        assert!(err.contains(field), "{pointer} = {value}: message does not name '{field}': {err}");
        assert!(!err.contains("panicked"), "{err}");
        assert!(!out.exists(), "{pointer} = {value}: a bad spec created the output directory");
    }
}

/// One case after another, each a bad flag or file and the exit status and words it must give:
/// long on purpose.
#[test]
fn bad_flags_and_files_exit_2() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("o");
    let o = idpsim(&["run", "--preset", "no-such-preset", "--out", out.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("--preset") && stderr(&o).contains("quickstart"), "{}", stderr(&o));
    let o = idpsim(&["run", "missing.json", "--out", out.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("missing.json"));
    let o = idpsim(&["run", "--preset", "quickstart", "--out", out.to_str().unwrap(), "--trajectories", "0"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("--trajectories"), "{}", stderr(&o));
    let o = idpsim(&["run", "--preset", "quickstart", "--out", out.to_str().unwrap(), "--backend", "fpga"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("--backend"), "{}", stderr(&o));
    let o = idpsim(&["run", "--preset", "quickstart"]);
    assert_eq!(o.status.code(), Some(2), "missing --out");
    // With adapters present, asking for one that does not exist is a mistake (exit 2), not a
    // reason to fall back to the CPU.
    if String::from_utf8_lossy(&idpsim(&["devices"]).stdout).contains("backend") {
        let o =
            idpsim(&["run", "--preset", "quickstart", "--out", out.to_str().unwrap(), "--adapter", "no-such-gpu-xyz"]);
        assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
        assert!(stderr(&o).contains("--adapter"), "{}", stderr(&o));
        assert!(!out.exists());
    }
    let o = idpsim(&["frobnicate"]);
    assert_eq!(o.status.code(), Some(2));
    let garbage = tmp.path().join("garbage.json");
    std::fs::write(&garbage, "{ not json").unwrap();
    let o = idpsim(&["run", garbage.to_str().unwrap(), "--out", out.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(!out.exists());
    // A file that is no JSON object: named once as the spec.
    std::fs::write(&garbage, "[1, 2]").unwrap();
    let o = idpsim(&["run", garbage.to_str().unwrap(), "--out", out.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).starts_with("error: spec: must be one JSON object"), "{}", stderr(&o));
    assert!(!out.exists());
}

/// A seeded fuzz: random edits of valid specs never panic; they run or fail with status 2.
#[test]
fn random_spec_edits_never_panic() {
    use idpsim::spec::Spec;
    let values =
        [json!(-1), json!(0), json!(1e308), json!("x"), json!([]), json!({}), json!(null), json!(3.5), json!(true)];
    let mut state = 0x9e3779b97f4a7c15u64;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let pointers: Vec<String> = {
        fn walk(v: &Value, at: String, out: &mut Vec<String>) {
            match v {
                Value::Object(m) => m.iter().for_each(|(k, c)| walk(c, format!("{at}/{k}"), out)),
                Value::Array(a) => a.iter().enumerate().for_each(|(i, c)| walk(c, format!("{at}/{i}"), out)),
                _ => {}
            }
            out.push(at);
        }
        let mut out = Vec::new();
        walk(&base(), String::new(), &mut out);
        out.retain(|p| !p.is_empty());
        out
    };
    for _ in 0..3000 {
        let mut spec = base();
        for _ in 0..(1 + next() % 3) {
            let p = &pointers[(next() % pointers.len() as u64) as usize];
            if spec.pointer(p).is_some() {
                set(&mut spec, p, values[(next() % values.len() as u64) as usize].clone());
            }
        }
        let text = spec.to_string();
        let result = std::panic::catch_unwind(|| {
            Spec::from_json(&text).map(|s| idpsim::resolve::plan(&s, Path::new(".")).map(|_| ()))
        });
        assert!(result.is_ok(), "panicked on {text}");
    }
}

#[test]
fn run_writes_every_output_and_refuses_a_non_empty_directory() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("q");
    let dir = out.to_str().unwrap();
    let args = ["run", "--preset", "quickstart", "--out", dir, "--trajectories", "200", "--backend", "cpu", "--quiet"];
    let o = idpsim(&args);
    assert!(o.status.success(), "{}", stderr(&o));
    let run: Value = serde_json::from_slice(&std::fs::read(out.join("run.json")).unwrap()).unwrap();
    assert_eq!(run["backend"], "cpu");
    assert_eq!(run["spec"]["ensemble"]["trajectories"], 200);
    assert!(run["neuron_steps_per_s"].as_f64().unwrap() > 0.0);
    for f in run["files"].as_array().unwrap() {
        assert!(out.join(f.as_str().unwrap()).is_file(), "{f} listed but missing");
    }
    for f in [
        "times.npy",
        "overlaps_mean.npy",
        "overlaps_std.npy",
        "overlaps_abs_mean.npy",
        "final_state.npy",
        "overlaps.png",
    ] {
        assert!(out.join(f).is_file(), "{f} missing");
    }
    let leftovers: Vec<_> = std::fs::read_dir(&out)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");
    let bytes = std::fs::read(out.join("final_state.npy")).unwrap();
    let npy = npyz::NpyFile::new(&bytes[..]).unwrap();
    assert_eq!(npy.shape(), &[200, 64]);
    let bytes = std::fs::read(out.join("overlaps_abs_mean.npy")).unwrap();
    let npy = npyz::NpyFile::new(&bytes[..]).unwrap();
    assert_eq!(npy.shape(), &[201, 4]);
    let abs: Vec<f32> = npy.into_vec().unwrap();
    assert!(abs[200 * 4 + 1] > 0.9, "quickstart should retrieve memory 1: {}", abs[200 * 4 + 1]);

    // The same run again has nothing to do; another run into the directory is refused.
    let before = std::fs::read(out.join("run.json")).unwrap();
    let o = idpsim(&args);
    assert!(o.status.success() && stderr(&o).contains("nothing to do"), "{}", stderr(&o));
    let mut other = args.to_vec();
    other.extend(["--seed", "7"]);
    let o = idpsim(&other);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("--force"), "{}", stderr(&o));
    assert_eq!(std::fs::read(out.join("run.json")).unwrap(), before, "a refused run changed the directory");
    let mut forced = args.to_vec();
    forced.push("--force");
    assert!(idpsim(&forced).status.success());
}

/// JSON has one number type and Python writes 1e3 as 1000.0: an integer field takes a whole
/// float as its integer, and the spec read is the one the integers give. Each kind of the two
/// kind-tagged sections reads back from its own JSON.
#[test]
fn whole_floats_are_integers_and_kinds_read_back() {
    use idpsim::spec::Spec;
    let ints = base();
    let mut floats = ints.clone();
    set(&mut floats, "/memories/n", json!(64.0));
    set(&mut floats, "/memories/columns", json!([1.0, 2.0, 3.0, 4.0]));
    set(&mut floats, "/ensemble/trajectories", json!(16384.0));
    set(&mut floats, "/ensemble/seed", json!(42.0));
    set(&mut floats, "/run/chunk_trajectories", json!(1024.0));
    let mut ints_chunked = ints.clone();
    set(&mut ints_chunked, "/run/chunk_trajectories", json!(1024));
    let read = |v: &Value| Spec::from_json(&v.to_string()).unwrap_or_else(|e| panic!("{v}: {e}"));
    assert_eq!(read(&floats), read(&ints_chunked));
    for (memories, initial) in [
        (json!({"kind": "hadamard", "n": 8, "p": 2}), json!({"kind": "normal", "std": 0.5})),
        (json!({"kind": "random", "n": 8, "p": 2, "seed": 7}), json!({"kind": "zero"})),
        (
            json!({"kind": "explicit", "patterns": [[1, -1, 1, -1]]}),
            json!({"kind": "point", "x": [0.5, 0.0, 0.0, 1.0]}),
        ),
        (json!({"kind": "random", "n": 8, "p": 2}), json!({"kind": "memory", "index": 1.0, "std": 0.25, "flip": 0.1})),
    ] {
        let mut v = ints.clone();
        set(&mut v, "/memories", memories.clone());
        set(&mut v, "/ensemble/initial", initial.clone());
        let spec = read(&v);
        let again = read(&serde_json::to_value(&spec).unwrap());
        assert_eq!(spec, again, "{memories} {initial}");
    }
    // The other name of the memory start's jitter, and the defaults of a normal start and of
    // random memories' seed.
    let mut v = ints.clone();
    set(&mut v, "/ensemble/initial", json!({"kind": "memory", "index": 0, "std": 0.25}));
    let spec = read(&v);
    assert_eq!(
        spec.ensemble.initial,
        idpsim::spec::InitialSpec::Memory {
            index: idpsim::spec::MemoryChoice::Index(0),
            amplitude: 1.0,
            jitter: 0.25,
            flip: 0.0
        }
    );
    set(&mut v, "/ensemble/initial", json!({"kind": "normal"}));
    set(&mut v, "/memories", json!({"kind": "random", "n": 8, "p": 2}));
    let spec = read(&v);
    assert_eq!(spec.ensemble.initial, idpsim::spec::InitialSpec::Normal { std: 1.0 });
    assert_eq!(spec.memories, idpsim::spec::MemoriesSpec::Random { n: 8, p: 2, seed: 0 });
    // Refused, each naming its field: null for a value (it is not "absent"), a field of another
    // kind or of none (listing only this kind's), a key given twice.
    let refused = |pointer: &str, value: Value| {
        let mut v = ints.clone();
        set(&mut v, pointer, value);
        let e = Spec::from_json(&v.to_string()).unwrap_err();
        format!("{}: {}", e.field, e.message)
    };
    let e = refused("/memories", json!({"kind": "random", "n": 8, "p": 2, "seed": null}));
    assert!(e.starts_with("memories.seed: invalid type: null"), "{e}");
    let e = refused("/ensemble/initial", json!({"kind": "normal", "std": null}));
    assert!(e.starts_with("ensemble.initial.std: invalid type: null"), "{e}");
    let e = refused("/memories", json!({"kind": "hadamard", "n": 8, "p": 2, "foo": 1}));
    assert!(
        e.starts_with(
            "memories.foo: unknown field `foo` for kind \"hadamard\", expected one of `kind`, `n`, `p`, `columns` at"
        ),
        "{e}"
    );
    let e = refused("/ensemble/initial", json!({"foo": 1, "kind": "zero"}));
    assert!(e.starts_with("ensemble.initial.foo: unknown field `foo` for kind \"zero\", expected only `kind`"), "{e}");
    let text = ints.to_string().replacen("\"kind\":\"hadamard\"", "\"kind\":\"hadamard\",\"n\":8", 1);
    let e = Spec::from_json(&text).unwrap_err();
    assert_eq!((e.field.as_str(), e.message.starts_with("duplicate field `n`")), ("memories", true), "{e:?}");
}

#[test]
fn presets_and_preset() {
    let o = idpsim(&["presets"]);
    assert!(o.status.success());
    let text = String::from_utf8_lossy(&o.stdout).to_string();
    for name in ["quickstart", "quickstart-classic", "bench-a", "bench-b", "bench-c"] {
        assert!(text.contains(name), "{name} not listed");
        let o = idpsim(&["preset", name]);
        assert!(o.status.success());
        let spec = idpsim::spec::Spec::from_json(&String::from_utf8_lossy(&o.stdout)).unwrap();
        idpsim::resolve::plan(&spec, Path::new(".")).unwrap();
    }
    assert_eq!(idpsim(&["preset", "nope"]).status.code(), Some(2));
}

#[test]
fn theory_command() {
    let o = idpsim(&["theory", "--saliency", "1.5,2.25", "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let doc: Value = serde_json::from_slice(&o.stdout).unwrap();
    let seg = &doc["segments"][0];
    assert_eq!(seg["method"], "closed_form");
    assert_eq!(seg["origin"]["type"], "unstable");
    assert_eq!(seg["memories"][1]["class"], "stable");
    assert_eq!(seg["memories"][0]["class"], "stable");
    assert_eq!(seg["equilibria"].as_array().unwrap().len(), 9);
    let o = idpsim(&["theory", "--saliency", "1.2,2.25"]);
    assert!(o.status.success());
    let table = String::from_utf8_lossy(&o.stdout).to_string();
    assert!(table.contains("saddle") && table.contains("stable"), "{table}");
    // Random memories and a zeroed diagonal take the numerical path.
    let o = idpsim(&["theory", "--preset", "bench-c", "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let doc: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(doc["segments"][0]["method"], "numerical");
    for (args, want) in [
        (vec!["theory", "--saliency", "1,2", "--n", "3"], "--n"),
        (vec!["theory", "--saliency", "1,2", "--slope", "0"], "--slope"),
        (vec!["theory", "--saliency", "1,x"], "saliency"),
        (vec!["theory"], "SPEC"),
    ] {
        let o = idpsim(&args);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stderr(&o));
        assert!(stderr(&o).contains(want), "{args:?}: {}", stderr(&o));
    }
}

#[test]
fn landscape_command() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("l");
    let o = idpsim(&["landscape", "--preset", "landscape-d", "--trajectories", "3", "--out", out.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    for f in ["landscape.png", "gamma.png", "landscape.json"] {
        assert!(out.join(f).is_file(), "{f} missing");
    }
    let doc: Value = serde_json::from_slice(&std::fs::read(out.join("landscape.json")).unwrap()).unwrap();
    let eq = doc["segments"][0]["equilibria"].as_array().unwrap();
    assert_eq!(eq.len(), 9, "regime (d): 4 minima, 4 saddles, the origin");
    assert_eq!(eq.iter().filter(|e| e["stable"] == true).count(), 4);
    let img = image::open(out.join("landscape.png")).unwrap();
    assert_eq!((img.width(), img.height()), (860, 760));
    // Drawn again into the same directory: refused as a directory with files in it (a
    // landscape has no run.json, and is no interrupted run).
    let o = idpsim(&["landscape", "--preset", "landscape-d", "--trajectories", "3", "--out", out.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("is not empty; choose another directory or pass --force"), "{}", stderr(&o));
    let o = idpsim(&["landscape", "--preset", "quickstart", "--out", tmp.path().join("q").to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("N = 2"), "{}", stderr(&o));
    // landscape has no --n: too many saliencies are named as --saliency alone.
    let o = idpsim(&["landscape", "--saliency", "1,2,3", "--out", tmp.path().join("s").to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert_eq!(
        stderr(&o).trim(),
        "error: --saliency: 3 saliencies: a landscape is drawn for N = 2, whose network holds at most 2 memories; give one saliency per memory"
    );
    assert!(!tmp.path().join("s").exists());
}

/// `--version` names the build (the first digits of the sources' SHA-256 that run.json records).
#[test]
fn version_names_the_build() {
    let o = idpsim(&["--version"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = String::from_utf8_lossy(&o.stdout);
    assert_eq!(text.trim(), format!("idpsim {} (sources {})", env!("CARGO_PKG_VERSION"), idpsim::BUILD_ID));
    assert!(idpsim::SOURCES_SHA256.starts_with(idpsim::BUILD_ID) && idpsim::SOURCES_SHA256.len() == 64);
}

/// Argument errors are one line naming the flag, negative numbers included ("--seed -1" is
/// refused by the flag's range, not read as an unknown flag "-1"); the quick form's --slope,
/// --n and --sigma are refused with a spec instead of being ignored; bench's options are
/// checked before anything is printed; an --adapter list with an empty name, or an adapter
/// with a CPU backend, is refused.
#[test]
fn argument_errors_are_one_line() {
    let cases: Vec<(&[&str], &str)> = vec![
        (&["run", "--preset", "quickstart", "--out", "never", "--trajectories", "abc"], "'--trajectories"),
        (&["run", "--preset", "quickstart", "--out", "never", "--trajectories", "-5"], "'-5' for '--trajectories"),
        (&["run", "--preset", "quickstart", "--out", "never", "--seed", "-1"], "'-1' for '--seed"),
        // Missing arguments are named.
        (&["run", "--preset", "quickstart"], "not provided: --out <OUT>"),
        (&["replay", "whole"], "not provided: --trajectory <I,J,...>, --out <OUT>"),
        (&["merge", "a", "b"], "not provided: --out <OUT>"),
        (&["theory", "--preset", "quickstart", "--slope", "2"], "--slope"),
        (&["theory", "--preset", "quickstart", "--n", "4"], "--n"),
        (&["landscape", "--preset", "landscape-c", "--out", "never", "--sigma", "5"], "--sigma"),
        // The quick form's own flags are named for values JSON cannot hold, or too large.
        (&["theory", "--saliency", "nan,1"], "--saliency: NaN is not a finite number"),
        (&["theory", "--saliency", "1,2", "--slope", "inf"], "--slope: inf is not a finite number"),
        (&["landscape", "--saliency", "1,2", "--sigma", "nan", "--out", "never"], "--sigma: NaN"),
        (&["theory", "--saliency", "1e308,1"], "--saliency: gives an input coefficient 1e308"),
        // bench: zero values, and names checked before an adapter is opened.
        (&["bench", "--scale-down", "0"], "'--scale-down"),
        (&["bench", "--repeat", "0"], "'--repeat"),
        (&["bench", "--histogram-every", "0"], "'--histogram-every"),
        (&["bench", "--layout", "grid"], "--layout: unknown layout 'grid'"),
        (&["bench", "--increments", "foo"], "--increments: unknown kind 'foo'"),
        (&["bench", "--backend", "cpu", "--adapter", "x"], "--adapter: 'x' names a GPU adapter"),
        // --adapter: an empty name would match every adapter; a CPU backend takes none.
        (
            &["run", "--preset", "quickstart", "--out", "never", "--backend", "gpu", "--adapter", ","],
            "--adapter: ',' has an empty name",
        ),
        (
            &["run", "--preset", "quickstart", "--out", "never", "--adapter", "0,,0"],
            "--adapter: '0,,0' has an empty name",
        ),
        (
            &["run", "--preset", "quickstart", "--out", "never", "--backend", "cpu", "--adapter", "llvm"],
            "names GPU devices",
        ),
    ];
    for (args, want) in cases {
        let o = idpsim(args);
        let e = stderr(&o);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {e}");
        assert_eq!(e.trim().lines().count(), 1, "{args:?}: {e}");
        assert!(e.starts_with("error: ") && e.contains(want), "{args:?}: {e}");
        assert!(!Path::new("never").exists());
    }
    assert!(idpsim(&["--version"]).status.success() && idpsim(&["run", "--help"]).status.success());
    // Whole numbers written as floats, as the spec takes them.
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("floats");
    let args = ["run", "--preset", "quickstart", "--backend", "cpu", "--trajectories", "6.4e1", "--seed", "7.0"];
    let o = idpsim(&[&args[..], &["--quiet", "--out", out.to_str().unwrap()]].concat());
    assert!(o.status.success(), "{}", stderr(&o));
    let run: Value = serde_json::from_slice(&std::fs::read(out.join("run.json")).unwrap()).unwrap();
    assert_eq!((&run["spec"]["ensemble"]["trajectories"], &run["spec"]["ensemble"]["seed"]), (&json!(64), &json!(7)));
}

/// An output directory inside a run's directory is refused (run, replay, merge), and the run
/// stays intact; a spec file that happens to be called run.json does not count as a run.
#[test]
fn outputs_inside_a_run_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let spec = tmp.path().join("run.json");
    std::fs::write(&spec, base().to_string()).unwrap();
    let r1 = tmp.path().join("r1");
    let s = spec.to_str().unwrap();
    let base_args = ["run", s, "--backend", "cpu", "--trajectories", "8", "--quiet", "--out"];
    let o = idpsim(&[&base_args[..], &[r1.to_str().unwrap()]].concat());
    assert!(o.status.success(), "{}", stderr(&o));
    let inner = r1.join("sub");
    let i = inner.to_str().unwrap();
    let r = r1.to_str().unwrap();
    for args in [
        [&base_args[..], &[i]].concat(),
        vec!["replay", r, "--trajectory", "1", "--out", i],
        vec!["merge", r, "--out", i],
    ] {
        let o = idpsim(&args);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stderr(&o));
        assert!(stderr(&o).contains("--out") && stderr(&o).contains("inside"), "{args:?}: {}", stderr(&o));
        assert!(!inner.exists(), "{args:?} wrote inside the run");
    }
    let check = idpsim(&["merge", "--check", r]);
    assert!(check.status.success(), "{}", String::from_utf8_lossy(&check.stdout));
}
