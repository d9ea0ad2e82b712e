// Block partial sums of the saved overlaps, one invocation per (slot, block, memory), summing
// the block's trajectories in order: the same sums as `observe::block_partials`.

@compute @workgroup_size(64)
fn reduce_saves(@builtin(global_invocation_id) gid: vec3<u32>) {
    let idx = gid.x + gid.y * 65535u * 64u;
    let total = params.slot_count * params.block_count * Q;
    if (idx >= total) {
        return;
    }
    let mu = idx % Q;
    let blk = (idx / Q) % params.block_count;
    let slot = idx / (Q * params.block_count);
    let lo = blk * BLOCK;
    let hi = min(lo + BLOCK, params.traj_count);
    var s1 = 0.0;
    var s2 = 0.0;
    var sa = 0.0;
    for (var t = lo; t < hi; t++) {
        let m = saves[save_index(slot, mu, t)];
        s1 = s1 + m;
        s2 = s2 + m * m;
        sa = sa + abs(m);
    }
    partials[idx * 3u] = s1;
    partials[idx * 3u + 1u] = s2;
    partials[idx * 3u + 2u] = sa;
}
