//! Where each step's noise comes from (docs/THEORY.md §9): small networks draw one Philox block
//! for several steps (Gaussian noise for N ≤ 2, two-point increments for up to 32 neuron
//! blocks). Exact checks: no two neuron-steps share random bits, small networks use every bit
//! drawn, and a run's last step shows exactly the noise `rng` assigns to it on every backend,
//! with dispatches that start in the middle of a Philox block's steps.

mod common;

use std::collections::HashSet;

use common::{backends, plan, run};
use idpsim::rng;
use serde_json::json;

/// Two-point sites: every (neuron block, step) of a trajectory takes its own 4 bits, and a
/// network whose block count is a power of two up to 32 uses all 128 bits of each Philox block.
#[test]
fn two_point_sites_are_distinct_and_dense() {
    for nb in [1usize, 2, 3, 4, 5, 8, 16, 17, 32, 33, 100] {
        let (s, bp) = rng::two_point_layout(nb);
        let steps = 256u32;
        let mut seen = HashSet::new();
        for step in 0..steps {
            for b in 0..nb as u32 {
                let site = rng::two_point_site(nb, b, step);
                assert_eq!(site.2 % 4, 0);
                assert!(site.2 < 128);
                assert!(seen.insert(site), "nb {nb}: block {b} at step {step} reuses {site:?}");
            }
        }
        if nb.is_power_of_two() && nb <= 32 {
            assert_eq!((s as usize) * nb, 32, "nb {nb}");
            let blocks: HashSet<_> = seen.iter().map(|&(w0, w1, _)| (w0, w1)).collect();
            assert_eq!(blocks.len() as u32, steps / s, "nb {nb}: Philox blocks drawn");
            assert_eq!(seen.len(), blocks.len() * 32, "nb {nb}: every bit of every block used");
        }
        if nb > 32 {
            assert_eq!((s, bp as usize), (1, nb.next_power_of_two()), "nb {nb}: one step per block");
        }
    }
}

/// Gaussian sites: every (neuron, step) takes its own normal (counter and lane), and N = 1, 2
/// use all four normals of each block.
#[test]
fn gaussian_sites_are_distinct_and_dense() {
    for n in 1usize..=9 {
        let steps = 64u32;
        let mut seen = HashSet::new();
        for step in 0..steps {
            for i in 0..n {
                let (w0, w1, o) = rng::gauss_site(n, (i / 4) as u32, step);
                let lane = (o as usize + i % 4) % 4;
                assert!(seen.insert((w0, w1, lane)), "n {n}: neuron {i} at step {step} reuses a normal");
            }
        }
        if n <= 2 {
            let blocks: HashSet<_> = seen.iter().map(|&(w0, w1, _)| (w0, w1)).collect();
            assert_eq!(seen.len(), blocks.len() * 4, "n {n}: every normal of every block used");
        }
    }
}

/// With W = 0 (saliency 0), dt = 1 and x(0) = 0 the Euler step is x ← x − x + σ ζ = σ ζ, so the
/// final state of a K-step run is σ times the noise of step K − 1. Checked on every backend for
/// N = 1, 2, 6, 64, 150 (38 neuron blocks: beyond 32, two Philox groups of blocks), K = 1, 2,
/// 5, 37, with 3 steps per dispatch (so dispatches start inside a Philox block's group of steps)
/// and a save every step: two-point increments bit for bit; normals bit for bit on the CPU and
/// within 2e-6 (relative + absolute, the GPU's rounding of ln, √ and the polynomials) on the
/// GPU, in its automatic layout and (N = 1, 6, 150) in the tile layout. One test per kind of
/// increment, so that their kernels build side by side.
fn last_step_shows_that_steps_noise(increments: &str) {
    let (sigma, m) = (2.0f32, 64u64);
    for n in [1usize, 2, 6, 64, 150] {
        for k in [1u32, 2, 5, 37] {
            let p = plan(json!({
                "model": { "kind": "idp" },
                "memories": { "kind": "random", "n": n, "p": 2, "seed": 1 },
                "input": { "segments": [ { "duration": k as f64, "saliency": [0.0, 0.0] } ] },
                "noise": { "sigma": sigma, "increments": increments },
                "integrator": { "dt": 1.0 },
                "ensemble": { "trajectories": m, "seed": 9, "initial": { "kind": "point", "x": vec![0.0; n] } },
                "observe": { "overlaps": { "every": 1.0 }, "final_state": true },
                "run": { "steps_per_dispatch": 3 }
            }));
            let key = rng::key_from_seed(9);
            let want: Vec<f32> = (0..m as u32)
                .flat_map(|t| {
                    (0..n).map(move |i| {
                        let b = (i / 4) as u32;
                        let z = if increments == "two_point" {
                            rng::two_point4(n.div_ceil(4), b, k - 1, t, key)
                        } else {
                            rng::dynamics_normals4(n, b, k - 1, t, key)
                        };
                        sigma * z[i % 4]
                    })
                })
                .collect();
            let mut tiled = p.clone();
            tiled.run.layout = idpsim::plan::LayoutChoice::Tile;
            for mut b in backends() {
                // The GPU in its automatic layout, then in the tile layout (whose invocations
                // draw the noise of other neuron blocks than the thread layout's).
                // (N = 1: one lane drawn for several steps; 6: a padded block; 150: two Philox
                // groups of blocks.)
                let tile = b.kind() == "gpu" && [1, 6, 150].contains(&n);
                let layouts: &[&idpsim::plan::Plan] = if tile { &[&p, &tiled] } else { &[&p] };
                for (l, pl) in layouts.iter().enumerate() {
                    let x = run(pl, b.as_mut()).f32("final_state").unwrap();
                    assert_eq!(x.len(), want.len());
                    let exact = increments == "two_point" || b.kind() == "cpu";
                    for (j, (&got, &w)) in x.iter().zip(&want).enumerate() {
                        let ok = if exact {
                            got.to_bits() == w.to_bits()
                        } else {
                            (got - w).abs() <= 2e-6 * (1.0 + w.abs())
                        };
                        assert!(
                            ok,
                            "{}{} N = {n} {increments} K = {k}: trajectory {} neuron {}: {got} against {w}",
                            b.kind(),
                            if l == 1 { " (tile layout)" } else { "" },
                            j / n,
                            j % n
                        );
                    }
                }
            }
        }
    }
}
#[test]
fn last_step_shows_that_steps_noise_two_point() {
    last_step_shows_that_steps_noise("two_point");
}

#[test]
fn last_step_shows_that_steps_noise_gaussian() {
    last_step_shows_that_steps_noise("gaussian");
}
