//! The build's identity: SHA-256 over the sources it is compiled from (every file under src/
//! and shaders/, by path and content), as `IDPSIM_SOURCES_SHA256` for `idpsim::SOURCES_SHA256` (and its first 12 digits as
//! `IDPSIM_SOURCES_ID`).
//! Checkpoints and run.json record it; a resume or a merge refuses data of another build,
//! whose kernels or arithmetic may differ.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            files(&path, out);
        } else {
            out.push(path);
        }
    }
}

fn main() {
    let root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let mut all = Vec::new();
    for dir in ["src", "shaders"] {
        println!("cargo:rerun-if-changed={dir}");
        files(&root.join(dir), &mut all);
    }
    let mut named: Vec<(String, PathBuf)> =
        all.into_iter().map(|p| (p.strip_prefix(&root).unwrap().to_string_lossy().replace('\\', "/"), p)).collect();
    named.sort();
    let mut hash = Sha256::new();
    for (name, path) in &named {
        let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
        hash.update((name.len() as u64).to_le_bytes());
        hash.update(name.as_bytes());
        hash.update((bytes.len() as u64).to_le_bytes());
        hash.update(&bytes);
    }
    let hex: String = hash.finalize().iter().map(|b| format!("{b:02x}")).collect();
    println!("cargo:rustc-env=IDPSIM_SOURCES_SHA256={hex}");
    println!("cargo:rustc-env=IDPSIM_SOURCES_ID={}", &hex[..12]);
}
