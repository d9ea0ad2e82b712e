// The tile layout (`gpu::kernels::Layout::Tile`): one workgroup of WG_TILE invocations steps TT
// trajectories together, so that each step's two products with the memories are matrix products
// over the tile and each memory's signs are decoded once for TT trajectories:
//
//   c    (TT × P)  the coefficients, from each trajectory's overlaps and input    (leaders)
//   h    = c Ξᵀ    (TT × N)  the field, neuron blocks spread over the invocations (`tile_field`)
//   x   += DT_X (h − x − d Ψ(x) + v) + σ√dt z, the same update as the other layouts
//   m    = Ψ(x) Ξ / N  (TT × P)  memories spread over the invocations        (`tile_overlaps`)
//
// Invocation k < TT leads trajectory k of the tile: it keeps what the thread layout keeps per
// trajectory (input coefficients, the modern model's layers, the observers) and runs the thread
// layout's per-trajectory code on it. The tile's coefficients and overlaps wait in workgroup
// memory between the phases; the state and Ψ(x) (the Ψ cache, block NBS + b) stay in the state
// buffer in the thread layout's order (state[b * traj_count + t]), so everything that reads a
// chunk's state (checkpoints, final states, replay) reads it as the thread layout's. The sums
// are deterministic (fixed order, whatever the dispatch boundaries): the field over memories in
// order, the overlaps over neuron blocks in order, each block's lanes ((x + y) + z) + w.

var<workgroup> wg_c: array<f32, TT * PC>;
var<workgroup> wg_m: array<f32, TT * PC>;
var<workgroup> wg_d: array<f32, TT>;

// Whether trajectory k of the tile starting at t0 is in the chunk (the last tile may be partial).
fn tile_has(t0: u32, k: u32) -> bool {
    return t0 + k < params.traj_count;
}

// m = Ψ Ξ / N of the tile's trajectories into wg_m, from Ψ in the state buffer's cache: this
// invocation's memories are lid + j WG_TILE (j < MPI), and each block of the tile's Ψ is read
// once for all of them. Called in uniform control flow: the barriers make the Ψ stores visible
// first and wg_m complete after.
fn tile_overlaps(t0: u32, lid: u32) {
    storageBarrier();
    var acc: array<f32, MPI * TT>;
    // Only invocations that have a memory (lid < P) pass over the blocks.
    let blocks = select(0u, nb_loop(), lid < vals.p);
    for (var b = 0u; b < blocks; b++) {
        var psi: array<vec4<f32>, TT>;
        for (var k = 0u; k < TT; k++) {
            if (tile_has(t0, k)) {
                psi[k] = state[state_index(t0 + k, vals.nbs + b)];
            }
        }
        for (var j = 0u; j < MPI; j++) {
            let mu = lid + j * WG_TILE;
            if (mu < vals.p) {
                let sign = xi_sign(xi_bits[b * VB + mu / 32u], mu % 32u);
                for (var k = 0u; k < TT; k++) {
                    let w = flip4(psi[k], sign);
                    acc[j * TT + k] = acc[j * TT + k] + (((w.x + w.y) + w.z) + w.w);
                }
            }
        }
    }
    for (var j = 0u; j < MPI; j++) {
        let mu = lid + j * WG_TILE;
        if (mu < PC) {
            for (var k = 0u; k < TT; k++) {
                wg_m[k * PC + mu] = overlap(acc[j * TT + k], mu);
            }
        }
    }
    workgroupBarrier();
}

// Ψ(x) of the tile's state into the cache (block NBS + b), as the step computes it.
fn tile_psi(t0: u32, lid: u32) {
    for (var b = lid; b < nb_loop(); b += WG_TILE) {
        for (var k = 0u; k < TT; k++) {
            if (tile_has(t0, k)) {
                state[state_index(t0 + k, vals.nbs + b)] = act4(state[state_index(t0 + k, b)]);
            }
        }
    }
}

// One step of the tile's neuron blocks lid, lid + WG_TILE, …: the field h = c Ξᵀ of every
// trajectory from wg_c (each memory's signs decoded once for the tile), then the update, the
// state and its Ψ back into the state buffer; `bad` keeps each trajectory's earliest step with a
// non-finite state.
fn tile_field(t0: u32, lid: u32, seg: u32, step: u32, sched: vec2<f32>, cued: ptr<function, array<vec2<u32>, TT>>,
              bad: ptr<function, array<u32, TT>>) {
    for (var b = lid; b < nb_loop(); b += WG_TILE) {
        var h: array<vec4<f32>, TT>;
        for (var mu = 0u; mu < PC; mu++) {
            let sign = xi_sign(xi_bits[b * VB + mu / 32u], mu % 32u);
            for (var k = 0u; k < TT; k++) {
                h[k] = h[k] + flip4(vec4<f32>(wg_c[k * PC + mu]), sign);
            }
        }
        for (var k = 0u; k < TT; k++) {
            if (tile_has(t0, k)) {
                let t = t0 + k;
                let traj = params.traj_first + t;
                let x = state[state_index(t, b)];
                let psi_x = state[state_index(t, vals.nbs + b)];
                var nc = noise_cache();
                if (STEP_NOISE) {
                    nc = step_noise(step, traj);
                }
                let v = vector_term(seg, traj, b, sched, (*cued)[k]);
                let xn = update_with_field(x, psi_x, h[k], b, wg_d[k], v, step, traj, &nc);
                state[state_index(t, b)] = xn;
                state[state_index(t, vals.nbs + b)] = act4(xn);
                (*bad)[k] = min((*bad)[k], select(NO_STEP, step, non_finite4(xn)));
            }
        }
    }
}

@compute @workgroup_size(WG_TILE)
fn step_tile(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    load_values();
    let t0 = wid.x * TT;
    // The leader of trajectory t (uniform control flow is kept around every barrier: the
    // leaders' work sits in branches without barriers).
    let lead = lid < TT && tile_has(t0, lid);
    let t = t0 + min(lid, TT - 1u);
    let traj = params.traj_first + t;
    let seg = params.segment;
    let segment = segs[seg];
    var prev: array<f32, PC>;
    var cur: array<f32, PC>;
    var la: array<f32, PC>;
    var ly: array<f32, PC>;
    var ob: Observers;
    if (lead) {
        load_own_drives(seg, traj, &prev, &cur);
        ob = observers_load(seg, segment, t, traj, true);
        load_layers(t, &la, &ly);
    }
    var cued: array<vec2<u32>, TT>;
    var bad: array<u32, TT>;
    for (var k = 0u; k < TT; k++) {
        cued[k] = cue_targets(seg, params.traj_first + min(t0 + k, params.traj_count - 1u));
        bad[k] = NO_STEP;
    }
    // Ψ and the overlaps of the current state, as the step loop computes them (see step_thread).
    tile_psi(t0, lid);
    tile_overlaps(t0, lid);
    var m: array<f32, PC>;
    if (lead) {
        for (var mu = 0u; mu < PC; mu++) {
            m[mu] = wg_m[lid * PC + mu];
        }
    }
    var c: array<f32, PC>;
    var xr: array<vec4<f32>, NBR>;
    var step = params.step_begin;
    let end = params.step_begin + params.step_count;
    while (step < end) {
        let stop = next_stop(step, end);
        for (; step < stop; step++) {
            let sched = schedule(segment, step);
            if (lead) {
                let d = step_field(&prev, &cur, sched, &m, &la, &ly, &c, step, traj);
                for (var mu = 0u; mu < PC; mu++) {
                    wg_c[lid * PC + mu] = c[mu];
                }
                wg_d[lid] = d;
            }
            workgroupBarrier();
            tile_field(t0, lid, seg, step, sched, &cued, &bad);
            tile_overlaps(t0, lid);
            if (lead) {
                for (var mu = 0u; mu < PC; mu++) {
                    m[mu] = wg_m[lid * PC + mu];
                }
                observers_step(&ob, &m, step + 1u);
                if (HIST_EACH_STEP && hist_samples_at(step + 1u)) {
                    hist_sample_thread(t, &xr, &m);
                }
            }
        }
        // The leaders read the state (occupancy, histogram, energy) before the next step's
        // field phase writes it: the other invocations wait for them at the barrier after the
        // coefficients.
        if (lead) {
            observers_count_thread(t, step, &xr, &m);
            if (step % vals.save_every == 0u) {
                let cued_t = cue_targets(seg, traj);
                save_trajectory(t, traj, seg, segment, step, cued_t, &xr, &m, &prev, &cur, &la, &ly);
            }
        }
    }
    if (lead) {
        observers_store(&ob, seg, t);
        store_layers(t, &la, &ly);
    }
    for (var k = 0u; k < TT; k++) {
        if (bad[k] != NO_STEP) {
            report_non_finite(bad[k], params.traj_first + t0 + k);
        }
    }
}
