// The input schedule on the device, twin of `model::input` and of the drive in
// `model::drift::segment_drive`: segment targets, random weights, input coefficients, input noise,
// the classic vector input, and the ramp / pulse schedule.

// The target (dominant memory) of segment `seg` for trajectory `traj`: the table's, or drawn from
// word 0 of Philox [0, seg, traj, RANDOM_WEIGHTS] (`model::input::segment_target`).
fn segment_target(seg: u32, traj: u32) -> u32 {
    let tg = segs[seg].dominant;
    if (tg != RANDOM_TARGET) {
        return tg;
    }
    let r = philox4x32_10(vec4<u32>(0u, seg, traj, STREAM_RANDOM_WEIGHTS), philox_key());
    return min(u32(uniform_closed_open(r.x) * f32(vals.p)), vals.p - 1u);
}

// The random weights of segment `seg` for trajectory `traj` (`model::input::random_weights`):
// word j ≥ 1 of Philox [j / 4, seg, traj, RANDOM_WEIGHTS] draws memory j − 1's weight.
fn random_weights(seg: u32, traj: u32, w: ptr<function, array<f32, PC>>) {
    let base = vals.rw_base + seg * 8u;
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
    for (var blk = 0u; blk <= vals.p / 4u; blk += 1u) {
        let r = philox4x32_10(vec4<u32>(blk, seg, traj, STREAM_RANDOM_WEIGHTS), key);
        for (var l = 0u; l < 4u; l++) {
            let j = 4u * blk + l;
            if (j >= 1u && j <= vals.p) {
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
        for (var mu = 0u; mu < PC; mu++) {
            sum = sum + (*w)[mu];
        }
        let scale = total / sum;
        for (var mu = 0u; mu < PC; mu++) {
            (*w)[mu] = (*w)[mu] * scale;
        }
    }
}

// The input coefficients of segment `seg` for trajectory `traj` (`model::drift::segment_drive`):
// the table's, or from random weights (IDP α = gain · G w, classic gain · w); `noise_acc` is
// Ξᵀη for the IDP model's input noise, already reduced over neurons.
fn segment_coefs(seg: u32, traj: u32, noise_acc: ptr<function, array<f32, PC>>, out: ptr<function, array<f32, PC>>) {
    if (RANDOM_WEIGHTS && segs[seg].random != 0u) {
        var w: array<f32, PC>;
        random_weights(seg, traj, &w);
        let gain = seg_coef[vals.rw_base + seg * 8u + 7u];
        // Not unrolled (P² work once per dispatch).
        for (var a = 0u; a < vals.p; a += 1u) {
            if (IDP) {
                var s = 0.0;
                for (var b = 0u; b < PC; b++) {
                    s = s + select(0.0, seg_coef[vals.gram_base + a * vals.p + b] * w[b], b < vals.p);
                }
                (*out)[a] = gain * s;
            } else {
                (*out)[a] = gain * w[a];
            }
        }
    } else {
        for (var mu = 0u; mu < PC; mu++) {
            (*out)[mu] = seg_coef[seg * vals.p + mu];
        }
    }
    if (IDP) {
        for (var mu = 0u; mu < PC; mu++) {
            (*out)[mu] = (*out)[mu] + (*noise_acc)[mu] * inv_n();
        }
    }
    // Memories beyond the plan's P (capacity padding) have no input: exact zeros, so that they
    // add nothing to the field or to any sum over memories.
    for (var mu = 0u; mu < PC; mu++) {
        (*out)[mu] = select((*out)[mu], 0.0, mu >= vals.p);
    }
}

// The cue input of segment `seg` on block b (`model::input::cue_vector`): gain × amplitude ×
// ξ^c ⊙ s for the cued memory c (`cued`, the segment's target for this trajectory); 0 on padding.
fn cue_block(seg: u32, traj: u32, b: u32, cued: u32) -> vec4<f32> {
    let sg = segs[seg];
    let u = sg.cue_amp * (xi_block(b, min(cued, vals.p - 1u)) * cue_signs4(b, sg.cue_draw, traj, sg.cue_flip, philox_key()));
    return mask_padding(u, b);
}

// Ξᵀη partial sums (every memory at once) over the neuron blocks b0, b0 + stride, ... of the
// per-trajectory part η of an IDP input (input noise and the cue), added to `acc`.
fn input_noise_partial(seg: u32, traj: u32, b0: u32, stride: u32, acc: ptr<function, array<f32, PC>>) {
    let key = philox_key();
    let noise = segs[seg].noise;
    let cue = segs[seg].cue_amp != 0.0;
    var cued = 0u;
    if (cue) {
        cued = segment_target(seg, traj);
    }
    for (var b = b0; b < nb_loop(); b += stride) {
        var eta = vec4<f32>(0.0);
        if (noise > 0.0) {
            eta = mask_padding(noise * normals4(vec4<u32>(b, seg, traj, STREAM_INPUT_NOISE), key), b);
        }
        if (cue) {
            eta = eta + cue_block(seg, traj, b, cued);
        }
        for (var mu = 0u; mu < PC; mu++) {
            (*acc)[mu] = (*acc)[mu] + dot4(xi_block(b, mu), eta);
        }
    }
}

// Whether segment `seg` gives an IDP input a per-trajectory part (input noise or a cue; Ξᵀη
// enters α).
fn idp_input_noise(seg: u32) -> bool {
    return IDP && (segs[seg].noise > 0.0 || segs[seg].cue_amp != 0.0);
}

// The cued memories of segment `seg` (.x) and of the one before it (.y), 0 where that segment
// has no cue: per trajectory, so drawn once per dispatch and handed to `vector_term`.
fn cue_targets(seg: u32, traj: u32) -> vec2<u32> {
    var t = vec2<u32>(0u);
    if (!HAS_VECTOR) {
        return t;
    }
    if (segs[seg].cue_amp != 0.0) {
        t.x = segment_target(seg, traj);
    }
    let before = max(seg, 1u) - 1u;
    if (seg > 0u && segs[before].cue_amp != 0.0) {
        t.y = segment_target(before, traj);
    }
    return t;
}

// The classic model's per-neuron input of segment `seg` for block b: u_vector + η + the cue of
// memory `cued` (see `cue_targets`).
fn segment_vec(seg: u32, traj: u32, b: u32, cued: u32) -> vec4<f32> {
    var v = seg_vec[seg * nb_loop() + b];
    let sg = segs[seg];
    if (sg.noise > 0.0) {
        v = v + sg.noise * normals4(vec4<u32>(b, seg, traj, STREAM_INPUT_NOISE), philox_key());
    }
    if (sg.cue_amp != 0.0) {
        v = v + cue_block(seg, traj, b, cued);
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
