//! What the tool refuses instead of writing wrong, mixed or missing data.

mod common;

use common::{idpsim, on_every_backend, plan, stderr};
use idpsim::engine;
use serde_json::json;

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
