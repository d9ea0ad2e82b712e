// The drift and the energy, twin of `model::drift`: one neuron block's update with the
// low-rank field (docs/THEORY.md §2), the step's coefficients, and the energy terms.

// One neuron block's update; returns the new state. `psi_x` is Ψ(x) (used only with a zeroed
// diagonal), `xs` holds ξ of every memory on the block, `v` the vector input term.
// `nc` caches the noise's last Philox block (see `noise4`).
fn update_block(x: vec4<f32>, psi_x: vec4<f32>, b: u32, xs: ptr<function, array<vec4<f32>, PC>>,
                c: ptr<function, array<f32, PC>>, d: f32, v: vec4<f32>, step: u32, traj: u32,
                nc: ptr<function, NoiseCache>) -> vec4<f32> {
    var h = vec4<f32>(0.0);
    for (var mu = 0u; mu < PC; mu++) {
        h = h + xi_of(xs, b, mu) * (*c)[mu];
    }
    return update_with_field(x, psi_x, h, b, d, v, step, traj, nc);
}

// `update_block` from the block's field h = Σ_mu ξ^mu c_mu.
fn update_with_field(x: vec4<f32>, psi_x: vec4<f32>, h: vec4<f32>, b: u32, d: f32, v: vec4<f32>, step: u32,
                     traj: u32, nc: ptr<function, NoiseCache>) -> vec4<f32> {
    var f = h - x;
    if (ZERO_DIAG) {
        f = f - d * psi_x;
    }
    if (HAS_VECTOR) {
        f = f + v;
    }
    // NOISE (σ > 0) is a pipeline constant: some drivers (lavapipe) run both sides of a branch
    // on a run-time value, so a noiseless run would pay for the normals it discards.
    if (!NOISE || params.noise_scale == 0.0) {
        return mask_padding(x + v_dt_x * f, b);
    }
    return mask_padding(x + v_dt_x * f + params.noise_scale * noise4(b, step, traj, nc), b);
}

// The noise's Philox block: counter words 0 and 1 (NO_COUNTER for none) and its words,
// two-point bits or (small N) four normals as bits.
struct NoiseCache {
    ctr: vec2<u32>,
    words: vec4<u32>,
}

const NO_COUNTER: u32 = 0xffffffffu;

fn noise_cache() -> NoiseCache {
    return NoiseCache(vec2<u32>(NO_COUNTER), vec4<u32>(0u));
}

// STEP_NOISE: one Philox block serves whole steps (N ≤ 2 with Gaussian noise, at most 32
// neuron blocks with two-point increments; `rng::gauss_steps`, `rng::two_point_layout`). The
// step loops draw it with `step_noise` where a group of NOISE_STEPS steps begins and `noise4`
// reads it: on lavapipe (a trajectory per SIMD lane), a draw kept behind a branch taken when
// the group changes measured as slow as a draw every step.
fn step_noise(step: u32, traj: u32) -> NoiseCache {
    let ctr = vec2<u32>(0u, step / NOISE_STEPS);
    if (TWO_POINT) {
        return NoiseCache(ctr, philox4x32_10(vec4<u32>(ctr, traj, STREAM_TWO_POINT), philox_key()));
    }
    return NoiseCache(ctr, bitcast<vec4<u32>>(normals4(vec4<u32>(ctr, traj, STREAM_DYNAMICS), philox_key())));
}

// The first step after `step` that starts a new STEP_NOISE draw.
fn noise_group_end(step: u32) -> u32 {
    return (step / NOISE_STEPS + 1u) * NOISE_STEPS;
}

// The noise of neuron block b at a step: four standard normals, or four two-point increments.
// Mirrors `rng::dynamics_normals4` and `rng::two_point4`.
fn noise4(b: u32, step: u32, traj: u32, nc: ptr<function, NoiseCache>) -> vec4<f32> {
    if (TWO_POINT) {
        let v = (step % TP_STEPS) * TP_NBP + b;
        // The step loops draw the block into `nc`: with STEP_NOISE, and the thread layout per
        // group of 32 neuron blocks.
        if (STEP_NOISE || (!LAYOUT_GROUP && !TILED)) {
            return two_point4((*nc).words, v);
        }
        // The group and tile layouts with more than 32 neuron blocks: one Philox block per 32 of
        // them, kept in `nc` while they last (GPUs skip a branch no invocation takes).
        let ctr = vec2<u32>(v >> 5u, step);
        if (any((*nc).ctr != ctr)) {
            (*nc).ctr = ctr;
            (*nc).words = philox4x32_10(vec4<u32>(ctr, traj, STREAM_TWO_POINT), philox_key());
        }
        return two_point4((*nc).words, v);
    }
    if (STEP_NOISE) {
        // Lanes o, o + 1, … (mod 4) of the four normals, o = (step mod NOISE_STEPS)·N.
        return rotate_lanes(bitcast<vec4<f32>>((*nc).words), (step % NOISE_STEPS) * N);
    }
    return normals4(vec4<u32>(b, step, traj, STREAM_DYNAMICS), philox_key());
}

// z rotated left by o lanes (o < 4): lane l takes z[(o + l) mod 4], by selects (a dynamic
// index would be a per-lane gather on SIMD drivers).
fn rotate_lanes(z: vec4<f32>, o: u32) -> vec4<f32> {
    let half = select(z, z.zwxy, (o & 2u) != 0u);
    return select(half, half.yzwx, (o & 1u) != 0u);
}

// ξ of every memory on block b (with XS_ARRAY; see `xi_of`).
fn block_xi(b: u32, xs: ptr<function, array<vec4<f32>, PC>>) {
    if (!XS_ARRAY) {
        return;
    }
    for (var mu = 0u; mu < PC; mu++) {
        (*xs)[mu] = xi_block(b, mu);
    }
}

// ξ^mu on block b: from the block's decoded array when the memory loops are unrolled (constant
// indices keep it in registers), else decoded again (tiled loops index at run time, and an
// array of PC = 256 vectors made the thread layout's build on lavapipe take 105–111 s instead
// of 56 s; the same bits either way).
fn xi_of(xs: ptr<function, array<vec4<f32>, PC>>, b: u32, mu: u32) -> vec4<f32> {
    if (XS_ARRAY) {
        return (*xs)[mu];
    }
    return xi_block(b, mu);
}

// The input coefficient q_mu in effect: ramped from the previous segment's to the current one's,
// 0 while a pulse is off (`model::drift::step_coefficients`).
fn input_coefficient(prev: ptr<function, array<f32, PC>>, cur: ptr<function, array<f32, PC>>, sched: vec2<f32>,
                     mu: u32) -> f32 {
    return select(0.0, ramp((*prev)[mu], (*cur)[mu], sched.x), sched.y > 0.0);
}

// c_mu from q_mu and m_mu: IDP α m (q = α), classic m + b (q = b).
fn field_coefficient(q: f32, m: f32) -> f32 {
    if (IDP) {
        return q * m;
    }
    return m + q;
}

// The zeroed diagonal's shift d from Σ_mu q_mu (IDP) or P (classic).
fn diagonal_shift(sum_q: f32) -> f32 {
    if (!ZERO_DIAG) {
        return 0.0;
    }
    if (IDP) {
        return sum_q * inv_n();
    }
    return f32(vals.p) * inv_n();
}

// c_mu and d for one step from the current overlaps (see `model::drift::step_coefficients`).
fn coefficients(prev: ptr<function, array<f32, PC>>, cur: ptr<function, array<f32, PC>>, sched: vec2<f32>,
                m: ptr<function, array<f32, PC>>, c: ptr<function, array<f32, PC>>) -> f32 {
    var sum_q = 0.0;
    for (var mu = 0u; mu < PC; mu++) {
        let q = input_coefficient(prev, cur, sched, mu);
        (*c)[mu] = field_coefficient(q, (*m)[mu]);
        sum_q = sum_q + q;
    }
    return diagonal_shift(sum_q);
}

// `cued`: the cued memories of segments seg and seg − 1 (`cue_targets`).
fn vector_term(seg: u32, traj: u32, b: u32, sched: vec2<f32>, cued: vec2<u32>) -> vec4<f32> {
    if (!HAS_VECTOR || sched.y == 0.0) {
        return vec4<f32>(0.0);
    }
    let cur = segment_vec(seg, traj, b, cued.x);
    if (sched.x >= 1.0) {
        return cur;
    }
    var prev = vec4<f32>(0.0);
    if (seg > 0u) {
        prev = segment_vec(seg - 1u, traj, b, cued.y);
    }
    return ramp4(prev, cur, sched.x);
}

// log cosh z = |z| + ln(1 + e^{−2|z|}) − ln 2 (`model::drift::log_cosh_f32`).
fn log_cosh(z: f32) -> f32 {
    let a = abs(z);
    return a + log(1.0 + exp(-2.0 * a)) - LN_2;
}

// One block's energy sums: (Σ x Ψ − log cosh(δx)/δ, Σ Ψ², Σ v Ψ), each in lane order.
fn energy_terms(x: vec4<f32>, psi: vec4<f32>, v: vec4<f32>, b: u32) -> vec3<f32> {
    let lc = vec4<f32>(log_cosh(v_slope * x.x), log_cosh(v_slope * x.y), log_cosh(v_slope * x.z), log_cosh(v_slope * x.w));
    let l = mask_padding(x * psi - lc / v_slope, b);
    let p2 = psi * psi;
    let vp = v * psi;
    return vec3<f32>(((l.x + l.y) + l.z) + l.w, ((p2.x + p2.y) + p2.z) + p2.w, ((vp.x + vp.y) + vp.z) + vp.w);
}

// E = −½(N Σ a m² − d Σ Ψ²) + Σ [x Ψ − log cosh(δx)/δ] − (N Σ b m + v·Ψ) from the summed
// terms and the input in effect (`model::drift::energy`).
fn energy_value(terms: vec3<f32>, prev: ptr<function, array<f32, PC>>, cur: ptr<function, array<f32, PC>>,
                sched: vec2<f32>, m: ptr<function, array<f32, PC>>) -> f32 {
    // c_mu as `coefficients` computes it, one at a time: an array of them made this kernel's
    // build on lavapipe slower, and the sums are the same.
    var quad = 0.0;
    var lin = 0.0;
    var sum_q = 0.0;
    for (var mu = 0u; mu < PC; mu++) {
        let q = input_coefficient(prev, cur, sched, mu);
        let mm = (*m)[mu];
        let c = field_coefficient(q, mm);
        sum_q = sum_q + q;
        if (IDP) {
            quad = quad + c * mm;
        } else {
            quad = quad + mm * mm;
            lin = lin + (c - mm) * mm;
        }
    }
    let d = diagonal_shift(sum_q);
    let nf = f32(n_neurons());
    return -0.5 * (nf * quad - d * terms.y) + terms.x - (nf * lin + terms.z);
}
