//! Runs beyond a device's limits are cut to fit: with lavapipe's storage bindings, buffers and
//! workgroups per dispatch dimension lowered, every output has the same bytes as with the full
//! limits (chunks, save slots per submit and the reduction's dispatch shape change; nothing
//! else may).

mod common;

use common::{everything, plan, run};
use idpsim::engine;
use idpsim::gpu::GpuBackend;
use idpsim::gpu::context::GpuContext;
use idpsim::outputs::ArrayData;

#[test]
fn small_device_limits_give_the_same_bytes() {
    let Some(mut full) = common::gpu() else { return };
    let small = GpuContext::with_limits(None, |l| {
        l.max_storage_buffer_binding_size = 96 << 10;
        l.max_buffer_size = 512 << 10;
        l.max_compute_workgroups_per_dimension = 4;
    })
    .unwrap();
    assert_eq!(small.limits.max_compute_workgroups_per_dimension, 4, "the device took the lowered limits");
    let mut small = GpuBackend::from_context(small);
    let mut spec = everything();
    spec["ensemble"]["trajectories"] = serde_json::json!(1000);
    // Four workgroups: one block of 64 trajectories per dispatch of lavapipe's step kernel
    // (workgroups of 16). A save every step: many save slots per submit, so the reduction needs
    // more than four workgroups and spreads over y.
    spec["observe"]["overlaps"]["every"] = serde_json::json!(0.01);
    let p = plan(spec);
    let (c_full, c_small) = (engine::chunks(&p, &full), engine::chunks(&p, &small));
    assert_eq!(c_full.len(), 1);
    assert!(c_small.len() >= 5, "{} chunks with 4 workgroups per dimension", c_small.len());
    let (a, b) = (run(&p, &mut full), run(&p, &mut small));
    assert_eq!(a.files, b.files);
    assert!(a.arrays.len() >= 10);
    for ((name, x), (_, y)) in a.arrays.iter().zip(&b.arrays) {
        // Bitwise (first passages that never happen are NaN).
        let bits = |d: &ArrayData| match d {
            ArrayData::F32(v) => v.iter().map(|x| x.to_bits() as u64).collect(),
            ArrayData::F64(v) => v.iter().map(|x| x.to_bits()).collect(),
            other => format!("{other:?}").bytes().map(u64::from).collect::<Vec<u64>>(),
        };
        assert!(x.shape == y.shape && bits(&x.data) == bits(&y.data), "{name} differs under small limits");
    }
    for ((name, x), (_, y)) in a.docs.iter().zip(&b.docs) {
        assert_eq!(x, y, "{name}");
    }
}

/// Loads beyond the fully unrolled memory loops (P > 128: tiled loops that count against the
/// driver's loop budget): the kernels agree with the CPU reference on `layout` after 20 steps,
/// with dispatches as long as the loop budget allows (a loop cut short by the driver's guard
/// would leave the state far off). One test per layout, so that their kernels build side by
/// side; the kernels are those of tests/parity.rs's sweep over P beyond 128
/// ([`common::classic_cue_spec`]): one family that the drivers' shader cache builds once.
fn many_memories_match_the_cpu_reference(layout: idpsim::plan::LayoutChoice) {
    let Some(mut g) = common::gpu() else { return };
    let (n, p) = (9usize, 150usize);
    let mut pl = common::plan(serde_json::json!({
        "model": { "kind": "classic", "activation": { "kind": "tanh", "slope": 3.0 }, "zero_diagonal": true },
        "memories": { "kind": "random", "n": n, "p": p, "seed": 2 },
        "input": { "segments": [ { "duration": 0.2, "cue": { "index": 5, "amplitude": 0.5, "flip": 0.1 } } ] },
        "noise": { "sigma": 0.3 },
        "ensemble": { "trajectories": 9, "seed": 4, "initial": { "kind": "memory", "index": 5, "flip": 0.2 } },
        "observe": { "overlaps": { "every": 0.1, "per_trajectory": true }, "final_state": true,
                     "energy": { "per_trajectory": true }, "retrieval": { "threshold": 0.9 } }
    }));
    use idpsim::gpu::kernels::Layout;
    let kl = match layout {
        idpsim::plan::LayoutChoice::Group => Layout::Group,
        idpsim::plan::LayoutChoice::Tile => Layout::Tile,
        _ => Layout::Thread,
    };
    let family = |p: &idpsim::plan::Plan| idpsim::gpu::kernels::KernelConsts::from_plan(p, kl).family();
    assert_eq!(family(&pl), family(&common::plan(common::classic_cue_spec(n, 130))), "the family of tests/parity.rs");
    let cpu = common::run(&pl, &mut idpsim::cpu::CpuBackend::new());
    pl.run.layout = layout;
    pl.run.steps_per_dispatch = Some(u32::MAX);
    let out = common::run(&pl, &mut g);
    for name in ["final_state", "overlaps"] {
        let (a, b) = (out.f32(name).unwrap(), cpu.f32(name).unwrap());
        common::assert_close(&format!("P = {p}, {layout:?}: {name}"), &a, &b, 2e-4, 2e-4);
    }
    // Energies are sums over N neurons: the same per-term tolerance, scaled by N.
    let (a, b) = (out.f32("energy").unwrap(), cpu.f32("energy").unwrap());
    common::assert_close(&format!("P = {p}, {layout:?}: energy"), &a, &b, 2e-4 * n as f32, 2e-4);
}

#[test]
fn many_memories_match_the_cpu_reference_thread_layout() {
    many_memories_match_the_cpu_reference(idpsim::plan::LayoutChoice::Thread);
}

#[test]
fn many_memories_match_the_cpu_reference_group_layout() {
    many_memories_match_the_cpu_reference(idpsim::plan::LayoutChoice::Group);
}

/// The tile layout: 9 trajectories in tiles of 7 (the second one partial).
#[test]
fn many_memories_match_the_cpu_reference_tile_layout() {
    assert_eq!(idpsim::gpu::kernels::tile_trajectories(256), 7);
    many_memories_match_the_cpu_reference(idpsim::plan::LayoutChoice::Tile);
}

/// Case (e)'s sizes (IDP, N = 1000, P = 250) in the thread layout, where a CPU device's step
/// takes the memories tile by tile (`gpu::kernels::memory_major`, which also keeps Ψ(x) in the
/// state buffer without a zeroed diagonal) and a dispatch holds about ten steps under the loop
/// budget: 30 steps in dispatches as long as the budget allows agree with the CPU reference (a
/// loop cut short by the driver's guard would leave the state far off).
#[test]
fn case_e_sizes_in_dispatches_at_the_loop_budget_match_the_cpu_reference() {
    use idpsim::gpu::{kernels, schedule};
    let Some(mut g) = common::gpu() else { return };
    let mut pl = common::plan(common::idp_spec(1000, 250, 9, 30, 0.2));
    pl.run.layout = idpsim::plan::LayoutChoice::Thread;
    pl.run.steps_per_dispatch = Some(u32::MAX);
    for major in [false, true] {
        let k = schedule::max_steps_per_dispatch(&pl, kernels::Layout::Thread, major);
        assert!(
            (4..30).contains(&k),
            "memory-major {major}: {k} steps per dispatch; the test needs several dispatches"
        );
    }
    assert!(
        kernels::memory_major(kernels::Layout::Thread, kernels::p_capacity(250), true),
        "a CPU device takes the memories by tiles"
    );
    let cpu = common::run(&pl, &mut idpsim::cpu::CpuBackend::new());
    let out = common::run(&pl, &mut g);
    for name in ["final_state", "overlaps"] {
        let (a, b) = (out.f32(name).unwrap(), cpu.f32(name).unwrap());
        common::assert_close(&format!("N = 1000, P = 250: {name}"), &a, &b, 2e-4, 2e-4);
    }
    let (a, b) = (out.f32("energy").unwrap(), cpu.f32("energy").unwrap());
    common::assert_close("N = 1000, P = 250: energy", &a, &b, 2e-4 * 1000.0, 2e-4);
}

/// A plan whose initial-state kernel would pass llvmpipe's loop guard (N = 24 000 with P = 200:
/// every neuron block's tiled overlap sums in one invocation) is refused before any work, naming
/// the limit, instead of starting from a cut-short initial state; the CPU reference runs it.
#[test]
fn an_initial_state_beyond_the_loop_budget_is_refused() {
    let Some(mut g) = common::gpu() else { return };
    let p = 200usize;
    let pl = common::plan(serde_json::json!({
        "model": { "kind": "classic", "activation": { "kind": "tanh", "slope": 2.0 } },
        "memories": { "kind": "random", "n": 24000, "p": p, "seed": 1 },
        "input": { "segments": [ { "duration": 0.02, "weights": vec![0.0; p] } ] },
        "ensemble": { "trajectories": 2, "seed": 3, "initial": { "kind": "memory", "index": 5 } },
        "observe": { "overlaps": { "every": 0.01 } }
    }));
    let e = engine::run_in_memory(&pl, &mut g).err().expect("refused");
    assert!(format!("{e:#}").contains("initial-state kernel"), "{e:#}");
    let cpu = run(&pl, &mut idpsim::cpu::CpuBackend::new());
    let m0 = cpu.f32("overlaps_mean").unwrap()[5];
    assert!((m0 - 2f32.tanh()).abs() < 1e-4, "m_5(0) = {m0}");
}
