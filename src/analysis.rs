//! The analyses beside simulation, for both front ends: the theory's report (docs/THEORY.md §3,
//! §15), the N = 2 landscape pictures, and the stationary Fokker–Planck density on a grid
//! (§6), with the checks that refuse what each cannot take.

use std::path::Path;

use anyhow::Result;

use crate::error::{Input, SpecError, UsageError};
use crate::plan::{ClosedForm, Plan};
use crate::spec::Spec;
use crate::{io, resolve};

/// Draws the N = 2 landscape of `plan` with `trajectories` sample paths into `out` (which must
/// be empty unless `force`); the files written.
pub fn landscape(plan: &Plan, out: &Path, trajectories: usize, force: bool) -> Result<Vec<String>> {
    if plan.n() != 2 {
        return Err(UsageError::new(
            Input::Field("memories".into()),
            format!("the landscape picture needs N = 2, this spec has N = {}", plan.n()),
        )
        .into());
    }
    one_input(plan)?;
    no_closed_form(plan)?;
    if plan.model.modern().is_some() {
        modern_memories(plan)?;
        for k in 0..plan.input.segments.len() {
            if let Some(why) = crate::theory::modern::ModernField::new(plan, k).and_then(|f| f.no_energy()) {
                return Err(UsageError::new(Input::Field(format!("input.segments[{k}]")), format!(
                    "the landscape draws the energy, and there is none here: {why}; use the softmax psi_y or non-negative saliencies"
                ))
                .into());
            }
        }
    }
    if trajectories > 1000 {
        return Err(UsageError::new(
            Input::Trajectories,
            format!("{trajectories} is too many to draw; accepted: 0 to 1000"),
        )
        .into());
    }
    io::prepare_out_dir(out, force, io::Writes::Files)?;
    crate::landscape::run(plan, out, trajectories)
}

/// Refuses a model that states no closed form (`ModelPlan::closed_form`).
fn no_closed_form(plan: &Plan) -> Result<()> {
    match plan.model.closed_form() {
        ClosedForm::None(why) => {
            Err(SpecError::new("model.kind", format!("has no closed forms for the theory: {why}")).into())
        }
        ClosedForm::Hopfield(_) | ClosedForm::Modern(_) => Ok(()),
    }
}

/// Refuses memories the modern theory cannot take: more than its equilibrium search's P, or
/// linearly dependent ones.
fn modern_memories(plan: &Plan) -> Result<()> {
    use crate::theory::modern::{MAX_P, ModernField};
    if plan.p() > MAX_P {
        return Err(UsageError::new(
            Input::Field("memories.p".into()),
            format!("P = {} is more than the modern theory's equilibrium search takes; at most {MAX_P}", plan.p()),
        )
        .into());
    }
    if ModernField::new(plan, 0).is_some_and(|f| !f.full_rank()) {
        return Err(UsageError::new(
            Input::Field("memories".into()),
            "the modern theory needs linearly independent memories (P ≤ N and a non-singular Gram matrix)",
        )
        .into());
    }
    Ok(())
}

/// Refuses plans whose input differs between trajectories (theory and landscapes describe one
/// input).
fn one_input(plan: &Plan) -> Result<()> {
    match plan.input.per_trajectory() {
        Some((k, field)) => Err(UsageError::new(
            Input::Field(format!("input.segments[{k}].{field}")),
            "every trajectory has its own input, so there is no single landscape; give \"weights\" or \"saliency\"",
        )
        .into()),
        None => Ok(()),
    }
}

/// How the quick form's N is set: by the user (`theory --n`), or fixed (`landscape`, N = 2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QuickN {
    Given(usize),
    Fixed(usize),
}

/// The plan of the quick form: IDP, Hadamard memories, the given saliencies (at least one),
/// slope, N, σ and duration, with 16 trajectories. Errors name the quick form's inputs: only
/// the inputs the user gave (a fixed N is no input).
pub fn quick_plan(saliency: &[f64], slope: f64, n: QuickN, sigma: f64, duration: f64) -> Result<Plan> {
    if saliency.is_empty() {
        return Err(UsageError::new(Input::Saliency, "give at least one saliency").into());
    }
    let (n, network) = match n {
        QuickN::Given(n) => (n, Input::QuickNetwork),
        QuickN::Fixed(n) => {
            if saliency.len() > n {
                return Err(UsageError::new(
                    Input::Saliency,
                    format!(
                        "{} saliencies: a landscape is drawn for N = {n}, whose network holds at most {n} memories; give one saliency per memory",
                        saliency.len()
                    ),
                )
                .into());
            }
            (n, Input::Saliency)
        }
    };
    // Checked here: JSON has no NaN or infinity, so the spec below could only name its own
    // fields for them.
    if let Some(s) = saliency.iter().find(|s| !s.is_finite()) {
        return Err(UsageError::new(Input::Saliency, format!("{s} is not a finite number")).into());
    }
    for (input, v) in [(Input::Slope, slope), (Input::Sigma, sigma)] {
        if !v.is_finite() {
            return Err(UsageError::new(input, format!("{v} is not a finite number")).into());
        }
    }
    let name = quick_name(saliency);
    let spec = serde_json::json!({
        "name": name,
        "model": { "kind": "idp", "activation": { "kind": "tanh", "slope": slope } },
        "memories": { "kind": "hadamard", "n": n, "p": saliency.len() },
        "input": { "segments": [ { "duration": duration, "saliency": saliency } ] },
        "noise": { "sigma": sigma },
        "ensemble": { "trajectories": 16, "seed": 1, "initial": { "kind": "normal", "std": 1.5 } },
        "observe": { "overlaps": { "every": 0.05 } }
    });
    let spec = Spec::from_json(&spec.to_string()).map_err(UsageError::from)?;
    resolve::plan(&spec, Path::new(".")).map_err(|e| {
        let input = match e.field.as_str() {
            "model.activation.slope" => Input::Slope,
            "noise.sigma" => Input::Sigma,
            f if f.starts_with("memories") => network,
            f if f.starts_with("input") => Input::Saliency,
            f => Input::Field(f.to_string()),
        };
        UsageError::new(input, e.message).into()
    })
}

/// The name of a quick-form plan: "saliency a, b, …", its values cut short (with their count)
/// where they would pass the longest name a spec may have.
fn quick_name(saliency: &[f64]) -> String {
    let values: Vec<String> = saliency.iter().map(|s| s.to_string()).collect();
    let name = format!("saliency {}", values.join(", "));
    if name.chars().count() <= resolve::limits::MAX_NAME_CHARS {
        return name;
    }
    let tail = format!(", … ({} values)", values.len());
    let mut head = String::from("saliency");
    for (k, v) in values.iter().enumerate() {
        let sep = if k == 0 { " " } else { ", " };
        if head.chars().count() + sep.len() + v.chars().count() + tail.chars().count() > resolve::limits::MAX_NAME_CHARS
        {
            break;
        }
        head += sep;
        head += v;
    }
    head + &tail
}

/// The theory's reports: the classic/IDP analysis (docs/THEORY.md §3) or the modern one (§15).
/// Serialized as the list of segment reports either way.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(untagged)]
pub enum TheoryReport {
    Classic(Vec<crate::theory::SegmentReport>),
    Modern(Vec<crate::theory::modern::ModernReport>),
}

/// The theory's report of every input segment of `plan` (`n_input` names N in errors).
pub fn theory(plan: &Plan, n_input: Input) -> Result<TheoryReport> {
    one_input(plan)?;
    no_closed_form(plan)?;
    if plan.model.modern().is_some() {
        use crate::theory::modern::MAX_N;
        if plan.n() > MAX_N {
            return Err(UsageError::new(n_input, format!(
                "N = {} is more than the modern theory takes (it forms the (N + 2P)-square Jacobian of every equilibrium); at most {MAX_N}",
                plan.n()
            ))
            .into());
        }
        modern_memories(plan)?;
        return Ok(TheoryReport::Modern(crate::theory::modern::analyze(plan)));
    }
    if plan.n() > crate::theory::MAX_N {
        return Err(UsageError::new(
            n_input,
            format!(
                "N = {} is more than the theory's dense N × N analysis takes; at most {}",
                plan.n(),
                crate::theory::MAX_N
            ),
        )
        .into());
    }
    Ok(TheoryReport::Classic(crate::theory::analyze(plan)))
}

/// Cells per axis of the density grid when none is given.
pub const DEFAULT_GRID: usize = 200;

/// Refuses to compare `plan`'s density with the run in `dir` unless that run (intact, as its
/// manifest says) integrated the same stationary problem: the same model, memories (by their
/// digest too), input and noise level. Its ensemble, observers and run settings may differ.
fn same_problem(plan: &Plan, dir: &Path) -> Result<()> {
    use crate::outputs::manifest;
    let path = dir.join(manifest::RUN_JSON);
    let refuse = |what: String| -> anyhow::Error { UsageError::new(Input::Compare, what).into() };
    let text = io::read_bounded(&path, io::MAX_DOCUMENT_BYTES)
        .and_then(|b| String::from_utf8(b).map_err(|_| "is not UTF-8 text".to_string()))
        .map_err(|e| refuse(format!("cannot read {} ({e}); give the directory of a complete run", path.display())))?;
    let run: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| refuse(format!("{} is not valid JSON ({e})", path.display())))?;
    manifest::verify(dir, &run).map_err(|e| refuse(format!("{}: {e}", dir.display())))?;
    let ours: serde_json::Value = serde_json::from_str(&serde_json::json!(plan.spec).to_string())?;
    let theirs = &run["spec"];
    let differs = ["model", "memories", "input"]
        .into_iter()
        .find(|k| theirs[k] != ours[k])
        .or_else(|| (theirs["noise"]["sigma"] != ours["noise"]["sigma"]).then_some("noise.sigma"))
        .or_else(|| {
            (run["memories_sha256"].as_str() != Some(plan.memories.digest().as_str())).then_some("memories_sha256")
        });
    match differs {
        Some(k) => Err(refuse(format!(
            "{} holds a run of another model or other parameters (its {k} differs from this spec's); compare a run of this spec",
            dir.display()
        ))),
        None => Ok(()),
    }
}

fn check_grid(cells: usize) -> Result<()> {
    if !(2..=2000).contains(&cells) {
        return Err(UsageError::new(Input::Grid, format!("{cells} is out of range; accepted: 2 to 2000")).into());
    }
    Ok(())
}

/// The grid of `cells` per axis over the plan's state histogram range (±4 without one).
fn default_grid(plan: &Plan, cells: usize) -> crate::fpe::Grid {
    let range = match &plan.observe.histogram {
        Some(h) if h.of_state && h.dims == plan.n() => h.range,
        _ => [[-4.0, 4.0]; 2],
    };
    crate::fpe::Grid { dims: plan.n(), bins: [cells, if plan.n() == 2 { cells } else { 1 }], range }
}

fn check_matrix(grid: &crate::fpe::Grid, input: Input, what: &str) -> Result<()> {
    use crate::fpe;
    if grid.matrix_bytes() > fpe::MAX_MATRIX_BYTES {
        return Err(UsageError::new(input, format!(
            "{what}{} cells need {:.1} GB for the solver's banded matrix; at most {} GB (in 2-D, at most about 500 cells per axis)",
            grid.cells(),
            grid.matrix_bytes() as f64 / 1e9,
            fpe::MAX_MATRIX_BYTES >> 30
        ))
        .into());
    }
    Ok(())
}

/// The stationary density of `plan` (N = 1 or 2) on a grid of `cells` per axis, and the grid.
pub fn fpe_density(plan: &Plan, cells: usize) -> Result<(crate::fpe::Grid, crate::fpe::Solution)> {
    crate::fpe::check(plan).map_err(UsageError::from)?;
    check_grid(cells)?;
    let grid = default_grid(plan, cells);
    check_matrix(&grid, Input::Grid, "")?;
    let sol = crate::fpe::solve(plan, &grid)?;
    Ok((grid, sol))
}

/// What [`fpe_files`] computed: the grid, the relative residual and, with a run to compare,
/// the total-variation distance to its histogram.
pub struct FpeSummary {
    pub grid: crate::fpe::Grid,
    pub residual: f64,
    pub tv_distance: Option<f64>,
    /// True when `cells` was given but not used (the compared run's histogram sets the cells).
    pub cells_ignored: bool,
}

/// Solves `plan`'s stationary density (N = 1 or 2) and writes density.npy, density.png and
/// fpe.json into `out` (empty unless `force`): on `cells` per axis ([`DEFAULT_GRID`] without),
/// or, with `compare`, on the cells of that run's state histogram, giving the total-variation
/// distance between the two.
pub fn fpe_files(
    plan: &Plan,
    cells: Option<usize>,
    compare: Option<&Path>,
    out: &Path,
    force: bool,
) -> Result<FpeSummary> {
    use crate::fpe::{self, Grid};
    use crate::outputs::histogram;
    fpe::check(plan).map_err(UsageError::from)?;
    check_grid(cells.unwrap_or(DEFAULT_GRID))?;
    let compared =
        match compare {
            None => None,
            Some(dir) => {
                same_problem(plan, dir)?;
                let (hp, counts, _) =
                    histogram::read(dir).map_err(|e| UsageError::new(Input::Compare, format!("{e:#}")))?;
                let want: Vec<u32> = (0..plan.n() as u32).collect();
                if !hp.of_state || hp.dims != plan.n() || hp.axes[..hp.dims] != want[..] {
                    return Err(UsageError::new(Input::Compare, format!(
                    "{} holds a histogram of {:?} {}; the grid solver needs the state histogram over axes {want:?}",
                    dir.display(),
                    &hp.axes[..hp.dims],
                    if hp.of_state { "state" } else { "overlaps" }
                ))
                .into());
                }
                Some((hp, counts))
            }
        };
    let grid = match &compared {
        Some((hp, _)) => Grid { dims: hp.dims, bins: [hp.bins[0] as usize, hp.bins[1] as usize], range: hp.range },
        None => default_grid(plan, cells.unwrap_or(DEFAULT_GRID)),
    };
    match compare {
        Some(_) => check_matrix(&grid, Input::Compare, "the histogram's bins: ")?,
        None => check_matrix(&grid, Input::Grid, "")?,
    }
    io::prepare_out_dir(out, force, io::Writes::Files)?;
    let t0 = std::time::Instant::now();
    let sol = fpe::solve(plan, &grid)?;
    let shape: Vec<u64> = (0..grid.dims).map(|k| grid.bins[k] as u64).collect();
    io::write_npy(&out.join("density.npy"), &shape, &sol.density)?;
    let hp = crate::plan::HistogramPlan {
        of_state: true,
        dims: grid.dims,
        axes: [0, 1],
        bins: [grid.bins[0] as u32, grid.bins[1] as u32],
        lo: [grid.range[0][0] as f32, grid.range[1][0] as f32],
        scale: [1.0, 1.0],
        range: grid.range,
        from_steps: 0,
        every_steps: 1,
    };
    let markers = histogram::markers(plan, &hp);
    let names = histogram::axis_names(&hp);
    let title = format!("{} — stationary Fokker–Planck density (grid)", plan.spec.name);
    io::plot::density_png(&out.join("density.png"), &title, &hp, &sol.density, &markers, &names)?;
    let tv =
        compared.as_ref().map(|(h, counts)| fpe::tv_distance(&sol.density, grid.cell_area(), &counts[..h.cells()]));
    let doc = serde_json::json!({
        "spec": plan.spec,
        "grid": { "bins": &grid.bins[..grid.dims], "range": &grid.range[..grid.dims], "cell_area": grid.cell_area() },
        "method": "finite volumes, Scharfetter–Gummel fluxes, zero-flux walls, banded direct solve",
        "residual": sol.residual,
        "seconds": t0.elapsed().as_secs_f64(),
        "compare": compare.map(|d| serde_json::json!({
            "run": d.display().to_string(),
            "tv_distance": tv,
            "histogram_samples_in_range": compared.as_ref().map(|(h, c)| c[..h.cells()].iter().sum::<u64>()),
            "histogram_samples_out_of_range": compared.as_ref().map(|(h, c)| c[h.cells()]),
        })),
        "files": ["density.npy", "density.png", "fpe.json"],
    });
    io::write_json(&out.join("fpe.json"), &doc)?;
    Ok(FpeSummary {
        grid,
        residual: sol.residual,
        tv_distance: tv,
        cells_ignored: cells.is_some() && compare.is_some(),
    })
}
