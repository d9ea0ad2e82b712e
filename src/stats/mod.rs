//! Observations shared by both backends: per-block partial sums of the overlaps (the GPU's
//! `shaders/reduce.wgsl` computes the same sums in the same order) and their exact combination
//! on the host.
//!
//! Ensemble sums are exact and order-free: each f32 partial is converted to a 2⁻⁶⁴ fixed-point
//! i128 and added as an integer, so the result does not depend on chunking, sharding or the
//! order in which chunks arrive. Only values below 2⁻⁶⁴ in size are rounded (to zero). A sum
//! that would leave the i128 range (about ±9.2e18 in total) is refused with [`SumOverflow`],
//! never wrapped.

pub mod retrieval;

use crate::plan::{BLOCK, SaveLayout};

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

/// Largest magnitude a fixed-point value (and any sum of them) may reach: 2^63 in value.
const FIXED_LIMIT: f64 = 9_223_372_036_854_775_808.0; // 2^63

/// A value, or a sum of values, beyond what the exact sums hold (or not finite).
#[derive(Debug, Clone, Copy, PartialEq, thiserror::Error)]
#[error("{value:e} is beyond the exact ensemble sums' range of ±9.2e18 (or not finite)")]
pub struct SumOverflow {
    /// The value (or the f64 value of the sum) that did not fit.
    pub value: f64,
}

/// f32 → exact 2⁻⁶⁴ fixed point (truncating below 2⁻⁶⁴); refused beyond ±2^63 or not finite.
#[inline]
pub fn to_fixed(v: f32) -> Result<i128, SumOverflow> {
    to_fixed_f64(v as f64)
}

/// f64 → 2⁻⁶⁴ fixed point (truncating below 2⁻⁶⁴); refused beyond ±2^63 or not finite.
#[inline]
pub fn to_fixed_f64(v: f64) -> Result<i128, SumOverflow> {
    if v.is_finite() && v.abs() < FIXED_LIMIT { Ok((v * FIXED_SCALE) as i128) } else { Err(SumOverflow { value: v }) }
}

/// a + b, refusing to leave the range [`to_fixed`] accepts.
#[inline]
pub fn add_fixed(a: i128, b: i128) -> Result<i128, SumOverflow> {
    match a.checked_add(b) {
        Some(s) if from_fixed(s).abs() < FIXED_LIMIT => Ok(s),
        _ => Err(SumOverflow { value: from_fixed(a) + from_fixed(b) }),
    }
}

/// The error of exact sums that cannot hold quantity `q` of the save at time `time`.
pub fn overflow(layout: SaveLayout, time: f64, q: usize, e: SumOverflow) -> anyhow::Error {
    anyhow::anyhow!(
        "the ensemble sums of {} at t = {time} cannot be kept exactly: {e}; the observed values grew too large (the run is stopped rather than written wrong)",
        layout.name(q)
    )
}

#[inline]
pub fn from_fixed(v: i128) -> f64 {
    v as f64 / FIXED_SCALE
}

/// Adds one block's moments (Σd, Σd², Σ|m|, c of n trajectories) to the sums (Σm, Σm², Σ|m|).
fn add_block(d: &mut [i128], s: &[f32], n: f64) -> Result<(), SumOverflow> {
    let (s1, s2, sa, c) = (s[0], s[1], s[2], s[3] as f64);
    let m1 = add_fixed(to_fixed(s1)?, to_fixed_f64(n * c)?)?;
    let m2 = add_fixed(add_fixed(to_fixed(s2)?, to_fixed_f64(2.0 * c * s1 as f64)?)?, to_fixed_f64(n * (c * c))?)?;
    d[0] = add_fixed(d[0], m1)?;
    d[1] = add_fixed(d[1], m2)?;
    d[2] = add_fixed(d[2], to_fixed(sa)?)?;
    Ok(())
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
    /// added in fixed point, so the sums do not depend on how the ensemble was cut. On a value
    /// or a sum beyond the exact range it stops and says which save and quantity.
    pub fn add_partials(
        &mut self,
        first: usize,
        slots: usize,
        count: usize,
        partials: &[f32],
    ) -> Result<(), (usize, usize, SumOverflow)> {
        let row = self.p * MOMENTS;
        let blocks = partials.len() / (slots * row);
        for slot in 0..slots {
            let dst = &mut self.sums[(first + slot) * self.p * SUMS..(first + slot + 1) * self.p * SUMS];
            for blk in 0..blocks {
                let n = (count - blk * BLOCK as usize).min(BLOCK as usize) as f64;
                let src = &partials[(slot * blocks + blk) * row..(slot * blocks + blk + 1) * row];
                for (q, (d, s)) in dst.chunks_mut(SUMS).zip(src.chunks(MOMENTS)).enumerate() {
                    add_block(d, s, n).map_err(|e| (first + slot, q, e))?;
                }
            }
        }
        Ok(())
    }

    /// The sums as u64 words [save][P][SUMS][2] (low word, high word of each i128).
    pub fn words(&self) -> Vec<u64> {
        self.sums.iter().flat_map(|&v| [v as u64, (v >> 64) as u64]).collect()
    }

    /// Takes back what [`OverlapSums::words`] gave (as many words as it gives).
    pub fn set_words(&mut self, words: &[u64]) {
        for (k, v) in self.sums.iter_mut().enumerate() {
            *v = (words[2 * k] as u128 | ((words[2 * k + 1] as u128) << 64)) as i128;
        }
    }

    /// Adds another set of sums (a shard or a chunk summed elsewhere).
    pub fn merge(&mut self, other: &OverlapSums) -> Result<(), SumOverflow> {
        self.add(other).map_err(|(_, _, e)| e)
    }

    /// [`OverlapSums::merge`], saying on a sum beyond the exact range which save and quantity.
    pub fn add(&mut self, other: &OverlapSums) -> Result<(), (usize, usize, SumOverflow)> {
        for (k, (a, b)) in self.sums.iter_mut().zip(&other.sums).enumerate() {
            *a = add_fixed(*a, *b).map_err(|e| (k / (self.p * SUMS), k / SUMS % self.p, e))?;
        }
        self.count += other.count;
        Ok(())
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
        let whole: i128 = vals.iter().map(|&v| to_fixed(v).unwrap()).sum();
        let mut parts = 0i128;
        for c in vals.chunks(37).rev() {
            parts += c.iter().map(|&v| to_fixed(v).unwrap()).sum::<i128>();
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
        sums.add_partials(0, slots, count, &part).unwrap();
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
            sums.add_partials(0, 1, count, &part).unwrap();
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

    /// Values near the f32 limits and sums that would leave the i128 range are refused, never
    /// wrapped or saturated.
    #[test]
    fn sums_beyond_the_exact_range_are_refused() {
        assert!(to_fixed(3.0e38).is_err());
        assert!(to_fixed(f32::INFINITY).is_err());
        assert!(to_fixed(f32::NAN).is_err());
        assert!(to_fixed(-1.0e19).is_err());
        assert_eq!(from_fixed(to_fixed(-4.0e18).unwrap()), -4.0e18f32 as f64);
        // Two values each inside the range whose sum is not.
        let a = to_fixed(6.0e18).unwrap();
        assert!(add_fixed(a, a).is_err());
        assert_eq!(from_fixed(add_fixed(a, -a).unwrap()), 0.0);
        // One block of overlaps around 1e10: Σm² ≈ 64e20 does not fit, Σm does.
        let saves = vec![1.0e10f32; 64];
        let part = block_partials(&saves, 1, 64, 1);
        let mut sums = OverlapSums::new(1, 1);
        let (save, q, e) = sums.add_partials(0, 1, 64, &part).unwrap_err();
        assert_eq!((save, q), (0, 0));
        assert!(e.value > 9.2e18, "{e}");
        // A merge that would overflow is refused too.
        let mut big = OverlapSums::new(1, 1);
        big.sums = vec![a; SUMS];
        let mut acc = big.clone();
        assert!(acc.merge(&big).is_err());
        // Adding sums says where: save 1, quantity 2 of 3 (Σm² of it).
        let (mut x, mut y) = (OverlapSums::new(2, 3), OverlapSums::new(2, 3));
        x.sums[(3 + 2) * SUMS + 1] = a;
        y.sums[(3 + 2) * SUMS + 1] = a;
        let (save, q, _) = x.add(&y).unwrap_err();
        assert_eq!((save, q), (1, 2));
    }

    /// Sums taken chunk by chunk and then added are those taken all at once, words included.
    #[test]
    fn chunk_sums_add_up_to_the_whole() {
        let (slots, count, p) = (2, 200, 3);
        let saves: Vec<f32> = (0..slots * count * p).map(|k| ((k as f32) * 0.377).cos() * 0.9).collect();
        let mut whole = OverlapSums::new(slots, p);
        whole.add_partials(0, slots, count, &block_partials(&saves, slots, count, p)).unwrap();
        let mut total = OverlapSums::new(slots, p);
        // Chunks of 128 and 72 trajectories: [slot][trajectory][P] of each.
        for (first, n) in [(0, 128), (128, 72)] {
            let part: Vec<f32> = (0..slots)
                .flat_map(|s| saves[(s * count + first) * p..(s * count + first + n) * p].iter().copied())
                .collect();
            let mut chunk = OverlapSums::new(slots, p);
            chunk.add_partials(0, slots, n, &block_partials(&part, slots, n, p)).unwrap();
            let mut back = OverlapSums::new(slots, p);
            back.set_words(&chunk.words());
            assert_eq!(back.sums, chunk.sums);
            total.add(&back).unwrap();
        }
        assert_eq!(total.sums, whole.sums);
    }
}
