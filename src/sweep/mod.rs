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
//!
//! What the sweep writes beside its points is `report`'s: the layout, with the columns,
//! pictures and paragraphs of each observable from its output's `outputs::SweepPart`.

mod report;

use std::path::Path;

use anyhow::Result;
use serde_json::{Map, Value};

pub use report::{csv, heatmap, lines_of, mean_stderr, summarise, x_axis_of};

use crate::engine::RunSummary;
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

/// The files a sweep writes next to its points' directories (and the outputs' pictures, named
/// by their `SweepPart`s).
pub const CSV: &str = crate::outputs::manifest::SWEEP_CSV;
const REPORT: &str = crate::outputs::manifest::SWEEP_REPORT;

/// The classic Hopfield network's storage capacity P/N at zero temperature (Amit, Gutfreund &
/// Sompolinsky 1985), marked on pictures against `memories.p`.
pub const CLASSIC_CAPACITY: f64 = 0.138;
/// Most panels (combinations of the axes beyond the first two numeric ones) a heat map draws.
pub const MAX_HEATMAP_PANELS: usize = 12;

/// Removes what an earlier sweep left in `out` before a forced rerun: its table, pictures and
/// report, and in every point's directory the earlier run's files.
pub fn clear_previous(out: &Path, points: &[Point]) -> Result<()> {
    for f in [CSV, REPORT].into_iter().chain(report::part_files()) {
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
            let k =
                crate::spec::whole::of_value(val).filter(|k| (2..=MAX_REPLICATES).contains(k)).ok_or_else(|| {
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
            // Each value once: a point per value, and a coordinate that names one point (1 and
            // 1.0 are one value). Hashed: an axis may list tens of thousands of values.
            let value_key = |v: &Value| match v.as_f64() {
                Some(x) => format!("n{}", (x + 0.0).to_bits()),
                None => format!("v{v}"),
            };
            let mut seen = std::collections::HashMap::new();
            for (k, v) in list.iter().enumerate() {
                if let Some(first) = seen.insert(value_key(v), k) {
                    return Err(SpecError::new(
                        &field,
                        format!("lists {v} twice (positions {} and {}); give each value once", first + 1, k + 1),
                    ));
                }
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
    // Absent: the spec's default, 0. A point's memories may come from a variant, unread yet.
    let seed = match &doc["memories"]["seed"] {
        Value::Null => 0,
        v => crate::spec::whole::of_value(v)
            .ok_or_else(|| format!("needs memories.seed to be a whole number from 0 to 2^64 − 1, not {v}"))?,
    };
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
        // Characters safe in a file name everywhere; '+' is kept so that 1e+20 is not 1e-20.
        let dir: String =
            name.chars().map(|c| if c.is_ascii_alphanumeric() || "=._-+".contains(c) { c } else { '-' }).collect();
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
