//! The CPU fast path (`--backend cpu_fast`): the reference's [`Trajectory`] advanced a tile of
//! trajectories at a time, with the field's two matrix–vector products of every trajectory in
//! the tile done as two blocked matrix products (`matrixmultiply`'s sgemm):
//!
//! ```text
//!   H   = C · Ξᵀ       [T×P]·[P×N]   the fields h_i = Σ_μ ξ_iμ c_μ of T trajectories
//!   ACC = Ψ(X) · Ξ     [T×N]·[N×P]   the overlap sums, m = ACC / N
//! ```
//!
//! Everything else (inputs, coefficients, noise, the update, observers, saves) is the
//! reference's own code, called per trajectory. The products sum in another order than the
//! reference's block-by-block loops, so results agree with the reference to rounding (checked
//! like the GPU's, tests/fast_cpu.rs), not bit for bit. Ψ(x) is kept between steps (the zeroed
//! diagonal needs it), and no dynamics noise is drawn when σ = 0.

use super::trajectory::{Row, Trajectory};
use crate::plan::Plan;
use crate::rng;
use crate::spec::model::ACT_CLAMP;

/// Trajectories per tile: large enough that a product's packing of Ξ (every call, both
/// products) is repaid, small enough that a tile's H and Ψ(X) (T·N floats each, 256 KiB each at
/// N = 1000) stay in a core's level-2 cache. 64 against 32 on the 2-core development machine
/// (1 MiB of L2 per core; `bench --backend cpu_fast --repeat 3`, 3 runs each in turn,
/// 2026-12-07): case (d) 9.7–10.1e7 neuron-steps/s against 6.6–8.5e7, (f) 6.8–7.8e7 against
/// 6.0–6.9e7, (c) 1.35–1.51e8 against 1.16–1.32e8, (a) the same; packing Ξ was 16 % of case
/// (f)'s time with tiles of 32. A row's sums do not depend on the tile's size: the same bytes.
pub const TILE: usize = 64;

/// The instruction set the matrix products run with (`matrixmultiply` picks it at run time):
/// products with fused multiply-adds round differently from those without, so a run records it.
pub fn kernel_family() -> &'static str {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f") {
            return "sgemm avx512";
        }
        if std::arch::is_x86_feature_detected!("fma") && std::arch::is_x86_feature_detected!("avx2") {
            return "sgemm avx2+fma";
        }
        if std::arch::is_x86_feature_detected!("avx") {
            return "sgemm avx";
        }
        "sgemm sse2"
    }
    #[cfg(target_arch = "aarch64")]
    {
        "sgemm neon"
    }
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    {
        "sgemm generic"
    }
}

/// One tile's matrices.
struct Workspace {
    /// [T×P] field coefficients.
    c: Vec<f32>,
    /// [T] diagonal shifts.
    d: Vec<f32>,
    /// [T×N] fields.
    h: Vec<f32>,
    /// [T×N] Ψ(x), kept between steps.
    psi: Vec<f32>,
    /// [T×P] overlap sums.
    acc: Vec<f32>,
    /// [T × whole neuron blocks] the tile's dynamics noise of one step.
    z: Vec<f32>,
    /// Narrow rows ([`NARROW`]): [T×N] the tile's states, diagonal shifts and noises, one value
    /// per neuron, updated as one array.
    x: Vec<f32>,
    dn: Vec<f32>,
    zn: Vec<f32>,
    /// Networks of 1 or 2 neurons, whose Philox block serves several steps
    /// (`rng::gauss_steps`): the group of steps whose blocks `z` holds whole, in lane order.
    z_group: Option<u32>,
}

/// Networks of fewer neurons than this are updated as one array over the whole tile instead
/// of row by row, so that the update and Ψ run in full vectors: at N = 2 a row is a quarter of
/// a vector, and the row-by-row Ψ was 30 % of case (b)'s time on the fast path.
const NARROW: usize = 8;

/// Advances `group` (trajectories at one step) to step `end` in tiles, observing after every
/// step and writing save k into `rows` (trajectory-major, `slots` saves of `q` values from save
/// `lo`; save 0 too when `first`). Returns the first divergence: (index in `group`, step).
pub fn advance(
    plan: &Plan,
    group: &mut [Trajectory],
    rows: &mut [f32],
    (end, first, lo, slots): (u32, bool, u32, usize),
    mut hist: Option<&mut [u64]>,
) -> Option<(usize, u32)> {
    let (n, p, q, se) = (plan.n(), plan.p(), plan.saves().q(), plan.observe.save_every);
    for (k, tile) in group.chunks_mut(TILE).enumerate() {
        let t = tile.len();
        let base = k * TILE;
        let tile_rows = &mut rows[base * slots * q..(base + t) * slots * q];
        let mut ws = Workspace {
            c: vec![0.0; t * p],
            d: vec![0.0; t],
            h: vec![0.0; t * n],
            psi: vec![0.0; t * n],
            acc: vec![0.0; t * p],
            z: vec![0.0; t * plan.neuron_blocks() * 4],
            x: vec![0.0; if n < NARROW { t * n } else { 0 }],
            dn: vec![0.0; if n < NARROW { t * n } else { 0 }],
            zn: vec![0.0; if n < NARROW { t * n } else { 0 }],
            z_group: None,
        };
        // Ψ(x) and m(x) as every step computes them, so that they are functions of x alone:
        // runs cut into slices or resumed from a checkpoint give the same bytes.
        let act = activation_slope(plan);
        for (j, tr) in tile.iter().enumerate() {
            psi_row(tr.state(), &mut ws.psi[j * n..(j + 1) * n], act);
        }
        overlap_sums(plan, t, &ws.psi, &mut ws.acc);
        for (j, tr) in tile.iter_mut().enumerate() {
            tr.set_overlap_sums(&ws.acc[j * p..(j + 1) * p]);
        }
        if first {
            for (j, tr) in tile.iter().enumerate() {
                tr.save(&mut tile_rows[j * slots * q..j * slots * q + q]);
            }
        }
        while tile[0].done() < end {
            if let Err((j, s)) = step(plan, tile, &mut ws) {
                return Some((base + j, s));
            }
            for (j, tr) in tile.iter_mut().enumerate() {
                tr.observe(hist.as_deref_mut());
                if tr.done().is_multiple_of(se) {
                    let slot = (tr.done() / se - lo) as usize;
                    let row = &mut tile_rows[j * slots * q..(j + 1) * slots * q];
                    tr.save(&mut row[slot * q..(slot + 1) * q]);
                }
            }
        }
    }
    None
}

/// One Euler–Maruyama step of every trajectory in the tile (all at the same step).
fn step(plan: &Plan, tile: &mut [Trajectory], ws: &mut Workspace) -> Result<(), (usize, u32)> {
    let (n, p, t) = (plan.n(), plan.p(), tile.len());
    let xi = &plan.memories.xi;
    for (j, tr) in tile.iter_mut().enumerate() {
        ws.d[j] = tr.coefficients();
        ws.c[j * p..(j + 1) * p].copy_from_slice(tr.coefficients_c());
    }
    // H[T×N] = C[T×P] · Ξᵀ; Ξ is stored [N×P] row-major, so Ξᵀ has strides (1, P).
    assert!(ws.c.len() >= t * p && ws.h.len() >= t * n && xi.len() == n * p);
    // SAFETY: every matrix's extent, given by its dimensions and strides, lies inside its slice
    // (asserted above): C is t×p (strides p, 1), Ξᵀ p×n (1, p) over Ξ's n·p values, H t×n (n, 1).
    unsafe {
        matrixmultiply::sgemm(
            t,
            p,
            n,
            1.0,
            ws.c.as_ptr(),
            p as isize,
            1,
            xi.as_ptr(),
            1,
            p as isize,
            0.0,
            ws.h.as_mut_ptr(),
            n as isize,
            1,
        );
    }
    let noisy = tile.first().is_some_and(|tr| tr.noise_scale() != 0.0);
    if noisy {
        tile_noise(plan, tile, ws);
    }
    let nb4 = plan.neuron_blocks() * 4;
    let act = activation_slope(plan);
    let wide = wide_rows();
    if n < NARROW && !plan.has_vector_input() {
        return update_narrow(plan, tile, ws, noisy, act, wide);
    }
    for (j, tr) in tile.iter_mut().enumerate() {
        let step = tr.done();
        let (h, psi) = (&ws.h[j * n..(j + 1) * n], &mut ws.psi[j * n..(j + 1) * n]);
        let row = tr.row();
        let z =
            noisy.then_some(if noise_kept(plan) { &ws.zn[j * n..(j + 1) * n] } else { &ws.z[j * nb4..j * nb4 + n] });
        let d = Diagonal::Row(ws.d[j]);
        let finite = if wide {
            // SAFETY: wide_rows() checked that the processor has AVX2 and FMA.
            unsafe { update_rows_avx2(row, h, psi, z, d, act) }
        } else {
            update_rows(row, h, psi, z, d, act)
        };
        if !finite {
            return Err((j, step));
        }
    }
    overlap_sums(plan, t, &ws.psi, &mut ws.acc);
    for (j, tr) in tile.iter_mut().enumerate() {
        tr.finish(&ws.acc[j * p..(j + 1) * p]);
    }
    Ok(())
}

/// The update of a tile of narrow rows ([`NARROW`]) as one array of T×N neurons, then the
/// overlap sums: the same operations on every neuron as [`update_rows`]. On a non-finite state
/// every trajectory has been updated and the first one that diverged is named.
fn update_narrow(
    plan: &Plan,
    tile: &mut [Trajectory],
    ws: &mut Workspace,
    noisy: bool,
    act: Option<f32>,
    wide: bool,
) -> Result<(), (usize, u32)> {
    let (n, p, t) = (plan.n(), plan.p(), tile.len());
    let nb4 = plan.neuron_blocks() * 4;
    let step = tile[0].done();
    let (mut dt, mut ns, mut zero_diagonal) = (0.0, 0.0, false);
    for (j, tr) in tile.iter_mut().enumerate() {
        let row = tr.row();
        (dt, ns, zero_diagonal) = (row.dt_x, row.noise_scale, row.zero_diagonal);
        ws.x[j * n..(j + 1) * n].copy_from_slice(row.x);
        ws.dn[j * n..(j + 1) * n].fill(ws.d[j]);
        if noisy && !noise_kept(plan) {
            ws.zn[j * n..(j + 1) * n].copy_from_slice(&ws.z[j * nb4..j * nb4 + n]);
        }
    }
    let tn = t * n;
    let row = Row { x: &mut ws.x[..tn], v: None, dt_x: dt, noise_scale: ns, zero_diagonal };
    let (h, psi, z) = (&ws.h[..tn], &mut ws.psi[..tn], noisy.then_some(&ws.zn[..tn]));
    if wide {
        // SAFETY: wide_rows() checked that the processor has AVX2 and FMA.
        unsafe { update_rows_avx2(row, h, psi, z, Diagonal::Neurons(&ws.dn[..tn]), act) };
    } else {
        update_rows(row, h, psi, z, Diagonal::Neurons(&ws.dn[..tn]), act);
    }
    let mut diverged = None;
    for (j, tr) in tile.iter_mut().enumerate() {
        let x = &ws.x[j * n..(j + 1) * n];
        tr.row().x.copy_from_slice(x);
        if diverged.is_none() && !x.iter().all(|v| v.is_finite()) {
            diverged = Some(j);
        }
    }
    if let Some(j) = diverged {
        return Err((j, step));
    }
    overlap_sums(plan, t, &ws.psi, &mut ws.acc);
    for (j, tr) in tile.iter_mut().enumerate() {
        tr.finish(&ws.acc[j * p..(j + 1) * p]);
    }
    Ok(())
}

/// The dynamics noise of every trajectory in the tile at its next step into `ws.z` ([T × whole
/// neuron blocks]): Gaussian normals [`rng::LANES`] blocks at a time, the tile's (trajectory,
/// block) pairs in order across the lanes (so that small networks fill the lanes with
/// trajectories and large ones with blocks), the same numbers as the reference's
/// [`Trajectory::noise4`]; two-point increments block by block. With 1 or 2 neurons a block
/// serves several steps: it is drawn at the first step of its group that the tile takes and
/// kept, and each step reads its own lanes of it (the stream layout of THEORY §9).
fn tile_noise(plan: &Plan, tile: &[Trajectory], ws: &mut Workspace) {
    let nb = plan.neuron_blocks();
    let step = tile[0].done();
    if plan.noise.two_point {
        for (j, tr) in tile.iter().enumerate() {
            for b in 0..nb {
                ws.z[(j * nb + b) * 4..(j * nb + b + 1) * 4].copy_from_slice(&tr.noise4(b, step));
            }
        }
        return;
    }
    if noise_kept(plan) {
        let s = rng::gauss_steps(plan.n());
        let (group, lane) = (step / s, (step % s) as usize * plan.n());
        if ws.z_group != Some(group) {
            // The group's first step has its block in lane order.
            draw_normals(plan, tile, group * s, &mut ws.z);
            ws.z_group = Some(group);
        }
        for j in 0..tile.len() {
            for i in 0..plan.n() {
                ws.zn[j * plan.n() + i] = ws.z[j * 4 + lane + i];
            }
        }
        return;
    }
    draw_normals(plan, tile, step, &mut ws.z);
}

/// Whether [`tile_noise`] leaves a step's noises in `Workspace::zn` ([T×N]: Gaussian noise of 1
/// or 2 neurons, whose blocks it keeps whole in `z`) rather than in `z`.
fn noise_kept(plan: &Plan) -> bool {
    !plan.noise.two_point && rng::gauss_steps(plan.n()) > 1
}

/// The Gaussian normals of every (trajectory, block) pair of the tile at `step` into `z`.
fn draw_normals(plan: &Plan, tile: &[Trajectory], step: u32, z: &mut [f32]) {
    let nb = plan.neuron_blocks();
    let (total, key) = (tile.len() * nb, tile[0].key());
    for first in (0..total).step_by(rng::LANES) {
        // Lanes past the tile's last pair repeat it; their numbers are not kept.
        let pair = |l: usize| (first + l).min(total - 1);
        let blocks = std::array::from_fn(|l| (pair(l) % nb) as u32);
        let trajectories = std::array::from_fn(|l| tile[pair(l) / nb].index() as u32);
        let lanes = rng::dynamics_normals_lanes(plan.n(), &blocks, step, &trajectories, key);
        for (l, four) in lanes.iter().enumerate().take(total - first) {
            z[(first + l) * 4..(first + l + 1) * 4].copy_from_slice(four);
        }
    }
}

/// ACC[T×P] = Ψ(X)[T×N] · Ξ[N×P]: the overlap sums of `t` trajectories.
fn overlap_sums(plan: &Plan, t: usize, psi: &[f32], acc: &mut [f32]) {
    let (n, p) = (plan.n(), plan.p());
    assert!(psi.len() >= t * n && acc.len() >= t * p && plan.memories.xi.len() == n * p);
    // SAFETY: Ψ(X) is t×n (strides n, 1), Ξ n×p (p, 1), ACC t×p (p, 1), each inside its slice
    // (asserted above).
    unsafe {
        matrixmultiply::sgemm(
            t,
            n,
            p,
            1.0,
            psi.as_ptr(),
            n as isize,
            1,
            plan.memories.xi.as_ptr(),
            p as isize,
            1,
            0.0,
            acc.as_mut_ptr(),
            p as isize,
            1,
        );
    }
}

/// Whether the row updates can run with 256-bit vectors (AVX2 and FMA; the arithmetic is the
/// same either way: no operation is fused).
fn wide_rows() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// [`update_rows`] compiled for AVX2.
///
/// # Safety
/// The processor must have AVX2 and FMA.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn update_rows_avx2(
    row: Row,
    h: &[f32],
    psi: &mut [f32],
    z: Option<&[f32]>,
    d: Diagonal,
    act: Option<f32>,
) -> bool {
    update_rows(row, h, psi, z, d, act)
}

#[cfg(not(target_arch = "x86_64"))]
unsafe fn update_rows_avx2(
    row: Row,
    h: &[f32],
    psi: &mut [f32],
    z: Option<&[f32]>,
    d: Diagonal,
    act: Option<f32>,
) -> bool {
    update_rows(row, h, psi, z, d, act)
}

/// The Euler–Maruyama update of one trajectory's N neurons from their fields h, written as
/// loops without branches that the compiler vectorises: the reference's
/// [`Trajectory::update`] (same operations, same order) for every neuron, then Ψ of the new
/// state into `psi` (Ψ(x) with the activation's slope, or the identity for `act` None) with
/// [`tanh_poly`]. The diagonal shift d is the row's, or one per neuron for a tile of narrow
/// rows updated as one. Returns whether every new x is finite.
#[inline(always)]
fn update_rows(row: Row, h: &[f32], psi: &mut [f32], z: Option<&[f32]>, d: Diagonal, act: Option<f32>) -> bool {
    let n = row.x.len();
    let (x, h, psi) = (&mut row.x[..n], &h[..n], &mut psi[..n]);
    let (dt, ns) = (row.dt_x, row.noise_scale);
    match d {
        Diagonal::Row(d) => {
            for i in 0..n {
                let mut f = h[i] - x[i];
                if row.zero_diagonal {
                    f -= d * psi[i];
                }
                if let Some(v) = row.v {
                    f += v[i];
                }
                let mut xn = x[i] + dt * f;
                if let Some(z) = z {
                    xn += ns * z[i];
                }
                x[i] = xn;
            }
        }
        Diagonal::Neurons(dn) => {
            // Narrow rows have no vector input (`step`).
            let dn = &dn[..n];
            for i in 0..n {
                let mut f = h[i] - x[i];
                if row.zero_diagonal {
                    f -= dn[i] * psi[i];
                }
                let mut xn = x[i] + dt * f;
                if let Some(z) = z {
                    xn += ns * z[i];
                }
                x[i] = xn;
            }
        }
    }
    psi_row(x, psi, act);
    x.iter().fold(true, |ok, v| ok & v.is_finite())
}

/// The diagonal shift d of [`update_rows`]: one for the row, or one per neuron.
#[derive(Clone, Copy)]
enum Diagonal<'a> {
    Row(f32),
    Neurons(&'a [f32]),
}

/// The slope of Ψ = tanh(slope·x), or None for the identity.
fn activation_slope(plan: &Plan) -> Option<f32> {
    (!plan.model.identity_activation()).then_some(plan.model.slope)
}

/// Ψ(x) of one row: tanh(slope·x) clamped like the reference's activation, with [`tanh_poly`],
/// or x itself for the identity.
#[inline(always)]
fn psi_row(x: &[f32], psi: &mut [f32], act: Option<f32>) {
    match act {
        Some(slope) => {
            for (p, &v) in psi.iter_mut().zip(x) {
                *p = tanh_poly((slope * v).clamp(-ACT_CLAMP, ACT_CLAMP));
            }
        }
        None => psi.copy_from_slice(x),
    }
}

/// tanh z = 1 − 2/(1 + e^{2z}) for |z| ≤ 10, as the reference's `tanh_one_exp`, with e^{2z}
/// from a degree-6 polynomial on [−ln2/2, ln2/2] and an exponent built from bits (Cephes'
/// expf), so that loops of it vectorise: within 3e-7 of tanh_one_exp (tested).
#[inline(always)]
pub fn tanh_poly(z: f32) -> f32 {
    1.0 - 2.0 / (1.0 + exp_poly(2.0 * z))
}

/// e^x for |x| ≤ 20 (Cephes' expf polynomial, round-to-nearest by the 1.5·2²³ trick so that
/// no library call stops vectorisation). NaN gives NaN.
#[inline(always)]
fn exp_poly(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    const MAGIC: f32 = 12_582_912.0; // 1.5 · 2²³
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    let k = (x * LOG2E + MAGIC) - MAGIC;
    let r = (x - k * LN2_HI) - k * LN2_LO;
    let mut p = 1.987_569_1e-4_f32;
    p = p * r + 1.398_199_9e-3;
    p = p * r + 8.333_452e-3;
    p = p * r + 4.166_579_6e-2;
    p = p * r + 1.666_666_5e-1;
    p = p * r + 0.5;
    let e = p * r * r + r + 1.0;
    let scale = f32::from_bits(((k as i32 + 127) as u32) << 23);
    e * scale
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::model::tanh_one_exp;

    #[test]
    fn tanh_poly_is_close_to_the_reference_tanh() {
        let mut worst = 0f32;
        for k in -2_000_000..=2_000_000 {
            let z = k as f32 * 5e-6;
            worst = worst.max((tanh_poly(z) - tanh_one_exp(z)).abs());
        }
        assert!(worst <= 3e-7, "largest difference {worst}");
        assert_eq!(tanh_poly(0.0), 0.0);
        assert_eq!(tanh_poly(ACT_CLAMP), 1.0);
        assert_eq!(tanh_poly(-ACT_CLAMP), -1.0);
        assert!(tanh_poly(f32::NAN).is_nan());
    }
}
