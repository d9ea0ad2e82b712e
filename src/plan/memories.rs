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
        if self.xi.iter().all(|&v| v == 1.0 || v == -1.0) {
            return self.gram_of_signs();
        }
        let mut g = vec![0f64; p * p];
        for i in 0..n {
            let row = &self.xi[i * p..(i + 1) * p];
            for a in 0..p {
                for b in 0..p {
                    g[a * p + b] += (row[a] * row[b]) as f64;
                }
            }
        }
        g.iter_mut().for_each(|v| *v /= n as f64);
        g
    }

    /// [`Memories::gram`] of ±1 entries: ξ^a·ξ^b = N − 2 × (the entries where they differ),
    /// counted 64 sign bits at a time. The same exact integers as the products' sum, so the
    /// same values, in O(P²N/64) instead of O(P²N) (seconds, not minutes, at N = 2²⁰, P = 512).
    fn gram_of_signs(&self) -> Vec<f64> {
        let (n, p) = (self.n, self.p);
        let words = n.div_ceil(64);
        let mut bits = vec![0u64; p * words];
        for i in 0..n {
            for (mu, &v) in self.xi[i * p..(i + 1) * p].iter().enumerate() {
                if v < 0.0 {
                    bits[mu * words + i / 64] |= 1 << (i % 64);
                }
            }
        }
        let mut g = vec![0f64; p * p];
        for a in 0..p {
            let row_a = &bits[a * words..(a + 1) * words];
            for b in a..p {
                let row_b = &bits[b * words..(b + 1) * words];
                let differ: u64 = row_a.iter().zip(row_b).map(|(x, y)| (x ^ y).count_ones() as u64).sum();
                let v = (n as f64 - 2.0 * differ as f64) / n as f64;
                g[a * p + b] = v;
                g[b * p + a] = v;
            }
        }
        g
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The Gram matrix counted on sign bits is the products' sum, with N not a multiple of 64.
    #[test]
    fn gram_of_signs_is_the_products_sum() {
        let (n, p) = (200, 7);
        let sign = |k: usize| if (k.wrapping_mul(2_654_435_761) >> 7) & 1 == 0 { 1.0 } else { -1.0 };
        let m = Memories { n, p, xi: (0..n * p).map(sign).collect() };
        let mut want = vec![0f64; p * p];
        for i in 0..n {
            for a in 0..p {
                for b in 0..p {
                    want[a * p + b] += (m.get(i, a) * m.get(i, b)) as f64;
                }
            }
        }
        want.iter_mut().for_each(|v| *v /= n as f64);
        assert!(want.iter().any(|&g| g != 0.0 && g.abs() < 1.0), "memories neither orthogonal nor equal");
        assert_eq!(m.gram(), want);
    }
}
