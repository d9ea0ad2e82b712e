//! The model section of a plan: which network, its activation and its constants. The enum
//! makes illegal combinations unwritable: only the modern model has layers and an identity
//! feature activation; it has no diagonal to zero.

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

    /// W's diagonal is zeroed (classic and IDP only).
    pub fn zero_diagonal(&self) -> bool {
        match self.model {
            Model::Classic { zero_diagonal } | Model::Idp { zero_diagonal } => zero_diagonal,
            Model::Modern(_) => false,
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
