// Block partial sums of the saved quantities, one invocation per (slot, block, memory), summing
// the block's trajectories in order: the same sums as `observe::block_partials`.

@compute @workgroup_size(64)
fn reduce_saves(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let idx = gid.x + gid.y * groups.x * 64u;
    let total = params.slot_count * params.block_count * vals.q;
    if (idx >= total) {
        return;
    }
    let mu = idx % vals.q;
    let blk = (idx / vals.q) % params.block_count;
    let slot = idx / (vals.q * params.block_count);
    let lo = blk * BLOCK;
    let hi = min(lo + BLOCK, params.traj_count);
    // Sums of deviations from the block's first value c (accurate squares for quantities with a
    // large mean), Σ|m|, and c.
    let c = saves[save_index(slot, mu, lo)];
    var s1 = 0.0;
    var s2 = 0.0;
    var sa = 0.0;
    for (var t = lo; t < hi; t++) {
        let m = saves[save_index(slot, mu, t)];
        let d = m - c;
        s1 = s1 + d;
        s2 = s2 + d * d;
        sa = sa + abs(m);
    }
    partials[idx * 4u] = s1;
    partials[idx * 4u + 1u] = s2;
    partials[idx * 4u + 2u] = sa;
    partials[idx * 4u + 3u] = c;
}
