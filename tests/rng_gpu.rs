//! Layer 1 on the GPU: the WGSL Philox is bit-identical to the Rust one over ≥ 10⁶ values, with
//! the split and (where the device has it) the native 64-bit product; normals agree to rounding.

mod common;

use idpsim::gpu::rng_check::philox_on_gpu;
use idpsim::rng::{self, stream};

/// Normals are the same f32 expressions on both sides (the ln series, √, the octant
/// polynomials), but a GPU may round √ differently or fuse a multiply and an add: a few f32
/// ulps of the result (4.8e-7 measured on lavapipe), so 2e-6 absolute + 2e-6 relative.
const NORMAL_TOL: f32 = 2e-6;

#[test]
fn gpu_philox_matches_cpu_bit_for_bit() {
    let Some(g) = common::gpu() else { return };
    let key = rng::key_from_seed(0x0123_4567_89ab_cdef);
    let count = 262_144u32; // × 4 words = 1 048 576 values per variant
    let int64 = g.ctx.device.features().contains(wgpu::Features::SHADER_INT64);
    for native in [false, true] {
        if native && !int64 {
            eprintln!("device has no shader int64: native-product variant not checked");
            continue;
        }
        let (bits, normals) = philox_on_gpu(&g.ctx, key, 77, 5, stream::DYNAMICS, count, native).unwrap();
        let mut worst = 0f32;
        for i in 0..count as usize {
            let ctr = [i as u32, 77, 5, stream::DYNAMICS];
            assert_eq!(bits[i], rng::philox4x32_10(ctr, key), "block {i} (native int64 = {native})");
            let z = rng::normals4(ctr, key);
            for l in 0..4 {
                let d = (normals[i][l] - z[l]).abs();
                worst = worst.max(d);
                assert!(
                    d <= NORMAL_TOL * (1.0 + z[l].abs()),
                    "normal {i}.{l}: gpu {} cpu {} difference {d}",
                    normals[i][l],
                    z[l]
                );
            }
        }
        eprintln!("native int64 = {native}: {} words identical; largest normal difference {worst}", 4 * count);
    }
}

#[test]
fn known_answer_vectors_on_the_gpu() {
    let Some(g) = common::gpu() else { return };
    // Random123's vector with key (0, 0) and counter (0, 0, 0, 0) is block 0 of that stream.
    let (bits, _) = philox_on_gpu(&g.ctx, [0, 0], 0, 0, 0, 1, false).unwrap();
    assert_eq!(bits[0], [0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8]);
}
