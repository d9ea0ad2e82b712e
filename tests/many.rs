//! One run over several devices (`--adapter all`, or a list): chunks are handed out as each
//! device finishes its last, and the outputs are the bytes of a one-device run. On lavapipe, two
//! devices opened on the one adapter.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use anyhow::Result;
use common::{everything, idpsim, plan, stderr};
use idpsim::backend::{Backend, Chunk, ChunkResults, ChunkState, Progress};
use idpsim::engine::{self, Backends, Bar};
use idpsim::gpu::GpuBackend;
use idpsim::gpu::context::GpuContext;
use idpsim::outputs::{ArrayData, Store};
use idpsim::plan::Plan;

/// A backend that counts the chunks it integrated.
struct Counting {
    inner: GpuBackend,
    chunks: Arc<AtomicUsize>,
}

impl Backend for Counting {
    fn kind(&self) -> &'static str {
        self.inner.kind()
    }
    fn adapter(&self) -> String {
        self.inner.adapter()
    }
    fn max_chunk(&self, plan: &Plan) -> u64 {
        self.inner.max_chunk(plan)
    }
    fn prepare(&mut self, plan: &Plan) -> Result<()> {
        self.inner.prepare(plan)
    }
    fn run_chunk(
        &mut self,
        plan: &Plan,
        chunk: Chunk,
        start: Option<&ChunkState>,
        stop: u32,
        results: &mut ChunkResults,
        progress: &mut dyn Progress,
    ) -> Result<u32> {
        self.chunks.fetch_add(1, Ordering::Relaxed);
        self.inner.run_chunk(plan, chunk, start, stop, results, progress)
    }
    fn suspend(&mut self, plan: &Plan, chunk: Chunk) -> Result<ChunkState> {
        self.inner.suspend(plan, chunk)
    }
}

fn bits(d: &ArrayData) -> Vec<u64> {
    match d {
        ArrayData::F32(v) => v.iter().map(|x| x.to_bits() as u64).collect(),
        ArrayData::F64(v) => v.iter().map(|x| x.to_bits()).collect(),
        ArrayData::I32(v) => v.iter().map(|&x| x as u64).collect(),
        ArrayData::I8(v) => v.iter().map(|&x| x as u64).collect(),
        ArrayData::U32(v) => v.iter().map(|&x| x as u64).collect(),
        ArrayData::U64(v) => v.clone(),
    }
}

fn assert_same(what: &str, a: &Store, b: &Store) {
    assert_eq!(a.files, b.files, "{what}");
    assert!(a.arrays.len() >= 10);
    for ((name, x), (_, y)) in a.arrays.iter().zip(&b.arrays) {
        assert!(x.shape == y.shape && bits(&x.data) == bits(&y.data), "{what}: {name} differs");
    }
    assert_eq!(a.docs, b.docs, "{what}");
}

#[test]
fn two_devices_share_the_chunks_and_give_the_same_bytes() {
    let Some(mut one) = common::gpu() else { return };
    let mut spec = everything();
    spec["ensemble"]["trajectories"] = serde_json::json!(2000);
    spec["run"] = serde_json::json!({ "chunk_trajectories": 64 });
    let p = plan(spec);
    let whole = engine::run_in_memory(&p, &mut one).unwrap();
    let counts: Vec<Arc<AtomicUsize>> = (0..2).map(|_| Arc::new(AtomicUsize::new(0))).collect();
    let mut two: Backends = GpuContext::many("0,0")
        .unwrap()
        .into_iter()
        .zip(&counts)
        .map(|(c, n)| {
            Box::new(Counting { inner: GpuBackend::from_context(c), chunks: n.clone() }) as Box<dyn Backend + Send>
        })
        .collect();
    let shared = engine::simulate_many(&p, &mut two, Store::memory(), &mut Bar::new(true)).unwrap();
    assert_same("two devices", &whole, &shared);
    let (a, b) = (counts[0].load(Ordering::Relaxed), counts[1].load(Ordering::Relaxed));
    assert_eq!(a + b, engine::chunks(&p, &one).len(), "every chunk integrated once");
    assert!(a > 0 && b > 0, "both devices took chunks: {a} and {b}");
    eprintln!("chunks: {a} on device 0, {b} on device 1");
}

#[test]
fn adapter_lists_on_the_command_line() {
    if common::gpu().is_none() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let spec = tmp.path().join("s.json");
    let mut s = everything();
    s["run"] = serde_json::json!({ "chunk_trajectories": 64 });
    std::fs::write(&spec, s.to_string()).unwrap();
    let sp = spec.to_str().unwrap();
    let dir = |n: &str| tmp.path().join(n).to_str().unwrap().to_string();
    let (a, b) = (dir("one"), dir("two"));
    assert!(idpsim(&["run", sp, "--backend", "gpu", "--quiet", "--out", &a]).status.success());
    let o = idpsim(&["run", sp, "--adapter", "0,0", "--quiet", "--out", &b]);
    assert!(o.status.success(), "{}", stderr(&o));
    for e in std::fs::read_dir(&a).unwrap() {
        let name = e.unwrap().file_name();
        if name != "run.json" {
            let (x, y) =
                (std::fs::read(tmp.path().join("one").join(&name)), std::fs::read(tmp.path().join("two").join(&name)));
            assert!(x.unwrap() == y.unwrap(), "{name:?} differs with two devices");
        }
    }
    let run: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(tmp.path().join("two/run.json")).unwrap()).unwrap();
    assert!(run["adapter"].as_str().unwrap().contains(" + "), "{}", run["adapter"]);
    for (args, want) in [
        (vec!["--adapter", "7,0"], "--adapter: '7'"),
        (vec!["--adapter", "all", "--backend", "cpu"], "--adapter: 'all' names GPU devices"),
        (vec!["--adapter", "0,0", "--checkpoint-every", "0.1"], "--checkpoint-every: a run over several adapters"),
        (vec!["--adapter", "9"], "--adapter: no adapter is '9'"),
    ] {
        let out = dir("bad");
        let o = idpsim(&[&["run", sp, "--quiet", "--force", "--out", &out][..], &args[..]].concat());
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stderr(&o));
        assert!(stderr(&o).contains(want), "{args:?}: {}", stderr(&o));
    }
}
