// Initial states, one invocation per trajectory (every layout), and the overlaps at t = 0.
// Mirrors `cpu::initial_state`.

const INIT_NORMAL: u32 = 0u;
const INIT_POINT: u32 = 1u;
const INIT_MEMORY: u32 = 2u;

// One body for the three initial kinds and the modern layers' start values, as
// `cpu::initial_state` reads: long, but a straight line with no loop to share.
@compute @workgroup_size(64)
fn init_state(@builtin(global_invocation_id) gid: vec3<u32>) {
    load_values();
    let t = gid.x;
    if (t >= params.traj_count) {
        return;
    }
    let traj = params.traj_first + t;
    let key = philox_key();
    var acc: array<f32, PC>;
    for (var b = 0u; b < nb_loop(); b++) {
        var x = vec4<f32>(0.0);
        if (INIT_KIND == INIT_POINT) {
            x = init_point[b];
        } else {
            let z = normals4(vec4<u32>(b, 0u, traj, STREAM_INITIAL), key);
            if (INIT_KIND == INIT_NORMAL) {
                x = vals.init_std * z;
            } else {
                // The cued memory (or the trajectory's target), some signs flipped.
                let idx = select(vals.init_index, segment_target(0u, traj), vals.init_index == NO_TARGET);
                var cue = xi_block(b, min(idx, vals.p - 1u));
                if (vals.init_flip > 0.0) {
                    cue = cue * cue_signs4(b, 0u, traj, vals.init_flip, key);
                }
                x = vals.init_amplitude * cue + vals.init_jitter * z;
            }
            x = mask_padding(x, b);
        }
        state[state_index(t, b)] = x;
        let psi = mask_padding(act4(x), b);
        for (var mu = 0u; mu < PC; mu++) {
            acc[mu] = acc[mu] + dot4(xi_block(b, mu), psi);
        }
    }
    if (FP) {
        var m0: array<f32, PC>;
        for (var mu = 0u; mu < PC; mu++) {
            m0[mu] = overlap(acc[mu], mu);
        }
        obs[fp_index(t)] = bitcast<f32>(select(NO_STEP, 0u, fp_reached(&m0, fp_memory(0u, traj))));
    }
    if (MODERN) {
        // α(0) = 0 (no input filtered yet), y(0) = m(x(0)).
        var la: array<f32, PC>;
        var ly: array<f32, PC>;
        for (var mu = 0u; mu < PC; mu++) {
            ly[mu] = overlap(acc[mu], mu);
        }
        store_layer(t, 0u, &la);
        store_layer(t, vals.pb, &ly);
        if (params.slot_base == 0u) {
            var prev: array<f32, PC>;
            var cur: array<f32, PC>;
            var noise_acc: array<f32, PC>;
            if (segs[0].noise > 0.0) {
                input_noise_partial(0u, traj, 0u, 1u, &noise_acc);
            }
            segment_coefs(0u, traj, &noise_acc, &cur);
            let sched = schedule(segs[0], 0u);
            var a: array<f32, PC>;
            save_layers(0u, t, &prev, &cur, sched, &ly, &la, &ly, &a);
            for (var mu = 0u; mu < PC; mu++) {
                if (mu < vals.p) {
                    saves[save_index(0u, mu, t)] = ly[mu];
                }
            }
            if (ENERGY) {
                var sq = 0.0;
                for (var b = 0u; b < nb_loop(); b++) {
                    sq = sq + energy_sq(state[state_index(t, b)], b);
                }
                saves[save_index(0u, vals.p, t)] = modern_energy(sq, &a, &ly);
            }
        }
    } else if (params.slot_base == 0u) {
        var m: array<f32, PC>;
        for (var mu = 0u; mu < PC; mu++) {
            m[mu] = overlap(acc[mu], mu);
            if (mu < vals.p) {
                saves[save_index(0u, mu, t)] = m[mu];
            }
        }
        if (ENERGY) {
            // The input at t = 0: segment 0 at its first step, morphing from zero input.
            var prev: array<f32, PC>;
            var cur: array<f32, PC>;
            var noise_acc: array<f32, PC>;
            if (idp_input_noise(0u)) {
                input_noise_partial(0u, traj, 0u, 1u, &noise_acc);
            }
            segment_coefs(0u, traj, &noise_acc, &cur);
            let sched = schedule(segs[0], 0u);
            var terms = vec3<f32>(0.0);
            let cued = cue_targets(0u, traj);
            for (var b = 0u; b < nb_loop(); b++) {
                let x = state[state_index(t, b)];
                terms = terms + energy_terms(x, mask_padding(act4(x), b), vector_term(0u, traj, b, sched, cued), b);
            }
            saves[save_index(0u, vals.p, t)] = energy_value(terms, &prev, &cur, sched, &m);
        }
    }
}
