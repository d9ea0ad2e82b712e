//! The `model` section: the kind, the activation and the modern model's layers.

use super::checks::{check_nonnegative, check_positive};
use crate::error::{SpecError, SpecResult};
use crate::plan::{Model, ModelPlan, ModernPlan, PsiY};
use crate::spec::{ActivationKind, ModelKind, ModelSpec, PsiYSpec};

/// The kind and activation (checked before anything else in the spec).
pub fn activation(m: &ModelSpec) -> SpecResult<(bool, f32)> {
    let is_modern = m.kind == ModelKind::Modern;
    if m.activation.kind == ActivationKind::Identity && !is_modern {
        return Err(SpecError::new(
            "model.activation.kind",
            "unknown activation 'identity'; accepted: \"tanh\" (\"identity\" is for the modern model)",
        ));
    }
    let slope = m.activation.slope;
    check_positive("model.activation.slope", slope)?;
    if !(1e-6..=1e4).contains(&slope) {
        return Err(SpecError::new("model.activation.slope", format!("{slope} is not accepted; give 1e-6 ≤ δ ≤ 1e4")));
    }
    Ok((m.activation.kind == ActivationKind::Identity, slope as f32))
}

/// The model section, once `integrator.dt` is known.
pub fn resolve(m: &ModelSpec, dt: f64) -> SpecResult<ModelPlan> {
    let (identity_x, slope) = activation(m)?;
    let model = match modern_plan(m, identity_x, dt)? {
        Some(md) => Model::Modern(md),
        None if m.kind == ModelKind::Classic => Model::Classic { zero_diagonal: m.zero_diagonal },
        None => Model::Idp { zero_diagonal: m.zero_diagonal },
    };
    Ok(ModelPlan { model, slope })
}

/// Writes the modern model's defaults into the spec recorded in run.json.
pub fn record(m: &mut ModelSpec, plan: &ModelPlan) {
    if let Some(md) = plan.modern() {
        m.tau_alpha = Some(md.tau_alpha);
        m.tau_y = Some(md.tau_y);
        m.tau_x = Some(md.tau_x);
        m.psi_alpha = Some(if md.psi_alpha_tanh { ActivationKind::Tanh } else { ActivationKind::Identity });
        if m.psi_y.is_none() {
            m.psi_y = Some(PsiYSpec::Identity);
        }
        m.sigma_alpha = Some(md.sigma_alpha as f64);
        m.sigma_y = Some(md.sigma_y as f64);
    }
}

/// The modern model's layers (None for the other models, whose spec must not carry them).
fn modern_plan(m: &ModelSpec, identity_x: bool, dt: f64) -> SpecResult<Option<ModernPlan>> {
    let is_modern = m.kind == ModelKind::Modern;
    let given = [
        ("model.tau_alpha", m.tau_alpha.is_some()),
        ("model.tau_y", m.tau_y.is_some()),
        ("model.tau_x", m.tau_x.is_some()),
        ("model.psi_alpha", m.psi_alpha.is_some()),
        ("model.psi_y", m.psi_y.is_some()),
        ("model.sigma_alpha", m.sigma_alpha.is_some()),
        ("model.sigma_y", m.sigma_y.is_some()),
    ];
    if !is_modern {
        if let Some((field, _)) = given.iter().find(|g| g.1) {
            return Err(SpecError::new(*field, "is for model.kind \"modern\" only"));
        }
        return Ok(None);
    }
    if m.zero_diagonal {
        return Err(SpecError::new(
            "model.zero_diagonal",
            "the modern model has no diagonal to remove; leave it false",
        ));
    }
    let tau_alpha = time_constant("model.tau_alpha", m.tau_alpha, 0.0, dt)?;
    let tau_y = time_constant("model.tau_y", m.tau_y, 0.0, dt)?;
    let tau_x = time_constant("model.tau_x", m.tau_x, 1.0, dt)?;
    if tau_x == 0.0 {
        return Err(SpecError::new("model.tau_x", "must be > 0: the feature layer carries the state"));
    }
    let psi_alpha_tanh = m.psi_alpha == Some(ActivationKind::Tanh);
    let psi_y = match m.psi_y {
        None | Some(PsiYSpec::Identity) => PsiY::Identity,
        Some(PsiYSpec::Tanh) => PsiY::Tanh,
        Some(PsiYSpec::Softmax { beta: b }) => {
            if !(b.is_finite() && b > 0.0 && b <= 1e4) {
                return Err(SpecError::new(
                    "model.psi_y.softmax.beta",
                    format!("{b} is not accepted; give 0 < β ≤ 1e4"),
                ));
            }
            PsiY::Softmax { beta: b as f32 }
        }
    };
    let sigma_alpha = layer_noise("model.sigma_alpha", m.sigma_alpha, tau_alpha)?;
    let sigma_y = layer_noise("model.sigma_y", m.sigma_y, tau_y)?;
    let rate = |t: f64| if t > 0.0 { (dt / t) as f32 } else { 0.0 };
    Ok(Some(ModernPlan {
        tau_alpha,
        tau_y,
        tau_x,
        psi_alpha_tanh,
        psi_y,
        identity_x,
        sigma_alpha,
        sigma_y,
        rate_alpha: rate(tau_alpha),
        rate_y: rate(tau_y),
        rate_x: (dt / tau_x) as f32,
        noise_alpha: (sigma_alpha as f64 * dt.sqrt()) as f32,
        noise_y: (sigma_y as f64 * dt.sqrt()) as f32,
    }))
}

/// A layer's time constant (default `default`): 0 (instantaneous) or at least dt, at most 1e6.
fn time_constant(field: &str, v: Option<f64>, default: f64, dt: f64) -> SpecResult<f64> {
    let t = v.unwrap_or(default);
    check_nonnegative(field, t)?;
    if t > 1e6 {
        return Err(SpecError::new(field, format!("{t} is too large; accepted: 0 to 1e6")));
    }
    if t > 0.0 && dt / t > 1.0 {
        return Err(SpecError::new(
            field,
            format!(
                "{t} is shorter than integrator.dt = {dt} (Euler would be unstable); use τ ≥ dt, or 0 for an instantaneous layer"
            ),
        ));
    }
    Ok(t)
}

/// A layer's noise σ (default 0), which needs a dynamic layer (τ > 0).
fn layer_noise(field: &str, v: Option<f64>, tau: f64) -> SpecResult<f32> {
    let s = v.unwrap_or(0.0);
    check_nonnegative(field, s)?;
    if s > 0.0 && tau == 0.0 {
        return Err(SpecError::new(field, "needs the layer's time constant > 0 (an instantaneous layer has no noise)"));
    }
    Ok(s as f32)
}
