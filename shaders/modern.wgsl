// The modern model's saliency and memory layers, twin of `model::modern` (docs/THEORY.md §5).

// Its run-time values (`gpu::kernels::model_values`): `val_modern_rate_a()` and
// `val_modern_rate_y()` (dt/τ), `val_modern_noise_a()` and `val_modern_noise_y()` (σ√dt) of the
// saliency and memory layers, and the softmax's β, `val_modern_beta()`.

// tanh with the argument clamped like Ψ_x's.
fn tanh_clamped(v: f32) -> f32 {
    return tanh_one_exp(vec4<f32>(clamp(v, -ACT_CLAMP, ACT_CLAMP))).x;
}

fn psi_alpha(a: f32) -> f32 {
    if (PSI_A_TANH) {
        return tanh_clamped(a);
    }
    return a;
}

// The input's saliency q_mu in effect (the IDP model's α).
fn input_saliency(prev: ptr<function, array<f32, PC>>, cur: ptr<function, array<f32, PC>>, sched: vec2<f32>,
                  mu: u32) -> f32 {
    return select(0.0, ramp((*prev)[mu], (*cur)[mu], sched.x), sched.y > 0.0);
}

// The effective α and y at time t: the layers' states, or their instantaneous values: the
// input's saliencies q (in effect at `sched`) and the overlaps m. Returns q in `q`.
fn modern_effective(prev: ptr<function, array<f32, PC>>, cur: ptr<function, array<f32, PC>>, sched: vec2<f32>,
                    m: ptr<function, array<f32, PC>>, la: ptr<function, array<f32, PC>>,
                    ly: ptr<function, array<f32, PC>>, q: ptr<function, array<f32, PC>>,
                    a: ptr<function, array<f32, PC>>, y: ptr<function, array<f32, PC>>) {
    for (var mu = 0u; mu < PC; mu++) {
        (*q)[mu] = input_saliency(prev, cur, sched, mu);
        (*a)[mu] = select((*q)[mu], (*la)[mu], TAU_A_DYN);
        (*y)[mu] = select((*m)[mu], (*ly)[mu], TAU_Y_DYN);
    }
}

// One layer's Euler–Maruyama step towards `goal`: rate dt/τ, noise σ√dt with normals from
// Philox [block of 4 memories, step, traj, stream] (`model::modern::relax`).
fn relax_layer(layer: ptr<function, array<f32, PC>>, goal: ptr<function, array<f32, PC>>, rate: f32, noise: f32,
               stream: u32, step: u32, traj: u32) {
    for (var k = 0u; k < PBC; k++) {
        // Blocks beyond the plan's P (capacity padding) draw nothing.
        if (k < vals.pb) {
            let z = normals4(vec4<u32>(k, step, traj, stream), philox_key());
            for (var l = 0u; l < 4u; l++) {
                let mu = 4u * k + l;
                // Clamped index: after unrolling, mu is a constant that may exceed the array on
                // padding lanes (the branch skips them; validation sees every constant index).
                let i = min(mu, PC - 1u);
                if (mu < vals.p) {
                    (*layer)[i] = (*layer)[i] + rate * ((*goal)[i] - (*layer)[i]) + noise * z[l];
                }
            }
        }
    }
}

// c = Ψ_α(α) ⊙ Ψ_y(y) (`model::modern::field_coefficients`).
fn modern_field(a: ptr<function, array<f32, PC>>, y: ptr<function, array<f32, PC>>, c: ptr<function, array<f32, PC>>) {
    if (PSI_Y == 2u) {
        // Padded memories (mu >= P) take no part in the softmax and get c = 0.
        var z: array<f32, PC>;
        var mx = -3.0e38;
        for (var mu = 0u; mu < PC; mu++) {
            if (mu < vals.p) {
                z[mu] = val_modern_beta() * psi_alpha((*a)[mu]) * (*y)[mu];
                mx = max(mx, z[mu]);
            }
        }
        var sum = 0.0;
        for (var mu = 0u; mu < PC; mu++) {
            if (mu < vals.p) {
                z[mu] = exp(z[mu] - mx);
                sum = sum + z[mu];
            }
        }
        for (var mu = 0u; mu < PC; mu++) {
            (*c)[mu] = select(0.0, psi_alpha((*a)[mu]) * (z[mu] / sum), mu < vals.p);
        }
    } else {
        for (var mu = 0u; mu < PC; mu++) {
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
fn modern_coefficients(prev: ptr<function, array<f32, PC>>, cur: ptr<function, array<f32, PC>>, sched: vec2<f32>,
                       m: ptr<function, array<f32, PC>>, la: ptr<function, array<f32, PC>>,
                       ly: ptr<function, array<f32, PC>>, c: ptr<function, array<f32, PC>>, step: u32, traj: u32) {
    var q: array<f32, PC>;
    var a: array<f32, PC>;
    var y: array<f32, PC>;
    modern_effective(prev, cur, sched, m, la, ly, &q, &a, &y);
    modern_field(&a, &y, c);
    if (TAU_A_DYN) {
        relax_layer(la, &q, val_modern_rate_a(), val_modern_noise_a(), STREAM_ALPHA_NOISE, step, traj);
    }
    if (TAU_Y_DYN) {
        relax_layer(ly, m, val_modern_rate_y(), val_modern_noise_y(), STREAM_Y_NOISE, step, traj);
    }
}

// A layer (α at base 0, y at base PB) from the state buffer's blocks after the neurons.
fn load_layer(t: u32, base: u32, out: ptr<function, array<f32, PC>>) {
    for (var k = 0u; k < PBC; k++) {
        if (k < vals.pb) {
            let v = state[state_index(t, nb_loop() + base + k)];
            for (var l = 0u; l < 4u; l++) {
                let mu = 4u * k + l;
                if (mu < vals.p) {
                    (*out)[min(mu, PC - 1u)] = v[l];
                }
            }
        }
    }
}

fn store_layer(t: u32, base: u32, v: ptr<function, array<f32, PC>>) {
    for (var k = 0u; k < PBC; k++) {
        var w = vec4<f32>(0.0);
        for (var l = 0u; l < 4u; l++) {
            let mu = 4u * k + l;
            if (mu < vals.p) {
                w[l] = (*v)[min(mu, PC - 1u)];
            }
        }
        if (k < vals.pb) {
            state[state_index(t, nb_loop() + base + k)] = w;
        }
    }
}

// One block's Σ x² in lane order (modern softmax energy, Ψ_x = identity).
fn energy_sq(x: vec4<f32>, b: u32) -> f32 {
    let v = mask_padding(x * x, b);
    return ((v.x + v.y) + v.z) + v.w;
}

// E_tr = −(N/β) log Σ exp(β Ψ_α(α) m) + ½|x|² (`model::modern::energy`).
fn modern_energy(sq: f32, a: ptr<function, array<f32, PC>>, m: ptr<function, array<f32, PC>>) -> f32 {
    var mx = -3.0e38;
    for (var mu = 0u; mu < PC; mu++) {
        if (mu < vals.p) {
            mx = max(mx, val_modern_beta() * psi_alpha((*a)[mu]) * (*m)[mu]);
        }
    }
    var sum = 0.0;
    for (var mu = 0u; mu < PC; mu++) {
        if (mu < vals.p) {
            sum = sum + exp(val_modern_beta() * psi_alpha((*a)[mu]) * (*m)[mu] - mx);
        }
    }
    return -(f32(n_neurons()) / val_modern_beta()) * (mx + log(sum)) + 0.5 * sq;
}

// Saves y and α after a step (or at t = 0): the layers' states, or their instantaneous values;
// returns α in `a`.
fn save_layers(slot: u32, t: u32, prev: ptr<function, array<f32, PC>>, cur: ptr<function, array<f32, PC>>,
               sched: vec2<f32>, m: ptr<function, array<f32, PC>>, la: ptr<function, array<f32, PC>>,
               ly: ptr<function, array<f32, PC>>, a: ptr<function, array<f32, PC>>) {
    var q: array<f32, PC>;
    var y: array<f32, PC>;
    modern_effective(prev, cur, sched, m, la, ly, &q, a, &y);
    for (var mu = 0u; mu < PC; mu++) {
        if (mu < vals.p) {
            saves[save_index(slot, vals.q_y + mu, t)] = y[mu];
            saves[save_index(slot, vals.q_y + vals.p + mu, t)] = (*a)[mu];
        }
    }
}

// The modern model's saliency and memory layers of trajectory t (unused otherwise).
fn load_layers(t: u32, la: ptr<function, array<f32, PC>>, ly: ptr<function, array<f32, PC>>) {
    if (MODERN) {
        load_layer(t, 0u, la);
        load_layer(t, vals.pb, ly);
    }
}

fn store_layers(t: u32, la: ptr<function, array<f32, PC>>, ly: ptr<function, array<f32, PC>>) {
    if (MODERN) {
        store_layer(t, 0u, la);
        store_layer(t, vals.pb, ly);
    }
}
