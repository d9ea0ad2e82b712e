//! The value checks every section's rules use (`model`, and the resolvers of `crate::resolve`);
//! each names the field it checks.

use crate::error::{SpecError, SpecResult};

pub fn check_threshold(field: &str, v: f64) -> SpecResult<()> {
    if v.is_finite() && v > 0.0 && v <= 1.0 {
        Ok(())
    } else {
        Err(SpecError::new(field, format!("{v} is not accepted; an overlap threshold must be in (0, 1]")))
    }
}

pub fn check_finite(field: &str, v: f64) -> SpecResult<()> {
    if v.is_finite() { Ok(()) } else { Err(SpecError::new(field, "must be a finite number")) }
}

pub fn check_all_finite(field: &str, v: &[f64]) -> SpecResult<()> {
    match v.iter().position(|x| !x.is_finite()) {
        None => Ok(()),
        Some(i) => Err(SpecError::new(format!("{field}[{i}]"), "must be a finite number")),
    }
}

pub fn check_positive(field: &str, v: f64) -> SpecResult<()> {
    if v.is_finite() && v > 0.0 {
        Ok(())
    } else {
        Err(SpecError::new(field, format!("{v} is not accepted; it must be a finite number > 0")))
    }
}

pub fn check_nonnegative(field: &str, v: f64) -> SpecResult<()> {
    if v.is_finite() && v >= 0.0 {
        Ok(())
    } else {
        Err(SpecError::new(field, format!("{v} is not accepted; it must be a finite number ≥ 0")))
    }
}

/// A duration as a whole number of steps of `dt` (within 1e-6 relative).
pub fn steps_of(field: &str, duration: f64, dt: f64) -> SpecResult<u32> {
    let k = duration / dt;
    let r = k.round();
    if (k - r).abs() > 1e-6 * r.max(1.0) || r < 1.0 {
        return Err(SpecError::new(field, format!("{duration} is not a whole number of time steps (dt = {dt})")));
    }
    if r > (u32::MAX - 1) as f64 {
        return Err(SpecError::new(field, format!("{duration:e} is more than 2^32 time steps")));
    }
    Ok(r as u32)
}
