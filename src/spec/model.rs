//! The `model` section in one place: its JSON (`ModelSpec`), its rules (`ModelSpec::resolve`:
//! every message names its field) and its plan (`ModelPlan`), with the activation Ψ that both
//! backends follow. The plan's enum makes illegal combinations unwritable: only the modern
//! model has layers and an identity feature activation; it has no diagonal to zero.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::checks::{check_nonnegative, check_positive};
use crate::error::{SpecError, SpecResult};

// The JSON.

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ModelSpec {
    pub kind: ModelKind,
    /// Ψ (the feature layer's Ψ_x in the modern model).
    #[serde(default)]
    pub activation: ActivationSpec,
    /// Zero the diagonal of W (the authors' code); default false.
    #[serde(default)]
    pub zero_diagonal: bool,
    /// Modern model: time constants of the saliency, memory and feature layers (0 =
    /// instantaneous; defaults 0, 0, 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tau_alpha: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tau_y: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tau_x: Option<f64>,
    /// Modern model: "identity" (default) or "tanh".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub psi_alpha: Option<ActivationKind>,
    /// Modern model: "identity" (default), "tanh" or {"softmax": {"beta": β}}.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub psi_y: Option<PsiYSpec>,
    /// Modern model: noise on the saliency and memory layers (default 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sigma_alpha: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sigma_y: Option<f64>,
}

/// "idp", "classic" or "modern".
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum ModelKind {
    Idp,
    Classic,
    Modern,
}

/// "tanh" or "identity".
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum ActivationKind {
    Tanh,
    Identity,
}

/// Ψ_y of the modern model: "identity", "tanh" or {"softmax": {"beta": β}}.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
#[serde(try_from = "Value", into = "Value")]
pub enum PsiYSpec {
    Identity,
    Tanh,
    /// Inverse temperature β.
    Softmax {
        beta: f64,
    },
}

impl TryFrom<Value> for PsiYSpec {
    type Error = String;
    fn try_from(v: Value) -> Result<Self, String> {
        let beta = v.as_object().filter(|o| o.len() == 1).and_then(|o| o.get("softmax")).and_then(|s| {
            let s = s.as_object().filter(|s| s.len() == 1)?;
            s.get("beta")?.as_f64()
        });
        match (v.as_str(), beta) {
            (Some("identity"), _) => Ok(PsiYSpec::Identity),
            (Some("tanh"), _) => Ok(PsiYSpec::Tanh),
            (_, Some(beta)) => Ok(PsiYSpec::Softmax { beta }),
            _ => Err(format!(
                "{v} is not accepted; accepted: \"identity\", \"tanh\", {{\"softmax\": {{\"beta\": 4.0}}}}"
            )),
        }
    }
}

impl From<PsiYSpec> for Value {
    fn from(p: PsiYSpec) -> Value {
        match p {
            PsiYSpec::Identity => json!("identity"),
            PsiYSpec::Tanh => json!("tanh"),
            PsiYSpec::Softmax { beta } => json!({ "softmax": { "beta": beta } }),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ActivationSpec {
    /// "tanh", or "identity" (modern model only).
    pub kind: ActivationKind,
    /// Slope δ of Ψ(z) = tanh(δ z); default 1.
    #[serde(default = "super::one")]
    pub slope: f64,
}

impl Default for ActivationSpec {
    fn default() -> Self {
        ActivationSpec { kind: ActivationKind::Tanh, slope: 1.0 }
    }
}

// The plan.

/// Largest |δ x| fed to tanh: tanh(10) rounds to 1 in f32, and clamping keeps a non-finite
/// state from turning into NaN inside tanh on some GPUs.
pub const ACT_CLAMP: f32 = 10.0;

/// Ψ(x) = tanh(clamp(δ x, −10, 10)).
#[inline(always)]
pub fn activation(x: f32, slope: f32) -> f32 {
    tanh_one_exp((slope * x).clamp(-ACT_CLAMP, ACT_CLAMP))
}

/// tanh z = 1 − 2/(1 + e^{2z}) for |z| ≤ 10: one exponential and one division, within 2.4e-7
/// absolute of tanh (two f32 spacings at 1; 1.8e-7 measured), exactly 0 at 0 and ±1 at ±10.
/// The kernels' `tanh_one_exp` (shaders/params.wgsl) is the same formula; GPU `tanh` is often
/// two exponentials.
#[inline(always)]
pub fn tanh_one_exp(z: f32) -> f32 {
    1.0 - 2.0 / (1.0 + (2.0 * z).exp())
}

/// The network integrated (docs/THEORY.md §2, §5).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Model {
    /// dx = (−x + W Ψ(x) + u) dt + σ dB.
    Classic { zero_diagonal: bool },
    /// dx = (−x + W(u) Ψ(x)) dt + σ dB.
    Idp { zero_diagonal: bool },
    /// The three-layer model: saliency α, memory layer y, feature layer x.
    Modern(ModernPlan),
}

/// How the input reaches the network: through the saliencies α = Ξᵀu/N (IDP and modern), or
/// as a bias u added to the drift (classic).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Coupling {
    Saliency,
    Bias,
}

/// Which closed forms describe a model: the analyses (`idpsim theory`, `landscape`, `fpe`, the
/// occupancy observer's equilibria) take the one the model states in
/// [`ModelPlan::closed_form`], so that a new model is refused there, or described, by a choice
/// made in this file.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ClosedForm<'a> {
    /// The classic and IDP field, W(α) Ψ(x) + b with this coupling (docs/THEORY.md §2–§3).
    Hopfield(Coupling),
    /// The modern three-layer model (docs/THEORY.md §15).
    Modern(&'a ModernPlan),
    /// No closed form: the analyses refuse the model with this reason.
    None(&'static str),
}

/// The model with its activation slope δ (Ψ_x of the modern model's feature layer).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ModelPlan {
    pub model: Model,
    /// δ in Ψ(z) = tanh(δ z).
    pub slope: f32,
}

impl ModelPlan {
    /// "idp", "classic" or "modern".
    pub fn name(&self) -> &'static str {
        match self.model {
            Model::Classic { .. } => "classic",
            Model::Idp { .. } => "idp",
            Model::Modern(_) => "modern",
        }
    }

    pub fn coupling(&self) -> Coupling {
        match self.model {
            Model::Classic { .. } => Coupling::Bias,
            Model::Idp { .. } | Model::Modern(_) => Coupling::Saliency,
        }
    }

    /// The closed forms that describe the model ([`ClosedForm`]).
    pub fn closed_form(&self) -> ClosedForm<'_> {
        match &self.model {
            Model::Classic { .. } => ClosedForm::Hopfield(Coupling::Bias),
            Model::Idp { .. } => ClosedForm::Hopfield(Coupling::Saliency),
            Model::Modern(md) => ClosedForm::Modern(md),
        }
    }

    /// W's diagonal is zeroed (classic and IDP only).
    pub fn zero_diagonal(&self) -> bool {
        match self.model {
            Model::Classic { zero_diagonal } | Model::Idp { zero_diagonal } => zero_diagonal,
            Model::Modern(_) => false,
        }
    }

    /// Why the model has no energy to save, if it has none (`observe.energy` is refused with
    /// this message): a model states here the cases its energy does not cover.
    pub fn no_energy(&self) -> Option<&'static str> {
        match &self.model {
            Model::Modern(md) if !(matches!(md.psi_y, PsiY::Softmax { .. }) && md.identity_x && md.tau_y == 0.0) => {
                Some(
                    "the modern model has an energy (E_tr) only with psi_y softmax, activation \"identity\" and tau_y = 0",
                )
            }
            _ => None,
        }
    }

    /// The modern model's layers.
    pub fn modern(&self) -> Option<&ModernPlan> {
        match &self.model {
            Model::Modern(md) => Some(md),
            _ => None,
        }
    }

    /// Ψ_x is the identity (modern model only).
    pub fn identity_activation(&self) -> bool {
        self.modern().is_some_and(|md| md.identity_x)
    }

    /// Ψ_x(x): tanh(clamp(δx)) or the identity.
    #[inline(always)]
    pub fn psi(&self, x: f32) -> f32 {
        if self.identity_activation() { x } else { activation(x, self.slope) }
    }
}

/// Ψ_y of the modern model's memory layer.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum PsiY {
    Identity,
    Tanh,
    /// s = softmax(β Ψ_α(α) ⊙ y): the saliency weights the keys inside the softmax too.
    Softmax {
        beta: f32,
    },
}

/// The modern three-layer model (docs/THEORY.md §5): saliency α, memory layer y, feature
/// layer x. A time constant of 0 makes a layer instantaneous (α = Ξᵀu/N, y = m(x)).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ModernPlan {
    pub tau_alpha: f64,
    pub tau_y: f64,
    pub tau_x: f64,
    pub psi_alpha_tanh: bool,
    pub psi_y: PsiY,
    /// Ψ_x is the identity (else tanh with the model's slope).
    pub identity_x: bool,
    pub sigma_alpha: f32,
    pub sigma_y: f32,
    /// dt/τ of the saliency and memory layers (0 when instantaneous), as the kernels use them.
    pub rate_alpha: f32,
    pub rate_y: f32,
    /// The feature layer's dt/τ_x.
    pub rate_x: f32,
    /// σ √dt of the saliency and memory layers.
    pub noise_alpha: f32,
    pub noise_y: f32,
}

// The rules.

impl ModelSpec {
    /// The kind and activation (checked before anything else in the spec): whether Ψ_x is the
    /// identity, and the slope δ.
    pub fn check_activation(&self) -> SpecResult<(bool, f32)> {
        let is_modern = self.kind == ModelKind::Modern;
        if self.activation.kind == ActivationKind::Identity && !is_modern {
            return Err(SpecError::new(
                "model.activation.kind",
                "unknown activation 'identity'; accepted: \"tanh\" (\"identity\" is for the modern model)",
            ));
        }
        let slope = self.activation.slope;
        if self.activation.kind == ActivationKind::Identity && slope != 1.0 {
            return Err(SpecError::new(
                "model.activation.slope",
                format!("the identity activation Ψ(z) = z has no slope (got {slope}); remove it, or use \"tanh\""),
            ));
        }
        check_positive("model.activation.slope", slope)?;
        if !(1e-6..=1e4).contains(&slope) {
            return Err(SpecError::new(
                "model.activation.slope",
                format!("{slope} is not accepted; give 1e-6 ≤ δ ≤ 1e4"),
            ));
        }
        Ok((self.activation.kind == ActivationKind::Identity, slope as f32))
    }

    /// The model section's plan, once `integrator.dt` is known.
    pub fn resolve(&self, dt: f64) -> SpecResult<ModelPlan> {
        let (identity_x, slope) = self.check_activation()?;
        let model = match modern_plan(self, identity_x, dt)? {
            Some(md) => Model::Modern(md),
            None if self.kind == ModelKind::Classic => Model::Classic { zero_diagonal: self.zero_diagonal },
            None => Model::Idp { zero_diagonal: self.zero_diagonal },
        };
        Ok(ModelPlan { model, slope })
    }

    /// Writes the modern model's defaults into the spec recorded in run.json.
    pub fn record(&mut self, plan: &ModelPlan) {
        if let Some(md) = plan.modern() {
            self.tau_alpha = Some(md.tau_alpha);
            self.tau_y = Some(md.tau_y);
            self.tau_x = Some(md.tau_x);
            self.psi_alpha = Some(if md.psi_alpha_tanh { ActivationKind::Tanh } else { ActivationKind::Identity });
            if self.psi_y.is_none() {
                self.psi_y = Some(PsiYSpec::Identity);
            }
            self.sigma_alpha = Some(md.sigma_alpha as f64);
            self.sigma_y = Some(md.sigma_y as f64);
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    /// tanh_one_exp against f64 tanh on a grid of 2·10⁶ points over [−10, 10] and near 0.
    #[test]
    fn tanh_one_exp_is_close_to_tanh() {
        let mut worst = 0f64;
        for k in -1_000_000..=1_000_000 {
            for z in [k as f32 * 1e-5, k as f32 * 1e-9] {
                let err = (tanh_one_exp(z) as f64 - (z as f64).tanh()).abs();
                worst = worst.max(err);
            }
        }
        eprintln!("largest absolute error {worst:e}");
        assert!(worst < 2.4e-7, "largest absolute error {worst:e}");
        assert_eq!(tanh_one_exp(0.0), 0.0);
        assert_eq!(tanh_one_exp(ACT_CLAMP), 1.0);
        assert_eq!(tanh_one_exp(-ACT_CLAMP), -1.0);
        assert_eq!(activation(f32::INFINITY, 1.0), 1.0);
    }
}
