//! Parameter sweeps: a spec with `"sweep": { "noise.sigma": [0, 2, 8], "variants": { … } }` runs
//! the cartesian product of its axes, one sub-directory per point, and writes sweep.csv,
//! sweep.png and report.md.
//!
//! An axis is a dotted spec path with a list of values (`"input.segments.0.duration"`; a `*`
//! applies to every element of an array, `"input.segments.*.pulse"`), or the reserved key
//! `"variants"`: named sets of such assignments, `{ "classic-pulse": { "model.kind": "classic",
//! "input.segments.*.pulse": 1.0 } }`. The first axis varies slowest.
//!
//! `"replicates": K` runs every point on K networks of random memories, memories.seed = s, s + 1,
//! …, s + K − 1 (s the point's own memories.seed): an axis named "replicate" that varies fastest.
//! Each network is a point of its own (its directory, its CSV row); the CSV, the report and the
//! pictures add the mean over networks with its standard error.

use std::path::Path;

use anyhow::Result;
use serde_json::{Map, Value};

use crate::engine::RunSummary;
use crate::io;
use crate::plan::Plan;
use crate::spec::{Spec, SpecError};

/// The reserved axis of named assignment sets.
pub const VARIANTS: &str = "variants";
/// The reserved key of replicate networks: `"replicates": K`.
pub const REPLICATES: &str = "replicates";
/// The axis (and CSV column) of replicate networks: values 0..K.
pub const REPLICATE: &str = "replicate";
/// Most replicate networks per point.
pub const MAX_REPLICATES: u64 = 1000;

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
    let mut replicates = None;
    for (key, val) in sweep {
        let field = format!("sweep.{key}");
        if key == REPLICATES {
            let k = val.as_u64().filter(|k| (2..=MAX_REPLICATES).contains(k)).ok_or_else(|| {
                SpecError::new(
                    &field,
                    format!("must be a whole number of networks from 2 to {MAX_REPLICATES}, e.g. 8 (got {val})"),
                )
            })?;
            let values = (0..k).map(|r| AxisValue { label: r.to_string(), number: None, set: Vec::new() }).collect();
            replicates = Some(Axis { name: REPLICATE.into(), values });
        } else if key == VARIANTS {
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
    if let Some(r) = replicates {
        if out.iter().any(|a| a.values.iter().any(|v| v.set.iter().any(|(k, _)| k == "memories.seed"))) {
            return Err(SpecError::new(
                format!("sweep.{REPLICATES}"),
                "sets memories.seed itself (seed, seed + 1, …); remove the sweep's other memories.seed assignments",
            ));
        }
        // The fastest axis: a point's networks are neighbours.
        out.push(r);
    }
    Ok(out)
}

/// The position of the replicate-network axis, if the sweep has one.
pub fn replicate_axis(axes: &[Axis]) -> Option<usize> {
    axes.iter().position(|a| a.name == REPLICATE)
}

/// Sets memories.seed of replicate network `r` in a point's `doc`: its own seed + r. Refused for
/// memories without a seed.
fn assign_replicate(doc: &mut Value, r: usize) -> Result<(), String> {
    let kind = doc["memories"]["kind"].as_str().unwrap_or("?").to_string();
    if kind != "random" {
        return Err(format!(
            "needs random memories (memories.kind \"random\", whose seed draws each network); memories.kind \"{kind}\" has no seed"
        ));
    }
    let seed = doc["memories"]["seed"].as_u64().unwrap_or(0);
    let seed = seed
        .checked_add(r as u64)
        .ok_or_else(|| format!("memories.seed {seed} + {r} is past the largest seed (2^64 − 1)"))?;
    doc["memories"]["seed"] = Value::from(seed);
    Ok(())
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
            if a.name == REPLICATE {
                assign_replicate(&mut doc, c).map_err(|e| {
                    SpecError::new(
                        format!("sweep.{REPLICATES}"),
                        format!("{e} (sweep point {index}: {})", describe(axes, &coords)),
                    )
                })?;
            }
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
    let ra = replicate_axis(axes);
    if ra.is_some() {
        head.extend(NETWORK_COLUMNS.map(String::from));
    }
    let groups =
        ra.map(|ra| (by_group(axes, results, &[ra], &accuracy), by_group(axes, results, &[ra], &final_overlap)));
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
        if let (Some(ra), Some((acc, overlap))) = (ra, &groups) {
            let key = without(&r.point.coords, &[ra]);
            let ok = results.iter().filter(|o| o.outcome.is_ok() && without(&o.point.coords, &[ra]) == key).count();
            let mut net = vec![ok.to_string()];
            for values in [acc, overlap] {
                let ms = values.get(&key).and_then(|v| mean_stderr(v));
                net.push(f(ms.map(|m| m.0)));
                net.push(f(ms.and_then(|m| m.1)));
            }
            let at = axes.len() + 4;
            row.splice(at..at, net);
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

/// The columns a sweep with replicate networks adds after `accuracy_stderr`: over the networks
/// of the row's point (the rows that differ only in `replicate`), how many finished, and the mean
/// and standard error of their accuracies and of their mean final abs(m) of the target.
pub const NETWORK_COLUMNS: [&str; 5] = [
    "networks",
    "accuracy_networks_mean",
    "accuracy_networks_stderr",
    "final_abs_m_target_networks_mean",
    "final_abs_m_target_networks_stderr",
];

/// `coords` without the positions in `skip`.
fn without(coords: &[usize], skip: &[usize]) -> Vec<usize> {
    coords.iter().enumerate().filter(|(k, _)| !skip.contains(k)).map(|(_, &c)| c).collect()
}

/// The mean of `v` and its standard error (the sample standard deviation over √n; None with
/// fewer than two values); None for no values.
pub fn mean_stderr(v: &[f64]) -> Option<(f64, Option<f64>)> {
    if v.is_empty() {
        return None;
    }
    let n = v.len() as f64;
    let mean = v.iter().sum::<f64>() / n;
    let se = (v.len() > 1).then(|| (v.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / (n - 1.0) / n).sqrt());
    Some((mean, se))
}

/// A measure's value at every finished point that has it, gathered by the point's coordinates
/// without the axes in `skip` (in point order).
fn by_group(
    axes: &[Axis],
    results: &[PointResult],
    skip: &[usize],
    measure: &Measure,
) -> std::collections::HashMap<Vec<usize>, Vec<f64>> {
    debug_assert!(skip.iter().all(|&k| k < axes.len()));
    let mut out: std::collections::HashMap<Vec<usize>, Vec<f64>> = std::collections::HashMap::new();
    for r in results {
        let Ok(s) = &r.outcome else { continue };
        if let Some((y, _, _)) = measure(r, s) {
            out.entry(without(&r.point.coords, skip)).or_default().push(y);
        }
    }
    out
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
        let m = crate::stats::from_fixed(seg.sum_abs_target) / seg.with_target as f64;
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
    if let Some(ra) = replicate_axis(axes) {
        return network_lines(axes, results, measure, xa, ra);
    }
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

/// [`lines_of`] for a sweep with replicate networks (axis `ra`): at every x, the mean of the
/// measure over the networks that have it, with bars of ± 1 standard error over networks.
fn network_lines(
    axes: &[Axis],
    results: &[PointResult],
    measure: &Measure,
    xa: usize,
    ra: usize,
) -> Option<(usize, Vec<io::plot::SweepLine>)> {
    let groups = by_group(axes, results, &[ra], measure);
    let mut out: Vec<io::plot::SweepLine> = Vec::new();
    let mut keys: Vec<Vec<usize>> = Vec::new();
    let mut seen: Vec<Vec<usize>> = Vec::new();
    for r in results {
        let group = without(&r.point.coords, &[ra]);
        if seen.contains(&group) {
            continue;
        }
        seen.push(group.clone());
        let Some((y, se)) = groups.get(&group).and_then(|v| mean_stderr(v)) else { continue };
        let se = se.unwrap_or(0.0);
        let key = without(&r.point.coords, &[xa, ra]);
        let x = axes[xa].values[r.point.coords[xa]].number.expect("numeric axis");
        let pos = match keys.iter().position(|k| *k == key) {
            Some(i) => i,
            None => {
                keys.push(key);
                out.push(io::plot::SweepLine { label: others(axes, &r.point.coords, &[xa, ra]), points: vec![] });
                out.len() - 1
            }
        };
        out[pos].points.push((x, y, y - se, y + se));
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
    // With replicate networks a cell holds the mean over the point's networks.
    let ra = replicate_axis(axes);
    let skip: Vec<usize> = [xa, ya].into_iter().chain(ra).collect();
    let panels_wanted: usize =
        axes.iter().enumerate().filter(|(k, _)| !skip.contains(k)).map(|(_, a)| a.values.len()).product();
    if panels_wanted > MAX_HEATMAP_PANELS {
        return None;
    }
    let over = ra.map(|ra| (by_group(axes, results, &[ra], &accuracy), by_group(axes, results, &[ra], &final_overlap)));
    let mut keys: Vec<Vec<usize>> = Vec::new();
    let mut panels: Vec<io::plot::HeatPanel> = Vec::new();
    let mut any = false;
    for r in results {
        let key = without(&r.point.coords, &skip);
        let pos = match keys.iter().position(|k| *k == key) {
            Some(i) => i,
            None => {
                keys.push(key);
                panels.push(io::plot::HeatPanel {
                    label: others(axes, &r.point.coords, &skip),
                    accuracy: vec![None; nx * ny],
                    overlap: vec![None; nx * ny],
                });
                panels.len() - 1
            }
        };
        let Ok(s) = &r.outcome else { continue };
        let Some(ret) = &s.retrieval else { continue };
        let cell = r.point.coords[ya] * nx + r.point.coords[xa];
        if let (Some(ra), Some((acc, overlap))) = (ra, &over) {
            let group = without(&r.point.coords, &[ra]);
            let mean = |m: &std::collections::HashMap<Vec<usize>, Vec<f64>>| {
                m.get(&group).and_then(|v| mean_stderr(v)).map(|x| x.0)
            };
            panels[pos].accuracy[cell] = mean(acc);
            panels[pos].overlap[cell] = mean(overlap);
            any = true;
            continue;
        }
        panels[pos].accuracy[cell] = Some(ret.overall().0);
        panels[pos].overlap[cell] = ret.segments.last().and_then(|seg| {
            (seg.with_target > 0).then(|| crate::stats::from_fixed(seg.sum_abs_target) / seg.with_target as f64)
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
    let networks = replicate_axis(axes).map(|ra| axes[ra].values.len());
    let (acc_title, overlap_title, passage_title) = match networks {
        None => (
            format!("{name}: retrieval accuracy (± 2 standard errors)"),
            format!("{name}: mean final |m| of the target"),
            format!("{name}: median first passage (bars: 25–75 % quantiles)"),
        ),
        Some(k) => (
            format!("{name}: retrieval accuracy, mean over {k} networks (± 1 standard error over networks)"),
            format!("{name}: mean final |m| of the target, mean over {k} networks (± 1 s.e. over networks)"),
            format!("{name}: median first passage, mean over {k} networks (± 1 s.e. over networks)"),
        ),
    };
    let picture = draw(PICTURE, acc_title, "accuracy", &accuracy, true)?;
    let overlap_picture = draw(OVERLAP_PICTURE, overlap_title, "mean final |m|", &final_overlap, true)?;
    let passage_picture = draw(PASSAGE_PICTURE, passage_title, "time", &passage, false)?;
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
        if a.name == REPLICATE {
            let seeds: Vec<String> = results
                .iter()
                .filter(|r| r.point.coords.iter().enumerate().all(|(k, &c)| k == axes.len() - 1 || c == 0))
                .map(|r| r.plan.spec.memories_seed().map_or("—".into(), |s| s.to_string()))
                .collect();
            s.push_str(&format!(
                "- {REPLICATE}: {} networks per point, memories.seed = the point's seed + 0, …, + {} (first point: {})\n",
                a.values.len(),
                a.values.len() - 1,
                seeds.join(", ")
            ));
            continue;
        }
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
    if let Some(ra) = replicate_axis(axes) {
        s.push_str(&networks_table(axes, results, ra));
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

/// The report's table over networks: one row per point of the sweep without its replicate axis
/// `ra`, the mean over its networks ± the standard error over networks.
fn networks_table(axes: &[Axis], results: &[PointResult], ra: usize) -> String {
    let acc = by_group(axes, results, &[ra], &accuracy);
    let overlap = by_group(axes, results, &[ra], &final_overlap);
    let mut head: Vec<String> =
        axes.iter().enumerate().filter(|(k, _)| *k != ra).map(|(_, a)| a.name.clone()).collect();
    head.extend(
        ["networks", "accuracy over networks ± s.e.", "final abs(m) of the target over networks ± s.e."]
            .map(String::from),
    );
    let mut s = format!(
        "Over networks (each point's {} networks: mean ± standard error over networks):\n\n| {} |\n|{}\n",
        axes[ra].values.len(),
        head.join(" | "),
        "---|".repeat(head.len())
    );
    let mut seen: Vec<Vec<usize>> = Vec::new();
    for r in results {
        let group = without(&r.point.coords, &[ra]);
        if seen.contains(&group) {
            continue;
        }
        let mut row: Vec<String> = axes
            .iter()
            .zip(&r.point.coords)
            .enumerate()
            .filter(|(k, _)| *k != ra)
            .map(|(_, (a, &c))| a.values[c].label.clone())
            .collect();
        let ok = results.iter().filter(|o| o.outcome.is_ok() && without(&o.point.coords, &[ra]) == group).count();
        row.push(ok.to_string());
        for m in [&acc, &overlap] {
            row.push(m.get(&group).and_then(|v| mean_stderr(v)).map_or("—".into(), |(y, se)| match se {
                Some(se) => format!("{y:.4} ± {se:.4}"),
                None => format!("{y:.4}"),
            }));
        }
        s.push_str(&format!("| {} |\n", row.join(" | ")));
        seen.push(group);
    }
    s.push('\n');
    s
}
