//! `--plot`: the replay drawn on one time axis, as SVG (or HTML embedding the SVG).
//!
//! Two panels share the time axis: above, the revision's observed value and what its
//! ready instances absorb at the target (target × ready); below, the decider's desired
//! count and the ready instances. Panic periods are shaded in both; each tick where the
//! desired count falls to zero is marked "scale to zero". Drawn with `plotters`' SVG
//! backend and its built-in text metrics, so no font or image library is needed.

use std::ops::Range;

use anyhow::{Result, anyhow};
use plotters::coord::Shift;
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;

/// One decision tick of the replay, with what the trace showed at that tick.
#[derive(Debug, Clone, Copy)]
pub struct Row {
    /// Trace time of the tick.
    pub t_ms: u64,
    /// The revision's observed value (concurrency or RPS) at the tick.
    pub value: f64,
    /// Ready instances at the tick.
    pub ready: u32,
    /// The decider's desired count; `None` before it has data.
    pub desired: Option<u32>,
    /// Whether the decider panics after this tick.
    pub panic: bool,
}

const PANIC: RGBColor = RGBColor(255, 140, 0);
const OBSERVED: RGBColor = RGBColor(31, 119, 180);
const TARGET: RGBColor = RGBColor(44, 160, 44);
const DESIRED: RGBColor = RGBColor(214, 39, 40);
const READY: RGBColor = RGBColor(60, 60, 60);

type Chart<'a, 'b> = ChartContext<'a, SVGBackend<'b>, Cartesian2d<RangedCoordf64, RangedCoordf64>>;

/// The plot as an SVG document; `title` heads it, `metric` names the value's unit and
/// `target` is the target per instance.
pub fn svg(rows: &[Row], title: &str, metric: &str, target: f64) -> Result<String> {
    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, (1000, 640)).into_drawing_area();
        root.fill(&WHITE).map_err(draw_error)?;
        let root = root.titled(title, ("sans-serif", 20)).map_err(draw_error)?;
        let (upper, lower) = root.split_vertically(300);
        // A little room after the last tick, for a mark drawn there.
        let end = rows.last().map_or(1.0, seconds).max(1.0) * 1.02;
        let top = rows
            .iter()
            .map(|r| r.value.max(target * f64::from(r.ready)))
            .fold(1.0, f64::max)
            * 1.15;
        let mut chart = panel(&upper, 0.0..end, top, metric)?;
        shade_panic(&mut chart, rows, top)?;
        line(&mut chart, rows, OBSERVED, "observed", |r| r.value)?;
        line(&mut chart, rows, TARGET, "target × ready", |r| {
            target * f64::from(r.ready)
        })?;
        legend(&mut chart)?;

        let most = rows
            .iter()
            .map(|r| r.desired.unwrap_or(0).max(r.ready))
            .max()
            .unwrap_or(1);
        let top = f64::from(most.max(1)) * 1.25;
        let mut chart = panel(&lower, 0.0..end, top, "instances")?;
        shade_panic(&mut chart, rows, top)?;
        step(&mut chart, rows, DESIRED, "desired", |r| {
            r.desired.map(f64::from)
        })?;
        step(&mut chart, rows, READY, "ready", |r| {
            Some(f64::from(r.ready))
        })?;
        mark_scale_to_zero(&mut chart, rows, top, end)?;
        legend(&mut chart)?;
        root.present().map_err(draw_error)?;
    }
    Ok(out)
}

/// An HTML page showing the SVG inline.
pub fn html(svg: &str, title: &str) -> String {
    let title = title
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;");
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head><meta charset=\"utf-8\"/><title>{title}</title></head>\n<body>\n{svg}\n</body>\n</html>\n"
    )
}

fn seconds(row: &Row) -> f64 {
    row.t_ms as f64 / 1000.0
}

fn draw_error<E: std::error::Error + Send + Sync>(error: DrawingAreaErrorKind<E>) -> anyhow::Error {
    anyhow!("drawing the plot: {error}")
}

fn panel<'a, 'b>(
    area: &'a DrawingArea<SVGBackend<'b>, Shift>,
    x: Range<f64>,
    top: f64,
    y_desc: &str,
) -> Result<Chart<'a, 'b>> {
    let mut chart = ChartBuilder::on(area)
        .margin(10)
        .x_label_area_size(35)
        .y_label_area_size(55)
        .build_cartesian_2d(x, 0.0..top)
        .map_err(draw_error)?;
    chart
        .configure_mesh()
        .x_desc("trace time (s)")
        .y_desc(y_desc)
        .light_line_style(WHITE)
        .draw()
        .map_err(draw_error)?;
    Ok(chart)
}

/// One shaded band per run of panicking ticks, from the tick that entered panic to the
/// tick that left it.
fn shade_panic(chart: &mut Chart<'_, '_>, rows: &[Row], top: f64) -> Result<()> {
    let mut bands = Vec::new();
    let mut start = None;
    for row in rows {
        match (row.panic, start) {
            (true, None) => start = Some(seconds(row)),
            (false, Some(from)) => {
                bands.push((from, seconds(row)));
                start = None;
            }
            _ => {}
        }
    }
    if let (Some(from), Some(last)) = (start, rows.last()) {
        bands.push((from, seconds(last)));
    }
    let style = PANIC.mix(0.2).filled();
    chart
        .draw_series(
            bands
                .into_iter()
                .map(|(from, to)| Rectangle::new([(from, 0.0), (to, top)], style)),
        )
        .map_err(draw_error)?
        .label("panic")
        .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 15, y + 5)], style));
    Ok(())
}

fn line(
    chart: &mut Chart<'_, '_>,
    rows: &[Row],
    color: RGBColor,
    label: &str,
    value: impl Fn(&Row) -> f64,
) -> Result<()> {
    let points = rows.iter().map(|r| (seconds(r), value(r))).collect();
    series(chart, points, color, label)
}

/// A count drawn as steps: it holds from one tick to the next.
fn step(
    chart: &mut Chart<'_, '_>,
    rows: &[Row],
    color: RGBColor,
    label: &str,
    value: impl Fn(&Row) -> Option<f64>,
) -> Result<()> {
    let mut points = Vec::new();
    for row in rows {
        if let Some(v) = value(row) {
            if let Some(&(_, previous)) = points.last() {
                points.push((seconds(row), previous));
            }
            points.push((seconds(row), v));
        }
    }
    series(chart, points, color, label)
}

/// A polyline through `points`, keyed as `label` in the legend.
fn series(
    chart: &mut Chart<'_, '_>,
    points: Vec<(f64, f64)>,
    color: RGBColor,
    label: &str,
) -> Result<()> {
    let style = color.stroke_width(2);
    chart
        .draw_series(LineSeries::new(points, style))
        .map_err(draw_error)?
        .label(label)
        .legend(move |(x, y)| PathElement::new([(x, y), (x + 15, y)], style));
    Ok(())
}

/// A dashed vertical line and a label (left of it) at each tick where the desired count
/// falls to 0.
fn mark_scale_to_zero(chart: &mut Chart<'_, '_>, rows: &[Row], top: f64, end: f64) -> Result<()> {
    let marks: Vec<f64> = rows
        .windows(2)
        .filter(|w| w[0].desired.is_some_and(|d| d > 0) && w[1].desired == Some(0))
        .map(|w| seconds(&w[1]))
        .collect();
    for t in marks {
        let dashes = DashedLineSeries::new([(t, 0.0), (t, top)], 6, 4, BLACK.stroke_width(1));
        chart.draw_series(dashes).map_err(draw_error)?;
        let label = Text::new(
            "scale to zero",
            (t - end * 0.1, top * 0.9),
            ("sans-serif", 14),
        );
        chart.draw_series([label]).map_err(draw_error)?;
    }
    Ok(())
}

fn legend<'a, 'b: 'a>(chart: &mut Chart<'a, 'b>) -> Result<()> {
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()
        .map_err(draw_error)
}
