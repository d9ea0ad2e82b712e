//! The model's mathematics on a plan, one definition for the CPU reference (the kernels in
//! `shaders/` mirror it): the drift and energy, the per-trajectory input draws, and the modern
//! model's layers.

pub mod drift;
pub mod input;
pub mod modern;
