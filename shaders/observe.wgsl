// The observers of one trajectory, twin of `cpu::Trajectory::observe` and of the observers'
// plans (`spec::observe`): the histogram's binning and samples, the step loops' stops
// (`next_stop`), first passage, where saves go, occupancy counts, and the retrieval window sums.
// Each observer's run-time values come through the header's accessors (`val_hist_lo0()`, …).

const NO_BIN: u32 = 0xffffffffu;

// Bin of one coordinate, or NO_BIN (NaN included): the same f32 arithmetic as
// `HistogramPlan::axis_bin`.
fn hist_axis_bin(v: f32, lo: f32, sc: f32, bins: u32) -> u32 {
    let y = (v - lo) * sc;
    if (y >= 0.0 && y < f32(bins)) {
        return min(u32(y), bins - 1u);
    }
    return NO_BIN;
}

// Counts one sample (values along the histogram's axes) in the copy `replica` of the counters:
// workgroups share HIST_REPLICAS copies (workgroup w uses copy w mod HIST_REPLICAS), so no
// counter is hit by every invocation of a large ensemble; the host adds the copies.
fn hist_record(v0: f32, v1: f32, replica: u32) {
    let b0 = hist_axis_bin(v0, val_hist_lo0(), val_hist_sc0(), val_hist_b0());
    var cell = val_hist_cells();
    if (HIST_DIMS == 1u) {
        if (b0 != NO_BIN) {
            cell = b0;
        }
    } else {
        let b1 = hist_axis_bin(v1, val_hist_lo1(), val_hist_sc1(), val_hist_b1());
        if (b0 != NO_BIN && b1 != NO_BIN) {
            cell = b0 * val_hist_b1() + b1;
        }
    }
    atomicAdd(&hist[(replica % val_hist_replicas()) * (val_hist_cells() + 1u) + cell], 1u);
}

// Whether a histogram sample is taken after `done` steps (`HistogramPlan::samples_at`).
fn hist_samples_at(done: u32) -> bool {
    return HIST && done >= 1u && done >= val_hist_from() && done % val_hist_every() == 0u;
}

// The next step count after `step` at which the thread layout stops to observe: a save, a
// histogram sample when samples are sparser than every step, or an occupancy count; capped at
// `end`.
fn next_stop(step: u32, end: u32) -> u32 {
    var stop = min(end, (step / vals.save_every + 1u) * vals.save_every);
    if (HIST && !HIST_EACH_STEP) {
        let d = max(step + 1u, val_hist_from());
        stop = min(stop, ((d + val_hist_every() - 1u) / val_hist_every()) * val_hist_every());
    }
    if (OCC) {
        stop = min(stop, (step / val_occ_every() + 1u) * val_occ_every());
    }
    return stop;
}

// The memory whose first passage is watched during segment `seg` (NO_TARGET: none).
fn fp_memory(seg: u32, traj: u32) -> u32 {
    if (val_fp_memory() == NO_TARGET) {
        return segment_target(seg, traj);
    }
    return val_fp_memory();
}

// Whether abs(m_mem) has reached the first-passage threshold.
fn fp_reached(m: ptr<function, array<f32, PC>>, mem: u32) -> bool {
    return mem != NO_TARGET && abs((*m)[min(mem, PC - 1u)]) >= val_fp_threshold();
}

// Slot of `saves` for the save after `step_done` steps.
fn save_slot(step_done: u32) -> u32 {
    return step_done / vals.save_every - params.slot_base;
}

// Index into `saves`: [slot][quantity][trajectory] (Q quantities: the P overlaps, then the
// energy), so neighbouring invocations store neighbours.
fn save_index(slot: u32, k: u32, t: u32) -> u32 {
    return (slot * vals.q + k) * params.traj_count + t;
}

// One histogram sample of trajectory t in the thread layout (state from the private array or
// from memory, or overlaps).
fn hist_sample_thread(t: u32, xr: ptr<function, array<vec4<f32>, NBR>>, m: ptr<function, array<f32, PC>>) {
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
        hist_record((*m)[min(HIST_A0, PC - 1u)], (*m)[min(HIST_A1, PC - 1u)], t / WG);
    }
}

// The retrieval window sums and the first passage. The window sums of m (after each of the
// segment's last RETR_WINDOW steps: done > win_start) are kept in `racc` while the memory loops
// are unrolled (XS_ARRAY: constant indices, registers), loaded at a dispatch's start and stored
// at its end; beyond, the trajectory's writer (one invocation per trajectory in every layout)
// adds them to `obs` step by step: the same f32 sums in the same order. (A private array of PC
// sums indexed at run time made the P ≤ 256 families' lavapipe builds much longer; adding to
// `obs` every step made a run at N = 2 retrieving over all its steps 0.6× as fast.) The first
// passage is loaded at a dispatch's start and stored at its end. (The modern model's layers
// are separate arrays: naga's SPIR-V writer cannot pass pointers to struct members to
// functions.)
struct Observers {
    racc: array<f32, PC>,
    win_start: u32,
    retr_here: bool,
    seg: u32,
    t: u32,
    writer: bool,
    fp: u32,
    fp_mem: u32,
}

fn observers_load(seg: u32, segment: Segment, t: u32, traj: u32, writer: bool) -> Observers {
    var o: Observers;
    o.win_start = segment.start + segment.steps - val_retr_window();
    o.retr_here = RETR && params.step_begin + params.step_count > o.win_start;
    if (XS_ARRAY && o.retr_here) {
        for (var mu = 0u; mu < PC; mu++) {
            if (mu < vals.p) {
                o.racc[mu] = obs[obs_index(seg, mu, t)];
            }
        }
    }
    o.seg = seg;
    o.t = t;
    o.writer = writer;
    o.fp = NO_STEP;
    o.fp_mem = NO_TARGET;
    if (FP) {
        o.fp = bitcast<u32>(obs[fp_index(t)]);
        o.fp_mem = fp_memory(seg, traj);
    }
    return o;
}

// After `done` steps, with m the new overlaps.
fn observers_step(o: ptr<function, Observers>, m: ptr<function, array<f32, PC>>, done: u32) {
    if (RETR && XS_ARRAY && done > (*o).win_start) {
        for (var mu = 0u; mu < PC; mu++) {
            (*o).racc[mu] = (*o).racc[mu] + (*m)[mu];
        }
    }
    if (RETR && !XS_ARRAY && done > (*o).win_start && (*o).writer) {
        for (var mu = 0u; mu < PC; mu++) {
            if (mu < vals.p) {
                let i = obs_index((*o).seg, mu, (*o).t);
                obs[i] = obs[i] + (*m)[mu];
            }
        }
    }
    if (FP && (*o).fp == NO_STEP && fp_reached(m, (*o).fp_mem)) {
        (*o).fp = done;
    }
}

fn observers_store(o: ptr<function, Observers>, seg: u32, t: u32) {
    if (XS_ARRAY && (*o).retr_here) {
        for (var mu = 0u; mu < PC; mu++) {
            if (mu < vals.p) {
                obs[obs_index(seg, mu, t)] = (*o).racc[mu];
            }
        }
    }
    if (FP) {
        obs[fp_index(t)] = bitcast<f32>((*o).fp);
    }
}

// ---- Basin occupancy (`plan::OccupancyPlan`) ----

// The counted observers at a stop of the thread layout's step loop (`next_stop`), after `done`
// steps: a histogram sample (when samples are sparser than every step; every-step samples are
// taken in the loop itself) and an occupancy count. A counted observer sampled at the stops adds
// its count here, and its stop to `next_stop`.
fn observers_count_thread(t: u32, done: u32, xr: ptr<function, array<vec4<f32>, NBR>>,
                          m: ptr<function, array<f32, PC>>) {
    if (HIST && !HIST_EACH_STEP && hist_samples_at(done)) {
        hist_sample_thread(t, xr, m);
    }
    let orow = occ_row(done);
    if (orow != NO_BIN) {
        occ_record(t, orow, xr);
    }
}

// State coordinates on the histogram's axes in the group layout, double-buffered by step
// parity (the step loop stores them as it updates the blocks that hold them).
var<workgroup> wg_hv: array<f32, 4>;

// The counted observers of the group layout after step `step` (every invocation of the
// workgroup calls it, in uniform control flow): an occupancy count reads every block of the
// state, by invocation 0 once the others' stores are visible and before any overwrites them;
// then a histogram sample.
fn observers_count_group(t: u32, lid: u32, step: u32, m: ptr<function, array<f32, PC>>) {
    let orow = occ_row(step + 1u);
    if (orow != NO_BIN) {
        storageBarrier();
        if (lid == 0u) {
            var none: array<vec4<f32>, NBR>;
            occ_record(t, orow, &none);
        }
        storageBarrier();
    }
    if (lid == 0u && hist_samples_at(step + 1u)) {
        if (HIST_STATE) {
            hist_record(wg_hv[2u * (step % 2u)], wg_hv[2u * (step % 2u) + 1u], t);
        } else {
            hist_record((*m)[min(HIST_A0, PC - 1u)], (*m)[min(HIST_A1, PC - 1u)], t);
        }
    }
}

// Row of occupancy counts after `done` steps, or NO_BIN (`OccupancyPlan::row_at`).
fn occ_row(done: u32) -> u32 {
    if (OCC && done >= 1u && done % val_occ_every() == 0u && done / val_occ_every() <= val_occ_rows()) {
        return done / val_occ_every() - 1u;
    }
    return NO_BIN;
}

// Equilibrium e on neuron block b: its coordinates (N ≤ 4), else amplitude · ξ^μ (exactly
// ± the amplitude, as the host's coordinates). Table `gpu::kernels::occ_table` in seg_coef.
fn occ_centre(e: u32, b: u32) -> vec4<f32> {
    let at = val_occ_table() + 8u * e;
    if (NB_UNROLL && N <= 4u) {
        return vec4<f32>(seg_coef[at + 2u], seg_coef[at + 3u], seg_coef[at + 4u], seg_coef[at + 5u]);
    }
    return seg_coef[at + 1u] * xi_block(b, min(u32(seg_coef[at]), vals.p - 1u));
}

// Counts trajectory t's state (the private array with X_IN_REGS, else the state buffer) in row
// `row`: the equilibrium of smallest score within the radius, the lower index on a tie, else
// outside (`OccupancyPlan::score` and `OccupancyPlan::slot`: the same f32 operations in the
// same order).
fn occ_record(t: u32, row: u32, xr: ptr<function, array<vec4<f32>, NBR>>) {
    var best = val_occ_e();
    var best_s = 0.0;
    for (var e = 0u; e < val_occ_e(); e++) {
        var s = 0.0;
        for (var b = 0u; b < nb_loop(); b++) {
            var x: vec4<f32>;
            if (X_IN_REGS) {
                x = (*xr)[min(b, NBR - 1u)];
            } else {
                x = state[state_index(t, b)];
            }
            let d = mask_padding(x - occ_centre(e, b), b);
            if (OCC_MAX) {
                let a = abs(d);
                s = select(s, a.x, a.x > s);
                s = select(s, a.y, a.y > s);
                s = select(s, a.z, a.z > s);
                s = select(s, a.w, a.w > s);
            } else {
                let w = d * d;
                s = s + (((w.x + w.y) + w.z) + w.w);
            }
        }
        if (s <= val_occ_threshold() && (best == val_occ_e() || s < best_s)) {
            best = e;
            best_s = s;
        }
    }
    atomicAdd(&hist[val_occ_hist_base() + row * (val_occ_e() + 1u) + best], 1u);
}
