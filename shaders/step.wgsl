// The fused Euler–Maruyama step: every invocation (thread layout) or workgroup (group layout)
// advances one trajectory by params.step_count steps. Mirrors `cpu::integrate`:
//
//   c_mu = a_mu m_mu + b_mu                     (IDP: a = α(t), b = 0; classic: a = 1, b = w(t))
//   f    = Ξ c − x − d Ψ(x) + v                 (d: zeroed diagonal; v: classic vector input)
//   x   += DT f + σ√dt z,   z ~ N(0, 1) from Philox [block, step, trajectory, DYNAMICS]
//   m    = Ξᵀ Ψ(x) / N                          (accumulated in the same pass, block by block)

// The target (dominant memory) of segment `seg` for trajectory `traj`: the table's, or drawn from
// word 0 of Philox [0, seg, traj, RANDOM_WEIGHTS] (`model::input::segment_target`).
fn segment_target(seg: u32, traj: u32) -> u32 {
    let tg = segs[seg].dominant;
    if (tg != RANDOM_TARGET) {
        return tg;
    }
    let r = philox4x32_10(vec4<u32>(0u, seg, traj, STREAM_RANDOM_WEIGHTS), philox_key());
    return min(u32(uniform_closed_open(r.x) * f32(P)), P - 1u);
}

// The random weights of segment `seg` for trajectory `traj` (`model::input::random_weights`):
// word j ≥ 1 of Philox [j / 4, seg, traj, RANDOM_WEIGHTS] draws memory j − 1's weight.
fn random_weights(seg: u32, traj: u32, w: ptr<function, array<f32, P>>) {
    let base = RW_BASE + seg * 8u;
    let bg = vec2<f32>(seg_coef[base], seg_coef[base + 1u]);
    let dm = vec2<f32>(seg_coef[base + 2u], seg_coef[base + 3u]);
    let pv = vec2<f32>(seg_coef[base + 4u], seg_coef[base + 5u]);
    let total = seg_coef[base + 6u];
    let dom = segment_target(seg, traj);
    var prev = NO_TARGET;
    if (seg > 0u && segs[seg].prev_on != 0u) {
        prev = segment_target(max(seg, 1u) - 1u, traj);
    }
    let key = philox_key();
    for (var blk = 0u; blk <= P / 4u; blk += 1u) {
        let r = philox4x32_10(vec4<u32>(blk, seg, traj, STREAM_RANDOM_WEIGHTS), key);
        for (var l = 0u; l < 4u; l++) {
            let j = 4u * blk + l;
            if (j >= 1u && j <= P) {
                let mu = j - 1u;
                var b = bg;
                if (mu == dom) {
                    b = dm;
                } else if (mu == prev) {
                    b = pv;
                }
                (*w)[mu] = b.x + (b.y - b.x) * uniform_closed_open(r[l]);
            }
        }
    }
    if (total > 0.0) {
        var sum = 0.0;
        for (var mu = 0u; mu < P; mu++) {
            sum = sum + (*w)[mu];
        }
        let scale = total / sum;
        for (var mu = 0u; mu < P; mu++) {
            (*w)[mu] = (*w)[mu] * scale;
        }
    }
}

// The input coefficients of segment `seg` for trajectory `traj` (`model::drift::segment_drive`):
// the table's, or from random weights (IDP α = gain · G w, classic gain · w); `noise_acc` is
// Ξᵀη for the IDP model's input noise, already reduced over neurons.
fn segment_coefs(seg: u32, traj: u32, noise_acc: ptr<function, array<f32, P>>, out: ptr<function, array<f32, P>>) {
    if (RANDOM_WEIGHTS && segs[seg].random != 0u) {
        var w: array<f32, P>;
        random_weights(seg, traj, &w);
        let gain = seg_coef[RW_BASE + seg * 8u + 7u];
        // Not unrolled (P² work once per dispatch).
        for (var a = 0u; a < P; a += 1u) {
            if (IDP) {
                var s = 0.0;
                for (var b = 0u; b < P; b++) {
                    s = s + seg_coef[GRAM_BASE + a * P + b] * w[b];
                }
                (*out)[a] = gain * s;
            } else {
                (*out)[a] = gain * w[a];
            }
        }
    } else {
        for (var mu = 0u; mu < P; mu++) {
            (*out)[mu] = seg_coef[seg * P + mu];
        }
    }
    if (IDP) {
        for (var mu = 0u; mu < P; mu++) {
            (*out)[mu] = (*out)[mu] + (*noise_acc)[mu] * INV_N;
        }
    }
}

// The memory whose first passage is watched during segment `seg` (NO_TARGET: none).
fn fp_memory(seg: u32, traj: u32) -> u32 {
    if (FP_MEMORY == NO_TARGET) {
        return segment_target(seg, traj);
    }
    return FP_MEMORY;
}

// Whether abs(m_mem) has reached the first-passage threshold.
fn fp_reached(m: ptr<function, array<f32, P>>, mem: u32) -> bool {
    return mem != NO_TARGET && abs((*m)[min(mem, P - 1u)]) >= FP_THRESHOLD;
}

// Ξᵀη partial sums (every memory at once) over the neuron blocks b0, b0 + stride, ... (IDP
// input noise), added to `acc`.
fn input_noise_partial(seg: u32, traj: u32, b0: u32, stride: u32, acc: ptr<function, array<f32, P>>) {
    let key = philox_key();
    let noise = segs[seg].noise;
    for (var b = b0; b < nb_loop(); b += stride) {
        let eta = mask_padding(noise * normals4(vec4<u32>(b, seg, traj, STREAM_INPUT_NOISE), key), b);
        for (var mu = 0u; mu < P; mu++) {
            (*acc)[mu] = (*acc)[mu] + dot4(xi_block(b, mu), eta);
        }
    }
}

// The classic model's per-neuron input of segment `seg` for block b: u_vector + η.
fn segment_vec(seg: u32, traj: u32, b: u32) -> vec4<f32> {
    var v = seg_vec[seg * NB + b];
    let noise = segs[seg].noise;
    if (noise > 0.0) {
        v = v + noise * normals4(vec4<u32>(b, seg, traj, STREAM_INPUT_NOISE), philox_key());
    }
    return v;
}

// Ramp fraction s and pulse gate at global `step` of segment `sg`.
fn schedule(sg: Segment, step: u32) -> vec2<f32> {
    let local = step - sg.start;
    let s = select(f32(local) / f32(max(sg.ramp, 1u)), 1.0, local >= sg.ramp);
    let on = select(0.0, 1.0, local < sg.pulse);
    return vec2<f32>(s, on);
}

// One neuron block's update; returns the new state. `psi_x` is Ψ(x) (used only with a zeroed
// diagonal), `xs` holds ξ of every memory on the block, `v` the vector input term.
fn update_block(x: vec4<f32>, psi_x: vec4<f32>, b: u32, xs: ptr<function, array<vec4<f32>, P>>,
                c: ptr<function, array<f32, P>>, d: f32, v: vec4<f32>, step: u32, traj: u32) -> vec4<f32> {
    var h = vec4<f32>(0.0);
    for (var mu = 0u; mu < P; mu++) {
        h = h + (*xs)[mu] * (*c)[mu];
    }
    var f = h - x;
    if (ZERO_DIAG) {
        f = f - d * psi_x;
    }
    if (HAS_VECTOR) {
        f = f + v;
    }
    if (params.noise_scale == 0.0) {
        return mask_padding(x + DT_X * f, b);
    }
    let z = normals4(vec4<u32>(b, step, traj, STREAM_DYNAMICS), philox_key());
    return mask_padding(x + DT_X * f + params.noise_scale * z, b);
}

// ξ of every memory on block b.
fn block_xi(b: u32, xs: ptr<function, array<vec4<f32>, P>>) {
    for (var mu = 0u; mu < P; mu++) {
        (*xs)[mu] = xi_block(b, mu);
    }
}

// c_mu and d for one step from the current overlaps (see `model::drift::step_coefficients`).
fn coefficients(prev: ptr<function, array<f32, P>>, cur: ptr<function, array<f32, P>>, sched: vec2<f32>,
                m: ptr<function, array<f32, P>>, c: ptr<function, array<f32, P>>) -> f32 {
    var sum_a = 0.0;
    for (var mu = 0u; mu < P; mu++) {
        let q = select(0.0, ramp((*prev)[mu], (*cur)[mu], sched.x), sched.y > 0.0);
        if (IDP) {
            (*c)[mu] = q * (*m)[mu];
            sum_a = sum_a + q;
        } else {
            (*c)[mu] = (*m)[mu] + q;
        }
    }
    if (!ZERO_DIAG) {
        return 0.0;
    }
    if (IDP) {
        return sum_a * INV_N;
    }
    return f32(P) * INV_N;
}

fn vector_term(seg: u32, traj: u32, b: u32, sched: vec2<f32>) -> vec4<f32> {
    if (!HAS_VECTOR || sched.y == 0.0) {
        return vec4<f32>(0.0);
    }
    let cur = segment_vec(seg, traj, b);
    if (sched.x >= 1.0) {
        return cur;
    }
    var prev = vec4<f32>(0.0);
    if (seg > 0u) {
        prev = segment_vec(seg - 1u, traj, b);
    }
    return ramp4(prev, cur, sched.x);
}

// ---- the modern model's saliency and memory layers (`model::modern`) ----------------------

// tanh with the argument clamped like Ψ_x's.
fn tanh_clamped(v: f32) -> f32 {
    return tanh(clamp(v, -ACT_CLAMP, ACT_CLAMP));
}

fn psi_alpha(a: f32) -> f32 {
    if (PSI_A_TANH) {
        return tanh_clamped(a);
    }
    return a;
}

// The input's saliency q_mu in effect (the IDP model's α).
fn input_saliency(prev: ptr<function, array<f32, P>>, cur: ptr<function, array<f32, P>>, sched: vec2<f32>,
                  mu: u32) -> f32 {
    return select(0.0, ramp((*prev)[mu], (*cur)[mu], sched.x), sched.y > 0.0);
}

// The effective α and y at time t: the layers' states, or their instantaneous values: the
// input's saliencies q (in effect at `sched`) and the overlaps m. Returns q in `q`.
fn modern_effective(prev: ptr<function, array<f32, P>>, cur: ptr<function, array<f32, P>>, sched: vec2<f32>,
                    m: ptr<function, array<f32, P>>, la: ptr<function, array<f32, P>>,
                    ly: ptr<function, array<f32, P>>, q: ptr<function, array<f32, P>>,
                    a: ptr<function, array<f32, P>>, y: ptr<function, array<f32, P>>) {
    for (var mu = 0u; mu < P; mu++) {
        (*q)[mu] = input_saliency(prev, cur, sched, mu);
        (*a)[mu] = select((*q)[mu], (*la)[mu], TAU_A_DYN);
        (*y)[mu] = select((*m)[mu], (*ly)[mu], TAU_Y_DYN);
    }
}

// One layer's Euler–Maruyama step towards `goal`: rate dt/τ, noise σ√dt with normals from
// Philox [block of 4 memories, step, traj, stream] (`model::modern::relax`).
fn relax_layer(layer: ptr<function, array<f32, P>>, goal: ptr<function, array<f32, P>>, rate: f32, noise: f32,
               stream: u32, step: u32, traj: u32) {
    for (var k = 0u; k < PB; k++) {
        let z = normals4(vec4<u32>(k, step, traj, stream), philox_key());
        for (var l = 0u; l < 4u; l++) {
            let mu = 4u * k + l;
            if (mu < P) {
                (*layer)[mu] = (*layer)[mu] + rate * ((*goal)[mu] - (*layer)[mu]) + noise * z[l];
            }
        }
    }
}

// c = Ψ_α(α) ⊙ Ψ_y(y) (`model::modern::field_coefficients`).
fn modern_field(a: ptr<function, array<f32, P>>, y: ptr<function, array<f32, P>>, c: ptr<function, array<f32, P>>) {
    if (PSI_Y == 2u) {
        var z: array<f32, P>;
        var mx = -3.0e38;
        for (var mu = 0u; mu < P; mu++) {
            z[mu] = BETA * psi_alpha((*a)[mu]) * (*y)[mu];
            mx = max(mx, z[mu]);
        }
        var sum = 0.0;
        for (var mu = 0u; mu < P; mu++) {
            z[mu] = exp(z[mu] - mx);
            sum = sum + z[mu];
        }
        for (var mu = 0u; mu < P; mu++) {
            (*c)[mu] = psi_alpha((*a)[mu]) * (z[mu] / sum);
        }
    } else {
        for (var mu = 0u; mu < P; mu++) {
            var yy = (*y)[mu];
            if (PSI_Y == 1u) {
                yy = tanh_clamped(yy);
            }
            (*c)[mu] = psi_alpha((*a)[mu]) * yy;
        }
    }
}

// One step's c from the layers at time t, then the layers advanced to t + dt
// (`model::modern::step`); m are the overlaps of x(t).
fn modern_coefficients(prev: ptr<function, array<f32, P>>, cur: ptr<function, array<f32, P>>, sched: vec2<f32>,
                       m: ptr<function, array<f32, P>>, la: ptr<function, array<f32, P>>,
                       ly: ptr<function, array<f32, P>>, c: ptr<function, array<f32, P>>, step: u32, traj: u32) {
    var q: array<f32, P>;
    var a: array<f32, P>;
    var y: array<f32, P>;
    modern_effective(prev, cur, sched, m, la, ly, &q, &a, &y);
    modern_field(&a, &y, c);
    if (TAU_A_DYN) {
        relax_layer(la, &q, RATE_A, NOISE_A, STREAM_ALPHA_NOISE, step, traj);
    }
    if (TAU_Y_DYN) {
        relax_layer(ly, m, RATE_Y, NOISE_Y, STREAM_Y_NOISE, step, traj);
    }
}

// A layer (α at base 0, y at base PB) from the state buffer's blocks after the neurons.
fn load_layer(t: u32, base: u32, out: ptr<function, array<f32, P>>) {
    for (var k = 0u; k < PB; k++) {
        let v = state[state_index(t, NB + base + k)];
        for (var l = 0u; l < 4u; l++) {
            let mu = 4u * k + l;
            if (mu < P) {
                (*out)[mu] = v[l];
            }
        }
    }
}

fn store_layer(t: u32, base: u32, v: ptr<function, array<f32, P>>) {
    for (var k = 0u; k < PB; k++) {
        var w = vec4<f32>(0.0);
        for (var l = 0u; l < 4u; l++) {
            let mu = 4u * k + l;
            if (mu < P) {
                w[l] = (*v)[mu];
            }
        }
        state[state_index(t, NB + base + k)] = w;
    }
}

// One block's Σ x² in lane order (modern softmax energy, Ψ_x = identity).
fn energy_sq(x: vec4<f32>, b: u32) -> f32 {
    let v = mask_padding(x * x, b);
    return ((v.x + v.y) + v.z) + v.w;
}

// E_tr = −(N/β) log Σ exp(β Ψ_α(α) m) + ½|x|² (`model::modern::energy`).
fn modern_energy(sq: f32, a: ptr<function, array<f32, P>>, m: ptr<function, array<f32, P>>) -> f32 {
    var mx = -3.0e38;
    for (var mu = 0u; mu < P; mu++) {
        mx = max(mx, BETA * psi_alpha((*a)[mu]) * (*m)[mu]);
    }
    var sum = 0.0;
    for (var mu = 0u; mu < P; mu++) {
        sum = sum + exp(BETA * psi_alpha((*a)[mu]) * (*m)[mu] - mx);
    }
    return -(f32(N) / BETA) * (mx + log(sum)) + 0.5 * sq;
}

// Saves y and α after a step (or at t = 0): the layers' states, or their instantaneous values;
// returns α in `a`.
fn save_layers(slot: u32, t: u32, prev: ptr<function, array<f32, P>>, cur: ptr<function, array<f32, P>>,
               sched: vec2<f32>, m: ptr<function, array<f32, P>>, la: ptr<function, array<f32, P>>,
               ly: ptr<function, array<f32, P>>, a: ptr<function, array<f32, P>>) {
    var q: array<f32, P>;
    var y: array<f32, P>;
    modern_effective(prev, cur, sched, m, la, ly, &q, a, &y);
    for (var mu = 0u; mu < P; mu++) {
        saves[save_index(slot, Q_Y + mu, t)] = y[mu];
        saves[save_index(slot, Q_Y + P + mu, t)] = (*a)[mu];
    }
}

// Slot of `saves` for the save after `step_done` steps.
fn save_slot(step_done: u32) -> u32 {
    return step_done / SAVE_EVERY - params.slot_base;
}

// Index into `saves`: [slot][quantity][trajectory] (Q quantities: the P overlaps, then the
// energy), so neighbouring invocations store neighbours.
fn save_index(slot: u32, k: u32, t: u32) -> u32 {
    return (slot * Q + k) * params.traj_count + t;
}

// log cosh z = |z| + ln(1 + e^{−2|z|}) − ln 2 (`model::drift::log_cosh_f32`).
fn log_cosh(z: f32) -> f32 {
    let a = abs(z);
    return a + log(1.0 + exp(-2.0 * a)) - LN_2;
}

// One block's energy sums: (Σ x Ψ − log cosh(δx)/δ, Σ Ψ², Σ v Ψ), each in lane order.
fn energy_terms(x: vec4<f32>, psi: vec4<f32>, v: vec4<f32>, b: u32) -> vec3<f32> {
    let lc = vec4<f32>(log_cosh(SLOPE * x.x), log_cosh(SLOPE * x.y), log_cosh(SLOPE * x.z), log_cosh(SLOPE * x.w));
    let l = mask_padding(x * psi - lc / SLOPE, b);
    let p2 = psi * psi;
    let vp = v * psi;
    return vec3<f32>(((l.x + l.y) + l.z) + l.w, ((p2.x + p2.y) + p2.z) + p2.w, ((vp.x + vp.y) + vp.z) + vp.w);
}

// E = −½(N Σ a m² − d Σ Ψ²) + Σ [x Ψ − log cosh(δx)/δ] − (N Σ b m + v·Ψ) from the summed
// terms and the input in effect (`model::drift::energy`).
fn energy_value(terms: vec3<f32>, prev: ptr<function, array<f32, P>>, cur: ptr<function, array<f32, P>>,
                sched: vec2<f32>, m: ptr<function, array<f32, P>>) -> f32 {
    var c: array<f32, P>;
    let d = coefficients(prev, cur, sched, m, &c);
    var quad = 0.0;
    var lin = 0.0;
    for (var mu = 0u; mu < P; mu++) {
        if (IDP) {
            quad = quad + c[mu] * (*m)[mu];
        } else {
            quad = quad + (*m)[mu] * (*m)[mu];
            lin = lin + (c[mu] - (*m)[mu]) * (*m)[mu];
        }
    }
    let nf = f32(N);
    return -0.5 * (nf * quad - d * terms.y) + terms.x - (nf * lin + terms.z);
}

// One histogram sample of trajectory t in the thread layout (state from the private array or
// from memory, or overlaps).
fn hist_sample_thread(t: u32, xr: ptr<function, array<vec4<f32>, NBR>>, m: ptr<function, array<f32, P>>) {
    if (HIST_STATE) {
        var x0: vec4<f32>;
        var x1: vec4<f32>;
        if (X_IN_REGS) {
            x0 = (*xr)[min(HIST_A0 / 4u, NBR - 1u)];
            x1 = (*xr)[min(HIST_A1 / 4u, NBR - 1u)];
        } else {
            x0 = state[state_index(t, HIST_A0 / 4u)];
            x1 = state[state_index(t, HIST_A1 / 4u)];
        }
        hist_record(x0[HIST_A0 % 4u], x1[HIST_A1 % 4u], t / WG);
    } else {
        hist_record((*m)[min(HIST_A0, P - 1u)], (*m)[min(HIST_A1, P - 1u)], t / WG);
    }
}

// ---- per-dispatch state of one trajectory beyond x -------------------------------------------

// The retrieval window sums and the first passage: loaded at a dispatch's start, updated after
// every step, stored at its end. (The modern model's layers are separate arrays: naga's SPIR-V
// writer cannot pass pointers to struct members to functions.)
struct Observers {
    // Sums of m after each of the segment's last RETR_WINDOW steps (done > win_start).
    racc: array<f32, P>,
    win_start: u32,
    retr_here: bool,
    fp: u32,
    fp_mem: u32,
}

fn observers_load(seg: u32, segment: Segment, t: u32, traj: u32) -> Observers {
    var o: Observers;
    o.win_start = segment.start + segment.steps - RETR_WINDOW;
    o.retr_here = RETR && params.step_begin + params.step_count > o.win_start;
    if (o.retr_here) {
        for (var mu = 0u; mu < P; mu++) {
            o.racc[mu] = obs[obs_index(seg, mu, t)];
        }
    }
    o.fp = NO_STEP;
    o.fp_mem = NO_TARGET;
    if (FP) {
        o.fp = bitcast<u32>(obs[fp_index(t)]);
        o.fp_mem = fp_memory(seg, traj);
    }
    return o;
}

// After `done` steps, with m the new overlaps.
fn observers_step(o: ptr<function, Observers>, m: ptr<function, array<f32, P>>, done: u32) {
    if (RETR && done > (*o).win_start) {
        for (var mu = 0u; mu < P; mu++) {
            (*o).racc[mu] = (*o).racc[mu] + (*m)[mu];
        }
    }
    if (FP && (*o).fp == NO_STEP && fp_reached(m, (*o).fp_mem)) {
        (*o).fp = done;
    }
}

fn observers_store(o: ptr<function, Observers>, seg: u32, t: u32) {
    if ((*o).retr_here) {
        for (var mu = 0u; mu < P; mu++) {
            obs[obs_index(seg, mu, t)] = (*o).racc[mu];
        }
    }
    if (FP) {
        obs[fp_index(t)] = bitcast<f32>((*o).fp);
    }
}

// The modern model's saliency and memory layers of trajectory t (unused otherwise).
fn load_layers(t: u32, la: ptr<function, array<f32, P>>, ly: ptr<function, array<f32, P>>) {
    if (MODERN) {
        load_layer(t, 0u, la);
        load_layer(t, PB, ly);
    }
}

fn store_layers(t: u32, la: ptr<function, array<f32, P>>, ly: ptr<function, array<f32, P>>) {
    if (MODERN) {
        store_layer(t, 0u, la);
        store_layer(t, PB, ly);
    }
}

// ---- thread layout: one invocation per trajectory -------------------------------------------
// With X_IN_REGS (small N) the state stays in a private array for the whole dispatch.

@compute @workgroup_size(WG)
fn step_thread(@builtin(global_invocation_id) gid: vec3<u32>) {
    let t = gid.x;
    if (t >= params.traj_count) {
        return;
    }
    let traj = params.traj_first + t;
    let seg = params.segment;
    let segment = segs[seg];
    var prev: array<f32, P>;
    var cur: array<f32, P>;
    var acc_cur: array<f32, P>;
    var acc_prev: array<f32, P>;
    if (IDP && segment.noise > 0.0) {
        input_noise_partial(seg, traj, 0u, 1u, &acc_cur);
    }
    if (IDP && seg > 0u && segs[max(seg, 1u) - 1u].noise > 0.0) {
        input_noise_partial(seg - 1u, traj, 0u, 1u, &acc_prev);
    }
    segment_coefs(seg, traj, &acc_cur, &cur);
    if (seg > 0u) {
        segment_coefs(seg - 1u, traj, &acc_prev, &prev);
    }
    var ob = observers_load(seg, segment, t, traj);
    var la: array<f32, P>;
    var ly: array<f32, P>;
    load_layers(t, &la, &ly);
    // State and overlaps of the current state.
    var xr: array<vec4<f32>, NBR>;
    var pr: array<vec4<f32>, NBR>;
    var m: array<f32, P>;
    var acc: array<f32, P>;
    for (var b = 0u; b < nb_loop(); b++) {
        let x = state[state_index(t, b)];
        let psi = mask_padding(act4(x), b);
        if (X_IN_REGS) {
            xr[b] = x;
            pr[b] = psi;
        }
        for (var mu = 0u; mu < P; mu++) {
            acc[mu] = acc[mu] + dot4(xi_block(b, mu), psi);
        }
    }
    for (var mu = 0u; mu < P; mu++) {
        m[mu] = acc[mu] * INV_N;
    }
    var c: array<f32, P>;
    var xs: array<vec4<f32>, P>;
    var bad = NO_STEP;
    var step = params.step_begin;
    let end = params.step_begin + params.step_count;
    while (step < end) {
        // Steps up to the next save or histogram sample (or the end of the dispatch), then those.
        let stop = next_stop(step, end);
        for (; step < stop; step++) {
            let sched = schedule(segment, step);
            var d = 0.0;
            if (MODERN) {
                modern_coefficients(&prev, &cur, sched, &m, &la, &ly, &c, step, traj);
            } else {
                d = coefficients(&prev, &cur, sched, &m, &c);
            }
            for (var mu = 0u; mu < P; mu++) {
                acc[mu] = 0.0;
            }
            for (var b = 0u; b < nb_loop(); b++) {
                var x: vec4<f32>;
                var psi_x: vec4<f32>;
                if (X_IN_REGS) {
                    x = xr[b];
                    psi_x = pr[b];
                } else {
                    x = state[state_index(t, b)];
                    psi_x = act4(x);
                }
                block_xi(b, &xs);
                let xn = update_block(x, psi_x, b, &xs, &c, d, vector_term(seg, traj, b, sched), step, traj);
                if (X_IN_REGS) {
                    xr[b] = xn;
                } else {
                    state[state_index(t, b)] = xn;
                }
                bad = min(bad, select(NO_STEP, step, non_finite4(xn)));
                let psi = act4(xn);
                if (X_IN_REGS) {
                    pr[b] = psi;
                }
                for (var mu = 0u; mu < P; mu++) {
                    acc[mu] = acc[mu] + dot4(xs[mu], psi);
                }
            }
            for (var mu = 0u; mu < P; mu++) {
                m[mu] = acc[mu] * INV_N;
            }
            observers_step(&ob, &m, step + 1u);
            // Sampling every step happens here; sparser sampling at the loop's stops below (a
            // branch in this loop costs the cheapest steps noticeably on some drivers).
            if (HIST_EVERY == 1u && hist_samples_at(step + 1u)) {
                hist_sample_thread(t, &xr, &m);
            }
        }
        if (HIST_EVERY > 1u && hist_samples_at(step)) {
            hist_sample_thread(t, &xr, &m);
        }
        if (step % SAVE_EVERY == 0u) {
            let slot = save_slot(step);
            for (var mu = 0u; mu < P; mu++) {
                saves[save_index(slot, mu, t)] = m[mu];
            }
            if (MODERN) {
                let sched = schedule(segment, step - 1u);
                var a: array<f32, P>;
                save_layers(slot, t, &prev, &cur, sched, &m, &la, &ly, &a);
                if (ENERGY) {
                    var sq = 0.0;
                    for (var b = 0u; b < nb_loop(); b++) {
                        if (X_IN_REGS) {
                            sq = sq + energy_sq(xr[b], b);
                        } else {
                            sq = sq + energy_sq(state[state_index(t, b)], b);
                        }
                    }
                    saves[save_index(slot, P, t)] = modern_energy(sq, &a, &m);
                }
            }
            if (ENERGY && !MODERN) {
                let sched = schedule(segment, step - 1u);
                var terms = vec3<f32>(0.0);
                for (var b = 0u; b < nb_loop(); b++) {
                    var x: vec4<f32>;
                    var psi: vec4<f32>;
                    if (X_IN_REGS) {
                        x = xr[b];
                        psi = pr[b];
                    } else {
                        x = state[state_index(t, b)];
                        psi = act4(x);
                    }
                    terms = terms + energy_terms(x, psi, vector_term(seg, traj, b, sched), b);
                }
                saves[save_index(slot, P, t)] = energy_value(terms, &prev, &cur, sched, &m);
            }
        }
    }
    if (X_IN_REGS) {
        for (var b = 0u; b < nb_loop(); b++) {
            state[state_index(t, b)] = xr[b];
        }
    }
    observers_store(&ob, seg, t);
    store_layers(t, &la, &ly);
    if (bad != NO_STEP) {
        report_non_finite(bad, traj);
    }
}

// ---- group layout: one workgroup of WG_GROUP invocations per trajectory ---------------------

var<workgroup> wg_partial: array<f32, WG_GROUP * P>;
var<workgroup> wg_sum: array<f32, P>;
// State coordinates on the histogram's axes, double-buffered by step parity.
var<workgroup> wg_hv: array<f32, 4>;
// Per-invocation energy sums at a save.
var<workgroup> wg_energy: array<vec4<f32>, WG_GROUP>;

// Sums wg_partial over the workgroup into wg_sum, in invocation order (deterministic).
fn group_reduce(lid: u32) {
    workgroupBarrier();
    // Invocation lid sums memories lid, lid + WG_GROUP, ... (P may exceed the group size).
    for (var mu = lid; mu < P; mu += WG_GROUP) {
        var s = 0.0;
        for (var j = 0u; j < WG_GROUP; j++) {
            s = s + wg_partial[j * P + mu];
        }
        wg_sum[mu] = s;
    }
    workgroupBarrier();
}

@compute @workgroup_size(WG_GROUP)
fn step_group(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    // Uniform across the workgroup: every invocation takes the same branches around barriers.
    let t = wid.x;
    let traj = params.traj_first + t;
    let seg = params.segment;
    let segment = segs[seg];
    var prev: array<f32, P>;
    var cur: array<f32, P>;
    let noise_cur = IDP && segment.noise > 0.0;
    let noise_prev = IDP && seg > 0u && segs[max(seg, 1u) - 1u].noise > 0.0;
    var noise_acc: array<f32, P>;
    if (noise_cur) {
        input_noise_partial(seg, traj, lid, WG_GROUP, &noise_acc);
    }
    for (var mu = 0u; mu < P; mu++) {
        wg_partial[lid * P + mu] = noise_acc[mu];
    }
    group_reduce(lid);
    var reduced: array<f32, P>;
    for (var mu = 0u; mu < P; mu++) {
        reduced[mu] = wg_sum[mu];
    }
    segment_coefs(seg, traj, &reduced, &cur);
    var noise_acc_prev: array<f32, P>;
    if (noise_prev) {
        input_noise_partial(max(seg, 1u) - 1u, traj, lid, WG_GROUP, &noise_acc_prev);
    }
    for (var mu = 0u; mu < P; mu++) {
        wg_partial[lid * P + mu] = noise_acc_prev[mu];
    }
    group_reduce(lid);
    for (var mu = 0u; mu < P; mu++) {
        reduced[mu] = wg_sum[mu];
    }
    if (seg > 0u) {
        segment_coefs(seg - 1u, traj, &reduced, &prev);
    }
    // Every invocation keeps the observers; invocation 0 stores them.
    var ob = observers_load(seg, segment, t, traj);
    var la: array<f32, P>;
    var ly: array<f32, P>;
    load_layers(t, &la, &ly);
    // Overlaps of the current state.
    var acc: array<f32, P>;
    for (var b = lid; b < nb_loop(); b += WG_GROUP) {
        let psi = mask_padding(act4(state[state_index(t, b)]), b);
        for (var mu = 0u; mu < P; mu++) {
            acc[mu] = acc[mu] + dot4(xi_block(b, mu), psi);
        }
    }
    for (var mu = 0u; mu < P; mu++) {
        wg_partial[lid * P + mu] = acc[mu];
    }
    group_reduce(lid);
    var m: array<f32, P>;
    for (var mu = 0u; mu < P; mu++) {
        m[mu] = wg_sum[mu] * INV_N;
    }
    var c: array<f32, P>;
    var xs: array<vec4<f32>, P>;
    var bad = NO_STEP;
    for (var k = 0u; k < params.step_count; k++) {
        let step = params.step_begin + k;
        let sched = schedule(segment, step);
        var d = 0.0;
        if (MODERN) {
            modern_coefficients(&prev, &cur, sched, &m, &la, &ly, &c, step, traj);
        } else {
            d = coefficients(&prev, &cur, sched, &m, &c);
        }
        for (var mu = 0u; mu < P; mu++) {
            acc[mu] = 0.0;
        }
        for (var b = lid; b < nb_loop(); b += WG_GROUP) {
            let i = state_index(t, b);
            block_xi(b, &xs);
            let x = state[i];
            let xn = update_block(x, act4(x), b, &xs, &c, d, vector_term(seg, traj, b, sched), step, traj);
            if (HIST_STATE && b == HIST_A0 / 4u) {
                wg_hv[2u * (step % 2u)] = xn[HIST_A0 % 4u];
            }
            if (HIST_STATE && b == HIST_A1 / 4u) {
                wg_hv[2u * (step % 2u) + 1u] = xn[HIST_A1 % 4u];
            }
            state[i] = xn;
            bad = min(bad, select(NO_STEP, step, non_finite4(xn)));
            let psi = act4(xn);
            for (var mu = 0u; mu < P; mu++) {
                acc[mu] = acc[mu] + dot4(xs[mu], psi);
            }
        }
        for (var mu = 0u; mu < P; mu++) {
            wg_partial[lid * P + mu] = acc[mu];
        }
        group_reduce(lid);
        for (var mu = 0u; mu < P; mu++) {
            m[mu] = wg_sum[mu] * INV_N;
        }
        observers_step(&ob, &m, step + 1u);
        if ((step + 1u) % SAVE_EVERY == 0u) {
            let slot = save_slot(step + 1u);
            for (var mu = lid; mu < P; mu += WG_GROUP) {
                saves[save_index(slot, mu, t)] = m[mu];
            }
        }
        if (MODERN && lid == 0u && (step + 1u) % SAVE_EVERY == 0u) {
            var a: array<f32, P>;
            save_layers(save_slot(step + 1u), t, &prev, &cur, sched, &m, &la, &ly, &a);
        }
        if (ENERGY && (step + 1u) % SAVE_EVERY == 0u) {
            var terms = vec3<f32>(0.0);
            for (var b = lid; b < nb_loop(); b += WG_GROUP) {
                let x = state[state_index(t, b)];
                if (MODERN) {
                    terms.x = terms.x + energy_sq(x, b);
                } else {
                    terms = terms + energy_terms(x, act4(x), vector_term(seg, traj, b, sched), b);
                }
            }
            wg_energy[lid] = vec4<f32>(terms, 0.0);
            workgroupBarrier();
            if (lid == 0u) {
                var total = vec3<f32>(0.0);
                for (var j = 0u; j < WG_GROUP; j++) {
                    total = total + wg_energy[j].xyz;
                }
                var e = 0.0;
                if (MODERN) {
                    var q: array<f32, P>;
                    var a: array<f32, P>;
                    var y: array<f32, P>;
                    modern_effective(&prev, &cur, sched, &m, &la, &ly, &q, &a, &y);
                    e = modern_energy(total.x, &a, &m);
                } else {
                    e = energy_value(total, &prev, &cur, sched, &m);
                }
                saves[save_index(save_slot(step + 1u), P, t)] = e;
            }
        }
        if (lid == 0u && hist_samples_at(step + 1u)) {
            if (HIST_STATE) {
                hist_record(wg_hv[2u * (step % 2u)], wg_hv[2u * (step % 2u) + 1u], t);
            } else {
                hist_record(m[min(HIST_A0, P - 1u)], m[min(HIST_A1, P - 1u)], t);
            }
        }
    }
    if (lid == 0u) {
        observers_store(&ob, seg, t);
        store_layers(t, &la, &ly);
    }
    if (bad != NO_STEP) {
        report_non_finite(bad, traj);
    }
}
