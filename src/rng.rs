//! Philox4x32-10 counter-based random numbers (Salmon et al., SC11), bit-identical to
//! `shaders/rng.wgsl`, and Box–Muller normals computed with the same f32 formula as the kernels.
//!
//! Counter layout (docs/THEORY.md §9): `[neuron block, step (or segment), trajectory, stream]`, key =
//! the run seed. A trajectory's random numbers therefore never depend on the backend, the
//! chunking, the workgroup size or sharding.

/// Stream ids (the fourth counter word). Keep in step with `shaders/rng.wgsl`.
pub mod stream {
    /// Dynamics noise dB: counter `[block, step, trajectory, DYNAMICS]`.
    pub const DYNAMICS: u32 = 0;
    /// Initial state: counter `[block, 0, trajectory, INITIAL]`.
    pub const INITIAL: u32 = 1;
    /// Per-trajectory input corruption: counter `[block, segment, trajectory, INPUT_NOISE]`.
    pub const INPUT_NOISE: u32 = 2;
    /// Per-trajectory random input weights: counter `[block, segment, trajectory, RANDOM_WEIGHTS]`.
    pub const RANDOM_WEIGHTS: u32 = 3;
    /// Random memories (keyed by the memories' own seed): counter `[block, 0, 0, MEMORIES]`.
    pub const MEMORIES: u32 = 4;
    /// Modern model, saliency-layer noise: counter `[block of 4 memories, step, trajectory, ALPHA_NOISE]`.
    pub const ALPHA_NOISE: u32 = 5;
    /// Modern model, memory-layer noise: counter `[block of 4 memories, step, trajectory, Y_NOISE]`.
    pub const Y_NOISE: u32 = 6;
    /// Two-point dynamics increments: counter `[block / 32, step, trajectory, TWO_POINT]`, one
    /// Philox block (128 bits) for 32 neuron blocks.
    pub const TWO_POINT: u32 = 7;
    /// Cue corruption (which signs of the cued memory are flipped): counter `[block, draw,
    /// trajectory, CUE]`, lane l's uniform for neuron 4·block + l; draw 0 for the initial
    /// state, k + 1 for input segment k's own cue.
    pub const CUE: u32 = 8;
}

const M0: u32 = 0xD251_1F53;
const M1: u32 = 0xCD9E_8D57;
const W0: u32 = 0x9E37_79B9;
const W1: u32 = 0xBB67_AE85;

#[inline(always)]
fn mulhilo(a: u32, b: u32) -> (u32, u32) {
    let p = (a as u64) * (b as u64);
    ((p >> 32) as u32, p as u32)
}

/// Philox4x32 with 10 rounds.
#[inline]
pub fn philox4x32_10(ctr: [u32; 4], key: [u32; 2]) -> [u32; 4] {
    let mut c = ctr;
    let mut k = key;
    for round in 0..10 {
        if round > 0 {
            k[0] = k[0].wrapping_add(W0);
            k[1] = k[1].wrapping_add(W1);
        }
        let (hi0, lo0) = mulhilo(M0, c[0]);
        let (hi1, lo1) = mulhilo(M1, c[2]);
        c = [hi1 ^ c[1] ^ k[0], lo1, hi0 ^ c[3] ^ k[1], lo0];
    }
    c
}

/// Splits a 64-bit seed into the Philox key.
pub fn key_from_seed(seed: u64) -> [u32; 2] {
    [seed as u32, (seed >> 32) as u32]
}

/// Uniform in (0, 1]: never 0, so `ln` is always finite.
#[inline(always)]
pub fn uniform_open_closed(r: u32) -> f32 {
    ((r >> 8) as f32 + 1.0) * (1.0 / 16_777_216.0)
}

/// Uniform in [0, 1).
#[inline(always)]
pub fn uniform_closed_open(r: u32) -> f32 {
    (r >> 8) as f32 * (1.0 / 16_777_216.0)
}

const PI_F32: f32 = std::f32::consts::PI;
#[allow(clippy::excessive_precision)]
const LN2_HI: f32 = 0.693_145_751_953_125;
#[allow(clippy::excessive_precision)]
const LN2_LO: f32 = 1.428_606_820_309_417_232_12e-6;

/// ln(u) for u in (0, 1], a few ulps everywhere (also next to 1, where GPU `log` may be off by
/// 2⁻²¹ absolute). Mirrors `ln_unit` in `shaders/rng.wgsl` operation for operation.
#[inline(always)]
#[allow(clippy::excessive_precision, clippy::approx_constant)]
pub fn ln_unit(u: f32) -> f32 {
    let bits = u.to_bits();
    let mut e = ((bits >> 23) & 0xff) as i32 - 127;
    let mut m = f32::from_bits((bits & 0x7f_ffff) | 0x3f80_0000);
    if m > 1.414_213_56 {
        m *= 0.5;
        e += 1;
    }
    let s = (m - 1.0) / (m + 1.0);
    let s2 = s * s;
    let series = s * (2.0 + s2 * (0.666_666_666 + s2 * (0.4 + s2 * (0.285_714_286 + s2 * 0.222_222_222))));
    let ef = e as f32;
    ef * LN2_HI + (ef * LN2_LO + series)
}

/// Box–Muller: two standard normals from two words; the angle is kept in [−π, π).
#[inline(always)]
pub fn box_muller(a: u32, b: u32) -> (f32, f32) {
    let u = uniform_open_closed(a);
    let v = uniform_closed_open(b);
    let r = (-2.0 * ln_unit(u)).sqrt();
    let theta = v * (2.0 * PI_F32) - PI_F32;
    (r * theta.cos(), r * theta.sin())
}

/// Four standard normals from one Philox block.
#[inline(always)]
pub fn normals4(ctr: [u32; 4], key: [u32; 2]) -> [f32; 4] {
    let r = philox4x32_10(ctr, key);
    let (z0, z1) = box_muller(r[0], r[1]);
    let (z2, z3) = box_muller(r[2], r[3]);
    [z0, z1, z2, z3]
}

/// Four two-point increments ±1 of neuron block `block` at a step: bit 4·(block mod 8) + lane
/// of word (block mod 32) / 8 of Philox counter `[block / 32, step, trajectory, TWO_POINT]`,
/// set for +1. Mirrors `two_point4` in `shaders/rng.wgsl`.
#[inline(always)]
pub fn two_point4(block: u32, step: u32, trajectory: u32, key: [u32; 2]) -> [f32; 4] {
    let r = philox4x32_10([block >> 5, step, trajectory, stream::TWO_POINT], key);
    let bits = r[((block & 31) >> 3) as usize] >> ((block & 7) * 4);
    std::array::from_fn(|l| if (bits >> l) & 1 == 1 { 1.0 } else { -1.0 })
}

/// The signs ±1 of neuron block `block` of a cue with a fraction `flip` flipped: lane l is −1
/// when the uniform of word l of counter `[block, draw, trajectory, CUE]` is below `flip` (draw
/// 0: the initial state's cue; k + 1: input segment k's own). Mirrors `cue_signs4` in
/// `shaders/rng.wgsl`.
pub fn cue_signs4(block: u32, draw: u32, trajectory: u32, flip: f32, key: [u32; 2]) -> [f32; 4] {
    let r = philox4x32_10([block, draw, trajectory, stream::CUE], key);
    std::array::from_fn(|l| if uniform_closed_open(r[l]) < flip { -1.0 } else { 1.0 })
}

/// Fills `out` with the standard normals of counter `[block, word1, trajectory, stream]`,
/// neuron `i` taking lane `i % 4` of block `i / 4` (the kernels' convention).
pub fn fill_normals(out: &mut [f32], key: [u32; 2], word1: u32, trajectory: u32, stream: u32) {
    for (block, chunk) in out.chunks_mut(4).enumerate() {
        let z = normals4([block as u32, word1, trajectory, stream], key);
        chunk.copy_from_slice(&z[..chunk.len()]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Random123 1.09 `kat_vectors`, philox4x32 with 10 rounds.
    #[test]
    fn random123_known_answers() {
        let cases: [([u32; 4], [u32; 2], [u32; 4]); 3] = [
            ([0, 0, 0, 0], [0, 0], [0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8]),
            ([0xffffffff; 4], [0xffffffff; 2], [0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd]),
            (
                [0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344],
                [0xa4093822, 0x299f31d0],
                [0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1],
            ),
        ];
        for (ctr, key, want) in cases {
            assert_eq!(philox4x32_10(ctr, key), want, "ctr {ctr:08x?} key {key:08x?}");
        }
    }

    /// ln_unit against f64 ln over every 2⁻²⁴ step near 1 and a sweep of the whole interval.
    #[test]
    fn ln_unit_is_accurate() {
        let mut worst = 0f64;
        let check = |u: f32, worst: &mut f64| {
            let got = ln_unit(u) as f64;
            let want = (u as f64).ln();
            let err = (got - want).abs() / want.abs().max(1e-30);
            *worst = worst.max(err);
            assert!(err < 4e-7 || (got - want).abs() < 1e-12, "ln_unit({u}) = {got}, ln = {want}");
        };
        for k in 1..=(1u32 << 16) {
            check(1.0 - k as f32 / 16_777_216.0, &mut worst);
        }
        for k in 0..200_000u32 {
            check(uniform_open_closed(k.wrapping_mul(2_654_435_761)), &mut worst);
        }
        check(1.0, &mut worst);
        assert_eq!(ln_unit(1.0), 0.0);
        eprintln!("largest relative error {worst:e}");
    }

    #[test]
    fn uniforms_stay_in_their_intervals() {
        assert_eq!(uniform_open_closed(0), 1.0 / 16_777_216.0);
        assert_eq!(uniform_open_closed(u32::MAX), 1.0);
        assert_eq!(uniform_closed_open(0), 0.0);
        assert!(uniform_closed_open(u32::MAX) < 1.0);
        let (a, b) = box_muller(u32::MAX, 0);
        assert!(a.is_finite() && b.is_finite());
        let (a, b) = box_muller(0, u32::MAX);
        assert!(a.is_finite() && b.is_finite());
    }

    /// Mean 0 and variance 1 within 5 standard errors over 4·10⁵ normals (false-failure rate
    /// below 10⁻⁶ per moment).
    #[test]
    fn normals_have_unit_variance() {
        let key = key_from_seed(7);
        let n = 100_000u32;
        let (mut s1, mut s2) = (0f64, 0f64);
        for b in 0..n {
            for z in normals4([b, 3, 1, stream::DYNAMICS], key) {
                s1 += z as f64;
                s2 += (z as f64) * (z as f64);
            }
        }
        let count = 4.0 * n as f64;
        let mean = s1 / count;
        let var = s2 / count - mean * mean;
        assert!(mean.abs() < 5.0 / count.sqrt(), "mean {mean}");
        // Var of the sample variance of normals is 2/n.
        assert!((var - 1.0).abs() < 5.0 * (2.0 / count).sqrt(), "var {var}");
    }
}
