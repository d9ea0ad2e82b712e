//! `--backend auto`: the cost model's choice between the CPU fast path and a GPU, what run.json
//! records of it, and the kernel-build notices and records.

mod common;

use common::{gpu, idpsim_cmd, plan, stderr};
use idpsim::choose::{self, Chooser};
use serde_json::json;

fn spec(n: usize, p: usize, m: u64, duration: f64) -> serde_json::Value {
    json!({
        "name": "choice",
        "model": { "kind": "classic", "activation": { "kind": "tanh", "slope": 10.0 }, "zero_diagonal": true },
        "memories": { "kind": "random", "n": n, "p": p, "seed": 1 },
        "input": { "segments": [ { "duration": duration, "cue": { "index": "random", "amplitude": 1.0 } } ] },
        "integrator": { "dt": 0.05 },
        "ensemble": { "trajectories": m, "seed": 3, "initial": { "kind": "memory", "index": "target", "flip": 0.1 } },
        "observe": { "overlaps": { "every": 1.0 } }
    })
}

/// Without a GPU the fast path is chosen, and says why.
#[test]
fn without_a_gpu_the_cpu_fast_path_is_chosen() {
    let p = plan(spec(100, 20, 64, 1.0));
    let c = choose::decide(&p, None, Some("no adapter"), 2);
    assert_eq!(c.backend, "cpu_fast");
    assert!(c.reason.contains("no adapter"), "{}", c.reason);
    assert_eq!(c.estimates.len(), 1);
}

/// The estimates grow with the work and with P, and a build recorded here before is cheap.
#[test]
fn estimates_follow_the_work() {
    let small = choose::cpu_fast_estimate(&plan(spec(1000, 20, 64, 20.0)), 2);
    let large_p = choose::cpu_fast_estimate(&plan(spec(1000, 250, 64, 20.0)), 2);
    let more = choose::cpu_fast_estimate(&plan(spec(1000, 20, 640, 20.0)), 2);
    assert!(large_p.seconds > small.seconds && (more.seconds / small.seconds - 10.0).abs() < 1e-9);
    assert_eq!(choose::cpu_fast_estimate(&plan(spec(1000, 20, 64, 20.0)), 4).seconds * 2.0, small.seconds);
}

/// On a CPU device the build estimate grows with the capacity of P and with the private array
/// that holds the state (N's size class while the state fits one: 256 blocks on lavapipe), and
/// falls back for larger N, whose state stays in memory; it stays within a factor of two of
/// the builds measured on lavapipe.
#[test]
fn build_estimates_follow_the_private_arrays() {
    let Some(g) = gpu() else { return };
    let facts = g.facts();
    if !facts.cpu_device() {
        eprintln!("the adapter is a GPU: build estimates of CPU devices are not checked here");
        return;
    }
    let build = |n: usize, p: usize| choose::uncached_build_s(&plan(spec(n, p, 64, 1.0)), &facts);
    assert!(build(1000, 10) > 25.0 && build(1000, 10) < 60.0, "{}", build(1000, 10));
    assert_eq!(build(640, 10), build(1000, 10), "one size class");
    assert!(build(200, 10) < 5.0 && build(200, 10) > 1.0, "{}", build(200, 10));
    assert!(build(2000, 10) < 2.0, "the state in memory: {}", build(2000, 10));
    assert!(build(200, 250) > build(200, 100) && build(200, 100) > build(200, 10));
    // Measured from empty caches: 20–22 s (N = 9, capacity 256) and 14 s (case (d), N = 1000
    // and P = 250, whose state stays in memory because its memory loops are tiled).
    assert!(build(9, 150) > 11.0 && build(9, 150) < 44.0, "{}", build(9, 150));
    assert!(build(1000, 250) > 7.0 && build(1000, 250) < 28.0, "{}", build(1000, 250));
    assert_eq!(build(1000, 250), build(9, 250), "beyond P = 128 the state is never in an array");
}

/// On a CPU device (lavapipe: what CI has), the memory-load sweep's large-P points run on the
/// CPU fast path: lavapipe's kernels at P = 250 take minutes to build and run ≈ 100× slower
/// (docs/PERFORMANCE.md). run.json records the choice, its reason and both estimates.
#[test]
fn large_p_on_a_cpu_device_chooses_the_fast_path_and_records_why() {
    let Some(g) = gpu() else { return };
    if !g.facts().cpu_device() {
        eprintln!("the adapter is a GPU: the large-P choice on a CPU device is not checked here");
        return;
    }
    let facts = g.facts();
    let p = plan(spec(1000, 250, 64, 20.0));
    let c = choose::decide(&p, Some(&facts), None, 2);
    assert_eq!(c.backend, "cpu_fast", "{}", c.reason);
    assert_eq!(c.estimates.len(), 2);
    let uncached = choose::uncached_build_s(&p, &facts);
    assert!(uncached > 10.0, "{uncached}");
    assert!(c.estimates[0].build_s == uncached || c.estimates[0].build_s <= 3.0, "{:?}", c.estimates[0]);
    let tmp = tempfile::tempdir().unwrap();
    let spec_path = tmp.path().join("spec.json");
    let mut s = spec(1000, 250, 64, 2.0);
    s["ensemble"]["trajectories"] = json!(64);
    std::fs::write(&spec_path, s.to_string()).unwrap();
    let out = tmp.path().join("out");
    let o = idpsim_cmd(&["run", spec_path.to_str().unwrap(), "--out", out.to_str().unwrap()])
        .env("IDPSIM_CACHE_DIR", tmp.path().join("cache"))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("backend auto: cpu_fast"), "the choice is said: {}", stderr(&o));
    let run: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(out.join("run.json")).unwrap()).unwrap();
    assert_eq!(run["backend"], json!("cpu_fast"));
    assert_eq!(run["backend_choice"]["backend"], json!("cpu_fast"));
    assert!(run["backend_choice"]["reason"].as_str().unwrap().contains("expected to answer first"));
    assert_eq!(run["backend_choice"]["estimates"].as_array().unwrap().len(), 2);
    assert_eq!(run["kernel_builds"], json!([]));
}

/// A GPU run announces its kernel build and records it (seconds, whether it was built here
/// before) in run.json and in the build record; the second run finds it recorded. `--quiet`
/// silences the notices.
#[test]
fn kernel_builds_are_announced_and_recorded() {
    if gpu().is_none() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let cache = tmp.path().join("cache");
    let spec_path = tmp.path().join("spec.json");
    std::fs::write(&spec_path, spec(16, 3, 64, 2.0).to_string()).unwrap();
    let run = |k: usize, quiet: bool| {
        let out = tmp.path().join(format!("out-{k}"));
        let mut args = vec!["run", spec_path.to_str().unwrap(), "--out", out.to_str().unwrap(), "--backend", "gpu"];
        if quiet {
            args.push("--quiet");
        }
        let o = idpsim_cmd(&args).env("IDPSIM_CACHE_DIR", &cache).output().unwrap();
        assert!(o.status.success(), "{}", stderr(&o));
        let run: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(out.join("run.json")).unwrap()).unwrap();
        (stderr(&o), run)
    };
    let (err, first) = run(0, false);
    assert!(err.contains("building the classic model's kernels (N = 16, P = 3"), "{err}");
    assert!(err.contains("not built here before") && err.contains("built the classic model's kernels"), "{err}");
    let builds = first["kernel_builds"].as_array().unwrap();
    assert_eq!(builds.len(), 1, "{builds:?}");
    assert!(builds[0]["seconds"].as_f64().unwrap() > 0.0 && builds[0]["built_before_s"].is_null());
    let record = std::fs::read_to_string(cache.join("built-kernels.txt")).unwrap();
    assert_eq!(record.lines().count(), 1, "{record}");
    let (err, second) = run(1, true);
    assert!(!err.contains("building"), "--quiet says nothing: {err}");
    assert!(second["kernel_builds"][0]["built_before_s"].as_f64().is_some(), "{}", second["kernel_builds"]);
}

/// A sweep under auto chooses per point and shares its devices: every point's run.json says
/// what ran it, and one Chooser hands the same choice for the same plan.
#[test]
fn a_chooser_decides_per_plan() {
    let mut chooser = Chooser::default();
    let p = plan(spec(1000, 250, 64, 20.0));
    let (a, _) = chooser.choose(&p).unwrap();
    let (b, _) = chooser.choose(&p).unwrap();
    assert_eq!(a.backend, b.backend);
    if gpu().is_none() {
        assert_eq!(a.backend, "cpu_fast");
    }
}

/// A pool hands out one backend per device, carrying each plan's own choice.
#[test]
fn a_pool_reuses_its_backends_with_each_plans_choice() {
    let mut pool = idpsim::choose::Pool::default();
    let small = plan(spec(100, 20, 64, 1.0));
    let large = plan(spec(1000, 250, 64, 20.0));
    let kind = pool.backend(&large).unwrap().kind();
    let first = pool.backend(&large).unwrap().choice().expect("auto records its choice");
    assert_eq!(first["backend"], json!(kind));
    let small_choice = pool.backend(&small).unwrap().choice().unwrap();
    assert!(small_choice["reason"].is_string());
    let mut reference = plan(spec(100, 20, 64, 1.0));
    reference.run.backend = idpsim::plan::BackendChoice::Cpu;
    let b = pool.backend(&reference).unwrap();
    assert_eq!(b.kind(), "cpu");
    assert!(b.choice().is_none(), "a backend the spec names is not a choice");
}

/// Kernels are built per model family and capacity of P: plans of one family share a build key
/// (so a build recorded for one counts for all), and a family this process already holds costs
/// no build at all in `auto`'s estimate.
#[test]
fn builds_are_estimated_per_family() {
    let Some(g) = gpu() else { return };
    let facts = g.facts();
    let (a, b, c) = (plan(spec(1000, 130, 64, 20.0)), plan(spec(1000, 250, 64, 2.0)), plan(spec(1000, 100, 64, 20.0)));
    assert_eq!(facts.build_key(&a), facts.build_key(&b), "P = 130 and 250 share the capacity 256");
    assert_ne!(facts.build_key(&a), facts.build_key(&c), "P = 100 has the capacity 128");
    let fresh = choose::gpu_estimate_held(&a, &facts, 2, false);
    let held = choose::gpu_estimate_held(&a, &facts, 2, true);
    assert!(fresh.build_s > 0.0 && held.build_s == 0.0, "{fresh:?} {held:?}");
    assert_eq!(held.integrate_s, fresh.integrate_s);
    // A chooser that gave the GPU a plan counts no build for the next plan of its family.
    let mut chooser = Chooser::default();
    let small = |p: usize| plan(spec(16, p, 64, 2.0));
    let (first, _) = chooser.choose(&small(20)).unwrap();
    let (second, _) = chooser.choose(&small(30)).unwrap();
    if first.backend == "gpu" {
        assert_eq!(second.estimates[0].build_s, 0.0, "{:?}", second.estimates);
    }
}

/// On a CPU device the integration estimate counts only the cores that the plan's workgroups
/// (16 trajectories each in the thread layout) can fill: 16 trajectories keep one core busy
/// whatever the threads, 64 fill four; per trajectory the work is the same.
#[test]
fn cpu_device_estimates_count_the_cores_workgroups_fill() {
    let Some(g) = gpu() else { return };
    let facts = g.facts();
    if !facts.cpu_device() {
        eprintln!("the adapter is a GPU: CPU-device estimates are not checked here");
        return;
    }
    let (one, four) = (plan(spec(1000, 250, 16, 2.0)), plan(spec(1000, 250, 64, 2.0)));
    let est = |p: &idpsim::plan::Plan, threads: usize| choose::gpu_estimate_held(p, &facts, threads, true).integrate_s;
    assert_eq!(est(&one, 8), est(&one, 1), "16 trajectories: one workgroup, one core");
    let per_traj = |p: &idpsim::plan::Plan, m: f64, threads: usize| est(p, threads) / m;
    assert!(
        (per_traj(&four, 64.0, 4) * 4.0 / per_traj(&one, 16.0, 1) - 1.0).abs() < 1e-9,
        "four workgroups, four cores"
    );
    assert_eq!(est(&four, 8), est(&four, 4), "64 trajectories fill at most four cores");
}

/// A plan that asks for the tile layout is estimated at the tile layout's rate on a CPU device
/// (10–30× the thread layout's time on lavapipe, docs/PERFORMANCE.md), with tiles of 7
/// trajectories (P = 250) as its workgroups; so with `auto` as the backend it still runs where
/// it answers first, here the CPU fast path.
#[test]
fn the_tile_layout_is_estimated_at_its_own_rate() {
    let Some(g) = gpu() else { return };
    let facts = g.facts();
    if !facts.cpu_device() {
        eprintln!("the adapter is a GPU: CPU-device estimates are not checked here");
        return;
    }
    let thread = plan(spec(1000, 250, 70, 2.0));
    let mut tile = thread.clone();
    tile.run.layout = idpsim::plan::LayoutChoice::Tile;
    assert_eq!(facts.layout(&tile), idpsim::gpu::kernels::Layout::Tile);
    assert_ne!(facts.layout(&thread), idpsim::gpu::kernels::Layout::Tile, "auto never picks the tile layout");
    let est = |p: &idpsim::plan::Plan, threads: usize| choose::gpu_estimate_held(p, &facts, threads, true).integrate_s;
    assert!(est(&tile, 2) > 5.0 * est(&thread, 2), "tile {} s, thread {} s", est(&tile, 2), est(&thread, 2));
    // 70 trajectories: 10 tiles of 7 fill 8 cores; 5 workgroups of 16 only 5.
    assert!((est(&tile, 8) * 8.0 / (est(&tile, 1)) - 1.0).abs() < 1e-9, "ten tiles fill eight cores");
    assert!((est(&thread, 8) * 5.0 / (est(&thread, 1)) - 1.0).abs() < 1e-9, "five workgroups fill five cores");
    let c = choose::decide(&tile, Some(&facts), None, 2);
    assert_eq!(c.backend, "cpu_fast", "{}", c.reason);
}
