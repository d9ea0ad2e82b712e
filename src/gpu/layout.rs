//! The structs the host and the kernels share, declared once: [`shared_struct!`] makes each a
//! `#[repr(C)]` host struct and gives the WGSL declaration of the same fields
//! (`Params::WGSL`, …), which `gpu::kernels::header` puts at the top of every module. The
//! kernels' copy cannot drift from the host's; a test still checks naga's member offsets.

use bytemuck::{Pod, Zeroable};

/// Declares a host struct of `u32` and `f32` fields and its WGSL twin, `NAME::WGSL`: the same
/// members in the same order, each field's doc comment written above it as a WGSL comment.
macro_rules! shared_struct {
    ($(#[doc = $doc:literal])* $name:ident { $($(#[doc = $fdoc:literal])* $field:ident: $ty:ident,)* }) => {
        $(#[doc = $doc])*
        #[repr(C)]
        #[derive(Debug, Clone, Copy, Default, Pod, Zeroable, PartialEq)]
        pub struct $name {
            $($(#[doc = $fdoc])* pub $field: $ty,)*
        }

        impl $name {
            /// The WGSL declaration of this struct.
            pub const WGSL: &'static str = concat!(
                "struct ", stringify!($name), " {\n",
                $($("    //", $fdoc, "\n",)* "    ", stringify!($field), ": ", stringify!($ty), ",\n",)*
                "}\n"
            );
        }
    };
}

shared_struct! {
    /// The parameters of one dispatch (binding 0, one slot per dispatch at a dynamic offset).
    Params {
        key_lo: u32,
        key_hi: u32,
        /// Global index of the chunk's first trajectory.
        traj_first: u32,
        /// Trajectories in the chunk.
        traj_count: u32,
        /// Global index of this dispatch's first step, and how many steps it takes.
        step_begin: u32,
        step_count: u32,
        /// Segment every step of this dispatch lies in.
        segment: u32,
        /// Save index held in slot 0 of `saves`, and the slots the reduction covers.
        slot_base: u32,
        slot_count: u32,
        /// Reduction blocks (of BLOCK trajectories) in the chunk.
        block_count: u32,
        /// Neuron blocks (NB) at run time: loops over it stay loops when NB_UNROLL is false (fast
        /// compiles for large N).
        neuron_blocks: u32,
        /// σ √dt, a run-time value so that runs differing only in σ share their kernels.
        noise_scale: f32,
    }
}

shared_struct! {
    /// One input segment (binding 2, one entry per segment).
    Segment {
        start: u32,
        steps: u32,
        /// Steps of the linear morph from the previous segment (0 = none).
        ramp: u32,
        /// Steps the input stays on ([`NO_PULSE`] = the whole segment).
        pulse: u32,
        /// Std of the per-trajectory input corruption.
        noise: f32,
        /// 1 when the segment draws per-trajectory random weights.
        random: u32,
        /// The fixed target memory, [`NO_TARGET`], or [`RANDOM_TARGET`] (drawn per trajectory).
        dominant: u32,
        /// 1 when the previous segment's dominant memory gets the "previous" weight bounds.
        prev_on: u32,
        /// Cue input: gain × amplitude (0 = no cue), flip fraction, counter word 1 of its signs.
        cue_amp: f32,
        cue_flip: f32,
        cue_draw: u32,
        pad: u32,
    }
}

shared_struct! {
    /// The plan's sizes and parameter values, read by the kernels at run time (binding 12, one
    /// uniform per run): what `gpu::kernels::KernelConsts::family` leaves out of the compiled
    /// module, so plans of one model family share a module and its pipelines. Filled by
    /// `gpu::kernels::values`. Private arrays over memories hold PC (the capacity) entries;
    /// memories p..PC are padding, held at exact zeros wherever they could enter a sum
    /// (`overlap`, `segment_coefs`) and never stored.
    Values {
        /// Memories (P), saved quantities per save (Q) and the first layer's index in a save (Q_Y).
        p: u32,
        q: u32,
        q_y: u32,
        /// Blocks of 4 memories, and 16-byte state blocks per trajectory.
        pb: u32,
        nbs: u32,
        /// P rounded up to the loop tile (the run-time bound of tiled memory loops).
        p_tiles: u32,
        save_every: u32,
        segments: u32,
        /// Offsets in seg_coef of the Gram matrix and of the random weights' rows.
        gram_base: u32,
        rw_base: u32,
        /// Initial state: the cued memory (or NO_TARGET for the target), and its parameters.
        init_index: u32,
        init_std: f32,
        init_amplitude: f32,
        init_jitter: f32,
        init_flip: f32,
        /// Activation slope δ, and dt/τ_x (dt for the other models).
        slope: f32,
        dt_x: f32,
        /// N and 1/N, read by families of a size class (`gpu::kernels::n_class`); there the
        /// constants N and INV_N are 0 (see `n_neurons`, `inv_n`).
        n: u32,
        inv_n: f32,
        pad: u32,
        /// The model's own run-time values, in slots (`gpu::kernels::model_values` names them;
        /// the header gives each an accessor, such as `val_modern_rate_a()`): a model adds
        /// values without a field here.
        model: ModelSlots,
        /// The observers' run-time values, in slots the same way (`gpu::kernels::observer_values`:
        /// `val_hist_lo0()`, `val_occ_threshold()`, …).
        observers: ObserverSlots,
    }
}

const _: () = assert!(std::mem::size_of::<Params>() == 48);
const _: () = assert!(std::mem::size_of::<Values>() == 208);
const _: () = assert!(std::mem::size_of::<Segment>() == 48);

/// Slots of [`Values::model`] and [`Values::observers`]: u32 words (an f32 is kept as its
/// bits) in vectors of four, since WGSL's uniform arrays step by 16 bytes.
pub const MODEL_SLOTS: usize = 8;
pub const OBSERVER_SLOTS: usize = 24;
pub type ModelSlots = [[u32; 4]; MODEL_SLOTS / 4];
pub type ObserverSlots = [[u32; 4]; OBSERVER_SLOTS / 4];

/// `Segment::dominant` of a segment without a target.
pub const NO_TARGET: u32 = u32::MAX;
/// `Segment::dominant` of a segment whose target is drawn per trajectory.
pub const RANDOM_TARGET: u32 = u32::MAX - 1;

/// `Segment::pulse` when the input stays on for the whole segment.
pub const NO_PULSE: u32 = u32::MAX;

/// The WGSL declarations of the shared structs and their constants, as the header gives them.
pub fn wgsl() -> String {
    format!(
        "alias ModelSlots = array<vec4<u32>, {}>;\nalias ObserverSlots = array<vec4<u32>, {}>;\n{}\n{}\n{}\nconst NO_TARGET: u32 = {NO_TARGET}u;\nconst RANDOM_TARGET: u32 = {RANDOM_TARGET}u;\n",
        MODEL_SLOTS / 4,
        OBSERVER_SLOTS / 4,
        Params::WGSL,
        Values::WGSL,
        Segment::WGSL
    )
}
