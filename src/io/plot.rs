//! PNG pictures drawn with plotters into memory, encoded and written atomically.

use std::path::Path;
use std::sync::Once;

use anyhow::{Result, anyhow};
use plotters::prelude::*;

static FONT: Once = Once::new();

/// An axis range plotters can label: finite, increasing, and wide enough relative to its
/// position that the key points can be placed (plotters loops on ranges it cannot resolve,
/// such as ±1e308 or a width of 1e-300 around 1). Anything else becomes a plain unit axis
/// around the range's middle.
pub fn axis(lo: f64, hi: f64) -> std::ops::Range<f64> {
    let mag = lo.abs().max(hi.abs());
    if lo.is_finite() && hi.is_finite() && hi > lo && mag < 1e30 && hi - lo > 1e-9 * mag.max(1e-30) {
        return lo..hi;
    }
    let mid = if lo.is_finite() && hi.is_finite() && mag < 1e30 { 0.5 * (lo + hi) } else { 0.0 };
    let half = (mid.abs() * 1e-3).max(0.5);
    (mid - half)..(mid + half)
}

/// A point to mark on the density picture: (coordinates along the axes, stable?).
pub type Marker = ([f64; 2], bool);

fn register_font() {
    FONT.call_once(|| {
        let bytes: &'static [u8] = include_bytes!("../../assets/DejaVuSans.ttf");
        let _ = plotters::style::register_font("sans-serif", FontStyle::Normal, bytes);
    });
}

/// Distinct colours for up to ten series, then cycling.
pub fn series_colour(k: usize) -> RGBColor {
    const C: [RGBColor; 10] = [
        RGBColor(31, 119, 180),
        RGBColor(255, 127, 14),
        RGBColor(44, 160, 44),
        RGBColor(214, 39, 40),
        RGBColor(148, 103, 189),
        RGBColor(140, 86, 75),
        RGBColor(227, 119, 194),
        RGBColor(127, 127, 127),
        RGBColor(188, 189, 34),
        RGBColor(23, 190, 207),
    ];
    C[k % 10]
}

fn encode_png(dest: &Path, buf: Vec<u8>, w: u32, h: u32) -> Result<()> {
    let img = image::RgbImage::from_raw(w, h, buf).ok_or_else(|| anyhow!("picture buffer has the wrong size"))?;
    let mut bytes = Vec::new();
    img.write_to(&mut std::io::Cursor::new(&mut bytes), image::ImageOutputFormat::Png)?;
    super::write_atomic(dest, &bytes)
}

/// One trace per memory: mean |m_μ|(t) with a ± std band clipped to [0, 1] (|m_μ| lies in
/// [0, 1], so the band never claims values it cannot take); at most `max_series` memories are
/// drawn (the rest are listed in the caption).
pub fn overlaps_png(
    dest: &Path,
    title: &str,
    times: &[f64],
    abs_mean: &[f32],
    abs_std: &[f32],
    p: usize,
) -> Result<()> {
    let (lower, upper) = abs_band(abs_mean, abs_std);
    let y_desc = "mean |m_μ| (band: ± std over trajectories, clipped to [0, 1])";
    band_png(dest, title, y_desc, times, abs_mean, &lower, &upper, p)
}

/// The band mean ± std of |m| clipped to [0, 1], the values |m| can take: (lower, upper).
fn abs_band(abs_mean: &[f32], abs_std: &[f32]) -> (Vec<f32>, Vec<f32>) {
    let clip = |v: f32| v.clamp(0.0, 1.0);
    abs_mean.iter().zip(abs_std).map(|(&m, &s)| (clip(m - s), clip(m + s))).unzip()
}

/// One trace per memory of `mean` [T][P] with a ± `band` band; the y axis spans [0, 1.05] or
/// more when the values leave it.
pub fn series_png(
    dest: &Path,
    title: &str,
    y_desc: &str,
    times: &[f64],
    mean: &[f32],
    band: &[f32],
    p: usize,
) -> Result<()> {
    let lower: Vec<f32> = mean.iter().zip(band).map(|(m, s)| m - s).collect();
    let upper: Vec<f32> = mean.iter().zip(band).map(|(m, s)| m + s).collect();
    band_png(dest, title, y_desc, times, mean, &lower, &upper, p)
}

/// One trace per memory of `mean` [T][P] in a band from `lower` to `upper` [T][P]; the y axis
/// spans [0, 1.05] or more when the values leave it.
#[allow(clippy::too_many_arguments)]
fn band_png(
    dest: &Path,
    title: &str,
    y_desc: &str,
    times: &[f64],
    abs_mean: &[f32],
    lower: &[f32],
    upper: &[f32],
    p: usize,
) -> Result<()> {
    register_font();
    let finite = |v: f32| if v.is_finite() { v as f64 } else { 0.0 };
    let y_lo = lower.iter().map(|&v| finite(v)).fold(0.0, f64::min);
    let y_hi = upper.iter().map(|&v| finite(v)).fold(1.05, f64::max);
    let (w, h) = (1000u32, 600u32);
    let mut buf = vec![0u8; (w * h * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut buf, (w, h)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| anyhow!("{e}"))?;
        let t_end = times.last().copied().unwrap_or(1.0).max(1e-9);
        let max_series = 10usize;
        let caption = if p > max_series {
            format!("{title} (memories 0–{} of {p})", max_series - 1)
        } else {
            title.to_string()
        };
        let mut chart = ChartBuilder::on(&root)
            .caption(caption, ("sans-serif", 24))
            .margin(15)
            .x_label_area_size(45)
            .y_label_area_size(60)
            .build_cartesian_2d(axis(0.0, t_end), axis(y_lo, y_hi))
            .map_err(|e| anyhow!("{e}"))?;
        chart
            .configure_mesh()
            .x_desc("time")
            .y_desc(y_desc)
            .label_style(("sans-serif", 16))
            .draw()
            .map_err(|e| anyhow!("{e}"))?;
        for mu in 0..p.min(max_series) {
            let col = series_colour(mu);
            let upper: Vec<(f64, f64)> =
                times.iter().enumerate().map(|(k, &t)| (t, upper[k * p + mu].min(y_hi as f32) as f64)).collect();
            let lower: Vec<(f64, f64)> =
                times.iter().enumerate().map(|(k, &t)| (t, lower[k * p + mu].max(y_lo as f32) as f64)).collect();
            let mut band = upper.clone();
            band.extend(lower.iter().rev());
            chart.draw_series(std::iter::once(Polygon::new(band, col.mix(0.15)))).map_err(|e| anyhow!("{e}"))?;
            chart
                .draw_series(LineSeries::new(
                    times.iter().enumerate().map(|(k, &t)| (t, abs_mean[k * p + mu] as f64)),
                    col.stroke_width(2),
                ))
                .map_err(|e| anyhow!("{e}"))?
                .label(format!("memory {mu}"))
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], col.stroke_width(3)));
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .label_font(("sans-serif", 16))
            .draw()
            .map_err(|e| anyhow!("{e}"))?;
        root.present().map_err(|e| anyhow!("{e}"))?;
    }
    encode_png(dest, buf, w, h)
}

/// Viridis-like colour for t ∈ [0, 1].
pub fn colormap(t: f64) -> RGBColor {
    const STOPS: [(f64, f64, f64); 5] =
        [(68.0, 1.0, 84.0), (59.0, 82.0, 139.0), (33.0, 145.0, 140.0), (94.0, 201.0, 98.0), (253.0, 231.0, 37.0)];
    let t = t.clamp(0.0, 1.0) * 4.0;
    let k = (t.floor() as usize).min(3);
    let f = t - k as f64;
    let (a, b) = (STOPS[k], STOPS[k + 1]);
    let mix = |x: f64, y: f64| (x + (y - x) * f).round() as u8;
    RGBColor(mix(a.0, b.0), mix(a.1, b.1), mix(a.2, b.2))
}

/// A vertical colour bar over [lo, hi] labelled `label`; `map` takes a value to the colour
/// map's [0, 1].
fn colour_bar<DB: DrawingBackend>(
    area: &DrawingArea<DB, plotters::coord::Shift>,
    lo: f64,
    hi: f64,
    label: &str,
    map: impl Fn(f64) -> f64,
) -> Result<()> {
    let e = |e: DrawingAreaErrorKind<DB::ErrorType>| anyhow!("{e}");
    let mut cb = ChartBuilder::on(area)
        .margin_top(60)
        .margin_bottom(60)
        .margin_right(10)
        .y_label_area_size(70)
        .build_cartesian_2d(0f64..1f64, axis(lo, hi))
        .map_err(e)?;
    cb.configure_mesh()
        .disable_mesh()
        .disable_x_axis()
        .y_desc(label)
        .label_style(("sans-serif", 13))
        .draw()
        .map_err(e)?;
    let steps = 100;
    cb.draw_series((0..steps).map(|k| {
        let (a, b) = (lo + (hi - lo) * k as f64 / steps as f64, lo + (hi - lo) * (k + 1) as f64 / steps as f64);
        Rectangle::new([(0.0, a), (1.0, b)], colormap(map(a)).filled())
    }))
    .map_err(e)?;
    Ok(())
}

/// A density picture: a heatmap with a colour bar (2-D) or a curve (1-D), with markers. Drawn
/// top to bottom in one function, like every picture here; the colour bar has its own.
pub fn density_png(
    dest: &Path,
    title: &str,
    hp: &crate::plan::HistogramPlan,
    density: &[f64],
    markers: &[Marker],
    names: &[String],
) -> Result<()> {
    register_font();
    let (w, h) = (900u32, 760u32);
    let mut buf = vec![0u8; (w * h * 3) as usize];
    let e = |e: DrawingAreaErrorKind<_>| anyhow!("{e}");
    {
        let root = BitMapBackend::with_buffer(&mut buf, (w, h)).into_drawing_area();
        root.fill(&WHITE).map_err(e)?;
        let [x0, x1] = hp.range[0];
        let max = density.iter().cloned().fold(0f64, f64::max).max(1e-300);
        if hp.dims == 1 {
            let mut chart = ChartBuilder::on(&root)
                .caption(title, ("sans-serif", 22))
                .margin(15)
                .x_label_area_size(45)
                .y_label_area_size(70)
                .build_cartesian_2d(axis(x0, x1), axis(0.0, max * 1.05))
                .map_err(e)?;
            chart
                .configure_mesh()
                .x_desc(names[0].as_str())
                .y_desc("density")
                .label_style(("sans-serif", 15))
                .draw()
                .map_err(e)?;
            let bw = (x1 - x0) / hp.bins[0] as f64;
            chart
                .draw_series(LineSeries::new(
                    density.iter().enumerate().map(|(j, &d)| (x0 + (j as f64 + 0.5) * bw, d)),
                    series_colour(0).stroke_width(2),
                ))
                .map_err(e)?;
            chart
                .draw_series(markers.iter().map(|(p, stable)| {
                    let c = if *stable { BLACK.filled() } else { RED.stroke_width(2) };
                    Circle::new((p[0], 0.0), 6, c)
                }))
                .map_err(e)?;
        } else {
            let [y0, y1] = hp.range[1];
            let (main, bar) = root.split_horizontally(w - 120);
            let mut chart = ChartBuilder::on(&main)
                .caption(title, ("sans-serif", 22))
                .margin(15)
                .x_label_area_size(45)
                .y_label_area_size(55)
                .build_cartesian_2d(axis(x0, x1), axis(y0, y1))
                .map_err(e)?;
            chart
                .configure_mesh()
                .disable_mesh()
                .x_desc(names[0].as_str())
                .y_desc(names[1].as_str())
                .label_style(("sans-serif", 15))
                .draw()
                .map_err(e)?;
            let (nx, ny) = (hp.bins[0] as usize, hp.bins[1] as usize);
            let (dx, dy) = ((x1 - x0) / nx as f64, (y1 - y0) / ny as f64);
            chart
                .draw_series((0..nx).flat_map(|i| {
                    (0..ny).map(move |j| {
                        let c = colormap(density[i * ny + j] / max);
                        Rectangle::new(
                            [
                                (x0 + i as f64 * dx, y0 + j as f64 * dy),
                                (x0 + (i + 1) as f64 * dx, y0 + (j + 1) as f64 * dy),
                            ],
                            c.filled(),
                        )
                    })
                }))
                .map_err(e)?;
            chart
                .draw_series(markers.iter().map(|(p, stable)| {
                    let style = if *stable { WHITE.filled() } else { RED.stroke_width(2) };
                    Circle::new((p[0], p[1]), 6, style)
                }))
                .map_err(e)?;
            colour_bar(&bar, 0.0, max, "density", |v| v / max)?;
        }
        root.present().map_err(e)?;
    }
    encode_png(dest, buf, w, h)
}

/// Points of a five-pointed star around (x, y) with outer radius r (data units).
fn star(x: f64, y: f64, r: f64) -> Vec<(f64, f64)> {
    (0..10)
        .map(|k| {
            let a = std::f64::consts::FRAC_PI_2 + k as f64 * std::f64::consts::PI / 5.0;
            let rr = if k % 2 == 0 { r } else { 0.45 * r };
            (x + rr * a.cos(), y + rr * a.sin())
        })
        .collect()
}

/// The energy surface as a heatmap with iso-energy lines, stable equilibria as stars, unstable
/// ones as dots, and sample trajectories.
pub fn landscape_png(
    dest: &Path,
    title: &str,
    range: [f64; 2],
    grid: usize,
    energy: &[f64],
    equilibria: &[([f64; 2], bool)],
    paths: &[Vec<(f64, f64)>],
) -> Result<()> {
    register_font();
    let (w, h) = (860u32, 760u32);
    let mut buf = vec![0u8; (w * h * 3) as usize];
    let e = |e: DrawingAreaErrorKind<_>| anyhow!("{e}");
    {
        let root = BitMapBackend::with_buffer(&mut buf, (w, h)).into_drawing_area();
        root.fill(&WHITE).map_err(e)?;
        let (main, bar) = root.split_horizontally(w - 120);
        let mut chart = ChartBuilder::on(&main)
            .caption(title, ("sans-serif", 20))
            .margin(15)
            .x_label_area_size(45)
            .y_label_area_size(55)
            .build_cartesian_2d(axis(range[0], range[1]), axis(range[0], range[1]))
            .map_err(e)?;
        chart
            .configure_mesh()
            .disable_mesh()
            .x_desc("x_0")
            .y_desc("x_1")
            .label_style(("sans-serif", 15))
            .draw()
            .map_err(e)?;
        let lo = energy.iter().cloned().fold(f64::INFINITY, f64::min);
        let hi = energy.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        // Colour and iso-lines on a compressed scale so the wells' structure shows.
        let scale = |v: f64| ((v - lo) / (hi - lo).max(1e-12)).sqrt();
        let levels = 24.0;
        let level = |v: f64| (scale(v) * levels).floor() as i64;
        let d = (range[1] - range[0]) / grid as f64;
        chart
            .draw_series((0..grid).flat_map(|i| {
                (0..grid).map(move |j| {
                    let v = energy[i * grid + j];
                    let iso = (i + 1 < grid && level(energy[(i + 1) * grid + j]) != level(v))
                        || (j + 1 < grid && level(energy[i * grid + j + 1]) != level(v));
                    let c = if iso { RGBColor(20, 20, 20) } else { colormap(scale(v)) };
                    let (x0, y0) = (range[0] + i as f64 * d, range[0] + j as f64 * d);
                    Rectangle::new([(x0, y0), (x0 + d, y0 + d)], c.filled())
                })
            }))
            .map_err(e)?;
        for p in paths {
            chart.draw_series(LineSeries::new(p.iter().copied(), WHITE.mix(0.8).stroke_width(1))).map_err(e)?;
            if let Some(&first) = p.first() {
                chart.draw_series(std::iter::once(Circle::new(first, 2, WHITE.filled()))).map_err(e)?;
            }
        }
        let r = 0.045 * (range[1] - range[0]);
        for (x, stable) in equilibria {
            if *stable {
                chart
                    .draw_series(std::iter::once(Polygon::new(star(x[0], x[1], r), RGBColor(255, 80, 60).filled())))
                    .map_err(e)?;
            } else {
                chart.draw_series(std::iter::once(Circle::new((x[0], x[1]), 5, WHITE.filled()))).map_err(e)?;
                chart.draw_series(std::iter::once(Circle::new((x[0], x[1]), 5, BLACK.stroke_width(1)))).map_err(e)?;
            }
        }
        colour_bar(&bar, lo, hi, "energy E", scale)?;
    }
    encode_png(dest, buf, w, h)
}

/// The paper's Fig. 5: equilibria along a memory are where the line γ/α meets tanh(δγ); one
/// line per saliency (the run's, plus reference values), each crossing marked.
pub fn gamma_png(dest: &Path, slope: f64, saliencies: &[f64]) -> Result<()> {
    register_font();
    let (w, h) = (900u32, 600u32);
    let mut buf = vec![0u8; (w * h * 3) as usize];
    let e = |e: DrawingAreaErrorKind<_>| anyhow!("{e}");
    let mut alphas: Vec<f64> = vec![0.5 / slope, 1.0 / slope, 1.5 / slope, 2.25 / slope, 3.0 / slope];
    for &a in saliencies {
        if a > 0.0 && !alphas.iter().any(|b| (b - a).abs() < 1e-9) {
            alphas.push(a);
        }
    }
    alphas.sort_by(f64::total_cmp);
    let gmax = alphas.iter().cloned().fold(0f64, f64::max).max(1.0 / slope) * 1.25;
    {
        let root = BitMapBackend::with_buffer(&mut buf, (w, h)).into_drawing_area();
        root.fill(&WHITE).map_err(e)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(format!("equilibria along a memory: γ/α = tanh(δγ), δ = {slope}"), ("sans-serif", 20))
            .margin(15)
            .x_label_area_size(45)
            .y_label_area_size(55)
            .build_cartesian_2d(axis(0.0, gmax), 0f64..1.1f64)
            .map_err(e)?;
        chart.configure_mesh().x_desc("γ").y_desc("").label_style(("sans-serif", 15)).draw().map_err(e)?;
        let pts = 400;
        chart
            .draw_series(LineSeries::new(
                (0..=pts).map(|k| {
                    let g = gmax * k as f64 / pts as f64;
                    (g, (slope * g).tanh())
                }),
                BLACK.stroke_width(3),
            ))
            .map_err(e)?
            .label(format!("tanh({slope}·γ)"))
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], BLACK.stroke_width(3)));
        for (k, &a) in alphas.iter().enumerate() {
            let col = series_colour(k);
            chart
                .draw_series(LineSeries::new(
                    [(0.0, 0.0), (gmax.min(1.1 * a), gmax.min(1.1 * a) / a)],
                    col.stroke_width(2),
                ))
                .map_err(e)?
                .label(format!("γ/α, α = {a:.3}"))
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], col.stroke_width(2)));
            if let Some(g) = crate::theory::gamma(a, slope) {
                chart.draw_series(std::iter::once(Circle::new((g, g / a), 5, col.filled()))).map_err(e)?;
            }
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::LowerRight)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .label_font(("sans-serif", 15))
            .draw()
            .map_err(e)?;
    }
    encode_png(dest, buf, w, h)
}

/// One line of a sweep picture: its label and (x, y, error-bar low, error-bar high) points.
pub struct SweepLine {
    pub label: String,
    pub points: Vec<(f64, f64, f64, f64)>,
}

/// A reference value on a sweep picture's x axis: a dashed vertical line with its label.
pub struct Mark {
    pub x: f64,
    pub label: String,
}

/// A value against a swept value, one line per combination of the other swept values, with
/// error bars and dashed reference `marks`; the y axis is [0, 1] for `unit` values, else fitted
/// to the data.
pub fn sweep_png(
    dest: &Path,
    title: &str,
    x_desc: &str,
    y_desc: &str,
    lines: &[SweepLine],
    unit: bool,
    marks: &[Mark],
) -> Result<()> {
    register_font();
    let (w, h) = (1000u32, 620u32);
    let mut buf = vec![0u8; (w * h * 3) as usize];
    let e = |e: DrawingAreaErrorKind<_>| anyhow!("{e}");
    let xs = lines.iter().flat_map(|l| l.points.iter().map(|p| p.0)).chain(marks.iter().map(|m| m.x));
    let (mut lo, mut hi) = xs.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), x| (a.min(x), b.max(x)));
    if !lo.is_finite() {
        (lo, hi) = (0.0, 1.0);
    }
    let pad = ((hi - lo) * 0.04).max(1e-9);
    let (y_lo, y_hi) = if unit {
        (-0.02, 1.05)
    } else {
        let top = lines.iter().flat_map(|l| l.points.iter().map(|p| p.3.max(p.1))).fold(0f64, f64::max);
        (0.0, (top * 1.08).max(1e-9))
    };
    {
        let root = BitMapBackend::with_buffer(&mut buf, (w, h)).into_drawing_area();
        root.fill(&WHITE).map_err(e)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 22))
            .margin(15)
            .x_label_area_size(45)
            .y_label_area_size(60)
            .build_cartesian_2d(axis(lo - pad, hi + pad), axis(y_lo, y_hi))
            .map_err(e)?;
        chart.configure_mesh().x_desc(x_desc).y_desc(y_desc).label_style(("sans-serif", 16)).draw().map_err(e)?;
        for (k, line) in lines.iter().enumerate() {
            let col = series_colour(k);
            chart
                .draw_series(LineSeries::new(line.points.iter().map(|p| (p.0, p.1)), col.stroke_width(2)))
                .map_err(e)?
                .label(line.label.clone())
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], col.stroke_width(3)));
            chart
                .draw_series(
                    line.points.iter().map(|p| ErrorBar::new_vertical(p.0, p.2, p.1, p.3, col.stroke_width(2), 8)),
                )
                .map_err(e)?;
            chart.draw_series(line.points.iter().map(|p| Circle::new((p.0, p.1), 4, col.filled()))).map_err(e)?;
        }
        for m in marks {
            let dashes = (0..40).map(|k| {
                let y0 = y_lo + (y_hi - y_lo) * k as f64 / 40.0;
                PathElement::new(vec![(m.x, y0), (m.x, y0 + (y_hi - y_lo) / 80.0)], BLACK.stroke_width(2))
            });
            chart
                .draw_series(dashes)
                .map_err(e)?
                .label(m.label.clone())
                .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 8, y)], BLACK.stroke_width(2)));
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::MiddleRight)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .label_font(("sans-serif", 16))
            .draw()
            .map_err(e)?;
        root.present().map_err(e)?;
    }
    encode_png(dest, buf, w, h)
}

/// The heat maps of a sweep over two numeric axes (see `sweep::heatmap`).
pub struct Heatmap {
    pub x_name: String,
    pub y_name: String,
    pub x_labels: Vec<String>,
    pub y_labels: Vec<String>,
    pub panels: Vec<HeatPanel>,
}

/// One combination of the other swept values: cells [y][x] of accuracy and of the mean final
/// |m| of the target (None where a point failed or has no such value).
pub struct HeatPanel {
    pub label: String,
    pub accuracy: Vec<Option<f64>>,
    pub overlap: Vec<Option<f64>>,
}

/// Heat maps on [0, 1] (accuracy above, mean final |m| of the target below when present), one
/// column of panels per combination of the other swept values, each cell labelled with its
/// value, and a colour bar.
pub fn sweep_heatmap_png(dest: &Path, title: &str, hm: &Heatmap) -> Result<()> {
    use plotters::coord::ranged1d::SegmentValue;
    use plotters::style::text_anchor::{HPos, Pos, VPos};
    register_font();
    let rows: Vec<(&str, Vec<&Vec<Option<f64>>>)> = {
        let mut r = vec![("accuracy", hm.panels.iter().map(|p| &p.accuracy).collect())];
        if hm.panels.iter().any(|p| p.overlap.iter().any(Option::is_some)) {
            r.push(("mean final |m| of the target", hm.panels.iter().map(|p| &p.overlap).collect()));
        }
        r
    };
    let (nx, ny, cols) = (hm.x_labels.len(), hm.y_labels.len(), hm.panels.len().max(1));
    let (w, h) = (120 + 420 * cols as u32, 60 + 380 * rows.len() as u32);
    let mut buf = vec![0u8; (w * h * 3) as usize];
    let e = |e: DrawingAreaErrorKind<_>| anyhow!("{e}");
    {
        let root = BitMapBackend::with_buffer(&mut buf, (w, h)).into_drawing_area();
        root.fill(&WHITE).map_err(e)?;
        let root = root.titled(title, ("sans-serif", 22)).map_err(e)?;
        let (grid, bar) = root.split_horizontally(w - 120);
        colour_bar(&bar, 0.0, 1.0, "value", |v| v)?;
        let cells = grid.split_evenly((rows.len(), cols));
        for (k, area) in cells.iter().enumerate() {
            let (row, col) = (k / cols, k % cols);
            let (what, values) = (&rows[row].0, rows[row].1[col]);
            let caption = format!("{} — {what}", hm.panels[col].label);
            let mut chart = ChartBuilder::on(area)
                .caption(caption, ("sans-serif", 15))
                .margin(10)
                .x_label_area_size(40)
                .y_label_area_size(55)
                .build_cartesian_2d((0..nx as i32 - 1).into_segmented(), (0..ny as i32 - 1).into_segmented())
                .map_err(e)?;
            let label = |labels: &[String], v: &SegmentValue<i32>| match v {
                SegmentValue::CenterOf(i) => labels.get(*i as usize).cloned().unwrap_or_default(),
                _ => String::new(),
            };
            chart
                .configure_mesh()
                .disable_mesh()
                .x_desc(hm.x_name.as_str())
                .y_desc(hm.y_name.as_str())
                .x_labels(nx + 1)
                .y_labels(ny + 1)
                .x_label_formatter(&|v| label(&hm.x_labels, v))
                .y_label_formatter(&|v| label(&hm.y_labels, v))
                .label_style(("sans-serif", 13))
                .draw()
                .map_err(e)?;
            for yi in 0..ny {
                for xi in 0..nx {
                    let v = values[yi * nx + xi];
                    let fill = v.map_or(RGBColor(220, 220, 220), colormap);
                    let (x0, y0) = (SegmentValue::Exact(xi as i32), SegmentValue::Exact(yi as i32));
                    let (x1, y1) = (SegmentValue::Exact(xi as i32 + 1), SegmentValue::Exact(yi as i32 + 1));
                    chart
                        .draw_series(std::iter::once(Rectangle::new([(x0, y0), (x1, y1)], fill.filled())))
                        .map_err(e)?;
                    let text = v.map_or("—".to_string(), |v| format!("{v:.2}"));
                    let ink = if v.is_some_and(|v| v > 0.6) { BLACK } else { WHITE };
                    chart
                        .draw_series(std::iter::once(Text::new(
                            text,
                            (SegmentValue::CenterOf(xi as i32), SegmentValue::CenterOf(yi as i32)),
                            ("sans-serif", 14).into_font().color(&ink).pos(Pos::new(HPos::Center, VPos::Center)),
                        )))
                        .map_err(e)?;
                }
            }
        }
        root.present().map_err(e)?;
    }
    encode_png(dest, buf, w, h)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_abs_band_stays_within_0_and_1() {
        let mean = [0.98f32, 0.02, 0.5, 1.0, 0.0];
        let std = [0.05f32, 0.07, 0.1, 0.0, 0.3];
        let (lower, upper) = abs_band(&mean, &std);
        let close = |a: &[f32], b: [f32; 5]| a.iter().zip(b).all(|(x, y)| (x - y).abs() < 1e-6);
        assert!(close(&lower, [0.93, 0.0, 0.4, 1.0, 0.0]), "{lower:?}");
        assert!(close(&upper, [1.0, 0.09, 0.6, 1.0, 0.3]), "{upper:?}");
        assert!(lower.iter().chain(&upper).all(|v| (0.0..=1.0).contains(v)));
    }
}
