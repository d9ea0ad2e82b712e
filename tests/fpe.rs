//! The grid Fokker–Planck solver against exact densities, its convergence under refinement,
//! and ensemble histograms against it.

mod common;

use common::{gpu, plan, run};
use idpsim::fpe::{self, Grid};
use serde_json::json;

fn plan_1d(alpha: f64, sigma: f64) -> idpsim::plan::Plan {
    plan(json!({
        "model": { "kind": "idp" },
        "memories": { "kind": "explicit", "patterns": [[1]] },
        "input": { "segments": [ { "duration": 1.0, "saliency": [alpha] } ] },
        "noise": { "sigma": sigma },
        "ensemble": { "trajectories": 1 }
    }))
}

/// TV distance between the grid density and an unnormalised exact density, both integrated
/// over the grid's cells (8-point midpoint rule per cell).
fn tv_exact_1d(sol: &[f64], grid: &Grid, exact: impl Fn(f64) -> f64) -> f64 {
    let h = grid.width(0);
    let mass: Vec<f64> = (0..grid.bins[0])
        .map(|j| {
            (0..8).map(|s| exact(grid.range[0][0] + (j as f64 + (s as f64 + 0.5) / 8.0) * h)).sum::<f64>() * h / 8.0
        })
        .collect();
    let z: f64 = mass.iter().sum();
    0.5 * sol.iter().zip(&mass).map(|(&d, &m)| (d * h - m / z).abs()).sum::<f64>()
}

fn grid_1d(bins: usize) -> Grid {
    Grid { dims: 1, bins: [bins, 1], range: [[-4.0, 4.0], [0.0, 1.0]] }
}

#[test]
fn ornstein_uhlenbeck_is_gaussian() {
    // α = 0: f = −x, p∞ = N(0, σ²/2) per coordinate (continuous time).
    let sigma = 0.9f64;
    let var = sigma * sigma / 2.0;
    let p1 = plan_1d(0.0, sigma);
    let g1 = grid_1d(200);
    let s1 = fpe::solve(&p1, &g1).unwrap();
    let tv = tv_exact_1d(&s1.density, &g1, |x| (-x * x / (2.0 * var)).exp());
    assert!(tv < 2e-3 && s1.residual < 1e-10, "1-D OU: TV {tv}, residual {}", s1.residual);
    // 2-D: a product of Gaussians.
    let p2 = plan(json!({
        "model": { "kind": "idp" },
        "memories": { "kind": "hadamard", "n": 2, "p": 2 },
        "input": { "segments": [ { "duration": 1.0, "saliency": [0.0, 0.0] } ] },
        "noise": { "sigma": sigma },
        "ensemble": { "trajectories": 1 }
    }));
    let g2 = Grid { dims: 2, bins: [80, 80], range: [[-4.0, 4.0], [-4.0, 4.0]] };
    let s2 = fpe::solve(&p2, &g2).unwrap();
    let h = g2.width(0);
    let phi = |x: f64| (-x * x / (2.0 * var)).exp();
    let cell = |i: usize| (0..8).map(|s| phi(-4.0 + (i as f64 + (s as f64 + 0.5) / 8.0) * h)).sum::<f64>();
    let z: f64 = (0..80).map(cell).sum::<f64>().powi(2);
    let tv: f64 = 0.5
        * (0..80)
            .flat_map(|i| (0..80).map(move |j| (i, j)))
            .map(|(i, j)| (s2.density[i * 80 + j] * h * h - cell(i) * cell(j) / z).abs())
            .sum::<f64>();
    assert!(tv < 5e-3, "2-D OU: TV {tv}");
}

#[test]
fn one_dimensional_exact_density_and_refinement() {
    // dx = (−x + α tanh x) dt + σ dB: p∞ ∝ exp(−(2/σ²)(x²/2 − α log cosh x)).
    let (alpha, sigma) = (2.0f64, 0.7f64);
    let p = plan_1d(alpha, sigma);
    let exact = |x: f64| (-(2.0 / (sigma * sigma)) * (x * x / 2.0 - alpha * x.cosh().ln())).exp();
    let tvs: Vec<f64> = [25, 50, 100, 200, 400]
        .iter()
        .map(|&b| {
            let g = grid_1d(b);
            tv_exact_1d(&fpe::solve(&p, &g).unwrap().density, &g, exact)
        })
        .collect();
    eprintln!("TV against the exact density at 25, 50, 100, 200, 400 cells: {tvs:?}");
    assert!(tvs[3] < 2e-3, "{tvs:?}");
    for w in tvs.windows(2) {
        assert!(w[1] < w[0] * 0.75, "refining the grid must reduce the error: {tvs:?}");
    }
}

/// A small version of `fpe2d-dominant` (8192 trajectories, 40 × 40 cells) in seconds: the
/// ensemble histogram matches the grid solution. The preset itself (65 536 trajectories,
/// 100 × 100 cells) reaches TV ≈ 0.01; here the Monte-Carlo error is about 0.02, so the
/// threshold is 0.05.
#[test]
fn ensemble_histogram_matches_the_grid_solution() {
    let Some(mut g) = gpu() else { return };
    let p = plan(json!({
        "model": { "kind": "idp" },
        "memories": { "kind": "hadamard", "n": 2, "p": 2 },
        "input": { "segments": [ { "duration": 60.0, "saliency": [1.5, 2.25] } ] },
        "noise": { "sigma": 0.8 },
        "ensemble": { "trajectories": 8192, "seed": 77 },
        "observe": { "overlaps": { "every": 10.0 }, "histogram": { "of": "state", "axes": [0, 1], "bins": [40, 40], "range": [[-4, 4], [-4, 4]], "from": 10.0, "every": 0.5 } }
    }));
    let counts = idpsim::outputs::histogram::counts(&run(&p, &mut g)).unwrap();
    let grid = Grid { dims: 2, bins: [40, 40], range: [[-4.0, 4.0], [-4.0, 4.0]] };
    let sol = fpe::solve(&p, &grid).unwrap();
    let tv = fpe::tv_distance(&sol.density, grid.cell_area(), &counts[..1600]);
    eprintln!("TV distance histogram vs grid: {tv:.4}");
    assert!(tv < 0.05, "TV {tv}");
    // The dominant memory's wells hold most of the mass (ξ² = (1, −1): x₀ x₁ < 0).
    let dominant: f64 = (0..40)
        .flat_map(|i| (0..40).map(move |j| (i, j)))
        .filter(|&(i, j)| (i as f64 - 19.5) * (j as f64 - 19.5) < 0.0)
        .map(|(i, j)| sol.density[i * 40 + j] * grid.cell_area())
        .sum();
    assert!(dominant > 0.8, "dominant quadrants hold {dominant}");
}
