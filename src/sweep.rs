//! Parameter sweeps: a spec with `"sweep": { "noise.sigma": [0, 2, 8], "variants": { … } }` runs
//! the cartesian product of its axes, one sub-directory per point, and writes sweep.csv,
//! sweep.png and report.md.
//!
//! An axis is a dotted spec path with a list of values (`"input.segments.0.duration"`; a `*`
//! applies to every element of an array, `"input.segments.*.pulse"`), or the reserved key
//! `"variants"`: named sets of such assignments, `{ "classic-pulse": { "model.kind": "classic",
//! "input.segments.*.pulse": 1.0 } }`. The first axis varies slowest.

use std::path::Path;

use anyhow::Result;
use serde_json::{Map, Value};

use crate::engine::RunSummary;
use crate::io;
use crate::plan::Plan;
use crate::spec::{Spec, SpecError};

/// The reserved axis of named assignment sets.
pub const VARIANTS: &str = "variants";

/// The files a sweep writes next to its points' directories.
pub const CSV: &str = "sweep.csv";
const PICTURE: &str = "sweep.png";
const PASSAGE_PICTURE: &str = "sweep_first_passage.png";
const REPORT: &str = "report.md";
const HEATMAP: &str = "sweep_heatmap.png";
const OVERLAP_PICTURE: &str = "sweep_overlap.png";
const OCCUPANCY_PICTURE: &str = "sweep_occupancy.png";

/// The classic Hopfield network's storage capacity P/N at zero temperature (Amit, Gutfreund &
/// Sompolinsky 1985), marked on pictures against `memories.p`.
pub const CLASSIC_CAPACITY: f64 = 0.138;
/// Most panels (combinations of the axes beyond the first two numeric ones) a heat map draws.
pub const MAX_HEATMAP_PANELS: usize = 12;

/// Removes what an earlier sweep left in `out` before a forced rerun: its table, pictures and
/// report, and in every point's directory the earlier run's files.
pub fn clear_previous(out: &Path, points: &[Point]) -> Result<()> {
    for f in [CSV, PICTURE, PASSAGE_PICTURE, REPORT, OCCUPANCY_PICTURE] {
        let path = out.join(f);
        if path.is_file() {
            std::fs::remove_file(&path).map_err(|e| anyhow::anyhow!("cannot remove {}: {e}", path.display()))?;
        }
    }
    for p in points {
        let dir = out.join(&p.dir);
        if dir.is_dir() {
            crate::outputs::manifest::clear_previous(&dir)?;
        }
    }
    Ok(())
}

/// Most points one sweep may have.
pub const MAX_POINTS: usize = 10_000;

/// One value of an axis: its label and the assignments it makes.
#[derive(Debug, Clone, PartialEq)]
pub struct AxisValue {
    pub label: String,
    /// The number it stands for (numeric axes), for the picture's x axis.
    pub number: Option<f64>,
    pub set: Vec<(String, Value)>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Axis {
    /// Column name: the dotted path, or "variant".
    pub name: String,
    pub values: Vec<AxisValue>,
}

impl Axis {
    pub fn numeric(&self) -> bool {
        self.values.iter().all(|v| v.number.is_some())
    }
}

/// One point of the sweep: its position on every axis and its spec.
#[derive(Debug, Clone)]
pub struct Point {
    pub index: usize,
    /// Index into each axis' values.
    pub coords: Vec<usize>,
    pub spec: Spec,
    /// Sub-directory name.
    pub dir: String,
}

/// Reads the axes of a sweep object.
pub fn axes(sweep: &Map<String, Value>) -> Result<Vec<Axis>, SpecError> {
    if sweep.is_empty() {
        return Err(SpecError::new("sweep", "is empty; give at least one axis, e.g. \"noise.sigma\": [0, 1, 2]"));
    }
    let mut out = Vec::new();
    for (key, val) in sweep {
        let field = format!("sweep.{key}");
        if key == VARIANTS {
            let obj = val.as_object().filter(|o| !o.is_empty()).ok_or_else(|| {
                SpecError::new(
                    &field,
                    "must be an object of named assignment sets, e.g. {\"idp\": {\"model.kind\": \"idp\"}}",
                )
            })?;
            let mut values = Vec::new();
            for (name, sets) in obj {
                let sets = sets.as_object().ok_or_else(|| {
                    SpecError::new(format!("{field}.{name}"), "must be an object of \"dotted.path\": value")
                })?;
                values.push(AxisValue {
                    label: name.clone(),
                    number: None,
                    set: sets.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
                });
            }
            out.push(Axis { name: "variant".into(), values });
        } else {
            let list = val
                .as_array()
                .filter(|a| !a.is_empty())
                .ok_or_else(|| SpecError::new(&field, "must be a non-empty list of values, e.g. [0, 1, 2]"))?;
            if key.is_empty() || key.split('.').any(str::is_empty) {
                return Err(SpecError::new(&field, "is not a dotted spec path such as \"noise.sigma\""));
            }
            let values = list
                .iter()
                .map(|v| AxisValue {
                    label: match v {
                        Value::String(s) => s.clone(),
                        other => other.to_string(),
                    },
                    number: v.as_f64(),
                    set: vec![(key.clone(), v.clone())],
                })
                .collect();
            out.push(Axis { name: key.clone(), values });
        }
    }
    Ok(out)
}

/// Sets `path` (dotted; numbers index arrays, `*` is every element) in `doc` to `value`. The
/// last key may be new (it is then checked like any spec field); everything before it must exist.
pub fn assign(doc: &mut Value, path: &str, value: &Value) -> Result<(), String> {
    let parts: Vec<&str> = path.split('.').collect();
    assign_at(doc, &parts, value, "")
}

fn assign_at(doc: &mut Value, parts: &[&str], value: &Value, done: &str) -> Result<(), String> {
    let (head, rest) = (parts[0], &parts[1..]);
    let here = if done.is_empty() { head.to_string() } else { format!("{done}.{head}") };
    match doc {
        Value::Array(items) => {
            if head == "*" {
                for (k, item) in items.iter_mut().enumerate() {
                    let at = if done.is_empty() { k.to_string() } else { format!("{done}.{k}") };
                    if rest.is_empty() {
                        *item = value.clone();
                    } else {
                        assign_at(item, rest, value, &at)?;
                    }
                }
                return Ok(());
            }
            let k: usize = head.parse().map_err(|_| format!("'{here}': an array needs an index or *"))?;
            let len = items.len();
            let item = items.get_mut(k).ok_or_else(|| format!("'{here}': index {k} is past the end ({len} items)"))?;
            if rest.is_empty() {
                *item = value.clone();
                Ok(())
            } else {
                assign_at(item, rest, value, &here)
            }
        }
        Value::Object(map) => {
            if rest.is_empty() {
                map.insert(head.to_string(), value.clone());
                return Ok(());
            }
            match map.get_mut(head) {
                Some(inner) => assign_at(inner, rest, value, &here),
                None => Err(format!("'{here}' is not in the spec")),
            }
        }
        _ => Err(format!("'{done}' is a value, not an object or array")),
    }
}

/// The points of a sweep: the product of its axes over `base` (the spec without "sweep").
pub fn points(base: &Value, axes: &[Axis]) -> Result<Vec<Point>, SpecError> {
    // Counted without overflow: 4 axes of 65 536 values are 2^64 points, not 0.
    let total = axes.iter().try_fold(1usize, |t, a| t.checked_mul(a.values.len()).filter(|&t| t <= MAX_POINTS));
    let Some(total) = total else {
        let sizes: Vec<String> = axes.iter().map(|a| a.values.len().to_string()).collect();
        return Err(SpecError::new(
            "sweep",
            format!("has {} points; at most {MAX_POINTS} are supported", sizes.join(" × ")),
        ));
    };
    if total > MAX_POINTS {
        return Err(SpecError::new("sweep", format!("has {total} points; at most {MAX_POINTS} are supported")));
    }
    let mut out = Vec::with_capacity(total);
    for index in 0..total {
        // Mixed radix, first axis slowest.
        let mut coords = vec![0usize; axes.len()];
        let mut r = index;
        for (k, a) in axes.iter().enumerate().rev() {
            coords[k] = r % a.values.len();
            r /= a.values.len();
        }
        let mut doc = base.clone();
        let mut name = format!("{index:03}");
        for (a, &c) in axes.iter().zip(&coords) {
            let v = &a.values[c];
            for (path, val) in &v.set {
                assign(&mut doc, path, val).map_err(|e| {
                    SpecError::new(format!("sweep.{}", if a.name == "variant" { VARIANTS } else { &a.name }), e)
                })?;
            }
            let short = a.name.rsplit('.').next().unwrap_or(&a.name);
            name.push_str(&format!("_{short}={}", v.label));
        }
        let dir: String =
            name.chars().map(|c| if c.is_ascii_alphanumeric() || "=._-".contains(c) { c } else { '-' }).collect();
        let text = doc.to_string();
        let spec = Spec::from_json(&text).map_err(|e| {
            SpecError::new(e.field, format!("{} (sweep point {index}: {})", e.message, describe(axes, &coords)))
        })?;
        out.push(Point { index, coords, spec, dir });
    }
    Ok(out)
}

/// "noise.sigma = 2, variant = idp".
pub fn describe(axes: &[Axis], coords: &[usize]) -> String {
    axes.iter().zip(coords).map(|(a, &c)| format!("{} = {}", a.name, a.values[c].label)).collect::<Vec<_>>().join(", ")
}

/// What one point produced.
#[derive(Debug, Clone)]
pub struct PointResult {
    pub point: Point,
    pub plan: Plan,
    pub outcome: Result<RunSummary, String>,
}

/// The CSV columns of a point (beyond the axes).
pub fn csv(axes: &[Axis], results: &[PointResult]) -> String {
    let segs = results.iter().map(|r| r.plan.input.segments.len()).max().unwrap_or(0);
    let p = results.iter().map(|r| r.plan.p()).max().unwrap_or(0);
    let mut head: Vec<String> = axes.iter().map(|a| a.name.clone()).collect();
    head.extend(["status", "trajectories", "accuracy", "accuracy_stderr"].map(String::from));
    head.extend((0..segs).map(|k| format!("accuracy_segment{k}")));
    head.push("final_abs_m_target".into());
    head.extend((0..p).map(|mu| format!("fraction_memory{mu}")));
    head.extend(["fraction_none", "first_passage_median", "first_passage_reached"].map(String::from));
    let occ = OccupancyColumns::of(results);
    head.extend(occ.head());
    head.extend(["neuron_steps_per_s", "wall_s", "dir"].map(String::from));
    let mut out = head.join(",") + "\n";
    let f = |v: Option<f64>| v.map_or(String::new(), |x| format!("{x}"));
    for r in results {
        let mut row: Vec<String> =
            axes.iter().zip(&r.point.coords).map(|(a, &c)| csv_field(&a.values[c].label)).collect();
        match &r.outcome {
            Ok(s) => {
                row.push("ok".into());
                row.push(r.plan.ensemble.trajectories.to_string());
                let ret = s.retrieval.as_ref();
                let (acc, se) = ret.map(|x| x.overall()).unzip();
                row.push(f(acc));
                row.push(f(se));
                for k in 0..segs {
                    row.push(f(ret.filter(|x| k < x.segments.len()).and_then(|x| x.accuracy(k))));
                }
                let last = ret.and_then(|x| x.segments.last());
                row.push(f(final_overlap(r, s).map(|v| v.0)));
                let m = r.plan.ensemble.trajectories as f64;
                for mu in 0..p {
                    row.push(f(last
                        .and_then(|l| l.retrieved.get(mu).filter(|_| mu < r.plan.p()))
                        .map(|&c| c as f64 / m)));
                }
                row.push(f(last.map(|l| l.retrieved[r.plan.p()] as f64 / m)));
                let ps = s.passages.as_ref();
                row.push(f(ps.and_then(|x| x.quantile_step(0.5)).map(|st| st as f64 * r.plan.time.dt_f64)));
                row.push(f(ps.map(|x| {
                    let total = x.counts.values().sum::<u64>() + x.never;
                    (total - x.never) as f64 / total.max(1) as f64
                })));
                row.extend(occ.row(s.occupancy.as_ref()));
                row.push(format!("{:.4e}", s.neuron_steps_per_s));
                row.push(format!("{:.3}", s.wall_s));
            }
            Err(e) => {
                row.push(csv_field(&format!("failed: {e}")));
                row.push(r.plan.ensemble.trajectories.to_string());
                row.extend(std::iter::repeat_n(String::new(), 3 + segs + p + 5 + occ.len()));
            }
        }
        row.push(r.point.dir.clone());
        out.push_str(&row.join(","));
        out.push('\n');
    }
    out
}

/// The occupancy columns of sweep.csv (none unless a point observes occupancy): the pooled
/// mass near each equilibrium (by label, over every point's equilibria) and outside, per memory
/// (±γ_μ ξ^μ together), and each memory's mass over memory 0's.
struct OccupancyColumns {
    labels: Vec<String>,
    p: usize,
    on: bool,
}

impl OccupancyColumns {
    fn of(results: &[PointResult]) -> Self {
        let mut labels: Vec<String> = Vec::new();
        let mut p = 0;
        let mut on = false;
        for r in results {
            if let Some(o) = &r.plan.observe.occupancy {
                on = true;
                p = p.max(r.plan.p());
                for e in &o.equilibria {
                    if !labels.contains(&e.label) {
                        labels.push(e.label.clone());
                    }
                }
            }
        }
        OccupancyColumns { labels, p, on }
    }

    fn len(&self) -> usize {
        if self.on { self.labels.len() + 1 + self.p + self.p.saturating_sub(1) } else { 0 }
    }

    fn head(&self) -> Vec<String> {
        if !self.on {
            return Vec::new();
        }
        let name = |l: &str| format!("occupancy_{}", l.replace('+', "plus_").replace('-', "minus_"));
        let mut h: Vec<String> = self.labels.iter().map(|l| name(l)).collect();
        h.push("occupancy_outside".into());
        h.extend((0..self.p).map(|mu| format!("occupancy_memory{mu}")));
        h.extend((1..self.p).map(|mu| format!("occupancy_ratio_memory{mu}_memory0")));
        h
    }

    fn row(&self, s: Option<&crate::outputs::occupancy::OccupancyStats>) -> Vec<String> {
        if !self.on {
            return Vec::new();
        }
        let f = |v: Option<f64>| v.map_or(String::new(), |x| format!("{x}"));
        let mut row: Vec<String> = self
            .labels
            .iter()
            .map(|l| f(s.and_then(|s| s.labels.iter().position(|m| m == l).map(|k| s.mass(k)))))
            .collect();
        row.push(f(s.map(|s| s.mass(s.labels.len()))));
        row.extend((0..self.p).map(|mu| f(s.filter(|s| mu < s.p).map(|s| s.memory_mass(mu)))));
        row.extend((1..self.p).map(|mu| f(s.filter(|s| mu < s.p).map(|s| s.ratio(mu)))));
        row
    }
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\"").replace('\n', " "))
    } else {
        s.to_string()
    }
}

/// What a sweep picture shows per point: (y, error-bar low, error-bar high), if the point has it.
type Measure = dyn Fn(&PointResult, &RunSummary) -> Option<(f64, f64, f64)>;

/// Accuracy ± 2 standard errors (≈ 95 %).
fn accuracy(_: &PointResult, s: &RunSummary) -> Option<(f64, f64, f64)> {
    let (acc, se) = s.retrieval.as_ref()?.overall();
    Some((acc, (acc - 2.0 * se).max(0.0), (acc + 2.0 * se).min(1.0)))
}

/// Mean final abs(m) of the target in the last segment (no error bar).
fn final_overlap(_: &PointResult, s: &RunSummary) -> Option<(f64, f64, f64)> {
    let seg = s.retrieval.as_ref()?.segments.last()?;
    (seg.with_target > 0).then(|| {
        let m = crate::observe::from_fixed(seg.sum_abs_target) / seg.with_target as f64;
        (m, m, m)
    })
}

/// The x axis of a sweep picture, and its marks (see [`x_axis_of`]).
fn x_axis(axes: &[Axis], xa: usize, results: &[PointResult]) -> (String, Vec<io::plot::Mark>) {
    let ns: Vec<usize> = results.iter().map(|r| r.plan.n()).collect();
    let classic = results.iter().any(|r| matches!(r.plan.model.model, crate::plan::Model::Classic { .. }));
    x_axis_of(&axes[xa].name, &ns, classic)
}

/// A sweep picture's x label and marks for the axis `name` over points of sizes `ns`: against
/// `memories.p` with one N for every point, the label gives the load P/N and, when a classic
/// model is among the points, the classic capacity P = 0.138 N is marked.
pub fn x_axis_of(name: &str, ns: &[usize], classic: bool) -> (String, Vec<io::plot::Mark>) {
    let one_n = ns.first().filter(|&&n| ns.iter().all(|&m| m == n));
    match one_n {
        Some(&n) if name == "memories.p" => {
            let marks = if classic {
                vec![io::plot::Mark {
                    x: CLASSIC_CAPACITY * n as f64,
                    label: format!("classic capacity P = {CLASSIC_CAPACITY} N"),
                }]
            } else {
                vec![]
            };
            (format!("memories.p (N = {n}: load P/N = P / {n})"), marks)
        }
        _ => (name.to_string(), vec![]),
    }
}

/// Median first passage with the 25–75 % quantiles (only where at least 75 % pass).
fn passage(r: &PointResult, s: &RunSummary) -> Option<(f64, f64, f64)> {
    let ps = s.passages.as_ref()?;
    let t = |q: f64| ps.quantile_step(q).map(|st| st as f64 * r.plan.time.dt_f64);
    Some((t(0.5)?, t(0.25)?, t(0.75)?))
}

/// The values of a point on every axis but `skip` ("variant = idp" is just "idp"): a line's or
/// a panel's label; "all points" when no axis is left.
fn others(axes: &[Axis], coords: &[usize], skip: &[usize]) -> String {
    let label = axes
        .iter()
        .zip(coords)
        .enumerate()
        .filter(|(k, _)| !skip.contains(k))
        .map(|(_, (a, &c))| {
            if a.name == "variant" { a.values[c].label.clone() } else { format!("{} = {}", a.name, a.values[c].label) }
        })
        .collect::<Vec<_>>()
        .join(", ");
    if label.is_empty() { "all points".into() } else { label }
}

/// The lines of a sweep picture: x = the first numeric axis, one line per combination of the
/// others (points without the measure are left out). None when no axis is numeric or nothing
/// has the measure.
pub fn lines_of(
    axes: &[Axis],
    results: &[PointResult],
    measure: &Measure,
) -> Option<(usize, Vec<io::plot::SweepLine>)> {
    let xa = axes.iter().position(Axis::numeric)?;
    let mut out: Vec<io::plot::SweepLine> = Vec::new();
    let mut keys: Vec<Vec<usize>> = Vec::new();
    for r in results {
        let Ok(s) = &r.outcome else { continue };
        let Some((y, lo, hi)) = measure(r, s) else { continue };
        let key: Vec<usize> = r.point.coords.iter().enumerate().filter(|(k, _)| *k != xa).map(|(_, &c)| c).collect();
        let x = axes[xa].values[r.point.coords[xa]].number.expect("numeric axis");
        let pos = match keys.iter().position(|k| *k == key) {
            Some(i) => i,
            None => {
                keys.push(key);
                out.push(io::plot::SweepLine { label: others(axes, &r.point.coords, &[xa]), points: vec![] });
                out.len() - 1
            }
        };
        out[pos].points.push((x, y, lo, hi));
    }
    for l in &mut out {
        l.points.sort_by(|a, b| a.0.total_cmp(&b.0));
    }
    (!out.is_empty()).then_some((xa, out))
}

/// The heat maps of a sweep over at least two numeric axes: x the first of them, y the second,
/// one panel per combination of the other axes; cells hold the accuracy and the mean final |m|
/// of the target (in the last segment). None with fewer than two numeric axes of two values or
/// more, without retrieval, or with more than [`MAX_HEATMAP_PANELS`] panels.
pub fn heatmap(axes: &[Axis], results: &[PointResult]) -> Option<io::plot::Heatmap> {
    let numeric: Vec<usize> = (0..axes.len()).filter(|&k| axes[k].numeric() && axes[k].values.len() > 1).collect();
    let (&xa, &ya) = (numeric.first()?, numeric.get(1)?);
    let (nx, ny) = (axes[xa].values.len(), axes[ya].values.len());
    let panels_wanted: usize =
        axes.iter().enumerate().filter(|(k, _)| *k != xa && *k != ya).map(|(_, a)| a.values.len()).product();
    if panels_wanted > MAX_HEATMAP_PANELS {
        return None;
    }
    let mut keys: Vec<Vec<usize>> = Vec::new();
    let mut panels: Vec<io::plot::HeatPanel> = Vec::new();
    let mut any = false;
    for r in results {
        let key: Vec<usize> =
            r.point.coords.iter().enumerate().filter(|(k, _)| *k != xa && *k != ya).map(|(_, &c)| c).collect();
        let pos = match keys.iter().position(|k| *k == key) {
            Some(i) => i,
            None => {
                keys.push(key);
                panels.push(io::plot::HeatPanel {
                    label: others(axes, &r.point.coords, &[xa, ya]),
                    accuracy: vec![None; nx * ny],
                    overlap: vec![None; nx * ny],
                });
                panels.len() - 1
            }
        };
        let Ok(s) = &r.outcome else { continue };
        let Some(ret) = &s.retrieval else { continue };
        let cell = r.point.coords[ya] * nx + r.point.coords[xa];
        panels[pos].accuracy[cell] = Some(ret.overall().0);
        panels[pos].overlap[cell] = ret.segments.last().and_then(|seg| {
            (seg.with_target > 0).then(|| crate::observe::from_fixed(seg.sum_abs_target) / seg.with_target as f64)
        });
        any = true;
    }
    any.then(|| io::plot::Heatmap {
        x_name: axes[xa].name.clone(),
        y_name: axes[ya].name.clone(),
        x_labels: axes[xa].values.iter().map(|v| v.label.clone()).collect(),
        y_labels: axes[ya].values.iter().map(|v| v.label.clone()).collect(),
        panels,
    })
}

/// Writes sweep.csv, the sweep's pictures and report.md into `out` for the points' `results`
/// (run in `wall` seconds on `adapter`); returns how many points failed.
pub fn summarise(
    name: &str,
    axes: &[Axis],
    results: &[PointResult],
    out: &Path,
    wall: f64,
    adapter: &str,
) -> Result<usize> {
    io::write_atomic(&out.join(CSV), csv(axes, results).as_bytes())?;
    // One line picture per measure against the first numeric axis (false: nothing to draw).
    let draw = |file: &str, title: String, y_desc: &str, measure: &Measure, unit: bool| -> Result<bool> {
        let Some((xa, lines)) = lines_of(axes, results, measure) else { return Ok(false) };
        let (x, marks) = x_axis(axes, xa, results);
        io::plot::sweep_png(&out.join(file), &title, &x, y_desc, &lines, unit, &marks)?;
        Ok(true)
    };
    let picture =
        draw(PICTURE, format!("{name}: retrieval accuracy (± 2 standard errors)"), "accuracy", &accuracy, true)?;
    let overlap_picture =
        draw(OVERLAP_PICTURE, format!("{name}: mean final |m| of the target"), "mean final |m|", &final_overlap, true)?;
    let passage_picture = draw(
        PASSAGE_PICTURE,
        format!("{name}: median first passage (bars: 25–75 % quantiles)"),
        "time",
        &passage,
        false,
    )?;
    let heat_picture = match heatmap(axes, results) {
        Some(hm) => {
            let title = format!("{name}: retrieval over {} × {}", hm.x_name, hm.y_name);
            io::plot::sweep_heatmap_png(&out.join(HEATMAP), &title, &hm)?;
            true
        }
        None => false,
    };
    let occupancy_picture = occupancy_png(name, axes, results, out)?;
    let mut text =
        report(name, axes, results, [picture, overlap_picture, passage_picture, heat_picture], wall, adapter);
    if occupancy_picture {
        text.push_str(&format!(
            "\nBasin occupancy: the pooled fraction of samples within the radius of ±γ_μ ξ^μ (each memory's two equilibria together; occupancy_* columns of sweep.csv).\n\n![occupancy]({OCCUPANCY_PICTURE})\n"
        ));
    }
    io::write_atomic(&out.join(REPORT), text.as_bytes())?;
    Ok(results.iter().filter(|r| r.outcome.is_err()).count())
}

/// sweep_occupancy.png: the pooled occupancy mass of each memory (and outside) against the
/// first numeric axis, one line per memory and combination of the other axes; false when no
/// point observes occupancy or no axis is numeric.
fn occupancy_png(name: &str, axes: &[Axis], results: &[PointResult], out: &Path) -> Result<bool> {
    let p = results.iter().filter(|r| r.plan.observe.occupancy.is_some()).map(|r| r.plan.p()).max();
    let Some(p) = p else { return Ok(false) };
    let mut all = Vec::new();
    let mut xa = None;
    for k in 0..=p.min(8) {
        let outside = k == p.min(8);
        let measure = move |_: &PointResult, s: &RunSummary| -> Option<(f64, f64, f64)> {
            let o = s.occupancy.as_ref()?;
            let y = if outside { o.mass(o.labels.len()) } else { (k < o.p).then(|| o.memory_mass(k))? };
            Some((y, y, y))
        };
        let Some((x, lines)) = lines_of(axes, results, &measure) else { return Ok(false) };
        xa = Some(x);
        let what = if outside { "outside".to_string() } else { format!("memory {k}") };
        all.extend(lines.into_iter().map(|mut l| {
            l.label = if l.label == "all points" { what.clone() } else { format!("{what}, {}", l.label) };
            l
        }));
    }
    let Some(xa) = xa else { return Ok(false) };
    let (x, marks) = x_axis(axes, xa, results);
    let title = format!("{name}: pooled basin occupancy");
    io::plot::sweep_png(&out.join(OCCUPANCY_PICTURE), &title, &x, "fraction of samples", &all, true, &marks)?;
    Ok(true)
}

/// report.md: the set-up, the table and links to the files, written top to bottom (one
/// Markdown document, one function).
pub fn report(
    name: &str,
    axes: &[Axis],
    results: &[PointResult],
    [picture, overlap_picture, passage_picture, heat_picture]: [bool; 4],
    wall: f64,
    adapter: &str,
) -> String {
    let mut s = format!("# {name}\n\n");
    if let Some(first) = results.first() {
        let p = &first.plan;
        s.push_str(&format!(
            "Set-up (first point): {} model, N = {}, P = {}, slope δ = {}, {} diagonal, dt = {}, σ = {}, {} segment(s) over {} time units, {} trajectories per point, seed {}.\n\n",
            p.model.name(),
            p.n(),
            p.p(),
            p.model.slope,
            if p.model.zero_diagonal() { "zeroed" } else { "full" },
            p.time.dt_f64,
            p.noise.sigma,
            p.input.segments.len(),
            p.duration(),
            p.ensemble.trajectories,
            p.ensemble.seed
        ));
        if let Some(r) = p.observe.retrieval {
            s.push_str(&format!(
                "Retrieval: a trajectory retrieves memory μ at a segment's end when abs(m_μ), averaged over the last {} time units, is the largest overlap and at least {}; accuracy is the fraction of (trajectory, segment) pairs retrieving the segment's dominant memory, averaged over trajectories, with its standard error.\n\n",
                r.window_steps as f64 * p.time.dt_f64,
                r.threshold
            ));
        }
    }
    s.push_str("Swept:\n\n");
    for a in axes {
        let vals: Vec<String> = a
            .values
            .iter()
            .map(|v| {
                if a.name == "variant" {
                    let sets: Vec<String> = v.set.iter().map(|(k, x)| format!("{k} = {x}")).collect();
                    format!("`{}` ({})", v.label, sets.join(", "))
                } else {
                    format!("`{}`", v.label)
                }
            })
            .collect();
        s.push_str(&format!("- {}: {}\n", a.name, vals.join(", ")));
    }
    s.push_str(&format!(
        "\n{} points in {:.1} s on {}. Every point's outputs (overlaps.png, retrieval.json, run.json, …) are in its sub-directory; [sweep.csv](sweep.csv) has one row per point.\n\n",
        results.len(),
        wall,
        if adapter.is_empty() { "—" } else { adapter }
    ));
    if picture {
        s.push_str("![accuracy](sweep.png)\n\n");
    }
    if overlap_picture {
        s.push_str("![mean final overlap](sweep_overlap.png)\n\n");
    }
    if passage_picture {
        s.push_str("![first passage](sweep_first_passage.png)\n\n");
    }
    if heat_picture {
        s.push_str(&format!("![heat map]({HEATMAP})\n\n"));
    }
    let segs = results.iter().map(|r| r.plan.input.segments.len()).max().unwrap_or(0);
    let mut head: Vec<String> = axes.iter().map(|a| a.name.clone()).collect();
    head.push("accuracy ± s.e.".into());
    if segs > 1 {
        head.extend((0..segs).map(|k| format!("segment {k}")));
    }
    head.extend(["median first passage".to_string(), "neuron-steps/s".to_string(), "picture".to_string()]);
    s.push_str(&format!("| {} |\n|{}\n", head.join(" | "), "---|".repeat(head.len())));
    for r in results {
        let mut row: Vec<String> = axes.iter().zip(&r.point.coords).map(|(a, &c)| a.values[c].label.clone()).collect();
        match &r.outcome {
            Ok(o) => {
                let ret = o.retrieval.as_ref();
                row.push(ret.map_or("—".into(), |x| {
                    let (a, se) = x.overall();
                    format!("{a:.4} ± {se:.4}")
                }));
                if segs > 1 {
                    for k in 0..segs {
                        row.push(
                            ret.filter(|x| k < x.segments.len())
                                .and_then(|x| x.accuracy(k))
                                .map_or("—".into(), |a| format!("{a:.3}")),
                        );
                    }
                }
                row.push(
                    o.passages
                        .as_ref()
                        .and_then(|x| x.quantile_step(0.5))
                        .map_or("—".into(), |st| format!("{:.2}", st as f64 * r.plan.time.dt_f64)),
                );
                row.push(format!("{:.2e}", o.neuron_steps_per_s));
            }
            Err(e) => {
                row.push(format!("failed: {}", e.replace('|', "/")));
                row.extend(std::iter::repeat_n("—".to_string(), if segs > 1 { segs } else { 0 } + 2));
            }
        }
        row.push(format!("[overlaps]({}/overlaps.png)", r.point.dir));
        s.push_str(&format!("| {} |\n", row.join(" | ")));
    }
    s
}
