//! The model: memories, input schedules and the drift.

pub mod drift;
pub mod input;
pub mod memories;
pub mod modern;
