//! `idpsim theory`, `landscape` and `fpe`: arguments in, [`crate::analysis`] called, its
//! report printed.

use std::path::Path;

use anyhow::Result;

use super::args::{FpeArgs, LandscapeArgs, TheoryArgs, load_spec, spec_usage};
use crate::analysis::{self, TheoryReport};
use crate::error::{Input, UsageError};
use crate::plan::Plan;
use crate::{io, outln, resolve};

/// The plan of a spec file or preset, or, with saliencies, of the quick form
/// ([`analysis::quick_plan`]).
fn quick_or_spec(
    file: Option<&Path>,
    preset: Option<&str>,
    saliency: &[f64],
    slope: f64,
    n: analysis::QuickN,
    sigma: f64,
    duration: f64,
) -> Result<Plan> {
    if saliency.is_empty() {
        let (spec, base) = load_spec(file, preset)?;
        return resolve::plan(&spec, &base).map_err(spec_usage);
    }
    analysis::quick_plan(saliency, slope, n, sigma, duration)
}

pub fn cmd_landscape(a: &LandscapeArgs) -> Result<()> {
    let plan = quick_or_spec(
        a.source.spec.as_deref(),
        a.source.preset.as_deref(),
        &a.saliency,
        a.slope,
        analysis::QuickN::Fixed(2),
        a.sigma,
        10.0,
    )?;
    let files = analysis::landscape(&plan, &a.out, a.trajectories, a.force)?;
    eprintln!("{}: wrote {} files to {}", plan.spec.name, files.len(), a.out.display());
    Ok(())
}

pub fn cmd_theory(a: &TheoryArgs) -> Result<()> {
    let plan = if !a.saliency.is_empty() {
        quick_or_spec(None, None, &a.saliency, a.slope, analysis::QuickN::Given(a.n), 0.0, 1.0)?
    } else {
        let (spec, base) = load_spec(a.source.spec.as_deref(), a.source.preset.as_deref())?;
        resolve::plan(&spec, &base).map_err(spec_usage)?
    };
    let reports =
        analysis::theory(&plan, if a.saliency.is_empty() { Input::Field("memories.n".into()) } else { Input::N })?;
    let doc = serde_json::json!({ "segments": reports });
    if let Some(out) = &a.out {
        io::write_json(out, &doc).map_err(|e| UsageError::new(Input::Out, format!("{e:#}")))?;
    }
    if a.json {
        outln!("{}", serde_json::to_string_pretty(&doc)?);
        return Ok(());
    }
    let reports = match reports {
        TheoryReport::Classic(r) => r,
        TheoryReport::Modern(r) => {
            print_modern(&plan, &r);
            return Ok(());
        }
    };
    let f = |v: Option<f64>| v.map_or("—".to_string(), |x| format!("{x:.6}"));
    for r in &reports {
        outln!("segment {} ({}): saliency {:?}", r.segment, r.method.replace('_', " "), r.saliency);
        for note in &r.notes {
            outln!("  note: {note}");
        }
        outln!(
            "  origin: {} (eigenvalues {})",
            r.origin.kind,
            r.origin.eigenvalues.iter().map(|e| format!("{e:.4}")).collect::<Vec<_>>().join(", ")
        );
        outln!("  {:>6} {:>9} {:>10} {:>12} {:>12} {:>10} {:>16}", "memory", "α", "γ", "E/N", "max eig", "α*", "class");
        for m in &r.memories {
            let max_ev = m.eigenvalues.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
            outln!(
                "  {:>6} {:>9.4} {:>10} {:>12} {:>12} {:>10} {:>16}",
                m.index,
                m.saliency,
                f(m.gamma),
                f(m.energy_per_neuron),
                if m.exists { format!("{max_ev:.5}") } else { "—".into() },
                f(m.alpha_star),
                m.class
            );
        }
        if !r.equilibria.is_empty() {
            outln!("  equilibria found numerically: {}", r.equilibria.len());
            for e in &r.equilibria {
                outln!(
                    "    x = [{}]  {}  E = {:.6}",
                    e.x.iter().map(|v| format!("{v:.5}")).collect::<Vec<_>>().join(", "),
                    if e.stable { "stable" } else { "unstable" },
                    e.energy
                );
            }
        }
    }
    Ok(())
}

/// The text form of the modern theory's report.
fn print_modern(plan: &Plan, reports: &[crate::theory::modern::ModernReport]) {
    let Some(md) = plan.model.modern() else { return };
    let psi_y = match md.psi_y {
        crate::plan::PsiY::Identity => "identity".to_string(),
        crate::plan::PsiY::Tanh => "tanh".to_string(),
        crate::plan::PsiY::Softmax { beta } => format!("softmax β = {beta}"),
    };
    let psi_x = if md.identity_x { "identity".to_string() } else { format!("tanh δ = {}", plan.model.slope) };
    let list = |v: &[f64]| v.iter().map(|x| format!("{x:.5}")).collect::<Vec<_>>().join(", ");
    for r in reports {
        outln!(
            "segment {} (modern, numerical; Ψ_α {}, Ψ_y {psi_y}, Ψ_x {psi_x}; τ_α = {}, τ_y = {}, τ_x = {}): saliency {:?}",
            r.segment,
            if md.psi_alpha_tanh { "tanh" } else { "identity" },
            md.tau_alpha,
            md.tau_y,
            md.tau_x,
            r.saliency
        );
        for note in &r.notes {
            outln!("  note: {note}");
        }
        match &r.no_energy {
            None => outln!("  energy: E(x, m(x)), non-increasing along noiseless runs once α has settled"),
            Some(why) => outln!("  energy: none ({why})"),
        }
        let stable = r.equilibria.iter().filter(|e| e.stable).count();
        outln!("  equilibria found numerically: {} ({stable} stable)", r.equilibria.len());
        outln!(
            "    {:>8} {:>9} {:>9} {:>12} {:>10} {:>12}  overlaps m",
            "label",
            "class",
            "unstable",
            "max Re λ",
            "max κ",
            "E"
        );
        for e in &r.equilibria {
            let kmax = e.kappa.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
            outln!(
                "    {:>8} {:>9} {:>9} {:>12.6} {:>10.6} {:>12}  [{}]",
                e.label,
                if e.stable { "stable" } else { "unstable" },
                e.unstable_dims,
                e.max_real,
                kmax,
                e.energy.map_or("—".to_string(), |v| format!("{v:.6}")),
                list(&e.overlaps)
            );
        }
    }
}

pub fn cmd_fpe(a: &FpeArgs) -> Result<()> {
    let (spec, base) = load_spec(a.source.spec.as_deref(), a.source.preset.as_deref())?;
    let plan = resolve::plan(&spec, &base).map_err(spec_usage)?;
    let s = analysis::fpe_files(&plan, a.grid, a.compare.as_deref(), &a.out, a.force)?;
    if let (true, Some(cells), Some(dir)) = (s.cells_ignored, a.grid, &a.compare) {
        let bins = s.grid.bins[..s.grid.dims].iter().map(usize::to_string).collect::<Vec<_>>().join(" × ");
        eprintln!(
            "note: --grid {cells} is not used: with --compare the density is computed on the cells of {}'s histogram ({bins})",
            dir.display()
        );
    }
    eprint!("{}: {} cells, relative residual {:.1e}", plan.spec.name, s.grid.cells(), s.residual);
    match (s.tv_distance, &a.compare) {
        (Some(t), Some(dir)) => eprintln!("; total-variation distance to {}: {t:.4}", dir.display()),
        _ => eprintln!(),
    }
    Ok(())
}
