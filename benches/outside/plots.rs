//! SVG pictures of a run: each phase's latency distribution, AWS calls per second and RSS
//! over the run. Pure rendering into strings (plotters' SVG backend, no fonts loaded: text
//! is left to the viewer's sans-serif); writing the files is the caller's.

use std::collections::BTreeMap;

use plotters::{coord::Shift, prelude::*};

use crate::series::{Mark, Series, cdf};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("drawing {what}: {message}")]
    Draw { what: String, message: String },
}

const SIZE: (u32, u32) = (800, 420);
const FONT: &str = "sans-serif";
pub const TIME_AXIS: &str = "seconds since the run started";
pub const CDF_AXIS: &str = "fraction of grants at or below";

fn err(what: &str) -> impl Fn(&dyn std::fmt::Display) -> Error + '_ {
    move |e| Error::Draw {
        what: what.to_owned(),
        message: e.to_string(),
    }
}

/// Renders with `draw` on a white canvas; the SVG text.
fn svg<F>(what: &str, draw: F) -> Result<String, Error>
where
    F: FnOnce(&DrawingArea<SVGBackend<'_>, Shift>) -> Result<(), Error>,
{
    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, SIZE).into_drawing_area();
        root.fill(&WHITE).map_err(|e| err(what)(&e))?;
        draw(&root)?;
        root.present().map_err(|e| err(what)(&e))?;
    }
    Ok(out)
}

/// Nearest-rank percentile of sorted samples (as `stats::latency` reports them).
fn rank(sorted: &[f64], q: f64) -> f64 {
    let i = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i]
}

/// The empirical CDF of one phase's latencies (seconds, sorted), with p50 and p99 marked:
/// the whole distribution, where a table shows three points of it.
pub fn latency_cdf(title: &str, sorted: &[f64]) -> Result<String, Error> {
    let what = format!("{title} latency");
    if sorted.is_empty() {
        return Err(err(&what)(&"no samples"));
    }
    // Log scale for a distribution spanning decades (its tick labels are powers of ten); it
    // needs a positive floor: 1 ms is the resolution the samples are kept at.
    let lo = (sorted[0] * 0.8).max(0.001);
    let hi = (sorted[sorted.len() - 1] * 1.25).max(lo * 2.0);
    let points: Series = cdf(sorted)
        .into_iter()
        .map(|(x, y)| (x.max(lo), y))
        .collect();
    if hi / lo >= 20.0 {
        let axis = (lo..hi).log_scale();
        cdf_chart(
            &what,
            title,
            sorted,
            axis,
            points,
            "latency, seconds (log scale)",
        )
    } else {
        cdf_chart(&what, title, sorted, 0.0..hi, points, "latency, seconds")
    }
}

fn cdf_chart<X>(
    what: &str,
    title: &str,
    sorted: &[f64],
    axis: X,
    points: Series,
    x_desc: &str,
) -> Result<String, Error>
where
    X: plotters::coord::ranged1d::AsRangedCoord<Value = f64>,
    X::CoordDescType: plotters::coord::ranged1d::ValueFormatter<f64>,
{
    let lo = points.first().map_or(0.0, |p| p.0);
    let (p50, p99) = (rank(sorted, 0.50), rank(sorted, 0.99));
    svg(what, |root| {
        let e = err(what);
        let mut chart = ChartBuilder::on(root)
            .caption(format!("{title} (n={})", sorted.len()), (FONT, 20))
            .margin(12)
            .x_label_area_size(42)
            .y_label_area_size(56)
            .build_cartesian_2d(axis, 0.0..1.0)
            .map_err(|x| e(&x))?;
        chart
            .configure_mesh()
            .x_desc(x_desc)
            .y_desc(CDF_AXIS)
            .draw()
            .map_err(|x| e(&x))?;
        chart
            .draw_series(LineSeries::new(points, BLUE.stroke_width(2)))
            .map_err(|x| e(&x))?
            .label("grants")
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], BLUE.stroke_width(2)));
        for (q, at, color) in [("p50", p50, GREEN), ("p99", p99, RED)] {
            let v = at.max(lo);
            chart
                .draw_series(std::iter::once(PathElement::new(
                    vec![(v, 0.0), (v, 1.0)],
                    color.mix(0.7),
                )))
                .map_err(|x| e(&x))?
                .label(format!("{q} {at:.3} s"))
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color));
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::LowerRight)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .draw()
            .map_err(|x| e(&x))
    })
}

/// Lines over the run's time axis, one per named series, with the phases marked.
pub fn over_time(
    title: &str,
    y_desc: &str,
    lines: &BTreeMap<String, Series>,
    marks: &[Mark],
) -> Result<String, Error> {
    let all = || lines.values().flatten();
    let x_end = all()
        .map(|p| p.0)
        .chain(marks.iter().map(|m| m.t_s))
        .fold(1.0, f64::max)
        // Room for the last phase's label.
        * 1.08;
    // The top third is left to the phase labels and the legend.
    let y_top = all().map(|p| p.1).fold(0.0, f64::max).max(1.0) * 1.5;
    svg(title, |root| {
        let e = err(title);
        let mut chart = ChartBuilder::on(root)
            .caption(title, (FONT, 20))
            .margin(12)
            .x_label_area_size(42)
            .y_label_area_size(56)
            .build_cartesian_2d(0.0..x_end, 0.0..y_top)
            .map_err(|x| e(&x))?;
        chart
            .configure_mesh()
            .x_desc(TIME_AXIS)
            .y_desc(y_desc)
            .draw()
            .map_err(|x| e(&x))?;
        // Phase starts: a thin line each, labels staggered so neighbours do not overlap.
        for (i, m) in marks.iter().enumerate() {
            let y = y_top * (0.97 - 0.05 * (i % 3) as f64);
            chart
                .draw_series([PathElement::new(
                    vec![(m.t_s, 0.0), (m.t_s, y_top)],
                    BLACK.mix(0.25),
                )])
                .map_err(|x| e(&x))?;
            chart
                .draw_series([Text::new(m.phase.clone(), (m.t_s, y), (FONT, 11))])
                .map_err(|x| e(&x))?;
        }
        for (i, (name, points)) in lines.iter().enumerate() {
            let color = Palette99::pick(i).to_rgba();
            chart
                .draw_series(LineSeries::new(
                    points.iter().copied(),
                    color.stroke_width(2),
                ))
                .map_err(|x| e(&x))?
                .label(name.clone())
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
                });
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperMiddle)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .draw()
            .map_err(|x| e(&x))
    })
}
