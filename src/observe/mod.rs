//! Observations shared by both backends: per-block partial sums of the overlaps (the GPU's
//! `shaders/reduce.wgsl` computes the same sums in the same order) and their exact combination
//! on the host.
//!
//! Ensemble sums are exact and order-free: each f32 partial is converted to a 2⁻⁶⁴ fixed-point
//! i128 and added as an integer, so the result does not depend on chunking, sharding or the
//! order in which chunks arrive. Only values below 2⁻⁶⁴ in size are rounded (to zero).

pub mod retrieval;

use crate::plan::BLOCK;

/// Values kept per block and quantity: Σ(m − c), Σ(m − c)², Σ|m| and the shift c, the block's
/// first value. Shifting by a value of the block keeps the f32 sums of squares accurate for
/// quantities whose mean is large against their spread (saliencies, energies).
pub const MOMENTS: usize = 4;

/// Exact sums kept per save and quantity: Σm, Σm², Σ|m|.
pub const SUMS: usize = 3;

/// Per-block partial sums of per-trajectory overlaps `saves` ([slot][traj][P], `count`
/// trajectories), returned as [slot][block][P][MOMENTS]. Each block of [`BLOCK`] consecutive
/// trajectories is summed sequentially in trajectory order, in f32.
pub fn block_partials(saves: &[f32], slots: usize, count: usize, p: usize) -> Vec<f32> {
    let blocks = count.div_ceil(BLOCK as usize);
    let mut out = vec![0f32; slots * blocks * p * MOMENTS];
    for slot in 0..slots {
        for blk in 0..blocks {
            let lo = blk * BLOCK as usize;
            let hi = (lo + BLOCK as usize).min(count);
            for mu in 0..p {
                let c = saves[(slot * count + lo) * p + mu];
                let (mut s1, mut s2, mut sa) = (0f32, 0f32, 0f32);
                for t in lo..hi {
                    let m = saves[(slot * count + t) * p + mu];
                    let d = m - c;
                    s1 += d;
                    s2 += d * d;
                    sa += m.abs();
                }
                let o = ((slot * blocks + blk) * p + mu) * MOMENTS;
                out[o] = s1;
                out[o + 1] = s2;
                out[o + 2] = sa;
                out[o + 3] = c;
            }
        }
    }
    out
}

const FIXED_SCALE: f64 = 18_446_744_073_709_551_616.0; // 2^64

/// f32 → exact 2⁻⁶⁴ fixed point (truncating below 2⁻⁶⁴).
#[inline]
pub fn to_fixed(v: f32) -> i128 {
    (v as f64 * FIXED_SCALE) as i128
}

/// f64 → 2⁻⁶⁴ fixed point (truncating below 2⁻⁶⁴).
#[inline]
pub fn to_fixed_f64(v: f64) -> i128 {
    (v * FIXED_SCALE) as i128
}

#[inline]
pub fn from_fixed(v: i128) -> f64 {
    v as f64 / FIXED_SCALE
}

/// Exact ensemble sums of m, m², |m| per save and memory.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct OverlapSums {
    pub saves: usize,
    pub p: usize,
    /// [save][P][SUMS] in 2⁻⁶⁴ fixed point.
    pub sums: Vec<i128>,
    /// Trajectories added.
    pub count: u64,
}

impl OverlapSums {
    pub fn new(saves: usize, p: usize) -> Self {
        OverlapSums { saves, p, sums: vec![0; saves * p * SUMS], count: 0 }
    }

    /// Adds block partials [slot][block][P][MOMENTS] of a chunk of `count` trajectories for
    /// saves first..first+slots. With n trajectories in a block and shift c:
    /// Σm = Σd + n c and Σm² = Σd² + 2c Σd + n c², each term exact in f64 (f32 products) and
    /// added in fixed point, so the sums do not depend on how the ensemble was cut.
    pub fn add_partials(&mut self, first: usize, slots: usize, count: usize, partials: &[f32]) {
        let row = self.p * MOMENTS;
        let blocks = partials.len() / (slots * row);
        for slot in 0..slots {
            let dst = &mut self.sums[(first + slot) * self.p * SUMS..(first + slot + 1) * self.p * SUMS];
            for blk in 0..blocks {
                let n = (count - blk * BLOCK as usize).min(BLOCK as usize) as f64;
                let src = &partials[(slot * blocks + blk) * row..(slot * blocks + blk + 1) * row];
                for (d, s) in dst.chunks_mut(SUMS).zip(src.chunks(MOMENTS)) {
                    let (s1, s2, sa, c) = (s[0], s[1], s[2], s[3] as f64);
                    d[0] += to_fixed(s1) + to_fixed_f64(n * c);
                    d[1] += to_fixed(s2) + to_fixed_f64(2.0 * c * s1 as f64) + to_fixed_f64(n * (c * c));
                    d[2] += to_fixed(sa);
                }
            }
        }
    }

    /// Adds another set of sums (a shard or a chunk summed elsewhere).
    pub fn merge(&mut self, other: &OverlapSums) {
        for (a, b) in self.sums.iter_mut().zip(&other.sums) {
            *a += *b;
        }
        self.count += other.count;
    }

    /// (mean, std, mean |m|), each [save][P] f32; std is the population std (ddof = 0).
    pub fn finish(&self) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
        let n = self.saves * self.p;
        let (mut mean, mut std, mut abs) = (vec![0f32; n], vec![0f32; n], vec![0f32; n]);
        let c = self.count.max(1) as f64;
        for k in 0..n {
            let m1 = from_fixed(self.sums[k * SUMS]) / c;
            let m2 = from_fixed(self.sums[k * SUMS + 1]) / c;
            let ma = from_fixed(self.sums[k * SUMS + 2]) / c;
            mean[k] = m1 as f32;
            std[k] = (m2 - m1 * m1).max(0.0).sqrt() as f32;
            abs[k] = ma as f32;
        }
        (mean, std, abs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_point_sums_do_not_depend_on_grouping() {
        let vals: Vec<f32> = (0..1000).map(|k| ((k as f32) * 0.7368).sin() * 0.93).collect();
        let whole: i128 = vals.iter().map(|&v| to_fixed(v)).sum();
        let mut parts = 0i128;
        for c in vals.chunks(37).rev() {
            parts += c.iter().map(|&v| to_fixed(v)).sum::<i128>();
        }
        assert_eq!(whole, parts);
        let exact: f64 = vals.iter().map(|&v| v as f64).sum();
        assert!((from_fixed(whole) - exact).abs() < 1e-12);
    }

    #[test]
    fn block_partials_sum_each_block_in_order() {
        // 3 slots, 130 trajectories (blocks of 64, 64, 2), P = 2.
        let (slots, count, p) = (3, 130, 2);
        let saves: Vec<f32> = (0..slots * count * p).map(|k| (k % 7) as f32 * 0.25 - 0.5).collect();
        let part = block_partials(&saves, slots, count, p);
        assert_eq!(part.len(), slots * 3 * p * MOMENTS);
        let mut sums = OverlapSums::new(slots, p);
        sums.add_partials(0, slots, count, &part);
        sums.count = count as u64;
        let (mean, std, abs) = sums.finish();
        for slot in 0..slots {
            for mu in 0..p {
                let xs: Vec<f64> = (0..count).map(|t| saves[(slot * count + t) * p + mu] as f64).collect();
                let m = xs.iter().sum::<f64>() / count as f64;
                let v = xs.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / count as f64;
                let a = xs.iter().map(|x| x.abs()).sum::<f64>() / count as f64;
                assert!((mean[slot * p + mu] as f64 - m).abs() < 1e-6);
                assert!((std[slot * p + mu] as f64 - v.sqrt()).abs() < 1e-6);
                assert!((abs[slot * p + mu] as f64 - a).abs() < 1e-6);
            }
        }
    }

    /// A quantity whose mean is large against its spread (an energy near −2000 with spread
    /// 1e-3; a saliency identical in every trajectory) keeps an accurate std.
    #[test]
    fn stds_of_large_quantities_with_small_spread_are_accurate() {
        let count = 1000;
        let vals: Vec<f32> = (0..count).map(|k| -2000.0 + 1e-3 * ((k as f32) * 0.37).sin()).collect();
        let same = vec![2.2902436f32; count];
        for (xs, want) in [(&vals, None), (&same, Some(0.0))] {
            let part = block_partials(xs, 1, count, 1);
            let mut sums = OverlapSums::new(1, 1);
            sums.add_partials(0, 1, count, &part);
            sums.count = count as u64;
            let (mean, std, _) = sums.finish();
            let x64: Vec<f64> = xs.iter().map(|&v| v as f64).collect();
            let m = x64.iter().sum::<f64>() / count as f64;
            let sd = (x64.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / count as f64).sqrt();
            assert!((mean[0] as f64 - m).abs() < 1e-9 * m.abs().max(1.0), "mean {} vs {m}", mean[0]);
            assert!((std[0] as f64 - sd).abs() < 1e-3 * sd + 1e-9, "std {} vs {sd}", std[0]);
            if let Some(w) = want {
                assert_eq!(std[0], w, "identical values have std 0");
            }
        }
    }
}
