//! PNG pictures drawn with plotters into memory, encoded and written atomically.

use std::path::Path;
use std::sync::Once;

use anyhow::{Result, anyhow};
use plotters::prelude::*;

static FONT: Once = Once::new();

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

/// One trace per memory: mean |m_μ|(t) with a ± std band; at most `max_series` memories are
/// drawn (the rest are listed in the caption).
pub fn overlaps_png(
    dest: &Path,
    title: &str,
    times: &[f64],
    abs_mean: &[f32],
    abs_std: &[f32],
    p: usize,
) -> Result<()> {
    register_font();
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
            .build_cartesian_2d(0f64..t_end, 0f64..1.05f64)
            .map_err(|e| anyhow!("{e}"))?;
        chart
            .configure_mesh()
            .x_desc("time")
            .y_desc("mean |m_μ| (± std over trajectories)")
            .label_style(("sans-serif", 16))
            .draw()
            .map_err(|e| anyhow!("{e}"))?;
        for mu in 0..p.min(max_series) {
            let col = series_colour(mu);
            let upper: Vec<(f64, f64)> = times
                .iter()
                .enumerate()
                .map(|(k, &t)| (t, (abs_mean[k * p + mu] + abs_std[k * p + mu]).min(1.05) as f64))
                .collect();
            let lower: Vec<(f64, f64)> = times
                .iter()
                .enumerate()
                .map(|(k, &t)| (t, (abs_mean[k * p + mu] - abs_std[k * p + mu]).max(0.0) as f64))
                .collect();
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
