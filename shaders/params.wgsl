// Shared declarations: every binding and the helpers all kernels use.
// The structs `Params`, `Values` and `Segment` (with NO_TARGET and RANDOM_TARGET) are declared
// once, in `src/gpu/layout.rs`, which writes their WGSL into the header `src/gpu/kernels.rs`
// prepends, with the constants N, NB, PC, WG, ...: sizes and capacities (N itself only for
// small N; beyond, a size class of N). The plan's own sizes and parameter values are run-time
// values (`Values`), so plans of one model family share a module and its pipelines.

const BLOCK: u32 = 64u;
const NO_STEP: u32 = 0xffffffffu;

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(12) var<uniform> vals: Values;

// Copies of the values every neuron-step reads (δ, dt/τ_x, P), taken once at an entry point's
// start by `load_values`, so that the step loop reads registers, not the uniform: with the
// uniform read in the loop, bench case (b) (N = 2) ran at 0.85× the kernels with these values
// compiled in, with the copies at 1.15× (pairwise medians of 3, lavapipe, a loaded machine).
var<private> v_slope: f32;
var<private> v_dt_x: f32;
var<private> v_p: u32;
var<private> v_n: u32;
var<private> v_inv_n: f32;

fn load_values() {
    v_slope = vals.slope;
    v_dt_x = vals.dt_x;
    v_p = vals.p;
    v_n = vals.n;
    v_inv_n = vals.inv_n;
}

// N and 1/N: the constants when the family is compiled for the plan's N (NB_UNROLL), else the
// plan's values (a size class of N, `gpu::kernels::n_class`).
fn n_neurons() -> u32 {
    if (NB_UNROLL) {
        return N;
    }
    return v_n;
}

fn inv_n() -> f32 {
    if (NB_UNROLL) {
        return INV_N;
    }
    return v_inv_n;
}
// Binding 1, the memories, and their accessor `xi_block(b, mu) -> vec4<f32>` (ξ^mu on neurons
// 4b..4b+3) come from the header (`src/gpu/kernels.rs`): f32 in a uniform buffer when they fit,
// else bit-packed in a uniform or storage buffer.
@group(0) @binding(2) var<storage, read> segs: array<Segment>;
// Per segment, P input coefficients (IDP: α; classic: w); with random weights, then the Gram
// matrix [P][P] at GRAM_BASE and per segment 8 values at RW_BASE + 8 seg: background, dominant
// and previous bounds, the weights' sum after scaling (0 = no scaling) and the gain.
@group(0) @binding(3) var<storage, read> seg_coef: array<f32>;
// Per segment, the classic model's input vector in neuron blocks (only with HAS_VECTOR).
@group(0) @binding(4) var<storage, read> seg_vec: array<vec4<f32>>;
// The initial point (INIT_KIND == INIT_POINT).
@group(0) @binding(5) var<storage, read> init_point: array<vec4<f32>>;
// States: thread layout state[b * traj_count + t], group layout state[t * NBS + b]; blocks
// b < NB hold x, then (modern model) PB blocks of α and PB blocks of y.
@group(0) @binding(6) var<storage, read_write> state: array<vec4<f32>>;
// Overlaps at save steps: saves[(slot * traj_count + t) * P + mu].
@group(0) @binding(7) var<storage, read_write> saves: array<f32>;
// Block partial sums: partials[((slot * block_count + blk) * Q + q) * 4 + k], k = Σ(m − c), Σ(m − c)², Σ|m|, c
// (c = the block's first value; see `observe::block_partials`).
@group(0) @binding(8) var<storage, read_write> partials: array<f32>;
// [0] earliest step with a non-finite state, [1] lowest trajectory that had one.
@group(0) @binding(9) var<storage, read_write> status: array<atomic<u32>>;
// Histogram counts of this submit: HIST_REPLICAS copies of HIST_CELLS cells then the
// out-of-range count; then, from word val_occ_hist_base(), the occupancy counts [row][val_occ_e() + 1].
@group(0) @binding(10) var<storage, read_write> hist: array<atomic<u32>>;
// Retrieval and first passage per trajectory: obs[(seg * P + mu) * traj_count + t] the overlaps
// summed over segment seg's final window, then obs[SEGMENTS * P * traj_count + t] the first
// step count at which abs(m) reached the first-passage threshold (u32 bits; NO_STEP = never).
@group(0) @binding(11) var<storage, read_write> obs: array<f32>;

fn obs_index(seg: u32, mu: u32, t: u32) -> u32 {
    return (seg * vals.p + mu) * params.traj_count + t;
}

fn fp_index(t: u32) -> u32 {
    return vals.segments * vals.p * params.traj_count + t;
}

fn state_index(t: u32, b: u32) -> u32 {
    if (LAYOUT_GROUP) {
        return t * vals.nbs + b;
    }
    return b * params.traj_count + t;
}

// Trip count of the loops over neuron blocks: the constant NB (unrolled) for small N, the
// plan's neuron blocks read at run time for a size class of N (where NB is the capacity).
fn nb_loop() -> u32 {
    return select(params.neuron_blocks, NB, NB_UNROLL);
}

fn philox_key() -> vec2<u32> {
    return vec2<u32>(params.key_lo, params.key_hi);
}

// Ψ(x) = tanh(clamp(δ x, −ACT_CLAMP, ACT_CLAMP)), as `model::drift::activation`.
fn act4(x: vec4<f32>) -> vec4<f32> {
    if (ACT_IDENTITY) {
        return x;
    }
    return tanh_one_exp(clamp(v_slope * x, vec4<f32>(-ACT_CLAMP), vec4<f32>(ACT_CLAMP)));
}

// tanh z = 1 − 2/(1 + e^{2z}) for |z| ≤ ACT_CLAMP, as `spec::model::tanh_one_exp`: one
// exponential and one division (drivers' tanh is often two exponentials).
fn tanh_one_exp(z: vec4<f32>) -> vec4<f32> {
    return 1.0 - 2.0 / (1.0 + exp(2.0 * z));
}

// ξ · v over one block, summed in lane order (v must be 0 on padding lanes): the same
// sum as `cpu::accumulate_block`.
fn dot4(xi: vec4<f32>, v: vec4<f32>) -> f32 {
    let w = xi * v;
    return ((w.x + w.y) + w.z) + w.w;
}

// The overlap of memory mu from its sum over neurons: exactly 0 for memories beyond the plan's
// P (capacity padding; their ξ reads +1), so that padded memories add exact zeros to the field.
fn overlap(acc: f32, mu: u32) -> f32 {
    return select(0.0, acc * inv_n(), mu < v_p);
}

// 1 on the lanes of block b that are neurons (i < N), 0 on padding.
fn valid4(b: u32) -> vec4<f32> {
    return select(vec4<f32>(0.0), vec4<f32>(1.0), vec4<u32>(4u * b) + vec4<u32>(0u, 1u, 2u, 3u) < vec4<u32>(n_neurons()));
}

// Zeroes the padding lanes of a block (a no-op when N is a multiple of 4).
fn mask_padding(v: vec4<f32>, b: u32) -> vec4<f32> {
    if (N_ALIGNED) {
        return v;
    }
    return v * valid4(b);
}

fn non_finite4(x: vec4<f32>) -> bool {
    let e = bitcast<vec4<u32>>(x) & vec4<u32>(0x7f800000u);
    return any(e == vec4<u32>(0x7f800000u));
}

// prev + s (cur − prev), or cur itself once the ramp is over.
fn ramp(prev: f32, cur: f32, s: f32) -> f32 {
    return select(prev + s * (cur - prev), cur, s >= 1.0);
}

fn ramp4(prev: vec4<f32>, cur: vec4<f32>, s: f32) -> vec4<f32> {
    return select(prev + s * (cur - prev), cur, s >= 1.0);
}

fn report_non_finite(step: u32, traj: u32) {
    atomicMin(&status[0], step);
    atomicMin(&status[1], traj);
}
