//! Line charts as SVG: learning curves, accuracy against label budget, forecast against actual.
//!
//! Plotters is built without its `ttf` feature, so text goes through its font-free layout
//! estimate and the SVG backend writes plain `<text>` elements that the viewer renders.

use std::path::Path;

use plotters::prelude::*;

use crate::error::{Error, Result};

/// One named line of (x, y) points, optionally with an error bar at each point.
#[derive(Clone, Debug)]
pub struct Series {
    /// Shown in the legend.
    pub name: String,
    /// Drawn in order; non-finite points are skipped.
    pub points: Vec<(f64, f64)>,
    /// Half-width of the error bar at each point (a standard deviation or a 95% half-width), in
    /// the order of `points`; empty for none.
    pub errors: Vec<f64>,
}

impl Series {
    /// A line without error bars.
    ///
    /// ```
    /// use lstm_transfer::plot::Series;
    /// let loss = Series::new("train loss", vec![(1.0, 0.9), (2.0, 0.6)]).with_errors(vec![0.1, 0.05]);
    /// assert_eq!(loss.errors.len(), loss.points.len());
    /// ```
    pub fn new(name: impl Into<String>, points: Vec<(f64, f64)>) -> Self {
        Series { name: name.into(), points, errors: Vec::new() }
    }

    /// The same line with an error bar of half-width `errors[i]` at point i.
    pub fn with_errors(mut self, errors: Vec<f64>) -> Self {
        self.errors = errors;
        self
    }

    /// The points that can be drawn, each with its error half-width (0 when none or not finite).
    fn drawable(&self) -> impl Iterator<Item = (f64, f64, f64)> + '_ {
        let error = |i: usize| self.errors.get(i).copied().filter(|e| e.is_finite()).map_or(0.0, f64::abs);
        self.points.iter().enumerate().filter(|(_, (x, y))| x.is_finite() && y.is_finite()).map(move |(i, &(x, y))| (x, y, error(i)))
    }
}

/// What the horizontal axis counts, which decides its tick labels.
#[derive(Clone, Debug, Default)]
pub enum XAxis {
    /// Any real numbers (a learning rate's log, a label budget).
    #[default]
    Numbers,
    /// Whole numbers (epochs): ticks only at integers.
    Integers,
    /// Positions 0, 1, 2, … named by these labels (a series' timestamps): ticks at integers,
    /// fewer of them when the labels are long.
    Labels(Vec<String>),
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
    /// How the horizontal axis is labelled.
    pub x_axis: XAxis,
    /// The lines drawn in this panel, each in its own colour.
    pub series: Vec<Series>,
}

impl Panel {
    /// A panel whose horizontal axis holds real numbers.
    ///
    /// ```no_run
    /// use lstm_transfer::plot::{Panel, Series, XAxis, write_line_chart};
    /// let curve = Series::new("valid", vec![(1.0, 0.61), (2.0, 0.68), (3.0, 0.70)]);
    /// let panel = Panel::new("accuracy", "epoch", "fraction", vec![curve]).with_x_axis(XAxis::Integers);
    /// write_line_chart("runs/curve.svg".as_ref(), "learning curves", &[panel])?;
    /// # Ok::<(), lstm_transfer::Error>(())
    /// ```
    pub fn new(title: impl Into<String>, x_label: impl Into<String>, y_label: impl Into<String>, series: Vec<Series>) -> Self {
        Panel { title: title.into(), x_label: x_label.into(), y_label: y_label.into(), x_axis: XAxis::Numbers, series }
    }

    /// The same panel with another kind of horizontal axis.
    pub fn with_x_axis(mut self, x_axis: XAxis) -> Self {
        self.x_axis = x_axis;
        self
    }
}

/// Size of one panel in pixels; the figure is `panels` of these side by side plus a title strip.
const PANEL_WIDTH: u32 = 560;
const PANEL_HEIGHT: u32 = 420;
const TITLE_HEIGHT: u32 = 40;
/// The legend sits in rows under the chart, outside the data, so it never covers a line.
const LEGEND_ROW_HEIGHT: u32 = 20;
const LEGEND_SAMPLE: i32 = 22;
/// Rough width of one legend character at the legend's font size (there is no font to measure).
const LEGEND_CHAR_WIDTH: i32 = 8;
/// Most tick labels on an axis.
const MAX_TICKS: usize = 8;

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

/// Writes the panels side by side (one row) into one SVG file, atomically; each panel has axes with tick labels, axis labels, a title, one coloured line with point markers (and error bars where given) per series, and a legend below the chart. Axis ranges from the data with a small margin (a constant series or a single point still gets a non-empty range). Non-finite points are skipped. Error if no panel has any finite point.
pub fn write_line_chart(path: &Path, title: &str, panels: &[Panel]) -> Result<()> {
    let any_point = panels.iter().flat_map(|p| &p.series).any(|s| s.drawable().next().is_some());
    if !any_point {
        return Err(Error::InvalidInput(format!("chart '{}' for {}: no panel has any finite point", title, path.display())));
    }

    let mut svg = String::new();
    render(&mut svg, title, panels)
        .map_err(|message| Error::File { path: path.to_path_buf(), message: format!("rendering chart: {message}") })?;
    crate::fsutil::write_atomic(path, svg.as_bytes())
}

/// Draws the whole figure into `svg`. Errors come back as text because plotters' error type is
/// generic over the backend and the caller only reports it.
fn render(svg: &mut String, title: &str, panels: &[Panel]) -> std::result::Result<(), String> {
    let columns = panels.len().max(1) as u32;
    // Every panel gets the legend strip of the fullest legend, so the charts line up.
    let legend_rows = panels.iter().map(|p| legend_layout(&p.series).1).max().unwrap_or(0);
    let legend_height = legend_rows * LEGEND_ROW_HEIGHT + 8;
    let size = (PANEL_WIDTH * columns, PANEL_HEIGHT + legend_height + TITLE_HEIGHT);
    // The backend borrows `svg` and only flushes the document on `present`, so it lives in
    // this function and is finished before the caller reads the string.
    let root = SVGBackend::with_string(svg, size).into_drawing_area();
    root.fill(&WHITE).map_err(|e| e.to_string())?;
    // `titled` draws the figure title centred at the top and returns the area below it.
    let body = root.titled(title, ("sans-serif", 28)).map_err(|e| e.to_string())?;
    for (panel, area) in panels.iter().zip(body.split_evenly((1, panels.len().max(1)))) {
        let (chart, legend) = area.split_vertically(PANEL_HEIGHT);
        draw_panel(&chart, panel).map_err(|e| e.to_string())?;
        draw_legend(&legend, &panel.series).map_err(|e| e.to_string())?;
    }
    root.present().map_err(|e| e.to_string())
}

/// Draws one panel: caption, mesh with tick and axis labels, the lines and their error bars.
fn draw_panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, plotters::coord::Shift>,
    panel: &Panel,
) -> std::result::Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    let all_points = || panel.series.iter().flat_map(Series::drawable);
    let x_range = padded_range(all_points().map(|(x, _, _)| x));
    let y_range = padded_range(all_points().flat_map(|(_, y, e)| [y - e, y + e]));

    let mut chart = ChartBuilder::on(area)
        .caption(&panel.title, ("sans-serif", 22))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(x_range.clone(), y_range.clone())?;
    let x_span = x_range.end - x_range.start;
    let label_of = |x: &f64| match &panel.x_axis {
        XAxis::Numbers => format!("{x}"),
        XAxis::Integers => format!("{x:.0}"),
        XAxis::Labels(labels) => (x.round() >= 0.0).then(|| labels.get(x.round() as usize)).flatten().cloned().unwrap_or_default(),
    };
    chart
        .configure_mesh()
        .x_desc(panel.x_label.as_str())
        .y_desc(panel.y_label.as_str())
        .x_labels(x_tick_count(&panel.x_axis, x_span))
        .x_label_formatter(&label_of)
        .y_labels(MAX_TICKS)
        // The major grid is enough to read values off; the minor one only adds clutter.
        .light_line_style(TRANSPARENT)
        .label_style(("sans-serif", 15))
        .axis_desc_style(("sans-serif", 16))
        .draw()?;

    let with_errors = panel.series.iter().filter(|s| !s.errors.is_empty()).count();
    for (i, series) in panel.series.iter().enumerate() {
        // An empty series draws nothing but keeps its colour slot, so the same series index has the
        // same colour in every chart built from one list of names.
        if series.points.is_empty() {
            continue;
        }
        let colour = COLOURS[i % COLOURS.len()];
        // Markers on a dense series (a long forecast) merge into a band that hides the line.
        let marker = if series.points.len() <= 60 { 3 } else { 1 };
        // Where several series have error bars, each series is shifted sideways a little (dodged) so
        // that bars at the same x stay apart.
        let shift = if series.errors.is_empty() { 0.0 } else { (i as f64 - (with_errors as f64 - 1.0) / 2.0) * x_span * 0.008 };
        let points = series.drawable().map(|(x, y, _)| (x + shift, y));
        chart.draw_series(LineSeries::new(points, colour.filled().stroke_width(2)).point_size(marker))?;
        let bar = |(x, y, e): (f64, f64, f64)| ErrorBar::new_vertical(x + shift, y - e, y, y + e, colour.stroke_width(1), 8);
        chart.draw_series(series.drawable().filter(|&(_, _, e)| e > 0.0).map(bar))?;
    }
    Ok(())
}

/// How many tick labels the x axis asks for. Plotters puts ticks at round steps (1, 2 or 5 times
/// a power of ten) with at most the count asked for, so asking for no more than the whole numbers
/// in the range keeps every step at 1 or more, so whole numbers; long labels (timestamps) get fewer.
fn x_tick_count(axis: &XAxis, span: f64) -> usize {
    let whole = (span.floor() as usize + 1).clamp(2, MAX_TICKS);
    match axis {
        XAxis::Numbers => MAX_TICKS,
        XAxis::Integers => whole,
        XAxis::Labels(labels) => {
            let longest = labels.iter().map(|l| l.chars().count()).max().unwrap_or(1).max(1);
            whole.min((PANEL_WIDTH as usize - 100) / (longest * 9)).max(2)
        }
    }
}

/// The legend's entries packed left to right into rows of the panel's width: each entry's
/// (column offset in pixels, row), and the number of rows.
fn legend_layout(series: &[Series]) -> (Vec<(i32, u32)>, u32) {
    let usable = PANEL_WIDTH as i32 - 40;
    let (mut x, mut row, mut slots) = (0, 0, Vec::new());
    for s in series {
        if s.points.is_empty() {
            slots.push((x, row));
            continue;
        }
        let width = LEGEND_SAMPLE + 8 + LEGEND_CHAR_WIDTH * s.name.chars().count() as i32 + 18;
        if x > 0 && x + width > usable {
            (x, row) = (0, row + 1);
        }
        slots.push((x, row));
        x += width;
    }
    let rows = if series.iter().all(|s| s.points.is_empty()) { 0 } else { row + 1 };
    (slots, rows)
}

/// Draws the legend (a colour sample and the name of each series) in its strip under the chart.
fn draw_legend<DB: DrawingBackend>(
    area: &DrawingArea<DB, plotters::coord::Shift>,
    series: &[Series],
) -> std::result::Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    let (slots, _) = legend_layout(series);
    for (i, (s, (x, row))) in series.iter().zip(slots).enumerate() {
        // An empty series keeps its colour slot but has nothing to name.
        if s.points.is_empty() {
            continue;
        }
        let colour = COLOURS[i % COLOURS.len()];
        let (x, y) = (x + 30, (row * LEGEND_ROW_HEIGHT) as i32 + LEGEND_ROW_HEIGHT as i32 / 2);
        area.draw(&PathElement::new(vec![(x, y), (x + LEGEND_SAMPLE, y)], colour.stroke_width(2)))?;
        area.draw(&Text::new(s.name.as_str(), (x + LEGEND_SAMPLE + 6, y - 8), ("sans-serif", 15)))?;
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
        Series::new(name, points.to_vec())
    }

    fn panel(title: &str, series: Vec<Series>) -> Panel {
        Panel::new(title, "epoch", "loss", series)
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

    /// The tick labels of the x axis: text elements on the row just under the plotting area.
    fn x_tick_labels(svg: &str) -> Vec<String> {
        let texts: Vec<(f64, String)> = svg
            .split("<text")
            .skip(1)
            .filter_map(|t| {
                let y = t.split("y=\"").nth(1)?.split('"').next()?.parse().ok()?;
                let body = t.split('>').nth(1)?.split('<').next()?.trim().to_string();
                Some((y, body))
            })
            .collect();
        // The x tick labels all share the y of the lowest row of numbers above the axis title.
        let tick_y = texts
            .iter()
            .filter(|(_, b)| !b.is_empty() && b.chars().all(|c| c.is_ascii_digit() || "-.:".contains(c)))
            .map(|(y, _)| *y)
            .fold(f64::MIN, f64::max);
        texts.into_iter().filter(|(y, _)| *y == tick_y).map(|(_, b)| b).collect()
    }

    #[test]
    fn integer_axes_label_only_whole_numbers() {
        let dir = TempDir::new("integers");
        for epochs in [1usize, 2, 3, 5, 9, 14, 40] {
            let path = dir.0.join(format!("e{epochs}.svg"));
            let points: Vec<(f64, f64)> = (1..=epochs).map(|e| (e as f64, 1.0 / e as f64)).collect();
            let p = panel("loss", vec![series("train", &points)]).with_x_axis(XAxis::Integers);
            write_line_chart(&path, "curves", &[p]).unwrap();
            let labels = x_tick_labels(&std::fs::read_to_string(&path).unwrap());
            assert!(!labels.is_empty(), "{epochs} epochs: no tick labels");
            for l in &labels {
                let v: f64 = l.parse().unwrap_or_else(|_| panic!("{epochs} epochs: tick label {l:?} is not a number"));
                assert!(v.fract() == 0.0 && !l.contains('.'), "{epochs} epochs: tick label {l:?} is not whole ({labels:?})");
            }
            let unique: std::collections::BTreeSet<&String> = labels.iter().collect();
            assert_eq!(unique.len(), labels.len(), "{epochs} epochs: a whole number labelled twice: {labels:?}");
        }
    }

    #[test]
    fn labelled_axes_show_the_labels_of_whole_positions() {
        let dir = TempDir::new("dates");
        let path = dir.0.join("dates.svg");
        let dates: Vec<String> = (0..48).map(|m| format!("{}-{:02}", 1957 + m / 12, m % 12 + 1)).collect();
        let points: Vec<(f64, f64)> = (0..48).map(|i| (i as f64, (i as f64).sin())).collect();
        let p = panel("passengers", vec![series("actual", &points)]).with_x_axis(XAxis::Labels(dates.clone()));
        write_line_chart(&path, "forecast", &[p]).unwrap();
        let labels = x_tick_labels(&std::fs::read_to_string(&path).unwrap());
        assert!(labels.len() >= 2 && labels.len() <= MAX_TICKS, "{labels:?}");
        assert!(labels.iter().all(|l| dates.contains(l)), "{labels:?}");
    }

    #[test]
    fn error_bars_and_legend_stay_clear_of_the_data() {
        let dir = TempDir::new("errors");
        let path = dir.0.join("errors.svg");
        let names = ["scratch", "source-only", "init", "freeze", "ulmfit", "hetero", "dann"];
        let lines: Vec<Series> = names
            .iter()
            .enumerate()
            .map(|(i, n)| Series::new(*n, vec![(50.0, 60.0 + i as f64), (200.0, 70.0 + i as f64)]).with_errors(vec![3.0, 2.0]))
            .collect();
        write_line_chart(&path, "accuracy vs label budget", &[panel("yelp", lines)]).unwrap();
        let svg = std::fs::read_to_string(&path).unwrap();
        // An error bar is three strokes (the bar and its two caps) per point with an error.
        let colour = format!("stroke=\"#{:02X}{:02X}{:02X}\"", COLOURS[0].0, COLOURS[0].1, COLOURS[0].2);
        let strokes = svg.lines().filter(|l| l.contains(&colour) && (l.starts_with("<line") || l.starts_with("<polyline"))).count();
        let expected = 1 + 2 * 3 + 1;
        assert!(strokes >= expected, "expected the line, 2 error bars and the legend sample in {colour}: {strokes}");
        // Every legend name sits below the plotting area (below the x axis title).
        let axis_title_y = |text: &str| -> f64 {
            let at = svg.find(&format!(">\n{text}\n</text>")).unwrap_or_else(|| panic!("no {text}"));
            let head = &svg[..at];
            let tag = &head[head.rfind("<text").unwrap()..];
            tag.split("y=\"").nth(1).unwrap().split('"').next().unwrap().parse().unwrap()
        };
        let axis = axis_title_y("epoch");
        for n in names {
            assert!(axis_title_y(n) > axis, "legend entry {n} is inside the chart");
        }
    }
}
