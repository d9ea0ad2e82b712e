//! The histogram observer: exact counting on known states, GPU = CPU counts for the same
//! trajectories, conservation, and stationary densities with known answers.

mod common;

use common::{backends, gpu, plan, run};
use idpsim::cpu::CpuBackend;
use idpsim::plan::LayoutChoice;
use serde_json::json;

/// Without noise and with every saliency 0 the state decays as x(1 − dt)^n from a known point;
/// bins are chosen so every sample is far from a bin edge: the counts are known exactly.
#[test]
fn known_states_fall_in_known_bins() {
    let x0 = [1.03, -2.47, 0.5, 9.0];
    let p = plan(json!({
        "model": { "kind": "idp" },
        "memories": { "kind": "hadamard", "n": 4, "p": 2 },
        "input": { "segments": [ { "duration": 0.5, "saliency": [0.0, 0.0] } ] },
        "ensemble": { "trajectories": 130, "initial": { "kind": "point", "x": x0 } },
        "observe": { "histogram": { "of": "state", "axes": [0, 1], "bins": [8, 6], "range": [[-4, 4], [-3, 3]], "from": 0.1, "every": 0.1 } }
    }));
    let hp = p.observe.histogram.clone().unwrap();
    // Samples after 10, 20, 30, 40, 50 steps.
    let mut want = vec![0u64; hp.cells() + 1];
    for k in 1..=5 {
        let decay = 0.99f64.powi(10 * k);
        let (a, b) = (x0[0] * decay, x0[1] * decay);
        // Cells are 1 wide on both axes; stay ≥ 0.01 from every edge.
        assert!((a.fract().abs() - 0.0).abs() > 0.01 && (b.fract().abs() - 0.0).abs() > 0.01, "{a} {b}");
        let (i, j) = ((a + 4.0).floor() as usize, (b + 3.0).floor() as usize);
        want[i * 6 + j] += 130;
    }
    for mut b in backends() {
        let out = run(&p, b.as_mut());
        assert_eq!(&idpsim::outputs::histogram::counts(&out).unwrap(), &want, "{}", b.kind());
    }
    // A coordinate outside the range is counted as out of range, not lost.
    let mut q = p.clone();
    let mut h = hp.clone();
    h.axes = [3, 1];
    q.observe.histogram = Some(h.clone());
    for mut b in backends() {
        let counts = idpsim::outputs::histogram::counts(&run(&q, b.as_mut())).unwrap();
        assert_eq!(counts[h.cells()], 5 * 130, "{}: x_3 ≈ 9 is out of [-4, 4]", b.kind());
        assert_eq!(counts.iter().sum::<u64>(), h.samples_per_trajectory(q.time.total_steps) * 130);
    }
}

/// The GPU counts exactly what the CPU reference counts for the same trajectories, in every
/// layout, for states and overlaps. (States agree to ~1e-6 over these few steps; a sample that
/// close to a bin edge would be a coin toss, and with these sizes none is — the inputs are fixed,
/// so the outcome is the same every run.)
#[test]
fn gpu_counts_equal_cpu_counts() {
    let Some(mut g) = gpu() else { return };
    let cases = [
        ("state", json!([2, 0]), json!([[-3, 3], [-3, 3]]), json!(0.05)),
        ("state", json!([4, 1]), json!([[-3, 3], [-3, 3]]), json!(0.01)),
        ("overlaps", json!([1]), json!([[-1, 1]]), json!(0.05)),
    ];
    for (of, axes, range, every) in cases {
        let bins = if of == "state" { json!([12, 10]) } else { json!([16]) };
        let mut p = plan(json!({
            "model": { "kind": "idp", "zero_diagonal": true },
            "memories": { "kind": "random", "n": 5, "p": 2, "seed": 3 },
            "input": { "segments": [ { "duration": 0.2, "weights": [2.0, 1.0] } ] },
            "noise": { "sigma": 0.8 },
            "ensemble": { "trajectories": 300, "seed": 12 },
            "observe": { "histogram": { "of": of, "axes": axes, "bins": bins, "range": range, "from": 0.05, "every": every } }
        }));
        let hp = p.observe.histogram.clone().unwrap();
        let cpu = idpsim::outputs::histogram::counts(&run(&p, &mut CpuBackend::new())).unwrap();
        assert_eq!(cpu.iter().sum::<u64>(), 300 * hp.samples_per_trajectory(p.time.total_steps), "conservation");
        for layout in [LayoutChoice::Thread, LayoutChoice::Group, LayoutChoice::Tile] {
            p.run.layout = layout;
            let gc = idpsim::outputs::histogram::counts(&run(&p, &mut g)).unwrap();
            assert_eq!(gc, cpu, "{of} histogram every {every}, {layout:?} layout");
        }
    }
}

/// Total-variation distance between normalised counts and a density integrated over the same
/// cells (midpoint rule on 8 sub-points per cell).
fn tv_to_density(counts: &[u64], lo: f64, hi: f64, density: impl Fn(f64) -> f64) -> f64 {
    let bins = counts.len();
    let w = (hi - lo) / bins as f64;
    let mass: Vec<f64> = (0..bins)
        .map(|j| (0..8).map(|s| density(lo + (j as f64 + (s as f64 + 0.5) / 8.0) * w)).sum::<f64>() * w / 8.0)
        .collect();
    let z: f64 = mass.iter().sum();
    let n: u64 = counts.iter().sum();
    0.5 * counts.iter().zip(&mass).map(|(&c, &m)| (c as f64 / n as f64 - m / z).abs()).sum::<f64>()
}

/// N = P = 1, IDP with α = 2, σ = 0.7: dx = (−x + α tanh x) dt + σ dB has
/// p∞ ∝ exp(−(2/σ²)(x²/2 − α log cosh x)). Time-averaged histogram of 16 384 trajectories,
/// 90 samples each (every 1.0 after a burn-in of 10): ≈ 1.5·10⁶ samples, of which a few
/// hundred thousand are effectively independent, so the Monte-Carlo TV distance is ≈ 0.005;
/// the Euler–Maruyama bias at dt = 0.01 is of the same order. The threshold 0.02 is four times
/// that: a false failure needs a many-sigma fluctuation. The OU case (α = 0) is checked against
/// the exact discrete-time law N(0, σ²/(2 − dt)). Both kinds of noise increments, Gaussian and
/// two-point ±√dt (weak order 1 alike), must meet the same threshold.
#[test]
fn one_dimensional_stationary_densities() {
    let Some(mut g) = gpu() else { return };
    let sigma: f64 = 0.7;
    for (alpha, dt, increments) in
        [(2.0f64, 0.01f64, "gaussian"), (0.0, 0.01, "gaussian"), (2.0, 0.01, "two_point"), (0.0, 0.01, "two_point")]
    {
        let p = plan(json!({
            "model": { "kind": "idp" },
            "memories": { "kind": "explicit", "patterns": [[1]] },
            "input": { "segments": [ { "duration": 100.0, "saliency": [alpha] } ] },
            "noise": { "sigma": sigma, "increments": increments },
            "integrator": { "dt": dt },
            "ensemble": { "trajectories": 16384, "seed": 6 },
            "observe": { "overlaps": { "every": 100.0 }, "histogram": { "of": "state", "axes": [0], "bins": [120], "range": [[-4, 4]], "from": 10.0, "every": 1.0 } }
        }));
        let counts = idpsim::outputs::histogram::counts(&run(&p, &mut g)).unwrap();
        let cells = &counts[..120];
        let tv = if alpha > 0.0 {
            tv_to_density(cells, -4.0, 4.0, |x| {
                (-(2.0 / (sigma * sigma)) * (x * x / 2.0 - alpha * x.cosh().ln())).exp()
            })
        } else {
            let var = sigma * sigma / (2.0 - dt);
            tv_to_density(cells, -4.0, 4.0, |x| (-x * x / (2.0 * var)).exp())
        };
        eprintln!(
            "α = {alpha}, {increments} increments: TV distance {tv:.4} ({} samples, {} out of range)",
            counts.iter().sum::<u64>(),
            counts[120]
        );
        assert!(tv < 0.02, "α = {alpha}, {increments}: TV distance {tv}");
    }
}

/// A run whose histogram loses at least 1 % of its samples outside the range says so on stderr
/// (even under --quiet), naming the field and how many; one that loses none says nothing.
#[test]
fn samples_outside_the_range_are_reported() {
    let tmp = tempfile::tempdir().unwrap();
    let spec = |range: f64| {
        json!({
            "name": "clipped",
            "model": { "kind": "idp", "activation": { "kind": "tanh", "slope": 1.0 } },
            "memories": { "kind": "hadamard", "n": 2, "p": 2 },
            "input": { "segments": [ { "duration": 2.0, "weights": [1.5, 1.5] } ] },
            "noise": { "sigma": 0.5 },
            "ensemble": { "trajectories": 256, "seed": 1 },
            "observe": { "histogram": { "of": "state", "axes": [0, 1], "bins": [20, 20],
                                        "range": [[-range, range], [-range, range]] } },
            "run": { "backend": "cpu" }
        })
    };
    let run = |name: &str, range: f64| {
        let path = tmp.path().join(format!("{name}.json"));
        std::fs::write(&path, spec(range).to_string()).unwrap();
        let out = tmp.path().join(name);
        let o = common::idpsim(&["run", path.to_str().unwrap(), "--out", out.to_str().unwrap(), "--quiet"]);
        assert!(o.status.success(), "{}", common::stderr(&o));
        let doc: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(out.join("histogram.json")).unwrap()).unwrap();
        (common::stderr(&o), doc["out_of_range"].as_u64().unwrap(), doc["samples"].as_u64().unwrap())
    };
    // The state settles near ±γ(1, 1) with γ ≈ 1.2: a box of ±0.5 misses most samples.
    let (err, out, samples) = run("narrow", 0.5);
    assert!(out * 100 >= samples, "{out} of {samples} outside: the test needs at least 1 %");
    let want = format!("({out} of {samples}) fell outside observe.histogram.range");
    assert!(err.contains("warning: ") && err.contains(&want), "{err}");
    let (err, out, _) = run("wide", 8.0);
    assert_eq!(out, 0);
    assert!(!err.contains("observe.histogram.range"), "{err}");
}

/// A sweep shows each point's fraction of samples outside the range (sweep.csv's
/// `histogram_out_of_range`, equal to that point's histogram.json counts; a column of
/// report.md's table) and names in report.md the points that lost 1 % or more; report.md lists
/// outputs the points actually wrote.
#[test]
fn a_sweep_shows_the_samples_outside_the_range() {
    let tmp = tempfile::tempdir().unwrap();
    let spec = json!({
        "name": "clipped-sweep",
        "model": { "kind": "idp", "activation": { "kind": "tanh", "slope": 1.0 } },
        "memories": { "kind": "hadamard", "n": 2, "p": 2 },
        "input": { "segments": [ { "duration": 2.0, "weights": [1.5, 1.5] } ] },
        "noise": { "sigma": 0.1 },
        "ensemble": { "trajectories": 256, "seed": 1 },
        "observe": { "histogram": { "of": "state", "axes": [0, 1], "bins": [20, 20],
                                    "range": [[-2.5, 2.5], [-2.5, 2.5]] } },
        "run": { "backend": "cpu" },
        "sweep": { "noise.sigma": [0.1, 3.0] }
    });
    let path = tmp.path().join("s.json");
    std::fs::write(&path, spec.to_string()).unwrap();
    let out = tmp.path().join("out");
    let o = common::idpsim(&["run", path.to_str().unwrap(), "--out", out.to_str().unwrap(), "--quiet"]);
    assert!(o.status.success(), "{}", common::stderr(&o));
    let (head, rows) = common::csv(&out.join("sweep.csv"));
    let col = head.iter().position(|h| h == "histogram_out_of_range").expect("the column");
    let dir = head.iter().position(|h| h == "dir").unwrap();
    let mut fractions = Vec::new();
    for row in &rows {
        let doc: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(out.join(&row[dir]).join("histogram.json")).unwrap())
                .unwrap();
        let (lost, samples) = (doc["out_of_range"].as_u64().unwrap(), doc["samples"].as_u64().unwrap());
        let f: f64 = row[col].parse().unwrap();
        assert_eq!(f, lost as f64 / samples as f64, "{}", row[dir]);
        fractions.push(f);
    }
    assert!(fractions[0] < 0.01 && fractions[1] >= 0.01, "the test needs one point on each side: {fractions:?}");
    let report = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(report.contains("| histogram out of range |"), "{report}");
    let note = report.lines().find(|l| l.contains("outside observe.histogram.range at")).expect("the note");
    assert!(note.contains("noise.sigma = 3") && !note.contains("noise.sigma = 0.1"), "{note}");
    // The outputs named are files of the points (this spec writes no retrieval.json).
    let named = report.split("Every point's outputs (").nth(1).unwrap().split(')').next().unwrap();
    for f in named.split(", ").filter(|f| *f != "…") {
        assert!(out.join(&rows[0][dir]).join(f).exists(), "{f} is not in {}", rows[0][dir]);
    }
    assert!(named.contains("histogram.json") && !named.contains("retrieval.json"), "{named}");
}

/// The equilibria marked on a density picture are the model's equilibria, with their
/// stability, for IDP networks with orthogonal memories, the diagonal kept or zeroed
/// (docs/THEORY.md §3.7: each saliency then acts as α − d): at every marker the drift is zero
/// (to 1e-9) and "stable" agrees with the Jacobian's eigenvalues. The classic model's input
/// shifts its equilibria, so it has none.
#[test]
fn density_markers_are_the_equilibria() {
    for (kind, zd, n, sal) in [
        ("idp", false, 2, [1.2, 2.25]),
        ("idp", true, 2, [2.4, 3.0]),
        ("idp", true, 4, [2.6, 3.0]),
        ("idp", true, 8, [0.5, 1.8]),
    ] {
        let p = plan(json!({
            "model": { "kind": kind, "zero_diagonal": zd },
            "memories": { "kind": "hadamard", "n": n, "p": 2 },
            "input": { "segments": [ { "duration": 0.1, "saliency": sal } ] },
            "ensemble": { "trajectories": 1 },
            "observe": { "histogram": { "of": "state", "axes": [0, 1], "bins": [8, 8], "range": [[-4, 4], [-4, 4]] } }
        }));
        let hp = p.observe.histogram.as_ref().unwrap();
        let marks = idpsim::outputs::histogram::markers(&p, hp);
        let field = idpsim::theory::Field::new(&p, 0);
        let exist = sal.iter().filter(|&&a| a - if zd { (sal[0] + sal[1]) / n as f64 } else { 0.0 } > 1.0).count();
        assert_eq!(marks.len(), 1 + 2 * exist, "{zd} {n} {sal:?}");
        for (k, (at, stable)) in marks.iter().enumerate() {
            // Markers hold the two plotted coordinates; the memory (or the origin) fixes the rest.
            let x = if k == 0 {
                nalgebra::DVector::zeros(n)
            } else {
                let mu = (0..2).find(|&mu| {
                    (0..2).all(|i| {
                        (at[i] - at[0] * p.memories.get(0, mu) as f64 * p.memories.get(i, mu) as f64).abs() < 1e-12
                    })
                });
                let mu = mu.unwrap();
                let g = at[0] * p.memories.get(0, mu) as f64;
                nalgebra::DVector::from_fn(n, |i, _| g * p.memories.get(i, mu) as f64)
            };
            assert!(field.drift(&x).amax() < 1e-9, "{zd} {n} {sal:?}: marker {at:?} is no equilibrium");
            let ev = field.eigenvalues(&x);
            assert_eq!(*stable, ev.iter().all(|&e| e < 0.0), "{zd} {n} {sal:?}: {at:?} eigenvalues {ev:?}");
        }
    }
    let p = plan(json!({
        "model": { "kind": "classic" },
        "memories": { "kind": "hadamard", "n": 2, "p": 2 },
        "input": { "segments": [ { "duration": 0.1, "weights": [0.2, 0.1] } ] },
        "ensemble": { "trajectories": 1 },
        "observe": { "histogram": { "of": "state", "axes": [0, 1], "bins": [8, 8], "range": [[-4, 4], [-4, 4]] } }
    }));
    assert!(idpsim::outputs::histogram::markers(&p, p.observe.histogram.as_ref().unwrap()).is_empty());
}
