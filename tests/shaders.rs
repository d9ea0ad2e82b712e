//! Layer 1 (no GPU needed): every shader parses and validates with naga for every
//! specialisation the engine can produce, and translates to SPIR-V, MSL and HLSL; the WGSL
//! structs match their Rust mirrors.

mod common;

use idpsim::gpu::kernels::{self, KernelConsts, Layout, XiFormat};
use idpsim::gpu::layout::{Params, Segment, Values};
use idpsim::gpu::rng_check::{self, CheckParams};
use wgpu::naga;

/// Kernel constants of an IDP plan with N neurons and P memories, as the engine makes them
/// (thread layout, bit-packed memories in a uniform buffer, three segments, saves every 10
/// steps); each test changes what it varies.
fn consts(n: u32, p: u32) -> KernelConsts {
    common::kernel_consts(n as usize, p as usize)
}

/// The modern model's layers: dynamic or instantaneous, each Ψ_y.
fn modern(k: usize) -> Option<idpsim::plan::ModernPlan> {
    use idpsim::plan::{ModernPlan, PsiY};
    let psi_y = [PsiY::Identity, PsiY::Tanh, PsiY::Softmax { beta: 4.0 }][k % 3];
    let dynamic = k.is_multiple_of(2);
    Some(ModernPlan {
        tau_alpha: if dynamic { 0.5 } else { 0.0 },
        tau_y: if dynamic { 0.2 } else { 0.0 },
        tau_x: 1.0,
        psi_alpha_tanh: dynamic,
        psi_y,
        identity_x: false,
        sigma_alpha: 0.1,
        sigma_y: 0.1,
        rate_alpha: if dynamic { 0.02 } else { 0.0 },
        rate_y: if dynamic { 0.05 } else { 0.0 },
        rate_x: 0.01,
        noise_alpha: 0.01,
        noise_y: 0.01,
    })
}

fn hist(of_state: bool, dims: usize) -> idpsim::plan::HistogramPlan {
    idpsim::plan::HistogramPlan {
        of_state,
        dims,
        axes: [0, if dims == 2 { 1 } else { 0 }],
        bins: [50, if dims == 2 { 40 } else { 1 }],
        lo: [-4.0, -3.0],
        scale: [6.25, 5.0],
        range: [[-4.0, 4.0], [-3.0, 5.0]],
        from_steps: 10,
        every_steps: 5,
    }
}

/// Translates a specialised module for every GPU family wgpu serves: SPIR-V (Vulkan), MSL
/// (Metal) and HLSL (DX12), as wgpu would on each platform; any error fails.
fn translate(k: &KernelConsts, module: &naga::Module, info: &naga::valid::ModuleInfo) {
    let spv = naga::back::spv::Options { lang_version: (1, 3), ..Default::default() };
    if let Err(e) = naga::back::spv::write_vec(module, info, &spv, None) {
        panic!("SPIR-V translation of {k:?} fails: {e}");
    }
    let msl = naga::back::msl::Options { lang_version: (2, 4), ..Default::default() };
    if let Err(e) = naga::back::msl::write_string(module, info, &msl, &Default::default()) {
        panic!("MSL translation of {k:?} fails: {e}");
    }
    let hlsl = naga::back::hlsl::Options { shader_model: naga::back::hlsl::ShaderModel::V6_0, ..Default::default() };
    let pipeline = naga::back::hlsl::PipelineOptions::default();
    let mut out = String::new();
    if let Err(e) = naga::back::hlsl::Writer::new(&mut out, &hlsl, &pipeline).write(module, info, None) {
        panic!("HLSL translation of {k:?} fails: {e}");
    }
}

/// Calls `check` on every item, spread over the machine's cores (each item is independent: one
/// kernel specialisation to validate and translate); a panic in any of them fails the test.
fn on_all_cores<T: Sync>(items: &[T], check: impl Fn(&T) + Sync) {
    let next = std::sync::atomic::AtomicUsize::new(0);
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| {
                while let Some(item) = items.get(next.fetch_add(1, std::sync::atomic::Ordering::Relaxed)) {
                    check(item);
                }
            });
        }
    });
}

/// Every kernel specialisation validates and translates to SPIR-V, MSL and HLSL (no GPU
/// needed: Metal and DX12 users get the kernels Vulkan users get).
#[test]
fn every_specialisation_validates() {
    let (mut count, mut all) = (0, Vec::new());
    // P = 20, 33 and 100 run padded (capacities 32, 64 and 128).
    for (n, p) in [(1, 1), (2, 2), (3, 5), (64, 10), (7, 20), (65, 33), (1000, 64), (50, 100), (4096, 128)] {
        for idp in [true, false] {
            for layout in [Layout::Thread, Layout::Group, Layout::Tile] {
                for (zero_diag, has_vector, int64) in [(false, false, false), (true, true, true), (true, false, true)] {
                    // The tile layout reads the memories as the thread layout does: one storage
                    // format for it suffices.
                    let formats: &[XiFormat] = if layout == Layout::Tile {
                        &[XiFormat::BitsStorage]
                    } else {
                        &[XiFormat::BitsUniform, XiFormat::BitsStorage]
                    };
                    for &xi_format in formats {
                        for (init_kind, h) in [(0, None), (1, Some(hist(true, 2))), (2, Some(hist(false, 1)))] {
                            let k = KernelConsts {
                                idp,
                                layout,
                                zero_diag,
                                has_vector,
                                int64,
                                xi_format,
                                init_kind,
                                hist: h.clone(),
                                energy: zero_diag,
                                // Random weights, retrieval and first passage (to a target or a
                                // fixed memory) with the two non-default initial kinds.
                                random_weights: init_kind > 0,
                                retr_window: (init_kind == 1).then_some(5),
                                first_passage: match init_kind {
                                    1 => Some((u32::MAX, 0.9)),
                                    2 => Some((0, 0.5)),
                                    _ => None,
                                },
                                // The modern model (IDP input path) in every Ψ_y variant.
                                modern: if idp && init_kind > 0 { modern(count) } else { None },
                                act_identity: idp && init_kind == 2,
                                two_point: zero_diag && !has_vector,
                                noise: init_kind != 1,
                                // A flipped cue of the trajectory's target.
                                init_flip: if init_kind == 2 { 0.1 } else { 0.0 },
                                init_index: if init_kind == 2 && zero_diag { u32::MAX } else { 0 },
                                ..consts(n, p)
                            };
                            all.push(k);
                            count += 1;
                        }
                    }
                }
            }
        }
    }
    assert!(count > 100);
    // One parse per distinct source (the sizes, layout and storage; the switches are overrides):
    // 135 sources for the 810 specialisations.
    let mut sources: Vec<(String, Vec<&KernelConsts>)> = Vec::new();
    for k in &all {
        let src = kernels::assemble(k);
        match sources.iter_mut().find(|s| s.0 == src) {
            Some(s) => s.1.push(k),
            None => sources.push((src, vec![k])),
        }
    }
    assert_eq!((sources.len(), all.len()), (135, 810));
    on_all_cores(&sources, |(src, ks)| {
        let (module, info) = match kernels::parse_and_validate(src) {
            Ok(m) => m,
            Err(e) => panic!("kernels for {:?} do not validate:\n{e}", ks[0]),
        };
        for k in ks {
            match kernels::specialise(src, &module, &info, &kernels::overrides(k)) {
                Ok((module, info)) => translate(k, &module, &info),
                Err(e) => panic!("kernels for {k:?} do not validate:\n{e}"),
            }
        }
    });
}

/// Tiled memory loops (P > 128) validate and translate to SPIR-V, MSL and HLSL, with the
/// input paths that loop over memories (random weights, cue and input noise sums, retrieval).
#[test]
fn large_p_specialisations_translate() {
    for (n, p) in [(61, 150), (2048, 512)] {
        for idp in [true, false] {
            for layout in [Layout::Thread, Layout::Group, Layout::Tile] {
                let k = KernelConsts {
                    idp,
                    layout,
                    zero_diag: true,
                    has_vector: !idp,
                    random_weights: true,
                    retr_window: Some(5),
                    first_passage: Some((u32::MAX, 0.9)),
                    energy: true,
                    init_kind: 2,
                    init_flip: 0.1,
                    ..consts(n, p)
                };
                let src = kernels::assemble(&k);
                assert!(src.contains("mu_tile < vals.p_tiles"), "P = {p}: no tiled memory loop with a run-time bound");
                match kernels::validate_with_info(&src, &kernels::overrides(&k)) {
                    Ok((module, info)) => translate(&k, &module, &info),
                    Err(e) => panic!("kernels for N = {n}, P = {p} do not validate:\n{e}"),
                }
            }
        }
    }
}

#[test]
fn rng_check_kernel_validates() {
    for int64 in [false, true] {
        if let Err(e) = kernels::validate(&rng_check::source(int64)) {
            panic!("rng_check.wgsl (int64 = {int64}) does not validate:\n{e}");
        }
    }
}

#[test]
fn every_shader_file_is_in_a_table() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("shaders");
    let listed: Vec<&str> = kernels::SHADERS.iter().chain(kernels::CHECK_SHADERS).map(|s| s.0).collect();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let name = entry.unwrap().file_name().to_string_lossy().to_string();
        if name.ends_with(".wgsl") {
            assert!(listed.contains(&name.as_str()), "shaders/{name} is not in kernels::SHADERS or CHECK_SHADERS");
        }
    }
}

/// Member names and byte offsets of a WGSL struct, from naga's layouter.
fn wgsl_layout(module: &naga::Module, name: &str) -> (Vec<(String, u32)>, u32) {
    for (_, ty) in module.types.iter() {
        if ty.name.as_deref() == Some(name)
            && let naga::TypeInner::Struct { members, span } = &ty.inner
        {
            return (members.iter().map(|m| (m.name.clone().unwrap_or_default(), m.offset)).collect(), *span);
        }
    }
    panic!("struct {name} not found in WGSL");
}

macro_rules! rust_layout {
    ($ty:ty, $($field:ident),*) => {
        vec![$((stringify!($field).to_string(), std::mem::offset_of!($ty, $field) as u32)),*]
    };
}

#[test]
fn wgsl_structs_match_rust() {
    let module = kernels::validate(&kernels::assemble(&consts(8, 3))).unwrap();
    let (params, size) = wgsl_layout(&module, "Params");
    let want = rust_layout!(
        Params,
        key_lo,
        key_hi,
        traj_first,
        traj_count,
        step_begin,
        step_count,
        segment,
        slot_base,
        slot_count,
        block_count,
        neuron_blocks,
        noise_scale
    );
    assert_eq!(params, want);
    assert_eq!(size as usize, std::mem::size_of::<Params>());
    let (seg, size) = wgsl_layout(&module, "Segment");
    assert_eq!(
        seg,
        rust_layout!(
            Segment, start, steps, ramp, pulse, noise, random, dominant, prev_on, cue_amp, cue_flip, cue_draw, pad
        )
    );
    assert_eq!(size as usize, std::mem::size_of::<Segment>());
    let (values, size) = wgsl_layout(&module, "Values");
    assert_eq!(
        values,
        rust_layout!(
            Values,
            p,
            q,
            q_y,
            pb,
            nbs,
            p_tiles,
            save_every,
            segments,
            gram_base,
            rw_base,
            init_index,
            init_std,
            init_amplitude,
            init_jitter,
            init_flip,
            slope,
            dt_x,
            n,
            inv_n,
            pad,
            model,
            observers
        )
    );
    assert_eq!(size as usize, std::mem::size_of::<Values>());
    let check = kernels::validate(&rng_check::source(false)).unwrap();
    let (cp, size) = wgsl_layout(&check, "CheckParams");
    assert_eq!(cp, rust_layout!(CheckParams, key_lo, key_hi, word1, word2, stream, count, _pad0, _pad1));
    assert_eq!(size as usize, std::mem::size_of::<CheckParams>());
}

/// The values kept in slots of `Values` (the model's, the observers') fit their slots, have one
/// name each, keep their bits in the slot of their place in the list, and the header's accessor
/// of each reads that slot with its type.
#[test]
fn slot_values_fit_and_reach_their_accessors() {
    use idpsim::gpu::kernels::Scalar;
    use idpsim::gpu::layout::{MODEL_SLOTS, OBSERVER_SLOTS};
    let mut k = consts(64, 4);
    k.modern = modern(2);
    k.hist = Some(hist(true, 2));
    k.retr_window = Some(7);
    k.first_passage = Some((3, 0.75));
    let v = kernels::values(&k);
    let header = kernels::header(&k);
    let lists = [
        ("model", kernels::model_values(&k), v.model.as_flattened().to_vec(), MODEL_SLOTS),
        ("observers", kernels::observer_values(&k), v.observers.as_flattened().to_vec(), OBSERVER_SLOTS),
    ];
    for (member, list, words, capacity) in lists {
        assert!(list.len() <= capacity, "{member}: {} values for {capacity} slots", list.len());
        let names: std::collections::BTreeSet<_> = list.iter().map(|(n, _)| *n).collect();
        assert_eq!(names.len(), list.len(), "{member}: a name is used twice");
        for (i, (name, value)) in list.iter().enumerate() {
            let (bits, ty) = match *value {
                Scalar::U32(u) => (u, "u32"),
                Scalar::F32(f) => (f.to_bits(), "f32"),
                Scalar::Bool(b) => (b as u32, "bool"),
            };
            assert_eq!(words[i], bits, "{member}: {name}");
            let word = format!("vals.{member}[{}u].{}", i / 4, ["x", "y", "z", "w"][i % 4]);
            let accessor = format!("fn val_{name}() -> {ty} {{");
            let at = header.find(&accessor).unwrap_or_else(|| panic!("no accessor {accessor}"));
            assert!(header[at..].lines().nth(1).unwrap().contains(&word), "{accessor} does not read {word}");
        }
        // Only the accessors read the slots: the assembled module (header and every WGSL file)
        // reads `vals.MEMBER[…]` once per value, inside its accessor.
        let module = kernels::assemble(&k);
        let reads = module.matches(&format!("vals.{member}[")).count();
        assert_eq!(reads, list.len(), "{member}: {reads} reads of its slots for {} accessors", list.len());
    }
    assert_eq!(kernels::observer_values(&k).iter().find(|(n, _)| *n == "fp_threshold").unwrap().1, Scalar::F32(0.75));
}

#[test]
fn header_literals_round_trip_exactly() {
    // Every f32 constant reaches WGSL as the identical value, and every f32 parameter reaches
    // the run-time values unchanged.
    let k = KernelConsts { dt_x: 0.1, slope: 10.0, init_std: 0.3, ..consts(7, 2) };
    let module = kernels::validate_with(&kernels::assemble(&k), &kernels::overrides(&k)).unwrap();
    let v = kernels::values(&k);
    for (got, want) in [(v.dt_x, k.dt_x), (v.slope, k.slope), (v.init_std, k.init_std)] {
        assert_eq!(got.to_bits(), want.to_bits());
    }
    let mut found = 0;
    for (_, c) in module.constants.iter() {
        let want = match c.name.as_deref() {
            Some("ACT_CLAMP") => idpsim::spec::model::ACT_CLAMP,
            Some("INV_N") => 1.0 / 7.0f32,
            _ => continue,
        };
        let got = match module.global_expressions[c.init] {
            naga::Expression::Literal(naga::Literal::F32(v)) => v,
            ref other => panic!("{:?} is {other:?}", c.name),
        };
        assert_eq!(got.to_bits(), want.to_bits(), "{:?}", c.name);
        found += 1;
    }
    assert_eq!(found, 2);
}

/// Plans that differ only in P within one capacity and in parameter values (slope, dt, the
/// initial state, saves, observers' windows and thresholds, histogram ranges, the occupancy's
/// interval, rows, equilibria and radius, the modern layers' rates) give the same module source and the same pipeline constants, so one build
/// serves them; only their run-time values differ. A different capacity, model or observer set
/// is another family.
#[test]
fn plans_of_one_family_share_their_module() {
    let h = |lo: f32, every: u32| idpsim::plan::HistogramPlan {
        lo: [lo, -1.0],
        scale: [2.0 / (1.0 - lo), 3.0],
        range: [[lo as f64, 1.0], [-1.0, 1.0]],
        bins: [20, 10],
        every_steps: every,
        from_steps: 3,
        ..hist(false, 2)
    };
    let occ = |every: u32, rows: u32, equilibria: u32, threshold: f32, table: u32, hist_base: u32| {
        Some(kernels::OccConsts { every, rows, equilibria, max: false, threshold, table, hist_base })
    };
    let a = KernelConsts {
        first_passage: Some((u32::MAX, 0.9)),
        retr_window: Some(5),
        hist: Some(h(-1.0, 2)),
        modern: modern(0),
        occupancy: occ(10, 4, 200, 0.25, 500, 600),
        ..consts(1000, 100)
    };
    let mut m = modern(0).unwrap();
    m.rate_alpha *= 2.0;
    m.noise_y = 0.3;
    let b = KernelConsts {
        slope: 3.5,
        dt_x: 0.02,
        save_every: 7,
        init_std: 0.25,
        init_flip: 0.2,
        first_passage: Some((3, 0.5)),
        retr_window: Some(40),
        hist: Some(h(-0.5, 5)),
        modern: Some(m),
        occupancy: occ(3, 9, 240, 1.5, 700, 900),
        ..consts(1000, 120)
    };
    assert_ne!(a, b);
    assert_eq!(a.family(), b.family());
    assert_eq!(kernels::assemble(&a), kernels::assemble(&b));
    assert_eq!(kernels::overrides(&a), kernels::overrides(&b));
    assert_ne!(kernels::values(&a), kernels::values(&b));
    assert_eq!((kernels::values(&a).p, kernels::values(&b).p), (100, 120));
    // Past 128 memories one capacity (256) covers every P up to 256.
    let (c, d) = (consts(1000, 130), consts(1000, 250));
    assert_eq!(kernels::assemble(&c), kernels::assemble(&d));
    // Other families.
    let other = |k: &KernelConsts| {
        kernels::assemble(k) != kernels::assemble(&a) || kernels::overrides(k) != kernels::overrides(&a)
    };
    assert!(other(&KernelConsts { p: 150, ..a.clone() }), "another capacity");
    assert!(other(&KernelConsts { p: 10, ..a.clone() }), "P ≤ 16 is compiled exactly");
    assert!(other(&KernelConsts { modern: None, ..a.clone() }), "another model");
    assert!(other(&KernelConsts { first_passage: None, ..a.clone() }), "another observer set");
    assert!(other(&KernelConsts { hist: Some(h(-1.0, 1)), ..a.clone() }), "histogram sampled in the step loop");
    assert!(other(&KernelConsts { two_point: true, ..a.clone() }), "other noise");
    assert!(other(&KernelConsts { occupancy: None, ..a.clone() }), "no occupancy");
    let max = a.occupancy.map(|o| kernels::OccConsts { max: true, ..o });
    assert!(other(&KernelConsts { occupancy: max, ..a.clone() }), "another occupancy norm");
    // N: one size class per power of two of its neuron blocks beyond 16 of them (N > 64).
    for n in [516, 640, 800, 1020, 1024] {
        assert!(kernels::assemble(&KernelConsts { n, ..a.clone() }) == kernels::assemble(&a), "N = {n}");
        assert_eq!(kernels::overrides(&KernelConsts { n, ..a.clone() }), kernels::overrides(&a), "N = {n}");
    }
    assert_eq!(kernels::values(&KernelConsts { n: 640, ..a.clone() }).n, 640);
    assert!(other(&KernelConsts { n: 999, ..a.clone() }), "padding lanes in the last block");
    assert!(other(&KernelConsts { n: 512, ..a.clone() }), "another size class");
    assert!(other(&KernelConsts { n: 1028, ..a.clone() }), "another size class");
    let small = consts(40, 100);
    assert!(
        kernels::assemble(&KernelConsts { n: 44, ..small.clone() }) != kernels::assemble(&small),
        "N ≤ 64 is compiled exactly"
    );
}

/// The size classes of N: exact up to 64 neurons, then a power of two of neuron blocks (less
/// one neuron when N is not a multiple of 4); every N fits its class, and a class makes the same
/// layout choices as each of its N.
#[test]
fn size_classes_of_n() {
    use idpsim::gpu::kernels::{UNROLL_BLOCKS, n_class};
    let base = consts(100, 100);
    for n in 1..=20_000u32 {
        let c = n_class(n);
        let (nb, cb) = (n.div_ceil(4), c.div_ceil(4));
        assert!(cb >= nb && n_class(c) == c, "N = {n}: class {c}");
        assert_eq!(c.is_multiple_of(4), n.is_multiple_of(4), "N = {n}");
        if nb <= UNROLL_BLOCKS {
            assert_eq!(c, n);
        } else {
            assert!(cb.is_power_of_two() && cb < 2 * nb, "N = {n}: class {c}");
        }
        assert_eq!(idpsim::rng::two_point_layout(nb as usize), idpsim::rng::two_point_layout(cb as usize), "N = {n}");
        for (cpu, layout, two_point, pc) in (0..24).map(|i| {
            (i & 1 == 1, [Layout::Thread, Layout::Group, Layout::Tile][(i >> 1) % 3], i & 8 == 8, [100, 256][i / 12])
        }) {
            let k = |n: u32| KernelConsts { n, p: pc, layout, cpu_device: cpu, two_point, ..base.clone() };
            assert_eq!(kernels::x_in_regs(&k(n)), kernels::x_in_regs(&k(c)), "N = {n}");
            assert_eq!(
                kernels::psi_cache(layout, n, pc, true, cpu),
                kernels::psi_cache(layout, c, pc, true, cpu),
                "N = {n}"
            );
            assert_eq!(kernels::step_noise(&k(n)), kernels::step_noise(&k(c)), "N = {n}");
        }
    }
    let distinct = |ns: &[u32]| {
        let mut c: Vec<u32> = ns.iter().map(|&n| n_class(n)).collect();
        c.dedup();
        c.len()
    };
    assert_eq!(distinct(&(1..=10).map(|k| 100 * k).collect::<Vec<_>>()), 4);
    assert_eq!(distinct(&[640, 1000, 1024]), 1);
}

/// Capacities: exact up to 16, then few of them; every P fits its capacity, and the memory
/// loops past 128 stop at P rounded up to a tile (their loop budget counts that).
#[test]
fn capacities_of_p() {
    for p in 1..=idpsim::resolve::limits::MAX_P as u32 {
        let c = kernels::p_capacity(p);
        assert!(c >= p && kernels::p_capacity(c) == c, "P = {p}: capacity {c}");
        if p <= kernels::EXACT_P_MAX {
            assert_eq!(c, p);
        }
        if c > kernels::UNROLL_MAX {
            assert_eq!(c % kernels::LOOP_TILE, 0);
            assert_eq!(kernels::fixed_loop_back_edges(p), p.div_ceil(kernels::LOOP_TILE) as u64);
        } else {
            assert_eq!(kernels::fixed_loop_back_edges(p), 0);
        }
    }
    let distinct = |ps: &[u32]| {
        let mut c: Vec<u32> = ps.iter().map(|&p| kernels::p_capacity(p)).collect();
        c.dedup();
        c.len()
    };
    // The `capacity` preset's loads, and the time-to-answer case's.
    assert_eq!(distinct(&[20, 50, 80, 100, 120, 130, 140, 150, 160, 180, 200, 250]), 5);
    assert_eq!(distinct(&[100, 150, 250]), 2);
    assert_eq!(distinct(&(17..=512).collect::<Vec<_>>()), 7);
}

/// The tile layout's workgroup arrays (coefficients and overlaps of the tile, and its diagonal
/// shifts) fit the 16 KiB of workgroup memory every device has, for every P a spec accepts
/// (up to 512), with at least one trajectory per tile and at most 8.
#[test]
fn tile_workgroup_memory_fits_every_p() {
    for p in 1..=512u32 {
        let pc = kernels::p_capacity(p);
        let tt = kernels::tile_trajectories(pc);
        assert!((1..=8).contains(&tt), "P = {p}: {tt} trajectories per tile");
        let bytes = (2 * tt * pc + tt) * 4;
        assert!(bytes <= 16384, "P = {p}: {bytes} bytes of workgroup memory");
    }
    assert_eq!((kernels::tile_trajectories(128), kernels::tile_trajectories(256)), (8, 7));
}
