//! Charts for the HTML report, drawn with plotters' SVG backend into
//! strings that the template inlines (no network, no scripts).

use plotters::prelude::*;

use super::model::RunResult;

const W: u32 = 900;
const H: u32 = 260;

/// A span shaded on the timeline (a fault in force), in seconds from load
/// start.
pub struct Span {
    pub from: f64,
    pub to: f64,
    pub label: String,
}

/// A vertical marker (an alert firing or notified), seconds from load start.
pub struct Marker {
    pub at: f64,
    pub label: String,
    pub notified: bool,
}

fn secs_since(start: chrono::DateTime<chrono::Utc>, t: chrono::DateTime<chrono::Utc>) -> f64 {
    (t - start).num_milliseconds() as f64 / 1000.0
}

/// Fault spans and alert markers of a run, relative to load start.
pub fn annotations(r: &RunResult) -> (Vec<Span>, Vec<Marker>) {
    let Some(start) = r.load.as_ref().and_then(|l| l.started_at) else {
        return (Vec::new(), Vec::new());
    };
    let spans = r
        .faults
        .iter()
        .filter_map(|f| {
            let from = secs_since(start, f.took_effect_at?);
            let to = f.reverted_at.map(|t| secs_since(start, t)).unwrap_or(from);
            Some(Span {
                from,
                to,
                label: f.name.clone(),
            })
        })
        .collect();
    let mut markers = Vec::new();
    for d in &r.detections {
        if let Some(t) = d.firing_seen_at {
            markers.push(Marker {
                at: secs_since(start, t),
                label: format!("{} firing", d.alert),
                notified: false,
            });
        }
        if let Some((_, t)) = d.notified.first() {
            markers.push(Marker {
                at: secs_since(start, *t),
                label: format!("{} notified", d.alert),
                notified: true,
            });
        }
    }
    (spans, markers)
}

/// One line of a chart: name, colour, (x, y) points.
pub type Series<'a> = (&'a str, RGBColor, Vec<(f64, f64)>);

/// One time series chart.
pub fn timeline(
    title: &str,
    y_label: &str,
    series: &[Series<'_>],
    spans: &[Span],
    markers: &[Marker],
) -> String {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (W, H)).into_drawing_area();
        let _ = root.fill(&WHITE);
        let x_max = series
            .iter()
            .flat_map(|s| s.2.iter().map(|p| p.0))
            .chain(spans.iter().map(|s| s.to))
            .chain(markers.iter().map(|m| m.at))
            .fold(1.0f64, f64::max);
        let y_max = series
            .iter()
            .flat_map(|s| s.2.iter().map(|p| p.1))
            .fold(0.0f64, f64::max)
            .max(1e-9)
            * 1.15;
        let chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 16))
            .margin(8)
            .x_label_area_size(30)
            .y_label_area_size(56)
            .build_cartesian_2d(0f64..x_max, 0f64..y_max);
        let Ok(mut chart) = chart else {
            return svg_error(title);
        };
        let _ = chart
            .configure_mesh()
            .x_desc("seconds from load start (wall)")
            .y_desc(y_label)
            .light_line_style(RGBColor(235, 235, 235))
            .draw();
        for s in spans {
            let _ = chart.draw_series(std::iter::once(Rectangle::new(
                [(s.from, 0.0), (s.to.max(s.from + x_max * 0.002), y_max)],
                RGBColor(255, 205, 120).mix(0.35).filled(),
            )));
        }
        for (name, colour, points) in series {
            if let Ok(ann) = chart.draw_series(LineSeries::new(
                points.iter().copied(),
                colour.stroke_width(2),
            )) {
                ann.label(*name).legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 16, y)], colour.stroke_width(2))
                });
            }
        }
        for m in markers {
            let colour = if m.notified {
                RGBColor(30, 90, 200)
            } else {
                RGBColor(200, 40, 40)
            };
            let _ = chart.draw_series(std::iter::once(PathElement::new(
                vec![(m.at, 0.0), (m.at, y_max)],
                colour.stroke_width(1),
            )));
        }
        let _ = chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.85))
            .border_style(RGBColor(200, 200, 200))
            .position(SeriesLabelPosition::UpperRight)
            .draw();
        let _ = root.present();
    }
    svg
}

/// MTTD per alert as stacked bars (fault → pending → firing → notified), in
/// real-time-equivalent seconds, with the target as a line.
pub fn mttd_bars(r: &RunResult, target_s: Option<f64>) -> String {
    let rows: Vec<(String, [f64; 3])> = r
        .detections
        .iter()
        .filter_map(|d| {
            let t0 = d.fault_took_effect_at?;
            let k = r.time_scale;
            let s = |t: chrono::DateTime<chrono::Utc>| {
                ((t - t0).num_milliseconds() as f64 / 1000.0 * k).max(0.0)
            };
            let pending = d.pending_at.map(s).unwrap_or(0.0);
            let firing = d.firing_seen_at.map(s).unwrap_or(pending).max(pending);
            let notified = d
                .notified
                .first()
                .map(|(_, t)| s(*t))
                .unwrap_or(firing)
                .max(firing);
            Some((
                d.alert.clone(),
                [pending, firing - pending, notified - firing],
            ))
        })
        .collect();
    if rows.is_empty() {
        return String::new();
    }
    let mut svg = String::new();
    {
        let h = 170 + 60 * rows.len() as u32;
        let root = SVGBackend::with_string(&mut svg, (W, h)).into_drawing_area();
        let _ = root.fill(&WHITE);
        let x_max = rows
            .iter()
            .map(|r| r.1.iter().sum::<f64>())
            .chain(target_s)
            .fold(1.0f64, f64::max)
            * 1.1;
        let n = rows.len();
        let chart = ChartBuilder::on(&root)
            .caption("Detection time, real-time equivalent", ("sans-serif", 16))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(160)
            .build_cartesian_2d(0f64..x_max, 0f64..n as f64);
        let Ok(mut chart) = chart else {
            return svg_error("MTTD");
        };
        let labels: Vec<String> = rows.iter().map(|r| r.0.clone()).collect();
        let _ = chart
            .configure_mesh()
            .disable_y_mesh()
            .y_labels(n)
            .y_label_formatter(&|y| labels.get(y.floor() as usize).cloned().unwrap_or_default())
            .x_desc("seconds after the fault took effect")
            .draw();
        let colours = [
            RGBColor(150, 150, 150),
            RGBColor(240, 160, 40),
            RGBColor(40, 120, 200),
        ];
        let names = [
            "until pending (scrape + evaluation)",
            "pending → firing (`for`)",
            "firing → notified (group_wait, delivery)",
        ];
        for (stage, colour) in colours.iter().enumerate() {
            let bars = rows.iter().enumerate().map(|(i, (_, parts))| {
                let from: f64 = parts[..stage].iter().sum();
                let y = i as f64;
                Rectangle::new(
                    [(from, y + 0.2), (from + parts[stage], y + 0.8)],
                    colour.filled(),
                )
            });
            if let Ok(ann) = chart.draw_series(bars) {
                let c = *colour;
                ann.label(names[stage]).legend(move |(x, y)| {
                    Rectangle::new([(x, y - 5), (x + 12, y + 5)], c.filled())
                });
            }
        }
        target_and_legend(&mut chart, target_s, n);
        let _ = root.present();
    }
    svg
}

/// MTTD over trials, real-time seconds: per expected alert a row with the
/// floor–ceiling band the configuration allows shaded, one dot per trial
/// and destination, and the target as a line.
pub fn mttd_trials(r: &RunResult, target_s: Option<f64>) -> String {
    if r.trials.is_empty() {
        return String::new();
    }
    let palette = [
        RGBColor(40, 120, 200),
        RGBColor(240, 140, 30),
        RGBColor(60, 160, 80),
        RGBColor(150, 70, 170),
        RGBColor(120, 120, 120),
    ];
    let mut dests: Vec<String> = r
        .trials
        .iter()
        .flat_map(|a| {
            a.series
                .iter()
                .filter_map(|s| Some(s.destination.as_ref()?.to_string()))
        })
        .collect();
    dests.sort();
    dests.dedup();
    let x_max = r
        .trials
        .iter()
        .flat_map(|a| {
            a.series
                .iter()
                .flat_map(|s| s.mttd_real_s.iter().flatten().copied())
                .chain(a.ceiling_real_s)
        })
        .chain(target_s)
        .fold(1.0f64, f64::max)
        * 1.1;
    let n = r.trials.len();
    let mut svg = String::new();
    {
        let h = 150 + 70 * n as u32;
        let root = SVGBackend::with_string(&mut svg, (W, h)).into_drawing_area();
        let _ = root.fill(&WHITE);
        let chart = ChartBuilder::on(&root)
            .caption("MTTD per trial, real-time equivalent", ("sans-serif", 16))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(200)
            .build_cartesian_2d(0f64..x_max, 0f64..n as f64);
        let Ok(mut chart) = chart else {
            return svg_error("MTTD trials");
        };
        let labels: Vec<String> = r.trials.iter().map(|a| a.alert.clone()).collect();
        let _ = chart
            .configure_mesh()
            .disable_y_mesh()
            .y_labels(n)
            .y_label_formatter(&|y| labels.get(y.floor() as usize).cloned().unwrap_or_default())
            .x_desc("seconds from the fault taking effect to the page")
            .draw();
        let bands = r.trials.iter().enumerate().filter_map(|(i, a)| {
            let (f, c) = (a.floor_real_s?, a.ceiling_real_s?);
            let y = i as f64;
            Some(Rectangle::new(
                [(f, y + 0.1), (c, y + 0.9)],
                RGBColor(200, 220, 240).mix(0.6).filled(),
            ))
        });
        if let Ok(ann) = chart.draw_series(bands) {
            ann.label("what the configuration allows (floor–ceiling)")
                .legend(|(x, y)| {
                    Rectangle::new(
                        [(x, y - 5), (x + 12, y + 5)],
                        RGBColor(200, 220, 240).filled(),
                    )
                });
        }
        for (di, dest) in dests.iter().enumerate() {
            let colour = palette[di % palette.len()];
            let lane = (di as f64 + 1.0) / (dests.len() as f64 + 1.0);
            let dots = r.trials.iter().enumerate().flat_map(|(i, a)| {
                a.series
                    .iter()
                    .filter(|s| {
                        s.destination
                            .as_ref()
                            .is_some_and(|d| d.to_string() == *dest)
                    })
                    .flat_map(|s| s.mttd_real_s.iter().flatten().copied())
                    .map(move |v| Circle::new((v, i as f64 + 0.1 + 0.8 * lane), 4, colour.filled()))
                    .collect::<Vec<_>>()
            });
            if let Ok(ann) = chart.draw_series(dots) {
                ann.label(dest.clone())
                    .legend(move |(x, y)| Circle::new((x + 6, y), 4, colour.filled()));
            }
        }
        target_and_legend(&mut chart, target_s, n);
        let _ = root.present();
    }
    svg
}

/// The MTTD target as a vertical line across `rows` rows, then the legend.
fn target_and_legend<'a>(
    chart: &mut ChartContext<
        'a,
        SVGBackend<'a>,
        Cartesian2d<plotters::coord::types::RangedCoordf64, plotters::coord::types::RangedCoordf64>,
    >,
    target_s: Option<f64>,
    rows: usize,
) {
    if let Some(t) = target_s {
        if let Ok(ann) = chart.draw_series(std::iter::once(PathElement::new(
            vec![(t, 0.0), (t, rows as f64)],
            RGBColor(200, 30, 30).stroke_width(2),
        ))) {
            ann.label("MTTD target").legend(|(x, y)| {
                PathElement::new(
                    vec![(x, y), (x + 16, y)],
                    RGBColor(200, 30, 30).stroke_width(2),
                )
            });
        }
    }
    let _ = chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.85))
        .border_style(RGBColor(200, 200, 200))
        .position(SeriesLabelPosition::UpperRight)
        .draw();
}

fn svg_error(what: &str) -> String {
    format!("<p>chart {what} could not be drawn</p>")
}
