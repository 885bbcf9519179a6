//! Line charts as SVG: learning curves, accuracy against label budget, forecast against actual.
//!
//! Plotters is built without its `ttf` feature, so text goes through its font-free layout
//! estimate and the SVG backend writes plain `<text>` elements that the viewer renders.

use std::path::Path;

use plotters::prelude::*;

use crate::error::{Error, Result};

/// One named line of (x, y) points.
#[derive(Clone, Debug)]
pub struct Series {
    /// Shown in the legend.
    pub name: String,
    /// Drawn in order; non-finite points are skipped.
    pub points: Vec<(f64, f64)>,
}

/// One chart of the figure: its own axes, title and legend.
#[derive(Clone, Debug)]
pub struct Panel {
    /// Shown above the panel.
    pub title: String,
    /// Label of the horizontal axis.
    pub x_label: String,
    /// Label of the vertical axis.
    pub y_label: String,
    /// The lines drawn in this panel, each in its own colour.
    pub series: Vec<Series>,
}

/// Size of one panel in pixels; the figure is `panels` of these side by side plus a title strip.
const PANEL_WIDTH: u32 = 560;
const PANEL_HEIGHT: u32 = 420;
const TITLE_HEIGHT: u32 = 40;

/// Tableau 10: distinct colours that stay distinguishable for most colour-blind readers.
const COLOURS: [RGBColor; 10] = [
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

/// Writes the panels side by side (one row) into one SVG file, atomically; each panel has axes with tick labels, axis labels, a title, one coloured line with point markers per series, and a legend. Axis ranges from the data with a small margin (a constant series or a single point still gets a non-empty range). Non-finite points are skipped. Error if no panel has any finite point.
pub fn write_line_chart(path: &Path, title: &str, panels: &[Panel]) -> Result<()> {
    let any_point = panels.iter().flat_map(|p| &p.series).any(|s| finite_points(s).next().is_some());
    if !any_point {
        return Err(Error::InvalidInput(format!("chart '{}' for {}: no panel has any finite point", title, path.display())));
    }

    let mut svg = String::new();
    render(&mut svg, title, panels)
        .map_err(|message| Error::File { path: path.to_path_buf(), message: format!("rendering chart: {message}") })?;
    crate::fsutil::write_atomic(path, svg.as_bytes())
}

/// The points of a series that can be drawn.
fn finite_points(series: &Series) -> impl Iterator<Item = (f64, f64)> + '_ {
    series.points.iter().copied().filter(|(x, y)| x.is_finite() && y.is_finite())
}

/// Draws the whole figure into `svg`. Errors come back as text because plotters' error type is
/// generic over the backend and the caller only reports it.
fn render(svg: &mut String, title: &str, panels: &[Panel]) -> std::result::Result<(), String> {
    let columns = panels.len().max(1) as u32;
    let size = (PANEL_WIDTH * columns, PANEL_HEIGHT + TITLE_HEIGHT);
    // The backend borrows `svg` and only flushes the document on `present`, so it lives in
    // this function and is finished before the caller reads the string.
    let root = SVGBackend::with_string(svg, size).into_drawing_area();
    root.fill(&WHITE).map_err(|e| e.to_string())?;
    // `titled` draws the figure title centred at the top and returns the area below it.
    let body = root.titled(title, ("sans-serif", 28)).map_err(|e| e.to_string())?;
    for (panel, area) in panels.iter().zip(body.split_evenly((1, panels.len().max(1)))) {
        draw_panel(&area, panel).map_err(|e| e.to_string())?;
    }
    root.present().map_err(|e| e.to_string())
}

/// Draws one panel: caption, mesh with tick and axis labels, the lines and the legend.
fn draw_panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, plotters::coord::Shift>,
    panel: &Panel,
) -> std::result::Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    let all_points = || panel.series.iter().flat_map(finite_points);
    let x_range = padded_range(all_points().map(|(x, _)| x));
    let y_range = padded_range(all_points().map(|(_, y)| y));

    let mut chart = ChartBuilder::on(area)
        .caption(&panel.title, ("sans-serif", 22))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(x_range.clone(), y_range.clone())?;
    chart
        .configure_mesh()
        .x_desc(panel.x_label.as_str())
        .y_desc(panel.y_label.as_str())
        .x_labels(8)
        .y_labels(8)
        // The major grid is enough to read values off; the minor one only adds clutter.
        .light_line_style(TRANSPARENT)
        .label_style(("sans-serif", 15))
        .axis_desc_style(("sans-serif", 16))
        .draw()?;

    for (i, series) in panel.series.iter().enumerate() {
        // An empty series draws nothing but keeps its colour slot, so the same series index has the
        // same colour in every chart built from one list of names.
        if series.points.is_empty() {
            continue;
        }
        let colour = COLOURS[i % COLOURS.len()];
        // Markers on a dense series (a long forecast) merge into a band that hides the line.
        let marker = if series.points.len() <= 60 { 3 } else { 1 };
        chart
            .draw_series(LineSeries::new(finite_points(series), colour.filled().stroke_width(2)).point_size(marker))?
            .label(series.name.as_str())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], colour.stroke_width(2)));
    }

    if !panel.series.is_empty() {
        chart
            .configure_series_labels()
            .position(legend_corner(panel, &x_range, &y_range))
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .label_font(("sans-serif", 15))
            .draw()?;
    }
    Ok(())
}

/// The data's range plus 5% on each side, so markers at the extremes are not cut by the frame.
/// A zero-width range (one point, a constant series) is widened around its value, and an empty
/// one (a panel without finite points) becomes 0..1, because plotters needs a non-empty range.
fn padded_range(values: impl Iterator<Item = f64>) -> std::ops::Range<f64> {
    let (lo, hi) = values.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| (lo.min(v), hi.max(v)));
    if lo > hi {
        return 0.0..1.0;
    }
    let span = hi - lo;
    let pad = if span > 0.0 {
        span * 0.05
    } else if lo != 0.0 {
        lo.abs() * 0.1
    } else {
        1.0
    };
    (lo - pad)..(hi + pad)
}

/// Puts the legend in the corner that the lines cross least, so it hides as little data as
/// possible: a falling loss curve leaves the top right free, a rising accuracy curve the bottom
/// right. Segments are sampled rather than only their end points, because a line can cross a
/// corner without having a point there.
fn legend_corner(panel: &Panel, x: &std::ops::Range<f64>, y: &std::ops::Range<f64>) -> SeriesLabelPosition {
    // Corners in the order preferred on ties, each with the fraction of the plot it covers,
    // roughly where plotters puts a legend of a few entries.
    let corners = [
        (SeriesLabelPosition::UpperRight, 0.55..1.0, 0.7..1.0),
        (SeriesLabelPosition::LowerRight, 0.55..1.0, 0.0..0.3),
        (SeriesLabelPosition::UpperLeft, 0.0..0.45, 0.7..1.0),
        (SeriesLabelPosition::LowerLeft, 0.0..0.45, 0.0..0.3),
    ];
    let normalise = |(px, py): (f64, f64)| ((px - x.start) / (x.end - x.start), (py - y.start) / (y.end - y.start));
    let mut counts = [0usize; 4];
    let mut count = |(u, v): (f64, f64)| {
        for (i, (_, cu, cv)) in corners.iter().enumerate() {
            if cu.contains(&u) && cv.contains(&v) {
                counts[i] += 1;
            }
        }
    };
    const SAMPLES_PER_SEGMENT: usize = 16;
    for series in &panel.series {
        let points: Vec<(f64, f64)> = finite_points(series).map(normalise).collect();
        if let [only] = points[..] {
            count(only);
        }
        for pair in points.windows(2) {
            let ((u0, v0), (u1, v1)) = (pair[0], pair[1]);
            for k in 0..=SAMPLES_PER_SEGMENT {
                let t = k as f64 / SAMPLES_PER_SEGMENT as f64;
                count((u0 + t * (u1 - u0), v0 + t * (v1 - v0)));
            }
        }
    }
    let best = (0..corners.len()).min_by_key(|&i| counts[i]).unwrap_or(0);
    corners[best].0.clone()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A scratch directory unique to this test process, removed when dropped.
    struct TempDir(std::path::PathBuf);

    impl TempDir {
        fn new(name: &str) -> Self {
            let dir = std::env::temp_dir().join(format!("lstm-transfer-plot-{name}-{}", std::process::id()));
            std::fs::create_dir_all(&dir).unwrap();
            TempDir(dir)
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn series(name: &str, points: &[(f64, f64)]) -> Series {
        Series { name: name.into(), points: points.to_vec() }
    }

    fn panel(title: &str, series: Vec<Series>) -> Panel {
        Panel { title: title.into(), x_label: "epoch".into(), y_label: "loss".into(), series }
    }

    #[test]
    fn writes_svg_with_titles_names_and_labels() {
        let dir = TempDir::new("basic");
        let path = dir.0.join("curves.svg");
        let panels = [
            panel(
                "Loss",
                vec![
                    series("train loss", &[(1.0, 2.0), (2.0, 1.2), (3.0, 0.8)]),
                    series("valid loss", &[(1.0, 2.1), (2.0, 1.5), (3.0, 1.3)]),
                ],
            ),
            panel("Accuracy", vec![series("valid accuracy", &[(1.0, 0.4), (2.0, 0.6), (3.0, 0.7)])]),
        ];
        write_line_chart(&path, "Learning curves", &panels).unwrap();
        let svg = std::fs::read_to_string(&path).unwrap();
        assert!(svg.starts_with("<svg"), "{}", &svg[..svg.len().min(200)]);
        assert!(svg.trim_end().ends_with("</svg>"));
        for text in ["Learning curves", "Loss", "Accuracy", "train loss", "valid loss", "valid accuracy", "epoch"] {
            assert!(svg.contains(text), "missing {text}");
        }
        // Text, tick labels included, is emitted as SVG text elements even without a font feature.
        assert!(svg.contains("<text") && svg.contains(">\n2.0\n</text>"), "{svg}");
        // Lines and point markers.
        assert!(svg.contains("<polyline") && svg.contains("<circle"));
    }

    #[test]
    fn single_point_and_constant_series_work() {
        let dir = TempDir::new("degenerate");
        let single = dir.0.join("single.svg");
        write_line_chart(&single, "one", &[panel("single", vec![series("only", &[(5.0, 0.0)])])]).unwrap();
        assert!(std::fs::read_to_string(&single).unwrap().contains("only"));
        let constant = dir.0.join("constant.svg");
        let flat = series("flat", &[(0.0, 3.0), (1.0, 3.0), (2.0, 3.0)]);
        write_line_chart(&constant, "flat", &[panel("constant", vec![flat])]).unwrap();
        assert!(std::fs::read_to_string(&constant).unwrap().contains("constant"));
        assert_eq!(padded_range([5.0].into_iter()), 4.5..5.5);
        assert_eq!(padded_range([0.0, 0.0].into_iter()), -1.0..1.0);
        assert_eq!(padded_range(std::iter::empty()), 0.0..1.0);
    }

    #[test]
    fn empty_input_is_an_error() {
        let dir = TempDir::new("empty");
        let path = dir.0.join("empty.svg");
        let invalid = |r: Result<()>| matches!(r, Err(Error::InvalidInput(_)));
        assert!(invalid(write_line_chart(&path, "none", &[])));
        assert!(invalid(write_line_chart(&path, "none", &[panel("no series", vec![])])));
        assert!(invalid(write_line_chart(&path, "none", &[panel("empty", vec![series("e", &[])])])));
        let nan_only = series("nan", &[(f64::NAN, 1.0), (1.0, f64::INFINITY)]);
        assert!(invalid(write_line_chart(&path, "none", &[panel("nan", vec![nan_only])])));
        assert!(!path.exists());
    }

    #[test]
    fn non_finite_points_are_skipped() {
        let dir = TempDir::new("nonfinite");
        let path = dir.0.join("gaps.svg");
        let gappy = series("gappy", &[(0.0, 1.0), (1.0, f64::NAN), (f64::INFINITY, 2.0), (2.0, 3.0)]);
        // A panel without finite points is drawn with empty axes next to the others.
        let empty = panel("nothing here", vec![series("void", &[(0.0, f64::NEG_INFINITY)])]);
        write_line_chart(&path, "gaps", &[panel("with gaps", vec![gappy]), empty]).unwrap();
        let svg = std::fs::read_to_string(&path).unwrap();
        assert!(svg.contains("gappy") && svg.contains("nothing here"));
        assert!(!svg.contains("NaN") && !svg.contains("inf"), "non-finite value leaked into the SVG");
        // Only the gappy series' two finite points get markers, and every line in its colour
        // (its data line and the legend samples) has two vertices: nothing was drawn for the
        // skipped points.
        assert_eq!(svg.matches("<circle").count(), 2, "{svg}");
        let colour = format!("stroke=\"#{:02X}{:02X}{:02X}\"", COLOURS[0].0, COLOURS[0].1, COLOURS[0].2);
        let lines: Vec<&str> = svg.lines().filter(|l| l.starts_with("<polyline") && l.contains(&colour)).collect();
        assert!(!lines.is_empty() && lines.iter().all(|l| l.matches(',').count() == 2), "{lines:?}");
    }
}
