// A check kernel, not used by runs: Philox blocks and normals for counters
// [i, word1, word2, stream], i = 0..count, so tests can compare them with `src/rng.rs`.
// Assembled after a `mulhi` definition and rng.wgsl (see `src/gpu/rng_check.rs`).

struct CheckParams {
    key_lo: u32,
    key_hi: u32,
    word1: u32,
    word2: u32,
    stream: u32,
    count: u32,
    _pad0: u32,
    _pad1: u32,
}

@group(0) @binding(0) var<uniform> check: CheckParams;
@group(0) @binding(1) var<storage, read_write> out_bits: array<vec4<u32>>;
@group(0) @binding(2) var<storage, read_write> out_normals: array<vec4<f32>>;

@compute @workgroup_size(64)
fn philox_check(@builtin(global_invocation_id) gid: vec3<u32>) {
    let i = gid.x + gid.y * 65535u * 64u;
    if (i >= check.count) {
        return;
    }
    let ctr = vec4<u32>(i, check.word1, check.word2, check.stream);
    let key = vec2<u32>(check.key_lo, check.key_hi);
    out_bits[i] = philox4x32_10(ctr, key);
    out_normals[i] = normals4(ctr, key);
}
