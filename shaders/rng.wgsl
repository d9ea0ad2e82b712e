// Philox4x32-10 (Salmon et al., SC11) and Box–Muller normals.
// Bit-identical to src/rng.rs; the stream ids below must match `rng::stream`.

const STREAM_DYNAMICS: u32 = 0u;
const STREAM_INITIAL: u32 = 1u;
const STREAM_INPUT_NOISE: u32 = 2u;
const STREAM_RANDOM_WEIGHTS: u32 = 3u;
const STREAM_ALPHA_NOISE: u32 = 5u;
const STREAM_Y_NOISE: u32 = 6u;
const STREAM_TWO_POINT: u32 = 7u;
const STREAM_CUE: u32 = 8u;

const PHILOX_M0: u32 = 0xD2511F53u;
const PHILOX_M1: u32 = 0xCD9E8D57u;
const PHILOX_W0: u32 = 0x9E3779B9u;
const PHILOX_W1: u32 = 0xBB67AE85u;

// High 32 bits of the 64-bit product a·b from 16-bit halves (core WGSL has no 64-bit
// integers). The header defines `mulhi` as this, or as a native 64-bit product on devices
// with shader int64.
fn mulhi_split(a: u32, b: u32) -> u32 {
    let a_lo = a & 0xffffu;
    let a_hi = a >> 16u;
    let b_lo = b & 0xffffu;
    let b_hi = b >> 16u;
    let lo_lo = a_lo * b_lo;
    let hi_lo = a_hi * b_lo;
    let lo_hi = a_lo * b_hi;
    let cross = (lo_lo >> 16u) + (hi_lo & 0xffffu) + lo_hi;
    return a_hi * b_hi + (hi_lo >> 16u) + (cross >> 16u);
}

fn philox4x32_10(ctr: vec4<u32>, key: vec2<u32>) -> vec4<u32> {
    var c = ctr;
    var k = key;
    for (var round = 0u; round < 10u; round++) {
        if (round > 0u) {
            k = k + vec2<u32>(PHILOX_W0, PHILOX_W1);
        }
        let hi0 = mulhi(PHILOX_M0, c.x);
        let lo0 = PHILOX_M0 * c.x;
        let hi1 = mulhi(PHILOX_M1, c.z);
        let lo1 = PHILOX_M1 * c.z;
        c = vec4<u32>(hi1 ^ c.y ^ k.x, lo1, hi0 ^ c.w ^ k.y, lo0);
    }
    return c;
}

// Uniform in (0, 1]: never 0, so log is always finite.
fn uniform_open_closed(r: u32) -> f32 {
    return (f32(r >> 8u) + 1.0) * (1.0 / 16777216.0);
}

// Uniform in [0, 1).
fn uniform_closed_open(r: u32) -> f32 {
    return f32(r >> 8u) * (1.0 / 16777216.0);
}

const PI_F32: f32 = 3.14159265358979323846;
const LN2_HI: f32 = 0.693145751953125;
const LN2_LO: f32 = 1.42860682030941723212e-6;

// ln(u) for u in (0, 1], accurate to a few ulps everywhere, including next to 1 where WGSL's
// log may be off by 2^-21 absolute (that would spoil small normals). u = 2^e · m with
// m in [1/√2, √2); ln m = 2 atanh(s), s = (m − 1)/(m + 1), by its odd series. Same operations
// as `rng::ln_unit` in Rust.
fn ln_unit(u: f32) -> f32 {
    let bits = bitcast<u32>(u);
    var e = i32((bits >> 23u) & 0xffu) - 127;
    var m = bitcast<f32>((bits & 0x7fffffu) | 0x3f800000u);
    if (m > 1.41421356) {
        m = m * 0.5;
        e = e + 1;
    }
    let s = (m - 1.0) / (m + 1.0);
    let s2 = s * s;
    let series = s * (2.0 + s2 * (0.666666666 + s2 * (0.4 + s2 * (0.285714286 + s2 * 0.222222222))));
    let ef = f32(e);
    return ef * LN2_HI + (ef * LN2_LO + series);
}

// (cos θ, sin θ) of the angle word b: θ = q·π/2 + φ with q its top two bits and φ in
// (−π/4, π/4) from the next 22; octant polynomials (Cephes sinf/cosf) and a quarter-turn
// rotation instead of the general sin/cos. Mirrors `rng::sincos_turn`.
const SINCOS_STEP: f32 = PI_F32 / 8388608.0;

fn sincos_turn(b: u32) -> vec2<f32> {
    let q = b >> 30u;
    let f = (b >> 8u) & 0x3fffffu;
    let phi = (f32(f) - 2097151.5) * SINCOS_STEP;
    let z = phi * phi;
    let s = ((-1.9515295891e-4 * z + 8.3321608736e-3) * z - 1.6666654611e-1) * z * phi + phi;
    let c = ((2.443315711809948e-5 * z - 1.388731625493765e-3) * z + 4.166664568298827e-2) * z * z - 0.5 * z + 1.0;
    let swapped = select(vec2<f32>(c, s), vec2<f32>(s, c), (q & 1u) == 1u);
    let negate = vec2<bool>(((q + 1u) & 2u) != 0u, (q & 2u) != 0u);
    return select(swapped, -swapped, negate);
}

// Two standard normals: r = √(−2 ln u) and the angle of `sincos_turn`.
fn box_muller(a: u32, b: u32) -> vec2<f32> {
    let u = uniform_open_closed(a);
    let r = sqrt(-2.0 * ln_unit(u));
    return r * sincos_turn(b);
}

// Four two-point increments ±1 of virtual block v from `r`, its Philox block: bits
// 4 (v mod 8) .. + 3 of word (v mod 32) / 8 (see `rng::two_point_site`). Mirrors
// `rng::two_point4`.
fn two_point4(r: vec4<u32>, v: u32) -> vec4<f32> {
    // Word (v mod 32) / 8 by selects (a dynamic index is a per-lane gather on SIMD drivers).
    let w = (v & 31u) >> 3u;
    let pair = select(r.xy, r.zw, (w & 2u) != 0u);
    let bits = select(pair.x, pair.y, (w & 1u) != 0u) >> ((v & 7u) * 4u);
    return select(vec4<f32>(-1.0), vec4<f32>(1.0), (vec4<u32>(bits) >> vec4<u32>(0u, 1u, 2u, 3u) & vec4<u32>(1u)) == vec4<u32>(1u));
}

// The signs ±1 of neuron block b of a cue with a fraction `flip` flipped (counter
// (b, draw, trajectory, STREAM_CUE); draw 0: the initial state's). Mirrors `rng::cue_signs4`.
fn cue_signs4(b: u32, draw: u32, traj: u32, flip: f32, key: vec2<u32>) -> vec4<f32> {
    let r = philox4x32_10(vec4<u32>(b, draw, traj, STREAM_CUE), key);
    let u = vec4<f32>(uniform_closed_open(r.x), uniform_closed_open(r.y), uniform_closed_open(r.z), uniform_closed_open(r.w));
    return select(vec4<f32>(1.0), vec4<f32>(-1.0), u < vec4<f32>(flip));
}

// Four standard normals from one Philox block.
fn normals4(ctr: vec4<u32>, key: vec2<u32>) -> vec4<f32> {
    let r = philox4x32_10(ctr, key);
    return vec4<f32>(box_muller(r.x, r.y), box_muller(r.z, r.w));
}
