//! The built-in specs are files under `presets/`: every file is a preset and every preset a
//! file, each named by its file, and each one validates and runs end to end at a reduced size
//! (8 trajectories per point, each sweep axis cut to its first and last value).

mod common;

use std::collections::BTreeSet;

use common::{idpsim, stderr};
use serde_json::Value;

#[test]
fn every_preset_is_a_file_under_presets_and_names_itself() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("presets");
    let files: BTreeSet<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .map(|f| f.strip_suffix(".json").unwrap_or_else(|| panic!("presets/{f} is not a .json file")).to_string())
        .collect();
    let listed: BTreeSet<String> = idpsim::presets::PRESETS.iter().map(|p| p.0.to_string()).collect();
    assert_eq!(files, listed, "presets/ and presets::PRESETS list different presets");
    for (name, desc, _) in idpsim::presets::PRESETS {
        let text = std::fs::read_to_string(dir.join(format!("{name}.json"))).unwrap();
        assert_eq!(idpsim::presets::get(name), Some(text.trim_end()), "{name}: the binary holds another text");
        let doc: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("presets/{name}.json: {e}"));
        assert_eq!(doc["name"], Value::from(*name), "presets/{name}.json names itself otherwise");
        assert!(!desc.is_empty() && !desc.contains('\n'), "{name}: a one-line description");
    }
}

/// Every point of every preset resolves to a plan at full size.
#[test]
fn every_preset_resolves_at_every_point() {
    for (name, _, text) in idpsim::presets::PRESETS {
        let mut base: Value = serde_json::from_str(text).unwrap();
        let sweep = base.as_object_mut().unwrap().remove("sweep");
        let specs = match sweep {
            Some(sweep) => {
                let axes = idpsim::sweep::axes(sweep.as_object().unwrap()).unwrap_or_else(|e| panic!("{name}: {e:#}"));
                idpsim::sweep::points(&base, &axes).unwrap().into_iter().map(|p| p.spec).collect()
            }
            None => vec![idpsim::spec::Spec::from_json(text).unwrap_or_else(|e| panic!("{name}: {e:#}"))],
        };
        for spec in &specs {
            idpsim::resolve::plan(spec, std::path::Path::new(".")).unwrap_or_else(|e| panic!("{name}: {e:#}"));
        }
    }
}

#[test]
fn every_preset_runs_at_a_reduced_size() {
    let tmp = tempfile::tempdir().unwrap();
    for (name, _, text) in idpsim::presets::PRESETS {
        let mut spec: Value = serde_json::from_str(text).unwrap();
        spec["ensemble"]["trajectories"] = Value::from(8);
        if let Some(sweep) = spec.get_mut("sweep").and_then(Value::as_object_mut) {
            for (axis, values) in sweep.iter_mut() {
                if let (false, Some(v)) = (axis == "variants", values.as_array_mut())
                    && v.len() > 2
                {
                    *v = vec![v[0].clone(), v[v.len() - 1].clone()];
                }
            }
        }
        let path = tmp.path().join(format!("{name}.json"));
        std::fs::write(&path, serde_json::to_string(&spec).unwrap()).unwrap();
        let out = tmp.path().join(name);
        let (p, o) = (path.to_str().unwrap(), out.to_str().unwrap());
        let r = idpsim(&["run", p, "--out", o, "--backend", "cpu_fast", "--quiet"]);
        assert!(r.status.success(), "run {name}: {}", stderr(&r));
        // A single run leaves its record, a sweep its table.
        let record = if spec.get("sweep").is_some() { "sweep.csv" } else { "run.json" };
        assert!(out.join(record).is_file(), "{name}: no {record}");
    }
}
