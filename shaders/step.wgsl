// The fused Euler–Maruyama step: every invocation (thread layout) or workgroup (group layout)
// advances one trajectory by params.step_count steps. Twin of `cpu::Trajectory::step`:
//
//   c_mu = a_mu m_mu + b_mu                     (IDP: a = α(t), b = 0; classic: a = 1, b = w(t))
//   f    = Ξ c − x − d Ψ(x) + v                 (d: zeroed diagonal; v: classic vector input)
//   x   += DT_X f + σ√dt z, z ~ N(0, 1) from Philox [block, step, trajectory, DYNAMICS]
//   m    = Ξᵀ Ψ(x) / N                          (accumulated in the same pass, block by block)

// ---- one step of one trajectory, shared by the thread and group layouts ---------------------
// The two entry points below share everything but their loops: the layouts differ in how a
// trajectory's blocks are spread (one invocation, or a workgroup with barriers, which WGSL
// allows only in uniform control flow, so the thread layout's early return rules out one
// body). The block update itself (block_xi, update_block, the overlap sums) is written out in
// each loop: as a shared function it cost 4–5 % of the N = 1024 throughput on lavapipe.

// The input coefficients of the segment in effect and of the previous one, from their input
// noise sums Ξᵀη already summed over every neuron block (`model::drift::segment_drive`).
fn load_drives(seg: u32, traj: u32, noise_cur: ptr<function, array<f32, PC>>, noise_prev: ptr<function, array<f32, PC>>,
               prev: ptr<function, array<f32, PC>>, cur: ptr<function, array<f32, PC>>) {
    segment_coefs(seg, traj, noise_cur, cur);
    if (seg > 0u) {
        segment_coefs(seg - 1u, traj, noise_prev, prev);
    }
}

// `load_drives` for an invocation that takes the input noise sums Ξᵀη of its trajectory over
// every neuron block alone (the thread and tile layouts).
fn load_own_drives(seg: u32, traj: u32, prev: ptr<function, array<f32, PC>>,
                   cur: ptr<function, array<f32, PC>>) {
    var acc_cur: array<f32, PC>;
    var acc_prev: array<f32, PC>;
    if (idp_input_noise(seg)) {
        input_noise_partial(seg, traj, 0u, 1u, &acc_cur);
    }
    if (seg > 0u && idp_input_noise(max(seg, 1u) - 1u)) {
        input_noise_partial(seg - 1u, traj, 0u, 1u, &acc_prev);
    }
    load_drives(seg, traj, &acc_cur, &acc_prev, prev, cur);
}

// One step's field coefficients c from the overlaps m of x(t), and the diagonal shift d; the
// modern model's layers are advanced to t + dt (`cpu::Trajectory::step`).
fn step_field(prev: ptr<function, array<f32, PC>>, cur: ptr<function, array<f32, PC>>, sched: vec2<f32>,
              m: ptr<function, array<f32, PC>>, la: ptr<function, array<f32, PC>>, ly: ptr<function, array<f32, PC>>,
              c: ptr<function, array<f32, PC>>, step: u32, traj: u32) -> f32 {
    if (MODERN) {
        modern_coefficients(prev, cur, sched, m, la, ly, c, step, traj);
        return 0.0;
    }
    return coefficients(prev, cur, sched, m, c);
}

// One block's part of the energy at a save (`energy_terms`; Σ x² in .x for the modern model).
fn block_energy(x: vec4<f32>, psi: vec4<f32>, b: u32, seg: u32, traj: u32, sched: vec2<f32>,
                cued: vec2<u32>) -> vec3<f32> {
    if (MODERN) {
        return vec3<f32>(energy_sq(x, b), 0.0, 0.0);
    }
    return energy_terms(x, psi, vector_term(seg, traj, b, sched, cued), b);
}

// The energy at a save from the blocks' summed parts (`model::drift::energy`,
// `model::modern::energy`).
fn save_energy(total: vec3<f32>, prev: ptr<function, array<f32, PC>>, cur: ptr<function, array<f32, PC>>,
               sched: vec2<f32>, m: ptr<function, array<f32, PC>>, la: ptr<function, array<f32, PC>>,
               ly: ptr<function, array<f32, PC>>) -> f32 {
    if (MODERN) {
        var q: array<f32, PC>;
        var a: array<f32, PC>;
        var y: array<f32, PC>;
        modern_effective(prev, cur, sched, m, la, ly, &q, &a, &y);
        return modern_energy(total.x, &a, m);
    }
    return energy_value(total, prev, cur, sched, m);
}

// ---- thread layout: one invocation per trajectory -------------------------------------------
// With X_IN_REGS (small N) the state stays in a private array for the whole dispatch, and Ψ(x)
// of the state before a step is computed again from it (a second private array for Ψ made the
// N = 1024 family's lavapipe build 64 s instead of 37 s, and ran no faster: case (a) 1.67–1.94e8
// against 1.75–1.91e8 neuron-steps/s, case (c) 1.63–1.67e8 against 1.61–1.89e8, 3 rounds in
// turn); without, PSI_CACHE keeps Ψ(x) in the state buffer after the state (block NBS + b) for
// the zeroed diagonal's term, so each neuron-step takes one tanh.

// MEM_MAJOR (`gpu::kernels::memory_major`): the step takes the memories MEM_TILE at a time, tile by
// tile, so that a tile's coefficients or sums stay in registers (constant indices) while a pass
// goes through the neuron blocks; per block and memory the loops of the other order read and
// wrote the arrays c and m at run-time indices. The sums are the same, term by term, in the
// same order. ξ enters as sign bits XORed into the coefficient or Ψ (`xi_sign`, `flip4`): the
// same bits as the products by ±1, and on lavapipe case (d) ran 1.42e7 neuron-steps/s against
// 1.32e7 with the ±1 vectors (`bench --scale-down 8`, in turn). Field h = Ξ c of every block into
// the state buffer (block NBS + NB + b).
fn field_tiles(t: u32, c: ptr<function, array<f32, PC>>) {
    for (var tile = 0u; tile < (vals.p + MEM_TILE - 1u) / MEM_TILE; tile++) {
        var ct: array<f32, MEM_TILE>;
        for (var k = 0u; k < MEM_TILE; k++) {
            ct[k] = (*c)[tile * MEM_TILE + k];
        }
        for (var b = 0u; b < nb_loop(); b++) {
            var h = vec4<f32>(0.0);
            if (tile > 0u) {
                h = state[state_index(t, vals.nbs + nb_loop() + b)];
            }
            for (var k = 0u; k < MEM_TILE; k++) {
                h = h + flip4(vec4<f32>(ct[k]), xi_sign(xi_bits[b * VB + tile * (MEM_TILE / 32u) + k / 32u], k % 32u));
            }
            state[state_index(t, vals.nbs + nb_loop() + b)] = h;
        }
    }
}

// The overlaps' sums Ξᵀ Ψ(x) into m from Ψ of every block in the state buffer (PSI_CACHE).
fn overlap_tiles(t: u32, m: ptr<function, array<f32, PC>>) {
    for (var tile = 0u; tile < (vals.p + MEM_TILE - 1u) / MEM_TILE; tile++) {
        var acc: array<f32, MEM_TILE>;
        for (var b = 0u; b < nb_loop(); b++) {
            let psi = state[state_index(t, vals.nbs + b)];
            for (var k = 0u; k < MEM_TILE; k++) {
                let w = flip4(psi, xi_sign(xi_bits[b * VB + tile * (MEM_TILE / 32u) + k / 32u], k % 32u));
                acc[k] = acc[k] + (((w.x + w.y) + w.z) + w.w);
            }
        }
        // Only up to the memory loops' run-time bound: beyond it m stays as it was (0).
        for (var k = 0u; k < MEM_TILE; k++) {
            if (tile * MEM_TILE + k < vals.p_tiles) {
                (*m)[tile * MEM_TILE + k] = acc[k];
            }
        }
    }
}

// The save after `step` steps of trajectory t in the thread and tile layouts: the overlaps, the
// modern model's layers and the energy (the state from the private array with X_IN_REGS, else
// from the state buffer).
fn save_trajectory(t: u32, traj: u32, seg: u32, segment: Segment, step: u32, cued: vec2<u32>,
                   xr: ptr<function, array<vec4<f32>, NBR>>, m: ptr<function, array<f32, PC>>,
                   prev: ptr<function, array<f32, PC>>, cur: ptr<function, array<f32, PC>>,
                   la: ptr<function, array<f32, PC>>, ly: ptr<function, array<f32, PC>>) {
    let slot = save_slot(step);
    for (var mu = 0u; mu < PC; mu++) {
        if (mu < vals.p) {
            saves[save_index(slot, mu, t)] = (*m)[mu];
        }
    }
    let sched = schedule(segment, step - 1u);
    if (MODERN) {
        var a: array<f32, PC>;
        save_layers(slot, t, prev, cur, sched, m, la, ly, &a);
    }
    if (ENERGY) {
        var terms = vec3<f32>(0.0);
        for (var b = 0u; b < nb_loop(); b++) {
            var x: vec4<f32>;
            if (X_IN_REGS) {
                x = (*xr)[b];
            } else {
                x = state[state_index(t, b)];
            }
            terms = terms + block_energy(x, act4(x), b, seg, traj, sched, cued);
        }
        saves[save_index(slot, vals.p, t)] = save_energy(terms, prev, cur, sched, m, la, ly);
    }
}

// The kernel's loop: dispatch set-up, steps, stops for saves and samples, dispatch end. Its
// parts are the functions above; the rest stays here, where the driver sees the whole loop.
@compute @workgroup_size(WG)
fn step_thread(@builtin(global_invocation_id) gid: vec3<u32>) {
    load_values();
    let t = gid.x;
    if (t >= params.traj_count) {
        return;
    }
    let traj = params.traj_first + t;
    let seg = params.segment;
    let segment = segs[seg];
    var prev: array<f32, PC>;
    var cur: array<f32, PC>;
    load_own_drives(seg, traj, &prev, &cur);
    let cued = cue_targets(seg, traj);
    var ob = observers_load(seg, segment, t, traj, true);
    var la: array<f32, PC>;
    var ly: array<f32, PC>;
    load_layers(t, &la, &ly);
    // State and overlaps of the current state. The overlaps' sums are taken in m itself (not
    // in a second array: m is free from the coefficients' computation to the sums' end), which
    // made the P ≤ 256 families' lavapipe builds shorter.
    var xr: array<vec4<f32>, NBR>;
    var m: array<f32, PC>;
    // Ψ exactly as the step loop computes it (padding neurons hold x = 0, so Ψ = 0 there too):
    // with a masking multiply here lavapipe compiled the sum differently in its last bit, and a
    // run stopped between dispatches (checkpoints, resume) drifted from an unstopped one.
    for (var b = 0u; b < nb_loop(); b++) {
        let x = state[state_index(t, b)];
        let psi = act4(x);
        if (X_IN_REGS) {
            xr[b] = x;
        }
        if (PSI_CACHE) {
            state[state_index(t, vals.nbs + b)] = psi;
        }
        if (!MEM_MAJOR) {
            for (var mu = 0u; mu < PC; mu++) {
                m[mu] = m[mu] + dot4(xi_block(b, mu), psi);
            }
        }
    }
    if (MEM_MAJOR) {
        overlap_tiles(t, &m);
    }
    for (var mu = 0u; mu < PC; mu++) {
        m[mu] = overlap(m[mu], mu);
    }
    var c: array<f32, PC>;
    var xs: array<vec4<f32>, PC>;
    var bad = NO_STEP;
    var nc = noise_cache();
    var step = params.step_begin;
    let end = params.step_begin + params.step_count;
    while (step < end) {
        // Steps up to the next save or histogram sample (or the end of the dispatch), then those.
        let stop = next_stop(step, end);
        // With STEP_NOISE, one noise draw per group of NOISE_STEPS steps (`step_noise`);
        // otherwise one pass of this loop.
        while (step < stop) {
            var group_end = stop;
            if (STEP_NOISE) {
                nc = step_noise(step, traj);
                group_end = min(stop, noise_group_end(step));
            }
            for (; step < group_end; step++) {
                let sched = schedule(segment, step);
                let d = step_field(&prev, &cur, sched, &m, &la, &ly, &c, step, traj);
                if (MEM_MAJOR) {
                    field_tiles(t, &c);
                } else {
                    for (var mu = 0u; mu < PC; mu++) {
                        m[mu] = 0.0;
                    }
                }
                // Neuron blocks in groups of NOISE_BLOCKS: with two-point increments beyond 32
                // blocks, a group's Philox block is drawn before its loop (kept behind a branch
                // per block instead, case (a) ran 18 % slower on lavapipe); otherwise one group.
                for (var b0 = 0u; b0 < nb_loop(); b0 += NOISE_BLOCKS) {
                    if (TWO_POINT && !STEP_NOISE) {
                        let ctr = vec2<u32>(b0 >> 5u, step);
                        nc = NoiseCache(ctr, philox4x32_10(vec4<u32>(ctr, traj, STREAM_TWO_POINT), philox_key()));
                    }
                    for (var b = b0; b < min(b0 + NOISE_BLOCKS, nb_loop()); b++) {
                        var x: vec4<f32>;
                        var psi_x: vec4<f32>;
                        if (X_IN_REGS) {
                            x = xr[b];
                            psi_x = act4(x);
                        } else if (PSI_CACHE) {
                            x = state[state_index(t, b)];
                            psi_x = state[state_index(t, vals.nbs + b)];
                        } else {
                            x = state[state_index(t, b)];
                            psi_x = act4(x);
                        }
                        let v = vector_term(seg, traj, b, sched, cued);
                        var xn: vec4<f32>;
                        if (MEM_MAJOR) {
                            let h = state[state_index(t, vals.nbs + nb_loop() + b)];
                            xn = update_with_field(x, psi_x, h, b, d, v, step, traj, &nc);
                        } else {
                            block_xi(b, &xs);
                            xn = update_block(x, psi_x, b, &xs, &c, d, v, step, traj, &nc);
                        }
                        if (X_IN_REGS) {
                            xr[b] = xn;
                        } else {
                            state[state_index(t, b)] = xn;
                        }
                        bad = min(bad, select(NO_STEP, step, non_finite4(xn)));
                        let psi = act4(xn);
                        if (PSI_CACHE) {
                            state[state_index(t, vals.nbs + b)] = psi;
                        }
                        if (!MEM_MAJOR) {
                            for (var mu = 0u; mu < PC; mu++) {
                                m[mu] = m[mu] + dot4(xi_of(&xs, b, mu), psi);
                            }
                        }
                    }
                }
                if (MEM_MAJOR) {
                    overlap_tiles(t, &m);
                }
                for (var mu = 0u; mu < PC; mu++) {
                    m[mu] = overlap(m[mu], mu);
                }
                observers_step(&ob, &m, step + 1u);
                // Sampling every step happens here; sparser sampling at the loop's stops below (a
                // branch in this loop costs the cheapest steps noticeably on some drivers).
                if (HIST_EACH_STEP && hist_samples_at(step + 1u)) {
                    hist_sample_thread(t, &xr, &m);
                }
            }
        }
        observers_count_thread(t, step, &xr, &m);
        if (step % vals.save_every == 0u) {
            save_trajectory(t, traj, seg, segment, step, cued, &xr, &m, &prev, &cur, &la, &ly);
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

var<workgroup> wg_partial: array<f32, WG_GROUP * PC>;
var<workgroup> wg_sum: array<f32, PC>;
// Per-invocation energy sums at a save.
var<workgroup> wg_energy: array<vec4<f32>, WG_GROUP>;

// Sums wg_partial over the workgroup into wg_sum, in invocation order (deterministic).
fn group_reduce(lid: u32) {
    workgroupBarrier();
    // Invocation lid sums memories lid, lid + WG_GROUP, ... (P may exceed the group size).
    for (var mu = lid; mu < PC; mu += WG_GROUP) {
        var s = 0.0;
        for (var j = 0u; j < WG_GROUP; j++) {
            s = s + wg_partial[j * PC + mu];
        }
        wg_sum[mu] = s;
    }
    workgroupBarrier();
}

// The same loop for a workgroup per trajectory, with its reductions (see step_thread).
@compute @workgroup_size(WG_GROUP)
fn step_group(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    load_values();
    // Uniform across the workgroup: every invocation takes the same branches around barriers.
    let t = wid.x;
    let traj = params.traj_first + t;
    let seg = params.segment;
    let segment = segs[seg];
    var prev: array<f32, PC>;
    var cur: array<f32, PC>;
    let noise_cur = idp_input_noise(seg);
    let noise_prev = seg > 0u && idp_input_noise(max(seg, 1u) - 1u);
    var noise_acc: array<f32, PC>;
    if (noise_cur) {
        input_noise_partial(seg, traj, lid, WG_GROUP, &noise_acc);
    }
    for (var mu = 0u; mu < PC; mu++) {
        wg_partial[lid * PC + mu] = noise_acc[mu];
    }
    group_reduce(lid);
    var reduced_cur: array<f32, PC>;
    for (var mu = 0u; mu < PC; mu++) {
        reduced_cur[mu] = wg_sum[mu];
    }
    var noise_acc_prev: array<f32, PC>;
    if (noise_prev) {
        input_noise_partial(max(seg, 1u) - 1u, traj, lid, WG_GROUP, &noise_acc_prev);
    }
    for (var mu = 0u; mu < PC; mu++) {
        wg_partial[lid * PC + mu] = noise_acc_prev[mu];
    }
    group_reduce(lid);
    var reduced_prev: array<f32, PC>;
    for (var mu = 0u; mu < PC; mu++) {
        reduced_prev[mu] = wg_sum[mu];
    }
    load_drives(seg, traj, &reduced_cur, &reduced_prev, &prev, &cur);
    let cued = cue_targets(seg, traj);
    // Every invocation keeps the observers; invocation 0 writes them.
    var ob = observers_load(seg, segment, t, traj, lid == 0u);
    var la: array<f32, PC>;
    var ly: array<f32, PC>;
    load_layers(t, &la, &ly);
    // Overlaps of the current state, their partial sums taken in m (see step_thread).
    var m: array<f32, PC>;
    // Ψ as the step loop computes it (see step_thread).
    for (var b = lid; b < nb_loop(); b += WG_GROUP) {
        let psi = act4(state[state_index(t, b)]);
        for (var mu = 0u; mu < PC; mu++) {
            m[mu] = m[mu] + dot4(xi_block(b, mu), psi);
        }
    }
    for (var mu = 0u; mu < PC; mu++) {
        wg_partial[lid * PC + mu] = m[mu];
    }
    group_reduce(lid);
    for (var mu = 0u; mu < PC; mu++) {
        m[mu] = overlap(wg_sum[mu], mu);
    }
    var c: array<f32, PC>;
    var xs: array<vec4<f32>, PC>;
    var bad = NO_STEP;
    var nc = noise_cache();
    for (var k = 0u; k < params.step_count; k++) {
        let step = params.step_begin + k;
        let sched = schedule(segment, step);
        if (STEP_NOISE) {
            nc = step_noise(step, traj);
        }
        let d = step_field(&prev, &cur, sched, &m, &la, &ly, &c, step, traj);
        for (var mu = 0u; mu < PC; mu++) {
            m[mu] = 0.0;
        }
        for (var b = lid; b < nb_loop(); b += WG_GROUP) {
            let i = state_index(t, b);
            block_xi(b, &xs);
            let x = state[i];
            let xn = update_block(x, act4(x), b, &xs, &c, d, vector_term(seg, traj, b, sched, cued), step, traj, &nc);
            if (HIST_STATE && b == HIST_A0 / 4u) {
                wg_hv[2u * (step % 2u)] = xn[HIST_A0 % 4u];
            }
            if (HIST_STATE && b == HIST_A1 / 4u) {
                wg_hv[2u * (step % 2u) + 1u] = xn[HIST_A1 % 4u];
            }
            state[i] = xn;
            bad = min(bad, select(NO_STEP, step, non_finite4(xn)));
            let psi = act4(xn);
            for (var mu = 0u; mu < PC; mu++) {
                m[mu] = m[mu] + dot4(xi_of(&xs, b, mu), psi);
            }
        }
        for (var mu = 0u; mu < PC; mu++) {
            wg_partial[lid * PC + mu] = m[mu];
        }
        group_reduce(lid);
        for (var mu = 0u; mu < PC; mu++) {
            m[mu] = overlap(wg_sum[mu], mu);
        }
        observers_step(&ob, &m, step + 1u);
        if ((step + 1u) % vals.save_every == 0u) {
            let slot = save_slot(step + 1u);
            for (var mu = lid; mu < vals.p; mu += WG_GROUP) {
                saves[save_index(slot, mu, t)] = m[mu];
            }
        }
        if (MODERN && lid == 0u && (step + 1u) % vals.save_every == 0u) {
            var a: array<f32, PC>;
            save_layers(save_slot(step + 1u), t, &prev, &cur, sched, &m, &la, &ly, &a);
        }
        if (ENERGY && (step + 1u) % vals.save_every == 0u) {
            var terms = vec3<f32>(0.0);
            for (var b = lid; b < nb_loop(); b += WG_GROUP) {
                let x = state[state_index(t, b)];
                terms = terms + block_energy(x, act4(x), b, seg, traj, sched, cued);
            }
            wg_energy[lid] = vec4<f32>(terms, 0.0);
            workgroupBarrier();
            if (lid == 0u) {
                var total = vec3<f32>(0.0);
                for (var j = 0u; j < WG_GROUP; j++) {
                    total = total + wg_energy[j].xyz;
                }
                saves[save_index(save_slot(step + 1u), vals.p, t)] = save_energy(total, &prev, &cur, sched, &m, &la, &ly);
            }
        }
        observers_count_group(t, lid, step, &m);
    }
    if (lid == 0u) {
        observers_store(&ob, seg, t);
        store_layers(t, &la, &ly);
    }
    if (bad != NO_STEP) {
        report_non_finite(bad, traj);
    }
}
