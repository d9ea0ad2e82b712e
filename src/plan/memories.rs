//! Stored memories ξ^μ ∈ {−1, +1}^N: Sylvester–Hadamard columns, seeded random, explicit, or
//! read from an NPY file. Stored neuron-major (`xi[i * p + mu]`) as the kernels read them.

use crate::rng::{key_from_seed, philox4x32_10, stream};

#[derive(Debug, Clone, PartialEq)]
pub struct Memories {
    pub n: usize,
    pub p: usize,
    /// ±1 entries, `xi[i * p + mu]`.
    pub xi: Vec<f32>,
}

impl Memories {
    /// ξ^μ_i.
    #[inline]
    pub fn get(&self, i: usize, mu: usize) -> f32 {
        self.xi[i * self.p + mu]
    }

    /// SHA-256 (hex) of the memories' values: what a run records so that a memories file
    /// changed between two runs of one spec is noticed.
    pub fn digest(&self) -> String {
        use sha2::{Digest, Sha256};
        let mut h = Sha256::new();
        h.update((self.n as u64).to_le_bytes());
        h.update((self.p as u64).to_le_bytes());
        for v in &self.xi {
            h.update(v.to_le_bytes());
        }
        h.finalize().iter().map(|b| format!("{b:02x}")).collect()
    }

    /// Memory μ as a vector of length N.
    pub fn pattern(&self, mu: usize) -> Vec<f32> {
        (0..self.n).map(|i| self.get(i, mu)).collect()
    }

    /// G = ΞᵀΞ / N (P × P, row-major, f64): the saliencies of u = Ξw are α = G w.
    pub fn gram(&self) -> Vec<f64> {
        let (n, p) = (self.n, self.p);
        // Every product is ±1 and every partial sum an integer of magnitude at most N ≤ 2²⁰,
        // which f32 holds exactly: the blocked product's sums are exact in any order.
        let mut g32 = vec![0f32; p * p];
        // SAFETY: Ξᵀ is p×n with strides (1, p) and Ξ n×p with strides (p, 1), both over Ξ's
        // n·p values; G is p×p (p, 1) over its p·p values.
        unsafe {
            matrixmultiply::sgemm(
                p,
                n,
                p,
                1.0,
                self.xi.as_ptr(),
                1,
                p as isize,
                self.xi.as_ptr(),
                p as isize,
                1,
                0.0,
                g32.as_mut_ptr(),
                p as isize,
                1,
            );
        }
        g32.iter().map(|&v| v as f64 / n as f64).collect()
    }

    /// α = Ξᵀ u / N for an arbitrary input vector u (f64).
    pub fn saliency_of(&self, u: &[f64]) -> Vec<f64> {
        let mut a = vec![0f64; self.p];
        for (i, ui) in u.iter().enumerate() {
            for (mu, am) in a.iter_mut().enumerate() {
                *am += self.get(i, mu) as f64 * ui;
            }
        }
        a.iter_mut().for_each(|v| *v /= self.n as f64);
        a
    }

    /// Rows of P patterns, each of length N (the NPY layout [P, N]).
    pub fn from_patterns(rows: &[Vec<f32>]) -> Memories {
        let p = rows.len();
        let n = rows[0].len();
        let mut xi = vec![0f32; n * p];
        for (mu, row) in rows.iter().enumerate() {
            for (i, &v) in row.iter().enumerate() {
                xi[i * p + mu] = v;
            }
        }
        Memories { n, p, xi }
    }
}

/// Entry (r, c) of the Sylvester–Hadamard matrix of any power-of-two order: (−1)^popcount(r & c).
pub fn hadamard_entry(r: usize, c: usize) -> f32 {
    if (r & c).count_ones().is_multiple_of(2) { 1.0 } else { -1.0 }
}

/// Random memory μ, neuron i: bit i % 128 of Philox block [i / 128, μ, 0, MEMORIES] keyed by
/// `seed`. A memory does not depend on N or P beyond its own index.
pub fn random_entry(seed: u64, i: usize, mu: usize) -> f32 {
    let r = philox4x32_10([(i / 128) as u32, mu as u32, 0, stream::MEMORIES], key_from_seed(seed));
    let bit = (r[(i % 128) / 32] >> (i % 32)) & 1;
    if bit == 1 { 1.0 } else { -1.0 }
}
