//! SVG line charts (plotters).

use crate::atomic_write::write_atomic;
use crate::failure::{Failure, Outcome};
use plotters::prelude::*;
use std::path::Path;

/// One line of a chart: a label and its points; optional ± error bars.
#[derive(Debug, Clone)]
pub struct Series {
    /// Legend label.
    pub label: String,
    /// Points `(x, y)`.
    pub points: Vec<(f64, f64)>,
    /// Half-widths of error bars, one per point (empty: none).
    pub errors: Vec<f64>,
}

const COLOURS: [RGBColor; 6] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
];

/// Draws `series` as lines with points into an SVG file at `path`
/// (written atomically); `log_x` puts x on a log scale (x > 0 only).
///
/// # Errors
///
/// A runtime [`Failure`] if drawing or writing fails.
pub fn line_chart(
    path: &Path,
    title: &str,
    x_label: &str,
    y_label: &str,
    series: &[Series],
    log_x: bool,
) -> Outcome {
    let mut svg = String::new();
    draw(&mut svg, title, x_label, y_label, series, log_x)
        .map_err(|e| Failure::runtime(format!("cannot draw {}: {e}", path.display())))?;
    write_atomic(path, svg.as_bytes())
}

/// Series longer than this are drawn as lines without point markers.
const MAX_MARKERS: usize = 40;

/// A tick label without float noise: `0.001`, `0.03`, `120`.
fn tick(v: f64) -> String {
    if v == 0.0 {
        return "0".into();
    }
    let digits = (3 - v.abs().log10().floor() as i32).clamp(0, 12) as usize;
    let s = format!("{v:.digits$}");
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

fn range(vals: impl Iterator<Item = f64>) -> (f64, f64) {
    let (lo, hi) = vals
        .filter(|v| v.is_finite())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| {
            (a.min(v), b.max(v))
        });
    if !lo.is_finite() {
        return (0.0, 1.0);
    }
    let pad = ((hi - lo) * 0.05).max(1e-12);
    (lo - pad, hi + pad)
}

fn draw(
    svg: &mut String,
    title: &str,
    x_label: &str,
    y_label: &str,
    series: &[Series],
    log_x: bool,
) -> Result<(), Box<dyn std::error::Error>> {
    let root = SVGBackend::with_string(svg, (720, 460)).into_drawing_area();
    root.fill(&WHITE)?;
    let xs = || series.iter().flat_map(|s| s.points.iter().map(|p| p.0));
    let ys = series.iter().flat_map(|s| {
        s.points.iter().enumerate().flat_map(move |(i, p)| {
            let e = s.errors.get(i).copied().unwrap_or(0.0);
            [p.1 - e, p.1 + e]
        })
    });
    let (y0, y1) = range(ys);
    // The η charts (log x) rise to the right and leave the lower right free;
    // loss curves fall apart into train (low) and test (high) bands.
    let legend_position = if log_x {
        SeriesLabelPosition::LowerRight
    } else {
        SeriesLabelPosition::MiddleRight
    };
    let mut chart = ChartBuilder::on(&root);
    chart
        .caption(title, ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(70);
    macro_rules! body {
        ($chart:expr) => {{
            let mut c = $chart;
            c.configure_mesh()
                .x_desc(x_label)
                .y_desc(y_label)
                .x_labels(6)
                .x_label_formatter(&|v| tick(*v))
                .light_line_style(RGBColor(240, 240, 240))
                .draw()?;
            for (k, s) in series.iter().enumerate() {
                let colour = COLOURS[k % COLOURS.len()];
                c.draw_series(LineSeries::new(
                    s.points.iter().copied(),
                    colour.stroke_width(2),
                ))?
                .label(s.label.clone())
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 18, y)], colour.stroke_width(2))
                });
                // Markers only where they stay readable (not on long curves).
                if s.points.len() <= MAX_MARKERS {
                    c.draw_series(
                        s.points
                            .iter()
                            .map(|&(x, y)| Circle::new((x, y), 3, colour.filled())),
                    )?;
                }
                for (&(x, y), &e) in s.points.iter().zip(&s.errors) {
                    c.draw_series(std::iter::once(PathElement::new(
                        vec![(x, y - e), (x, y + e)],
                        colour.stroke_width(1),
                    )))?;
                }
            }
            c.configure_series_labels()
                .position(legend_position)
                .background_style(WHITE.mix(0.8))
                .border_style(BLACK)
                .draw()?;
        }};
    }
    if log_x {
        let (lo, hi) = xs()
            .filter(|v| *v > 0.0)
            .fold((f64::INFINITY, 0.0f64), |(a, b), v| (a.min(v), b.max(v)));
        let (lo, hi) = if lo.is_finite() {
            (lo / 1.5, hi * 1.5)
        } else {
            (1e-4, 1.0)
        };
        body!(chart.build_cartesian_2d((lo..hi).log_scale(), y0..y1)?);
    } else {
        let (x0, x1) = range(xs());
        body!(chart.build_cartesian_2d(x0..x1, y0..y1)?);
    }
    root.present()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::tick;

    #[test]
    fn tick_labels_have_no_float_noise() {
        assert_eq!(tick(0.001), "0.001");
        assert_eq!(tick(0.001 * 3.0), "0.003");
        assert_eq!(tick(0.1 + 0.2), "0.3");
        assert_eq!(tick(120.0), "120");
        assert_eq!(tick(0.0), "0");
        assert_eq!(tick(-2.5), "-2.5");
    }
}
