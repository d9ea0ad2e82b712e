//! The catalogue of outputs: a run kept in memory holds exactly what the same run writes into a
//! directory, and merge checks every file a shard should have.

mod common;

use std::path::Path;

use common::{everything, idpsim, on_every_backend, plan, stderr};
use idpsim::engine;
use idpsim::outputs::{ArrayData, Store};
use serde_json::json;

/// An NPY file's shape and values.
fn read_npy(path: &Path) -> (Vec<u64>, ArrayData) {
    let bytes = std::fs::read(path).unwrap();
    let npy = npyz::NpyFile::new(&bytes[..]).unwrap();
    let shape = npy.shape().to_vec();
    let dtype = match npy.dtype() {
        npyz::DType::Plain(t) => t.to_string(),
        other => panic!("{}: {other:?}", path.display()),
    };
    let data = match &dtype[1..] {
        "f4" => ArrayData::F32(npy.into_vec().unwrap()),
        "f8" => ArrayData::F64(npy.into_vec().unwrap()),
        "i4" => ArrayData::I32(npy.into_vec().unwrap()),
        "i1" => ArrayData::I8(npy.into_vec().unwrap()),
        "u4" => ArrayData::U32(npy.into_vec().unwrap()),
        "u8" => ArrayData::U64(npy.into_vec().unwrap()),
        other => panic!("{}: dtype {other}", path.display()),
    };
    (shape, data)
}

/// Bitwise equality (NaN first-passage times included).
fn same(a: &ArrayData, b: &ArrayData) -> bool {
    match (a, b) {
        (ArrayData::F32(x), ArrayData::F32(y)) => x.iter().map(|v| v.to_bits()).eq(y.iter().map(|v| v.to_bits())),
        (ArrayData::F64(x), ArrayData::F64(y)) => x.iter().map(|v| v.to_bits()).eq(y.iter().map(|v| v.to_bits())),
        _ => a == b,
    }
}

#[test]
fn memory_and_directory_hold_the_same_values() {
    let p = plan(everything());
    on_every_backend(|b| {
        let mem: Store = engine::run_in_memory(&p, b).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let summary = engine::run_to_dir(&p, b, dir.path(), true).unwrap();
        let written: Vec<&String> = summary.files.iter().filter(|f| !f.ends_with(".png") && *f != "run.json").collect();
        assert_eq!(written, mem.files.iter().collect::<Vec<_>>(), "the same files, in the same order");
        let mut arrays = 0;
        for file in written.iter().filter(|f| f.ends_with(".npy")) {
            let stem = file.trim_end_matches(".npy");
            let a = mem.array(stem).unwrap_or_else(|| panic!("{stem} is not in memory"));
            let (shape, data) = read_npy(&dir.path().join(file));
            assert_eq!(a.shape, shape, "{file}: shape");
            assert!(same(&a.data, &data), "{file}: values differ between memory and the file");
            arrays += 1;
        }
        for file in written.iter().filter(|f| f.ends_with(".json")) {
            // The same bytes (comparing the text: parsing floats back need not round-trip).
            let on_disk = std::fs::read_to_string(dir.path().join(file)).unwrap();
            let doc = mem.doc(file).unwrap_or_else(|| panic!("{file} is not in memory"));
            assert_eq!(serde_json::to_string_pretty(doc).unwrap() + "\n", on_disk, "{file}");
        }
        assert_eq!(arrays, 18, "every array of the catalogue was compared");
        // The raw values a library caller may want, which are not files.
        assert_eq!(mem.array("saves").unwrap().shape, vec![200, 8, 4]);
        assert_eq!(mem.array("observations").unwrap().shape, vec![200, 7]);
        let run: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(dir.path().join("run.json")).unwrap()).unwrap();
        for key in ["retrieval", "first_passage"] {
            assert_eq!(run[key].to_string(), mem.summaries[key].to_string(), "run.json's {key}");
        }
    });
}

/// Two shards of `everything` on the CPU, in `root/s0` and `root/s1`.
fn shards(root: &Path) -> [String; 2] {
    let spec = root.join("spec.json");
    std::fs::write(&spec, everything().to_string()).unwrap();
    let dirs = [0, 1].map(|i| root.join(format!("s{i}")).display().to_string());
    for (i, d) in dirs.iter().enumerate() {
        let shard = format!("{i}/2");
        let o = idpsim(&["run", spec.to_str().unwrap(), "--backend", "cpu", "--quiet", "--shard", &shard, "--out", d]);
        assert!(o.status.success(), "{}", stderr(&o));
    }
    dirs
}

#[test]
fn merge_refuses_a_missing_or_misshapen_file_naming_it() {
    let root = tempfile::tempdir().unwrap();
    let [s0, s1] = shards(root.path());
    let out = root.path().join("merged");
    let ok = idpsim(&["merge", &s0, &s1, "--out", out.to_str().unwrap()]);
    assert!(ok.status.success(), "{}", stderr(&ok));

    std::fs::rename(Path::new(&s1).join("final_state.npy"), root.path().join("kept.npy")).unwrap();
    let o = idpsim(&["merge", &s0, &s1, "--out", root.path().join("m2").to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let e = stderr(&o);
    assert!(e.contains("final_state.npy") && e.contains(&s1), "{e}");

    // Another shard's array in its place: the manifest in run.json finds it...
    std::fs::rename(root.path().join("kept.npy"), Path::new(&s1).join("final_state.npy")).unwrap();
    let original = std::fs::read(Path::new(&s1).join("overlaps.npy")).unwrap();
    std::fs::copy(Path::new(&s0).join("overlaps.npy"), Path::new(&s1).join("overlaps.npy")).unwrap();
    let merge = |name: &str| idpsim(&["merge", &s0, &s1, "--out", root.path().join(name).to_str().unwrap()]);
    let o = merge("m3");
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let e = stderr(&o);
    assert!(e.contains("overlaps.npy") && e.contains("does not match") && e.contains(&s1), "{e}");
    // ...and with a manifest rewritten to match, the shape check still refuses it.
    let run_path = Path::new(&s1).join("run.json");
    let mut run: serde_json::Value = serde_json::from_slice(&std::fs::read(&run_path).unwrap()).unwrap();
    let (bytes, sha) = idpsim::outputs::manifest::digest(&Path::new(&s1).join("overlaps.npy")).unwrap();
    run["manifest"]["overlaps.npy"] = json!({ "bytes": bytes, "sha256": sha });
    let original_run = std::fs::read(&run_path).unwrap();
    std::fs::write(&run_path, run.to_string()).unwrap();
    let o = merge("m4");
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("overlaps.npy") && stderr(&o).contains("shape"), "{}", stderr(&o));
    std::fs::write(&run_path, original_run).unwrap();
    std::fs::write(Path::new(&s1).join("overlaps.npy"), original).unwrap();
    // A stale file left by another run, and a half-written temporary, are refused too.
    for stale in ["energy_extra.npy", ".final_state.npy.tmp"] {
        std::fs::write(Path::new(&s0).join(stale), b"x").unwrap();
        let o = merge("m5");
        assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
        assert!(stderr(&o).contains(stale) && stderr(&o).contains("not part of this run"), "{}", stderr(&o));
        std::fs::remove_file(Path::new(&s0).join(stale)).unwrap();
    }
    assert!(merge("m6").status.success());
}

/// `merge --check` says which shards are intact, which trajectories are missing, and how to
/// rerun exactly those shards; a rerun of a complete shard has nothing to do.
#[test]
fn check_reports_missing_shards_and_reruns_skip_complete_ones() {
    let root = tempfile::tempdir().unwrap();
    let [s0, s1] = shards(root.path());
    let check = |dirs: &[&str]| {
        let mut args = vec!["merge", "--check"];
        args.extend(dirs);
        idpsim(&args)
    };
    let o = check(&[&s0, &s1]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(String::from_utf8_lossy(&o.stdout).contains("complete"));
    std::fs::remove_file(Path::new(&s1).join("retrieved.npy")).unwrap();
    let o = check(&[&s0, &s1]);
    assert_eq!(o.status.code(), Some(1));
    let text = String::from_utf8_lossy(&o.stdout).to_string();
    assert!(text.contains("retrieved.npy is missing"), "{text}");
    assert!(text.contains("trajectories 128..200 (shard 1/2)"), "{text}");
    assert!(text.contains(&format!("--shard 1/2 --out {s1} --force")), "{text}");
    // Rerunning shard 0 into its complete directory does nothing (and says so); shard 1's
    // damaged directory is refused without --force.
    let spec = root.path().join("spec.json");
    let run = |d: &str, shard: &str| {
        idpsim(&["run", spec.to_str().unwrap(), "--backend", "cpu", "--quiet", "--shard", shard, "--out", d])
    };
    let before = std::fs::read(Path::new(&s0).join("run.json")).unwrap();
    let o = run(&s0, "0/2");
    assert!(o.status.success() && stderr(&o).contains("nothing to do"), "{}", stderr(&o));
    assert_eq!(std::fs::read(Path::new(&s0).join("run.json")).unwrap(), before, "a complete shard was rewritten");
    let o = run(&s1, "1/2");
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("retrieved.npy is missing") && stderr(&o).contains("--force"), "{}", stderr(&o));
}
