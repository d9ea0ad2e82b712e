//! What a sweep writes beside its points: sweep.csv, the pictures against the swept axes and
//! report.md. The columns, pictures and paragraphs of each observable come from its output's
//! [`SweepPart`] (`outputs::sweep_parts`); this file lays them out and knows the axes, the
//! replicate networks and the pictures' x axes, and nothing of any observer.

use std::collections::HashMap;
use std::path::Path;

use anyhow::Result;

use super::{Axis, CLASSIC_CAPACITY, CSV, MAX_HEATMAP_PANELS, PointResult, REPLICATE, REPORT, replicate_axis};
use crate::io;
use crate::outputs::sweep_part::{Block, Measure, NetworkValue, SweepPart, SweepView};
use crate::outputs::{self, Findings};
use crate::plan::Plan;

/// A sweep's points as the outputs' sweep parts see them; pictures go into `out`.
struct View<'a> {
    name: &'a str,
    axes: &'a [Axis],
    results: &'a [PointResult],
    out: Option<&'a Path>,
}

impl SweepView for View<'_> {
    fn name(&self) -> &str {
        self.name
    }

    fn points(&self) -> usize {
        self.results.len()
    }

    fn plan(&self, point: usize) -> &Plan {
        &self.results[point].plan
    }

    fn describe(&self, point: usize) -> String {
        super::describe(self.axes, &self.results[point].point.coords)
    }

    fn findings(&self, point: usize) -> Option<&Findings> {
        self.results[point].outcome.as_ref().ok().map(|s| &s.findings)
    }

    fn networks(&self) -> Option<usize> {
        replicate_axis(self.axes).map(|ra| self.axes[ra].values.len())
    }

    fn over_networks(&self, measure: &Measure) -> Option<Vec<NetworkValue>> {
        let ra = replicate_axis(self.axes)?;
        let values = by_group(self.axes, self.results, &[ra], measure);
        let mut finished: HashMap<Vec<usize>, usize> = HashMap::new();
        for r in self.results.iter().filter(|r| r.outcome.is_ok()) {
            *finished.entry(without(&r.point.coords, &[ra])).or_default() += 1;
        }
        Some(
            self.results
                .iter()
                .map(|r| {
                    let group = without(&r.point.coords, &[ra]);
                    (finished.get(&group).copied().unwrap_or(0), values.get(&group).and_then(|v| mean_stderr(v)))
                })
                .collect(),
        )
    }

    fn lines(&self, measure: &Measure) -> Option<(usize, Vec<io::plot::SweepLine>)> {
        lines_of(self.axes, self.results, measure)
    }

    fn draw(
        &self,
        file: &str,
        title: &str,
        y_desc: &str,
        xa: usize,
        lines: &[io::plot::SweepLine],
        unit: bool,
    ) -> Result<()> {
        let out = self.out.ok_or_else(|| anyhow::anyhow!("internal error: {file} drawn without a sweep directory"))?;
        let (x, marks) = x_axis(self.axes, xa, self.results);
        io::plot::sweep_png(&out.join(file), title, &x, y_desc, lines, unit, &marks)
    }
}

/// Every file the sweep's parts may write beside the points.
pub fn part_files() -> Vec<&'static str> {
    outputs::sweep_parts().iter().flat_map(|p| p.files().iter().copied()).collect()
}

/// sweep.csv: a row per point: its axes' values, its status and trajectories, every part's
/// columns, its rates and its directory.
pub fn csv(axes: &[Axis], results: &[PointResult]) -> String {
    let view = View { name: "", axes, results, out: None };
    let blocks: Vec<Block> = outputs::sweep_parts().iter().map(|p| p.csv(&view)).collect();
    let mut head: Vec<String> = axes.iter().map(|a| a.name.clone()).collect();
    head.extend(["status", "trajectories"].map(String::from));
    head.extend(blocks.iter().flat_map(|b| b.head.iter().map(|h| csv_field(h))));
    head.extend(["neuron_steps_per_s", "wall_s", "dir"].map(String::from));
    let mut out = head.join(",") + "\n";
    for (i, r) in results.iter().enumerate() {
        let mut row: Vec<String> =
            axes.iter().zip(&r.point.coords).map(|(a, &c)| csv_field(&a.values[c].label)).collect();
        row.push(match &r.outcome {
            Ok(_) => "ok".into(),
            Err(e) => csv_field(&format!("failed: {e}")),
        });
        row.push(r.plan.ensemble.trajectories.to_string());
        row.extend(blocks.iter().flat_map(|b| b.row(i).iter().map(|c| csv_field(c))));
        match &r.outcome {
            Ok(s) => {
                row.push(format!("{:.4e}", s.neuron_steps_per_s));
                row.push(format!("{:.3}", s.wall_s));
            }
            Err(_) => row.extend([String::new(), String::new()]),
        }
        row.push(r.point.dir.clone());
        out.push_str(&row.join(","));
        out.push('\n');
    }
    out
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
    let view = View { name, axes, results, out: Some(out) };
    let parts = outputs::sweep_parts();
    // Report links to the pictures drawn, line pictures first, then heat maps.
    let mut links = Vec::new();
    for pic in parts.iter().flat_map(|p| p.pictures(&view)) {
        if let Some((xa, lines)) = view.lines(&*pic.measure) {
            view.draw(pic.file, &pic.title, pic.y_desc, xa, &lines, pic.unit)?;
            links.push(format!("![{}]({})\n\n", pic.alt, pic.file));
        }
    }
    for heat in parts.iter().filter_map(|p| p.heat()) {
        if let Some(hm) = heatmap(axes, results, &heat.measures) {
            let title = format!("{name}: {} over {} × {}", heat.what, hm.x_name, hm.y_name);
            io::plot::sweep_heatmap_png(&out.join(heat.file), &title, &hm)?;
            links.push(format!("![heat map]({})\n\n", heat.file));
        }
    }
    let mut text = report(&view, &parts, &links, wall, adapter);
    for part in &parts {
        if let Some(note) = part.notes(&view)? {
            text.push_str(&note);
        }
    }
    io::write_atomic(&out.join(REPORT), text.as_bytes())?;
    Ok(results.iter().filter(|r| r.outcome.is_err()).count())
}

/// report.md up to its notes: the set-up, the axes, links to the pictures, the table over
/// networks and the table of points, written top to bottom.
fn report(view: &View, parts: &[Box<dyn SweepPart>], links: &[String], wall: f64, adapter: &str) -> String {
    let (name, axes, results) = (view.name, view.axes, view.results);
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
        for part in parts {
            if let Some(text) = part.setup(p) {
                s.push_str(&text);
            }
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
        "\n{} points in {:.1} s on {}. Every point's outputs{} are in its sub-directory; [sweep.csv](sweep.csv) has one row per point.\n\n",
        results.len(),
        wall,
        if adapter.is_empty() { "—" } else { adapter },
        outputs_named(results)
    ));
    for link in links {
        s.push_str(link);
    }
    if let Some(ra) = replicate_axis(axes) {
        s.push_str(&networks_table(axes, results, ra, parts));
    }
    let blocks: Vec<Block> = parts.iter().map(|p| p.table(view)).collect();
    let mut head: Vec<String> = axes.iter().map(|a| a.name.clone()).collect();
    head.extend(blocks.iter().flat_map(|b| b.head.iter().cloned()));
    head.extend(["neuron-steps/s".to_string(), "picture".to_string()]);
    s.push_str(&format!("| {} |\n|{}\n", head.join(" | "), "---|".repeat(head.len())));
    for (i, r) in results.iter().enumerate() {
        let mut row: Vec<String> = axes.iter().zip(&r.point.coords).map(|(a, &c)| a.values[c].label.clone()).collect();
        let mut cells: Vec<String> = blocks.iter().flat_map(|b| b.row(i).iter().cloned()).collect();
        match &r.outcome {
            Ok(o) => cells.push(format!("{:.2e}", o.neuron_steps_per_s)),
            Err(e) => {
                // The failure takes the place of the first value.
                cells.push("—".into());
                cells[0] = format!("failed: {}", e.replace('|', "/"));
            }
        }
        row.extend(cells);
        row.push(format!("[overlaps]({}/overlaps.png)", r.point.dir));
        s.push_str(&format!("| {} |\n", row.join(" | ")));
    }
    s
}

/// The report's table over networks: one row per point of the sweep without its replicate axis
/// `ra`: how many of its networks finished, and the mean over them ± the standard error over
/// networks of every part's measures.
fn networks_table(axes: &[Axis], results: &[PointResult], ra: usize, parts: &[Box<dyn SweepPart>]) -> String {
    let measures: Vec<(&str, Box<Measure>)> = parts.iter().flat_map(|p| p.over_networks()).collect();
    let groups: Vec<HashMap<Vec<usize>, Vec<f64>>> =
        measures.iter().map(|(_, m)| by_group(axes, results, &[ra], &**m)).collect();
    let mut head: Vec<String> =
        axes.iter().enumerate().filter(|(k, _)| *k != ra).map(|(_, a)| a.name.clone()).collect();
    head.push("networks".into());
    head.extend(measures.iter().map(|(name, _)| name.to_string()));
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
        for m in &groups {
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
        if let Some((y, _, _)) = measure(&r.plan, &s.findings) {
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
        let Some((y, lo, hi)) = measure(&r.plan, &s.findings) else { continue };
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
/// one panel per combination of the other axes; cells hold the two `measures` (an output's
/// [`Heat`]: retrieval's accuracy above, the mean final |m| of the target below). None with
/// fewer than two numeric axes of two values or more, when no point has the first measure, or
/// with more than [`MAX_HEATMAP_PANELS`] panels.
pub fn heatmap(axes: &[Axis], results: &[PointResult], [top, bottom]: &[Box<Measure>; 2]) -> Option<io::plot::Heatmap> {
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
    let over = ra.map(|ra| (by_group(axes, results, &[ra], &**top), by_group(axes, results, &[ra], &**bottom)));
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
        let Some(upper) = top(&r.plan, &s.findings) else { continue };
        let cell = r.point.coords[ya] * nx + r.point.coords[xa];
        if let (Some(ra), Some((up, low))) = (ra, &over) {
            let group = without(&r.point.coords, &[ra]);
            let mean = |m: &std::collections::HashMap<Vec<usize>, Vec<f64>>| {
                m.get(&group).and_then(|v| mean_stderr(v)).map(|x| x.0)
            };
            panels[pos].accuracy[cell] = mean(up);
            panels[pos].overlap[cell] = mean(low);
            any = true;
            continue;
        }
        panels[pos].accuracy[cell] = Some(upper.0);
        panels[pos].overlap[cell] = bottom(&r.plan, &s.findings).map(|v| v.0);
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

/// " (density.png, overlaps.png, run.json, …)": the pictures and documents the first finished
/// point wrote, at most five, then "…" when it wrote more; empty when no point finished.
fn outputs_named(results: &[PointResult]) -> String {
    let Some(files) = results.iter().find_map(|r| r.outcome.as_ref().ok().map(|s| &s.files)) else {
        return String::new();
    };
    let mut shown: Vec<&str> =
        files.iter().map(String::as_str).filter(|f| f.ends_with(".png") || f.ends_with(".json")).collect();
    shown.sort_unstable();
    shown.dedup();
    let more = files.len() > shown.len().min(5);
    shown.truncate(5);
    if shown.is_empty() {
        return String::new();
    }
    format!(" ({}{})", shown.join(", "), if more { ", …" } else { "" })
}
