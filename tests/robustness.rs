//! Random input weights, the retrieval and first-passage observers, and the science they exist
//! for: IDP's deterministic multistability, noise-driven switching and glitch rejection.

mod common;

use common::{assert_close, gpu, plan, run};
use idpsim::cpu::CpuBackend;
use idpsim::engine::Backend;
use idpsim::model::input::{random_weights, segment_target};
use idpsim::outputs::Store;
use idpsim::plan::NO_STEP;
use idpsim::plan::Plan;
use idpsim::stats::retrieval::{PassageStats, RetrievalStats, retrieved, window_mean};
use serde_json::{Value, json};

fn spec(model: &str, n: usize, p: usize, m: u64, segments: Value, sigma: f64) -> Value {
    json!({
        "name": "robustness-test",
        "model": { "kind": model, "activation": { "kind": "tanh", "slope": 10.0 }, "zero_diagonal": true },
        "memories": { "kind": "random", "n": n, "p": p, "seed": 7 },
        "input": { "segments": segments },
        "noise": { "sigma": sigma },
        "integrator": { "dt": 0.01 },
        "ensemble": { "trajectories": m, "seed": 9 },
    })
}

fn mean_sd(v: &[f64]) -> (f64, f64) {
    let n = v.len() as f64;
    let mean = v.iter().sum::<f64>() / n;
    (mean, (v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt())
}

fn correlation(a: &[f64], b: &[f64]) -> f64 {
    let (ma, sa) = mean_sd(a);
    let (mb, sb) = mean_sd(b);
    a.iter().zip(b).map(|(x, y)| (x - ma) * (y - mb)).sum::<f64>() / ((a.len() as f64 - 1.0) * sa * sb)
}

/// Bounds, the default normalisation, uniform random targets, the previous-dominant rule and
/// independence between trajectories and segments, over 20 000 trajectories. Statistical
/// checks use 5 standard errors (a false alarm has probability < 1e-6 per check).
#[test]
fn random_weights_follow_the_recipe() {
    let (n, p, m) = (100usize, 6usize, 20_000u64);
    let pl = plan(spec(
        "idp",
        n,
        p,
        m,
        json!([
            { "duration": 0.1, "random_weights": { "normalize_sum": null, "dominant_memory": "random" } },
            { "duration": 0.1, "random_weights": { "normalize_sum": null } },
            { "duration": 0.1, "random_weights": {} },
            { "duration": 0.1, "random_weights": { "normalize_sum": 10.0, "previous": null, "background": [0.5, 0.5] } }
        ]),
        0.0,
    ));
    let inside = |v: f32, b: [f32; 2]| v >= b[0] && v < b[1];
    let (mut dom0, mut dom1, mut bg_a, mut bg_b, mut next_dom0) = (vec![], vec![], vec![], vec![], vec![]);
    let mut counts = vec![0u64; p];
    for t in 0..m {
        let t0 = segment_target(&pl, 0, t).unwrap() as usize;
        counts[t0] += 1;
        let w0 = random_weights(&pl, 0, t);
        for (mu, &w) in w0.iter().enumerate() {
            let b = if mu == t0 { [2.0, 3.5] } else { [0.8, 1.5] };
            assert!(inside(w, b), "trajectory {t}, segment 0, memory {mu}: {w} outside {b:?}");
        }
        // The target is the largest weight (the bounds do not overlap).
        let argmax = (0..p).max_by(|&a, &b| w0[a].total_cmp(&w0[b])).unwrap();
        assert_eq!(argmax, t0, "trajectory {t}: target bookkeeping");
        let w1 = random_weights(&pl, 1, t);
        assert_eq!(segment_target(&pl, 1, t), Some(1), "default dominant memory = position mod P");
        for (mu, &w) in w1.iter().enumerate() {
            let b = if mu == 1 {
                [2.0, 3.5]
            } else if mu == t0 {
                [0.2, 0.6]
            } else {
                [0.8, 1.5]
            };
            assert!(inside(w, b), "trajectory {t}, segment 1, memory {mu}: {w} outside {b:?}");
        }
        let w2 = random_weights(&pl, 2, t);
        let sum: f32 = w2.iter().sum();
        assert!((sum - (p as f32 * n as f32).sqrt()).abs() < 1e-4 * sum, "Σw = {sum}, not √(PN)");
        let w3 = random_weights(&pl, 3, t);
        let sum3: f32 = w3.iter().sum();
        assert!((sum3 - 10.0).abs() < 1e-5, "Σw = {sum3}, not 10");
        for mu in [0usize, 1, 4, 5] {
            assert_eq!(w3[mu], w3[0], "previous: null and equal background bounds give equal weights");
        }
        dom0.push(w0[t0] as f64);
        dom1.push(w1[1] as f64);
        let bg: Vec<usize> = (0..p).filter(|&mu| mu != t0).collect();
        bg_a.push(w0[bg[0]] as f64);
        bg_b.push(w0[bg[1]] as f64);
        if t > 0 {
            next_dom0.push(dom0[t as usize - 1]);
        }
    }
    // Uniform means: (lo + hi) / 2 with sd (hi − lo)/√12.
    let se = |w: f64| w / 12f64.sqrt() / (m as f64).sqrt();
    let (md, _) = mean_sd(&dom0);
    assert!((md - 2.75).abs() < 5.0 * se(1.5), "dominant mean {md}");
    let (mb, _) = mean_sd(&bg_a);
    assert!((mb - 1.15).abs() < 5.0 * se(0.7), "background mean {mb}");
    // Targets uniform over P.
    let pr = 1.0 / p as f64;
    for (mu, &c) in counts.iter().enumerate() {
        let want = m as f64 * pr;
        assert!((c as f64 - want).abs() < 5.0 * (m as f64 * pr * (1.0 - pr)).sqrt(), "memory {mu}: {c} targets");
    }
    // Independence: between neighbouring trajectories, segments and memories.
    let lim = 5.0 / (m as f64).sqrt();
    let r1 = correlation(&dom0[1..], &next_dom0);
    let r2 = correlation(&dom0, &dom1);
    let r3 = correlation(&bg_a, &bg_b);
    assert!(r1.abs() < lim && r2.abs() < lim && r3.abs() < lim, "correlations {r1}, {r2}, {r3} (limit {lim})");
}

/// The retrieval observer and first passage on hand-made values.
#[test]
fn retrieval_and_first_passage_definitions() {
    assert_eq!(retrieved(&[0.2, -0.95, 0.5], 0.9), Some((1, -1)));
    assert_eq!(retrieved(&[0.2, 0.89, -0.3], 0.9), None);
    assert_eq!(retrieved(&[0.9, -0.9], 0.9), Some((0, 1)), "ties go to the lowest index");
    assert_eq!(retrieved(&[0.99, f32::NAN], 0.5), None, "a NaN overlap retrieves nothing");
    assert_eq!(window_mean(&[3.0, -1.5], 3), vec![1.0, -0.5]);

    let mut ps = PassageStats::default();
    for s in [5, 3, NO_STEP, 3, 10] {
        ps.add(s);
    }
    assert_eq!(ps.quantile_step(0.2), Some(3));
    assert_eq!(ps.quantile_step(0.5), Some(5));
    assert_eq!(ps.quantile_step(0.8), Some(10));
    assert_eq!(ps.quantile_step(0.9), None, "the 90 % quantile falls among the never-passing");
    assert_eq!(ps.never, 1);

    // Two segments, P = 3, three trajectories.
    let pl = plan(spec(
        "idp",
        8,
        3,
        3,
        json!([{ "duration": 0.1, "weights": [3, 1, 1] }, { "duration": 0.1, "weights": [1, 1, 3] }]),
        0.0,
    ));
    let mut pl = pl;
    pl.observe.retrieval = Some(idpsim::plan::RetrievalPlan { threshold: 0.5, window_steps: 1 });
    let mut st = RetrievalStats::new(&pl);
    let targets = [Some(0), Some(2)];
    st.add(&[0.9, 0.1, 0.0, 0.1, 0.2, -0.8], &targets, &[Some((0, 1)), Some((2, -1))]).unwrap();
    st.add(&[0.1, 0.7, 0.0, 0.1, 0.2, 0.3], &targets, &[Some((1, 1)), None]).unwrap();
    st.add(&[-0.6, 0.1, 0.0, 0.0, 0.0, 0.95], &targets, &[Some((0, -1)), Some((2, 1))]).unwrap();
    assert_eq!(st.accuracy(0), Some(2.0 / 3.0));
    assert_eq!(st.accuracy(1), Some(2.0 / 3.0));
    assert_eq!(st.segments[0].confusion[0], vec![2, 1, 0, 0]);
    assert_eq!(st.segments[1].confusion[2], vec![0, 0, 2, 1]);
    assert_eq!(st.segments[1].retrieved, vec![0, 0, 2, 1]);
    assert_eq!(st.segments[0].negative, 1);
    let (acc, se) = st.overall();
    // Per-trajectory scores 1, 0, 1: mean 2/3, sd of the mean √((2/3 − 4/9)/3).
    assert!((acc - 2.0 / 3.0).abs() < 1e-12);
    assert!((se - ((2.0 / 3.0 - 4.0 / 9.0) / 3.0f64).sqrt()).abs() < 1e-12);
    let j = st.to_json();
    assert_eq!(j["segments"][0]["fractions"], json!([2.0 / 3.0, 1.0 / 3.0, 0.0]));
    let mat = j["segments"][1]["mean_abs_final"].as_array().unwrap();
    assert!((mat[2].as_f64().unwrap() - (0.8f32 as f64 + 0.3f32 as f64 + 0.95f32 as f64) / 3.0).abs() < 1e-9);
}

/// A short run whose overlaps are saved after every step, with random targets, a ramp and
/// input noise (so previous and current segments both matter).
fn observed_plan(layout: &str) -> Plan {
    let mut s = spec(
        "idp",
        64,
        5,
        160,
        json!([
            { "duration": 1.0, "random_weights": { "dominant_memory": "random" } },
            { "duration": 0.6, "ramp": 0.3, "noise": 0.2, "random_weights": { "dominant_memory": "random" } }
        ]),
        0.5,
    );
    s["model"]["activation"]["slope"] = json!(1.0);
    s["memories"] = json!({ "kind": "random", "n": 64, "p": 5, "seed": 7 });
    s["input"]["gain"] = json!(1.0);
    s["observe"] = json!({
        "overlaps": { "every": 0.01, "per_trajectory": true },
        "retrieval": { "threshold": 0.5, "window": 0.2 },
        "first_passage": { "memory": "target", "threshold": 0.6 }
    });
    s["run"] = json!({ "layout": layout });
    plan(s)
}

/// Checks a run's observer values against its own saved overlaps: the window sums are the f32
/// sums of the saved values over each segment's window and the first passage is the first save
/// at which abs(m_target) ≥ threshold; both exact.
fn check_definitions(pl: &Plan, out: &Store, who: &str) {
    let (p, s, t) = (pl.p(), pl.input.segments.len(), pl.n_saves());
    let ov = &out.f32("overlaps").unwrap();
    let obs = &out.f32("observations").unwrap();
    let ob = pl.obs_per_trajectory();
    let w = pl.observe.retrieval.unwrap().window_steps;
    let fp = pl.observe.first_passage.unwrap();
    let mut reached = 0;
    for j in 0..pl.ensemble.trajectories as usize {
        let m = |done: usize, mu: usize| ov[(j * t + done) * p + mu];
        for (k, sp) in pl.input.segments.iter().enumerate() {
            let end = (sp.start_step + sp.steps) as usize;
            for mu in 0..p {
                let mut sum = 0f32;
                for done in end - w as usize + 1..=end {
                    sum += m(done, mu);
                }
                assert_eq!(
                    sum.to_bits(),
                    obs[j * ob + k * p + mu].to_bits(),
                    "{who}: trajectory {j} segment {k} memory {mu}"
                );
            }
        }
        let seg_of = |done: usize| {
            if done == 0 {
                0
            } else {
                pl.input.segments.iter().rposition(|sp| (sp.start_step as usize) < done).unwrap()
            }
        };
        let want = (0..t)
            .find(|&done| {
                let tg = segment_target(pl, seg_of(done), pl.ensemble.first + j as u64).unwrap() as usize;
                m(done, tg).abs() >= fp.threshold
            })
            .map_or(NO_STEP, |d| d as u32);
        assert_eq!(obs[j * ob + s * p].to_bits(), want, "{who}: trajectory {j} first passage");
        reached += (want != NO_STEP) as usize;
    }
    assert!(
        reached > 10 && reached < pl.ensemble.trajectories as usize,
        "{who}: {reached} first passages: a weak test"
    );
}

#[test]
fn observers_match_their_definitions_and_the_gpu_matches_the_cpu() {
    let pl = observed_plan("auto");
    let cpu = run(&pl, &mut CpuBackend::new());
    check_definitions(&pl, &cpu, "cpu");
    let Some(mut g) = gpu() else { return };
    for layout in ["thread", "group", "tile"] {
        let pg = observed_plan(layout);
        let out = run(&pg, &mut g);
        check_definitions(&pg, &out, layout);
        assert_eq!(
            out.values::<i32>("retrieval_targets"),
            cpu.values::<i32>("retrieval_targets"),
            "{layout}: targets are the same Philox draws"
        );
        let (a, b) = (&out.f32("observations").unwrap(), &cpu.f32("observations").unwrap());
        // Window sums of 20 overlaps after up to 160 steps: each overlap within 3e-4.
        let ob = pl.obs_per_trajectory();
        let sums = |v: &[f32]| -> Vec<f32> { v.chunks(ob).flat_map(|r| r[..ob - 1].to_vec()).collect() };
        assert_close(&format!("{layout}: window sums"), &sums(a), &sums(b), 20.0 * 3e-4, 0.0);
        // Retrieved memories agree wherever the CPU's decision has a margin.
        let (r_g, r_c) = (out.values::<i32>("retrieved").unwrap(), cpu.values::<i32>("retrieved").unwrap());
        let w = pl.observe.retrieval.unwrap().window_steps;
        let mut decided = 0;
        for (i, (x, y)) in r_g.iter().zip(&r_c).enumerate() {
            let (j, k) = (i / pl.input.segments.len(), i % pl.input.segments.len());
            let mut means = window_mean(&b[j * ob + k * pl.p()..j * ob + (k + 1) * pl.p()], w);
            means.iter_mut().for_each(|v| *v = v.abs());
            means.sort_by(|a, b| b.total_cmp(a));
            if (means[0] - 0.5).abs() > 0.01 && means[0] - means[1] > 0.01 {
                assert_eq!(x, y, "{layout}: trajectory {j} segment {k}");
                decided += 1;
            }
        }
        assert!(decided > r_c.len() / 2, "{layout}: only {decided} clear decisions");
    }
}

/// Random weights, targets and observers do not depend on how the ensemble is cut.
#[test]
fn observers_are_identical_under_different_chunking() {
    let whole = observed_plan("auto");
    let mut cut = whole.clone();
    cut.run.chunk_trajectories = Some(64);
    cut.run.steps_per_dispatch = Some(7);
    let mut backends: Vec<Box<dyn Backend>> = vec![Box::new(CpuBackend::new())];
    if let Some(g) = gpu() {
        backends.push(Box::new(g));
    }
    for b in backends.iter_mut() {
        let a = run(&whole, b.as_mut());
        let c = run(&cut, b.as_mut());
        let bits = |v: &Option<Vec<f32>>| v.as_ref().unwrap().iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&a.f32("observations")), bits(&c.f32("observations")), "{}", b.kind());
        assert_eq!(a.values::<i32>("retrieval_targets"), c.values::<i32>("retrieval_targets"));
        assert_eq!(a.values::<i32>("retrieved"), c.values::<i32>("retrieved"));
        assert_eq!(a.findings.get::<RetrievalStats>(), c.findings.get::<RetrievalStats>());
        assert_eq!(a.sums, c.sums);
    }
}

fn science_backend() -> Box<dyn Backend> {
    match gpu() {
        Some(g) => Box::new(g),
        None => Box::new(CpuBackend::new()),
    }
}

/// N = 256, P = 5, δ = 10, zero diagonal; 256 trajectories start at memory 0 (jitter 0.05),
/// see a 2-unit input dominated by memory 0, then a 5-unit input dominated by memory 1
/// (memory 0 keeps the "previous" weight, scaled to α₀ ≈ 1–2.6, far above the existence
/// threshold ≈ 1/δ, so memory 0 stays a stable equilibrium).
fn switch_spec(sigma: f64) -> Plan {
    let mut s = spec(
        "idp",
        256,
        5,
        256,
        json!([
            { "duration": 2.0, "random_weights": { "dominant_memory": 0 } },
            { "duration": 5.0, "random_weights": { "dominant_memory": 1 } }
        ]),
        sigma,
    );
    s["ensemble"]["initial"] = json!({ "kind": "memory", "index": 0, "amplitude": 1.0, "jitter": 0.05 });
    s["observe"] = json!({ "retrieval": { "threshold": 0.9, "window": 0.1 } });
    plan(s)
}

#[test]
fn without_noise_idp_stays_in_its_memory_and_with_noise_it_switches() {
    let mut b = science_backend();
    // σ = 0: deterministic multistability; every trajectory is still in memory 0.
    let out = run(&switch_spec(0.0), b.as_mut());
    let r = out.findings.get::<RetrievalStats>().unwrap().clone();
    assert_eq!(r.segments[1].retrieved[0], 256, "σ = 0: {:?}", r.segments[1].retrieved);
    assert_eq!(r.accuracy(1), Some(0.0));
    // σ = 4: the noise carries the state out of memory 0's shallow well into memory 1's deep
    // one (measured 0.97; the bound 0.9 is 6 standard errors below).
    let out = run(&switch_spec(4.0), b.as_mut());
    let r = out.findings.get::<RetrievalStats>().unwrap().clone();
    let acc = r.accuracy(1).unwrap();
    assert!(acc >= 0.9, "σ = 4: only {acc} switched to memory 1: {:?}", r.segments[1].retrieved);
}

/// A 2-unit glitch to memory 1 after 3 units in memory 0, σ = 1, threshold 0.3 so the classic
/// model's mixture states count as retrieving their largest overlap. Measured: IDP stays in
/// memory 0 in 256/256 trajectories; the classic model's largest overlap is memory 1 in 254/256.
#[test]
fn idp_ignores_a_glitch_that_the_classic_model_follows() {
    let mut b = science_backend();
    let glitch = |model: &str| {
        let mut s = spec(
            model,
            256,
            5,
            256,
            json!([
                { "duration": 3.0, "random_weights": { "dominant_memory": 0 } },
                { "duration": 2.0, "random_weights": { "dominant_memory": 1 } }
            ]),
            1.0,
        );
        s["ensemble"]["initial"] = json!({ "kind": "memory", "index": 0, "amplitude": 1.0, "jitter": 0.05 });
        s["observe"] = json!({ "retrieval": { "threshold": 0.3, "window": 0.1 } });
        plan(s)
    };
    let idp = run(&glitch("idp"), b.as_mut()).findings.get::<RetrievalStats>().unwrap().clone();
    let classic = run(&glitch("classic"), b.as_mut()).findings.get::<RetrievalStats>().unwrap().clone();
    let m = 256.0;
    let g = &idp.segments[1];
    assert!(g.retrieved[0] as f64 >= 0.95 * m && g.retrieved[1] as f64 <= 0.05 * m, "IDP: {:?}", g.retrieved);
    let gm = idp.mean_abs_final(1);
    assert!(gm[0] > 0.9, "IDP mean |m₀| after the glitch: {}", gm[0]);
    let c = &classic.segments[1];
    assert!(c.retrieved[1] as f64 >= 0.9 * m, "classic: {:?}", c.retrieved);
    let cm = classic.mean_abs_final(1);
    assert!(cm[1] > 0.6 && cm[0] < 0.3, "classic mean |m|: {cm:?}");
}
