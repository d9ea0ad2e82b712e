//! Closed-form facts about the model (THEORY.md §3) used by the pictures and checks:
//! the amplitude γ of a memory's equilibrium and its critical saliency.

/// The positive root γ of γ = α tanh(δ γ), if it exists (α δ > 1). Bisection to 1e-13
/// relative: g(γ) = γ − α tanh(δγ) is negative just above 0 and positive at γ = α.
pub fn gamma(alpha: f64, slope: f64) -> Option<f64> {
    if (alpha * slope).partial_cmp(&1.0) != Some(std::cmp::Ordering::Greater) {
        return None;
    }
    let g = |y: f64| y - alpha * (slope * y).tanh();
    let (mut lo, mut hi) = (1e-300f64, alpha);
    // Move lo to where g < 0 (it is, for small y, since α δ > 1).
    lo = lo.max(1e-12 * alpha);
    if g(lo) >= 0.0 {
        return None;
    }
    for _ in 0..200 {
        let mid = 0.5 * (lo + hi);
        if g(mid) < 0.0 {
            lo = mid;
        } else {
            hi = mid;
        }
        if hi - lo <= 1e-13 * hi {
            break;
        }
    }
    Some(0.5 * (lo + hi))
}

/// Critical saliency against a strongest competitor of saliency a (a δ > 1):
/// α*(a) = artanh(s)/(δ s), s = sqrt(1 − 1/(a δ)).
pub fn alpha_star(a: f64, slope: f64) -> Option<f64> {
    if (a * slope).partial_cmp(&1.0) != Some(std::cmp::Ordering::Greater) {
        return None;
    }
    let s = (1.0 - 1.0 / (a * slope)).sqrt();
    Some(s.atanh() / (slope * s))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gamma_solves_its_equation() {
        assert!((gamma(2.0, 1.0).unwrap() - 1.915_008).abs() < 1e-6);
        for (a, d) in [(1.01, 1.0), (1.5, 1.0), (2.25, 1.0), (0.2, 10.0), (3.0, 2.0)] {
            let y = gamma(a, d).unwrap();
            assert!((y - a * (d * y).tanh()).abs() < 1e-9, "α = {a}, δ = {d}");
        }
        assert_eq!(gamma(1.0, 1.0), None);
        assert_eq!(gamma(0.05, 10.0), None);
    }

    #[test]
    fn alpha_star_makes_the_competitor_direction_marginal() {
        // At α_ρ = α*(a): a Ψ'(γ(α_ρ)) = 1, Ψ'(z) = δ sech²(δ z).
        for (a, d) in [(2.25, 1.0), (3.0, 1.0), (0.5, 4.0)] {
            let s = alpha_star(a, d).unwrap();
            let y = gamma(s, d).unwrap();
            let dpsi = d * (1.0 - (d * y).tanh().powi(2));
            assert!((a * dpsi - 1.0).abs() < 1e-7, "a = {a}: {}", a * dpsi);
        }
    }
}
