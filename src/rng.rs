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

/// (cos θ, sin θ) of the angle word `b`: θ = q·π/2 + φ with q its top two bits and φ in
/// (−π/4, π/4) from the next 22 (24 bits of angle in all, 2²⁴ equally spaced points on the
/// circle, none on an axis). Minimax polynomials on the octant (Cephes `sinf`/`cosf`, within
/// 2 ulps) and a quarter-turn rotation by q replace the general `sin`/`cos` with their range
/// reduction. Mirrors `sincos_turn` in `shaders/rng.wgsl` operation for operation.
#[inline(always)]
#[allow(clippy::excessive_precision)]
pub fn sincos_turn(b: u32) -> (f32, f32) {
    let q = b >> 30;
    let f = (b >> 8) & 0x3f_ffff;
    let phi = (f as f32 - 2_097_151.5) * SINCOS_STEP;
    let z = phi * phi;
    let s = ((-1.951_529_589_1e-4 * z + 8.332_160_873_6e-3) * z - 1.666_665_461_1e-1) * z * phi + phi;
    let c = ((2.443_315_711_809_948e-5 * z - 1.388_731_625_493_765e-3) * z + 4.166_664_568_298_827e-2) * z * z
        - 0.5 * z
        + 1.0;
    let (a, b) = if q & 1 == 1 { (s, c) } else { (c, s) };
    let cos = if (q + 1) & 2 != 0 { -a } else { a };
    let sin = if q & 2 != 0 { -b } else { b };
    (cos, sin)
}

/// π/2 / 2²²: the angle step of [`sincos_turn`].
const SINCOS_STEP: f32 = PI_F32 / 8_388_608.0;

/// Box–Muller: two standard normals from two words, r = √(−2 ln u) and the angle of
/// [`sincos_turn`].
#[inline(always)]
pub fn box_muller(a: u32, b: u32) -> (f32, f32) {
    let u = uniform_open_closed(a);
    let r = (-2.0 * ln_unit(u)).sqrt();
    let (c, s) = sincos_turn(b);
    (r * c, r * s)
}

/// Four standard normals from one Philox block.
#[inline(always)]
pub fn normals4(ctr: [u32; 4], key: [u32; 2]) -> [f32; 4] {
    let r = philox4x32_10(ctr, key);
    let (z0, z1) = box_muller(r[0], r[1]);
    let (z2, z3) = box_muller(r[2], r[3]);
    [z0, z1, z2, z3]
}

/// Steps served by one Philox block of the dynamics' Gaussian noise in a network of `n`
/// neurons: 4/n for n ≤ 2 (lane (step mod S)·n + i of the block of counter
/// `[0, step / S, trajectory, DYNAMICS]` is neuron i's normal), 1 otherwise (lane i mod 4 of the
/// block of counter `[i / 4, step, trajectory, DYNAMICS]`). Small networks use every normal
/// they draw.
pub fn gauss_steps(n: usize) -> u32 {
    match n {
        1 => 4,
        2 => 2,
        _ => 1,
    }
}

/// Where the dynamics' normals of neuron block `block` at `step` come from in a network of `n`
/// neurons: counter words 0 and 1 and the lane of the block's first neuron (see
/// [`gauss_steps`]).
#[inline(always)]
pub fn gauss_site(n: usize, block: u32, step: u32) -> (u32, u32, u32) {
    let s = gauss_steps(n);
    if s == 1 { (block, step, 0) } else { (0, step / s, (step % s) * n as u32) }
}

/// The dynamics' four standard normals of neuron block `block` at `step` in a network of `n`
/// neurons (lanes past n are padding). Mirrors `noise4` in `shaders/drift.wgsl`.
#[inline(always)]
pub fn dynamics_normals4(n: usize, block: u32, step: u32, trajectory: u32, key: [u32; 2]) -> [f32; 4] {
    let (w0, w1, o) = gauss_site(n, block, step);
    let z = normals4([w0, w1, trajectory, stream::DYNAMICS], key);
    std::array::from_fn(|l| z[(o as usize + l) & 3])
}

/// Lanes of [`dynamics_normals_lanes`]: eight 32-bit lanes fill one 256-bit vector.
pub const LANES: usize = 8;

/// The dynamics' normals of [`LANES`] neuron blocks at one `step` at once, lane l being neuron
/// block `blocks[l]` of trajectory `trajectories[l]`: the same numbers as
/// [`dynamics_normals4`] of each, bit for bit (the same operations in the same order, none
/// fused), written as loops over the lanes that the compiler vectorises: Philox's 32×32-bit
/// products as the vector unit's 64-bit products, Box–Muller's branches as selects. Compiled
/// for AVX2 where the processor has it.
pub fn dynamics_normals_lanes(
    n: usize,
    blocks: &[u32; LANES],
    step: u32,
    trajectories: &[u32; LANES],
    key: [u32; 2],
) -> [[f32; 4]; LANES] {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the processor has AVX2.
        return unsafe { normals_lanes_avx2(n, blocks, step, trajectories, key) };
    }
    normals_lanes(n, blocks, step, trajectories, key)
}

/// [`normals_lanes`] compiled for AVX2.
///
/// # Safety
/// The processor must have AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn normals_lanes_avx2(
    n: usize,
    blocks: &[u32; LANES],
    step: u32,
    trajectories: &[u32; LANES],
    key: [u32; 2],
) -> [[f32; 4]; LANES] {
    normals_lanes(n, blocks, step, trajectories, key)
}

/// The portable body of [`dynamics_normals_lanes`].
#[inline(always)]
fn normals_lanes(
    n: usize,
    blocks: &[u32; LANES],
    step: u32,
    trajectories: &[u32; LANES],
    key: [u32; 2],
) -> [[f32; 4]; LANES] {
    let (_, w1, o) = gauss_site(n, 0, step);
    let mut c = [[0u32; LANES]; 4];
    for l in 0..LANES {
        c[0][l] = gauss_site(n, blocks[l], step).0;
        c[1][l] = w1;
        c[2][l] = trajectories[l];
        c[3][l] = stream::DYNAMICS;
    }
    let r = philox_lanes(c, key);
    let mut z = [[0f32; 4]; LANES];
    for h in 0..2 {
        for l in 0..LANES {
            let u = uniform_open_closed(r[2 * h][l]);
            let rad = (-2.0 * ln_unit_select(u)).sqrt();
            let (cos, sin) = sincos_turn(r[2 * h + 1][l]);
            z[l][2 * h] = rad * cos;
            z[l][2 * h + 1] = rad * sin;
        }
    }
    let mut out = [[0f32; 4]; LANES];
    for l in 0..LANES {
        for k in 0..4 {
            out[l][k] = z[l][(o as usize + k) & 3];
        }
    }
    out
}

/// [`philox4x32_10`] of [`LANES`] counters (`c[word][lane]`) under one key.
#[inline(always)]
fn philox_lanes(mut c: [[u32; LANES]; 4], key: [u32; 2]) -> [[u32; LANES]; 4] {
    let mut k = key;
    for round in 0..10 {
        if round > 0 {
            k[0] = k[0].wrapping_add(W0);
            k[1] = k[1].wrapping_add(W1);
        }
        let mut next = [[0u32; LANES]; 4];
        for l in 0..LANES {
            let (hi0, lo0) = mulhilo(M0, c[0][l]);
            let (hi1, lo1) = mulhilo(M1, c[2][l]);
            next[0][l] = hi1 ^ c[1][l] ^ k[0];
            next[1][l] = lo1;
            next[2][l] = hi0 ^ c[3][l] ^ k[1];
            next[3][l] = lo0;
        }
        c = next;
    }
    c
}

/// [`ln_unit`] with its branch written as selects (the same values), for loops that vectorise.
#[inline(always)]
#[allow(clippy::excessive_precision, clippy::approx_constant)]
fn ln_unit_select(u: f32) -> f32 {
    let bits = u.to_bits();
    let e0 = ((bits >> 23) & 0xff) as i32 - 127;
    let m0 = f32::from_bits((bits & 0x7f_ffff) | 0x3f80_0000);
    let big = m0 > 1.414_213_56;
    let m = if big { m0 * 0.5 } else { m0 };
    let e = if big { e0 + 1 } else { e0 };
    let s = (m - 1.0) / (m + 1.0);
    let s2 = s * s;
    let series = s * (2.0 + s2 * (0.666_666_666 + s2 * (0.4 + s2 * (0.285_714_286 + s2 * 0.222_222_222))));
    let ef = e as f32;
    ef * LN2_HI + (ef * LN2_LO + series)
}

/// How one Philox block of two-point bits (128 of them, 32 neuron blocks of 4) covers the
/// steps of a network of `nb` neuron blocks: (steps per block S, neuron blocks per step
/// B = nb rounded up to a power of two). Neuron block b at step t takes the 4 bits of virtual
/// block v = (t mod S)·B + b of counter `[v / 32, t / S, trajectory, TWO_POINT]`. With nb > 16,
/// S = 1 and v = b. Small networks use every bit of a block instead of 4·nb per step.
pub fn two_point_layout(nb: usize) -> (u32, u32) {
    let b = nb.next_power_of_two() as u32;
    if b <= 32 { (32 / b, b) } else { (1, b) }
}

/// Where the two-point bits of neuron block `block` at `step` come from in a network of `nb`
/// neuron blocks: counter words 0 and 1 and the block's first bit, 32·word + 4·(v mod 8) for
/// virtual block v (see [`two_point_layout`]).
#[inline(always)]
pub fn two_point_site(nb: usize, block: u32, step: u32) -> (u32, u32, u32) {
    let (s, bp) = two_point_layout(nb);
    let v = (step % s) * bp + block;
    (v >> 5, step / s, 32 * ((v & 31) >> 3) + 4 * (v & 7))
}

/// Four two-point increments ±1 of neuron block `block` at a step in a network of `nb` neuron
/// blocks: the 4 bits from [`two_point_site`] (lane l: bit first + l), set for +1. Mirrors
/// `two_point4` and `noise4` in the shaders.
#[inline(always)]
pub fn two_point4(nb: usize, block: u32, step: u32, trajectory: u32, key: [u32; 2]) -> [f32; 4] {
    let (w0, w1, first) = two_point_site(nb, block, step);
    let r = philox4x32_10([w0, w1, trajectory, stream::TWO_POINT], key);
    let bits = r[(first >> 5) as usize] >> (first & 31);
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

    /// Every one of the 2²⁴ angles against f64 cos and sin of the same angle, and the sums of
    /// cos and sin over the whole circle (0 by symmetry: the points are a rotated regular
    /// 2²⁴-gon).
    #[test]
    fn sincos_turn_is_accurate_on_the_whole_circle() {
        let (mut worst, mut sum_c, mut sum_s) = (0f64, 0f64, 0f64);
        for w in 0..(1u32 << 24) {
            let b = w << 8;
            let (c, s) = sincos_turn(b);
            let theta = (b >> 30) as f64 * std::f64::consts::FRAC_PI_2
                + ((w & 0x3f_ffff) as f64 - 2_097_151.5) * std::f64::consts::FRAC_PI_2 / 4_194_304.0;
            worst = worst.max((c as f64 - theta.cos()).abs()).max((s as f64 - theta.sin()).abs());
            sum_c += c as f64;
            sum_s += s as f64;
        }
        eprintln!("largest error {worst:e}, sums {sum_c:e} {sum_s:e}");
        assert!(worst < 2.5e-7, "largest error {worst:e}");
        assert!(sum_c.abs() < 1e-3 && sum_s.abs() < 1e-3, "sums {sum_c} {sum_s}");
        // The low 8 bits of the word are not used.
        assert_eq!(sincos_turn(0x1234_5600), sincos_turn(0x1234_56ff));
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

    /// Mean 0, variance 1 and fourth moment 3 within 5 standard errors over 4·10⁵ normals
    /// (false-failure rate below 10⁻⁶ per moment).
    /// The lanes give [`dynamics_normals4`]'s bits for every lane, at network sizes whose
    /// blocks serve one step (n ≥ 3) or several (n = 1, 2), at steps and counters near the
    /// words' ends, over 1.68 × 10⁵ draws, compiled for this processor (AVX2 where it has it)
    /// and portably.
    #[test]
    fn lanes_equal_the_scalar_normals_bit_for_bit() {
        let key = key_from_seed(0x0123_4567_89ab_cdef);
        let mut draws = 0;
        for n in [1usize, 2, 3, 4, 5, 64, 1000] {
            for k in 0..3000u32 {
                let step = if k < 1500 { k } else { u32::MAX - k };
                let blocks: [u32; LANES] = std::array::from_fn(|l| (k * 7 + l as u32 * 3) % (n as u32).div_ceil(4));
                let trajs: [u32; LANES] = std::array::from_fn(|l| k.wrapping_mul(2_654_435_761).wrapping_add(l as u32));
                let lanes = dynamics_normals_lanes(n, &blocks, step, &trajs, key);
                assert_eq!(
                    lanes.map(|z| z.map(f32::to_bits)),
                    normals_lanes(n, &blocks, step, &trajs, key).map(|z| z.map(f32::to_bits))
                );
                for l in 0..LANES {
                    let one = dynamics_normals4(n, blocks[l], step, trajs[l], key);
                    assert_eq!(lanes[l].map(f32::to_bits), one.map(f32::to_bits), "n {n} step {step} lane {l}");
                    draws += 1;
                }
            }
        }
        assert_eq!(draws, 168_000);
    }

    #[test]
    fn normals_have_unit_variance() {
        let key = key_from_seed(7);
        let n = 100_000u32;
        let (mut s1, mut s2, mut s4) = (0f64, 0f64, 0f64);
        for b in 0..n {
            for z in normals4([b, 3, 1, stream::DYNAMICS], key) {
                let z = z as f64;
                s1 += z;
                s2 += z * z;
                s4 += z * z * z * z;
            }
        }
        let count = 4.0 * n as f64;
        let mean = s1 / count;
        let var = s2 / count - mean * mean;
        assert!(mean.abs() < 5.0 / count.sqrt(), "mean {mean}");
        // Var of the sample variance of normals is 2/n.
        assert!((var - 1.0).abs() < 5.0 * (2.0 / count).sqrt(), "var {var}");
        // E z⁴ = 3 with Var z⁴ = 105 − 9 = 96.
        let m4 = s4 / count;
        assert!((m4 - 3.0).abs() < 5.0 * (96.0 / count).sqrt(), "fourth moment {m4}");
    }
}
