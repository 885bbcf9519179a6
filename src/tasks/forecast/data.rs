//! Time-series input: a CSV with a header, a timestamp column and value columns (optionally several
//! series in one file, picked by an id column), checked for non-numeric cells and gaps; z-score
//! scaling; sliding windows.

use std::path::Path;

use chrono::NaiveDateTime;

use crate::error::{Error, Result};

/// A batch of windows: `x` `[T,B,F]` (time-major, as the LSTM reads it) and targets `y` `[B,horizon]`.
#[derive(Clone, Debug, Default)]
pub struct Windows {
    /// Windows in the batch.
    pub batch: usize,
    /// Steps per window.
    pub steps: usize,
    /// Inputs, time-major `[T,B,F]`.
    pub x: Vec<f32>,
    /// Targets `[B,horizon]` (empty when only predicting).
    pub y: Vec<f32>,
}

impl Windows {
    /// The batches side by side: one batch of all their windows, in order (each `[T,B_k,F]` with the
    /// same T and F).
    pub fn concat(parts: &[Windows]) -> Windows {
        let Some(first) = parts.first() else { return Windows::default() };
        let steps = first.steps;
        let features = |w: &Windows| if w.batch == 0 { 0 } else { w.x.len() / (w.steps * w.batch) };
        debug_assert!(parts.iter().all(|w| w.steps == steps && (w.batch == 0 || features(w) == features(first))));
        let batch = parts.iter().map(|w| w.batch).sum();
        let mut x = Vec::with_capacity(parts.iter().map(|w| w.x.len()).sum());
        for t in 0..steps {
            for w in parts {
                let row = w.batch * features(w);
                x.extend_from_slice(&w.x[t * row..(t + 1) * row]);
            }
        }
        Windows { batch, steps, x, y: parts.iter().flat_map(|w| w.y.iter().copied()).collect() }
    }
}

/// Which columns of the CSV to read.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SeriesSpec {
    /// Timestamp column (dates, date-times or plain numbers such as years).
    pub time_col: String,
    /// The series to forecast.
    pub target_col: String,
    /// Further input series (covariates) read beside the target.
    pub input_cols: Vec<String>,
    /// Covariates known `horizon` steps in advance (day-ahead load and generation forecasts, calendars):
    /// read after `input_cols`; a window's step t reads them at t + horizon (see [`windows`]).
    #[serde(default)]
    pub future_cols: Vec<String>,
    /// Column that names the series of each row, when a file holds several (e.g. `unique_id`)…
    pub series_col: Option<String>,
    /// …and the series to keep.
    pub series: Option<String>,
    /// Fill the missing steps of gaps (e.g. the hour a daylight-saving switch skips); None: a gap is an error.
    #[serde(default)]
    pub fill_gaps: Option<FillGaps>,
    /// Most missing steps one gap may have to be filled (a longer gap is still an error).
    #[serde(default = "default_max_gap")]
    pub max_gap: usize,
}

/// Most missing steps one gap may have filled (a year of hours): bounds the rows a file can grow by.
pub const MAX_GAP: usize = 10_000;

fn default_max_gap() -> usize {
    3
}

/// A regular series: `values[c][t]`, column 0 the target.
#[derive(Clone, Debug, PartialEq)]
pub struct Series {
    /// Timestamps as written in the file.
    pub times: Vec<String>,
    /// Column names, the target first.
    pub columns: Vec<String>,
    /// Values per column.
    pub values: Vec<Vec<f64>>,
    /// Steps filled in gaps (see [`SeriesSpec::fill_gaps`]).
    pub filled: usize,
}

impl Series {
    /// Time steps.
    pub fn len(&self) -> usize {
        self.times.len()
    }

    /// Whether there are no steps.
    pub fn is_empty(&self) -> bool {
        self.times.is_empty()
    }

    /// Seconds since the epoch of step `t` (None when its timestamp is not a date or a number).
    pub fn seconds_at(&self, t: usize) -> Option<f64> {
        self.times.get(t).and_then(|s| timestamp(s))
    }

    /// How the timestamps advance (from their median step), to name steps past the end.
    pub fn clock(&self) -> Option<Clock> {
        let stamps: Vec<f64> = self.times.iter().map(|t| timestamp(t)).collect::<Option<_>>()?;
        let mut steps: Vec<f64> = stamps.windows(2).map(|w| w[1] - w[0]).collect();
        steps.sort_by(f64::total_cmp);
        Clock::infer(self.times.last()?, *steps.get(steps.len() / 2)?)
    }
}

/// Seconds since the epoch of a timestamp: `YYYY-MM-DD[ HH:MM[:SS]]` or a plain number.
fn timestamp(s: &str) -> Option<f64> {
    let s = s.trim();
    if let Ok(v) = s.parse::<f64>() {
        return Some(v);
    }
    for fmt in ["%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M"] {
        if let Ok(t) = NaiveDateTime::parse_from_str(s, fmt) {
            return Some(t.and_utc().timestamp() as f64);
        }
    }
    chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .ok()
        .map(|d| d.and_hms_opt(0, 0, 0).expect("midnight exists").and_utc().timestamp() as f64)
}

/// How a series' timestamps advance, to name steps past its end (forecasts) or inside its gaps
/// (filled rows) in the file's own format: plain numbers (years), calendar months (monthly,
/// quarterly, yearly dates) or a fixed number of seconds.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Clock {
    /// Plain numbers, advancing by `step`.
    Number {
        /// The usual step.
        step: f64,
    },
    /// Dates advancing by whole months (kept on the same day of the month).
    Months {
        /// Months per step (1 monthly, 3 quarterly, 12 yearly).
        step: u32,
        /// The format the dates are written in.
        format: &'static str,
    },
    /// Date-times advancing by a fixed number of seconds.
    Seconds {
        /// Seconds per step.
        step: i64,
        /// The format the date-times are written in.
        format: &'static str,
    },
}

/// The date(-time) formats a timestamp may have, most specific first.
const DATE_TIME_FORMATS: [&str; 3] = ["%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M"];
const DATE_FORMAT: &str = "%Y-%m-%d";

/// The format `s` is written in (None for a plain number or an unreadable string).
fn format_of(s: &str) -> Option<&'static str> {
    let s = s.trim();
    DATE_TIME_FORMATS
        .into_iter()
        .find(|f| NaiveDateTime::parse_from_str(s, f).is_ok())
        .or_else(|| chrono::NaiveDate::parse_from_str(s, DATE_FORMAT).is_ok().then_some(DATE_FORMAT))
}

impl Clock {
    /// The clock of a series whose usual step is `median` (seconds, or units for numbers) and whose
    /// last timestamp is `last`.
    pub fn infer(last: &str, median: f64) -> Option<Self> {
        let Some(format) = format_of(last) else {
            return last.trim().parse::<f64>().ok().map(|_| Self::Number { step: median });
        };
        let days = median / 86_400.0;
        let months = [(28.0..=31.5, 1), (89.0..=92.5, 3), (181.0..=184.5, 6), (365.0..=366.5, 12)]
            .into_iter()
            .find(|(range, _)| range.contains(&days))
            .map(|(_, m)| m);
        Some(match months {
            Some(step) => Self::Months { step, format },
            None => Self::Seconds { step: median.round() as i64, format },
        })
    }

    /// The timestamp `k` steps after `from`, written as `from` is.
    pub fn after(&self, from: &str, k: usize) -> Option<String> {
        let from = from.trim();
        let parse = |format: &str| -> Option<NaiveDateTime> {
            match format {
                DATE_FORMAT => chrono::NaiveDate::parse_from_str(from, format).ok().and_then(|d| d.and_hms_opt(0, 0, 0)),
                _ => NaiveDateTime::parse_from_str(from, format).ok(),
            }
        };
        match *self {
            Self::Number { step } => {
                let v = from.parse::<f64>().ok()? + step * k as f64;
                Some(if v.fract() == 0.0 && v.abs() < 1e15 { format!("{}", v as i64) } else { format!("{v}") })
            }
            Self::Months { step, format } => {
                let t = parse(format)?.checked_add_months(chrono::Months::new(step.checked_mul(k as u32)?))?;
                Some(t.format(format).to_string())
            }
            Self::Seconds { step, format } => {
                let t = parse(format)? + chrono::TimeDelta::try_seconds(step.checked_mul(k as i64)?)?;
                Some(t.format(format).to_string())
            }
        }
    }
}

/// How `read_series` fills the missing steps of a gap (none: a gap is an error).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
#[serde(rename_all = "kebab-case")]
pub enum FillGaps {
    /// Straight lines between the values on either side.
    Linear,
    /// The last value before the gap, repeated.
    Previous,
}

/// Reads a series. Errors name the file, the line and the column: a missing column, a cell that is
/// not a number, a timestamp that cannot be read or goes backwards, a gap (a step over 1.5× the
/// median step, so months of 28–31 days are regular), no rows.
pub fn read_series(path: &Path, spec: &SeriesSpec) -> Result<Series> {
    parse_series(&crate::fsutil::read_text_file(path)?, path, spec)
}

/// [`read_series`] on bytes already read; `path` names the source in errors.
pub fn parse_series(bytes: &[u8], path: &Path, spec: &SeriesSpec) -> Result<Series> {
    crate::config::validate::check_count("max-gap", spec.max_gap, MAX_GAP)?;
    let err = |message: String| Error::File { path: path.to_path_buf(), message };
    let mut reader = csv::ReaderBuilder::new().has_headers(true).from_reader(bytes);
    let header = reader.headers().map_err(|e| err(e.to_string()))?.clone();
    let find = |name: &str| {
        header.iter().position(|h| h.trim() == name).ok_or_else(|| {
            err(format!("line 1: no column named '{name}'; the header has {}", header.iter().collect::<Vec<_>>().join(", ")))
        })
    };
    let time = find(&spec.time_col)?;
    let mut columns = vec![spec.target_col.clone()];
    columns.extend(spec.input_cols.iter().filter(|c| **c != spec.target_col).cloned());
    if spec.future_cols.contains(&spec.target_col) {
        return Err(err(format!("'{}' is the series to forecast: it cannot also be a covariate known in advance", spec.target_col)));
    }
    columns.extend(spec.future_cols.iter().cloned());
    let cols: Vec<usize> = columns.iter().map(|c| find(c)).collect::<Result<_>>()?;
    let id_col = spec.series_col.as_deref().map(find).transpose()?;
    let mut series = Series { times: Vec::new(), columns, values: vec![Vec::new(); cols.len()], filled: 0 };
    let mut stamps = Vec::new();
    let mut lines = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|e| err(e.to_string()))?;
        let line = record.position().map_or(0, |p| p.line() as usize);
        if let (Some(c), Some(want)) = (id_col, &spec.series)
            && record.get(c).map(str::trim) != Some(want.as_str())
        {
            continue;
        }
        let cell = |c: usize| record.get(c).unwrap_or("").trim();
        let t = timestamp(cell(time))
            .ok_or_else(|| err(format!("line {line}: '{}' in column '{}' is not a timestamp", cell(time), spec.time_col)))?;
        for (k, &c) in cols.iter().enumerate() {
            // Finite and within f32 (the model computes in f32): 1e39 would become infinity on the GPU.
            let v: f64 = cell(c).parse().ok().filter(|v: &f64| v.abs() <= f32::MAX as f64).ok_or_else(|| {
                err(format!(
                    "line {line}: '{}' in column '{}' is not a finite number within ±3.4e38{}",
                    cell(c),
                    series.columns[k],
                    if cell(c).is_empty() { " (a missing value: fill or drop the gap first)" } else { "" }
                ))
            })?;
            series.values[k].push(v);
        }
        series.times.push(cell(time).to_string());
        stamps.push(t);
        lines.push(line);
    }
    if series.is_empty() {
        let which = spec.series.as_ref().map(|s| format!(" for series '{s}'")).unwrap_or_default();
        return Err(err(format!("no rows{which}")));
    }
    let mut steps: Vec<f64> = stamps.windows(2).map(|w| w[1] - w[0]).collect();
    if let Some(i) = steps.iter().position(|&d| d <= 0.0) {
        return Err(err(format!("line {}: timestamp '{}' does not come after '{}'", lines[i + 1], series.times[i + 1], series.times[i])));
    }
    steps.sort_by(f64::total_cmp);
    if let Some(&median) = steps.get(steps.len() / 2)
        && let Some(i) = stamps.windows(2).position(|w| w[1] - w[0] > 1.5 * median)
    {
        let Some(fill) = spec.fill_gaps else {
            return Err(err(format!(
                "line {}: a gap between '{}' and '{}' (the usual step is {median} s); fill it first, or pass --fill-gaps linear|previous",
                lines[i + 1],
                series.times[i],
                series.times[i + 1]
            )));
        };
        series = fill_gaps(&series, &stamps, median, fill, spec.max_gap).map_err(|(row, missing)| {
            err(format!(
                "line {}: {missing} missing steps between '{}' and '{}', more than --max-gap {} fills",
                lines[row + 1],
                series.times[row],
                series.times[row + 1],
                spec.max_gap
            ))
        })?;
    }
    // A column may be read both ways: the names say which is which.
    let first_future = series.columns.len() - spec.future_cols.len();
    for name in &mut series.columns[first_future..] {
        name.push_str(" (known ahead)");
    }
    Ok(series)
}

/// `series` with the missing steps of its gaps (a step over 1.5× the usual `median`) filled as
/// `fill` says, each named by the clock of the row before it; counted in [`Series::filled`]. A gap
/// of more than `max_gap` missing steps is refused as `(row before it, missing steps)`.
fn fill_gaps(series: &Series, stamps: &[f64], median: f64, fill: FillGaps, max_gap: usize) -> std::result::Result<Series, (usize, usize)> {
    let mut out = Series { times: Vec::new(), columns: series.columns.clone(), values: vec![Vec::new(); series.columns.len()], filled: 0 };
    for row in 0..series.len() {
        out.times.push(series.times[row].clone());
        for (c, column) in series.values.iter().enumerate() {
            out.values[c].push(column[row]);
        }
        let Some(&next) = stamps.get(row + 1) else { continue };
        let missing = ((next - stamps[row]) / median).round() as usize;
        let missing = if next - stamps[row] > 1.5 * median { missing.saturating_sub(1).max(1) } else { 0 };
        if missing > max_gap {
            return Err((row, missing));
        }
        let clock = Clock::infer(&series.times[row], median).ok_or((row, missing))?;
        for k in 1..=missing {
            out.times.push(clock.after(&series.times[row], k).ok_or((row, missing))?);
            for (c, column) in series.values.iter().enumerate() {
                let share = k as f64 / (missing + 1) as f64;
                out.values[c].push(match fill {
                    FillGaps::Linear => column[row] + (column[row + 1] - column[row]) * share,
                    FillGaps::Previous => column[row],
                });
            }
        }
        out.filled += missing;
    }
    Ok(out)
}

/// How a series is scaled for the model.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
#[serde(rename_all = "kebab-case")]
pub enum Scaling {
    /// `(x − mean) / sd`.
    #[default]
    Zscore,
    /// `asinh((x − median) / (1.4826·MAD))`, LEAR's variance-stabilising transform: price spikes
    /// are compressed, so a squared-error loss is not ruled by them (inverted with sinh). A column
    /// whose MAD is 0 is divided by its spread about the median instead (1 when constant).
    Asinh,
}

impl Scaling {
    /// The name options and files use.
    pub fn name(self) -> &'static str {
        match self {
            Scaling::Zscore => "zscore",
            Scaling::Asinh => "asinh",
        }
    }
}

/// Per-column centre and spread (fitted on the training part; stored with the model), and the
/// transform applied after them.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Scaler {
    /// Centre per column: the mean ([`Scaling::Zscore`]) or the median ([`Scaling::Asinh`]).
    pub mean: Vec<f64>,
    /// Spread per column: the standard deviation or the scaled MAD (1 for a constant column).
    pub std: Vec<f64>,
    /// The transform (z-score for checkpoints written without one).
    #[serde(default)]
    pub scaling: Scaling,
}

impl Scaler {
    /// Fits a z-score on steps `start..end`.
    pub fn fit(series: &Series, start: usize, end: usize) -> Self {
        Self::fit_as(series, start, end, Scaling::Zscore)
    }

    /// Fits `scaling`'s statistics on steps `start..end`.
    pub fn fit_as(series: &Series, start: usize, end: usize, scaling: Scaling) -> Self {
        let (mean, std) = series
            .values
            .iter()
            .map(|v| {
                let v = &v[start.min(v.len())..end.min(v.len())];
                match scaling {
                    Scaling::Zscore => {
                        let m = v.iter().sum::<f64>() / v.len().max(1) as f64;
                        let s = (v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / v.len().max(1) as f64).sqrt();
                        (m, if s > 0.0 { s } else { 1.0 })
                    }
                    Scaling::Asinh => super::linear::robust_centre_and_spread(v),
                }
            })
            .unzip();
        Self { mean, std, scaling }
    }

    /// Scaled copy of every column.
    pub fn scale(&self, series: &Series) -> Vec<Vec<f64>> {
        let forward = |u: f64| if self.scaling == Scaling::Asinh { u.asinh() } else { u };
        series.values.iter().enumerate().map(|(c, v)| v.iter().map(|x| forward((x - self.mean[c]) / self.std[c])).collect()).collect()
    }

    /// A target-column value back in the series' units.
    pub fn unscale_target(&self, v: f64) -> f64 {
        let u = if self.scaling == Scaling::Asinh { v.sinh() } else { v };
        u * self.std[0] + self.mean[0]
    }

    /// A model's forecast `v` (output plus residual base, scaled) for series step `step` back in the
    /// series' units; refused when it is not finite (a diverged model, or an output past sinh's
    /// range), rather than written into metrics or a prediction file.
    pub fn forecast_value(&self, v: f64, step: usize) -> Result<f64> {
        let value = self.unscale_target(v);
        if !value.is_finite() {
            return Err(Error::InvalidInput(format!("the forecast for step {step} is {value} (model output {v} in scaled units)")));
        }
        Ok(value)
    }
}

/// Windows whose inputs are steps `o-window..o` and targets `o..o+horizon` (column 0), for each
/// origin `o` in `origins`, as one batch. With `fold` > 1 every `fold` consecutive steps form one
/// LSTM step of `fold × F` inputs (`[window/fold, B, fold·F]`, step-major inside: input `j·F + c` is
/// column c at the step's j-th series step), so a day of 24 hours is read at once. Columns from `known_from` on are known in advance: input step
/// `s` reads them at `s + horizon`, so the window's last `horizon` steps carry their values for the
/// steps being forecast (never past `o + horizon - 1`). With `base` (one row of `horizon` values per
/// origin, e.g. the seasonal-naive forecast from `o`) the targets are the differences to it, so an
/// all-zero output reproduces that baseline and the model learns only corrections.
pub fn windows(
    scaled: &[Vec<f64>],
    origins: &[usize],
    window: usize,
    horizon: usize,
    base: Option<&[Vec<f64>]>,
    known_from: usize,
    fold: usize,
) -> Windows {
    debug_assert!(fold >= 1 && window.is_multiple_of(fold), "checked by ForecastConfig::validate");
    let (b, f) = (origins.len(), scaled.len());
    let mut w = Windows { batch: b, steps: window / fold, x: vec![0.0; window * b * f], y: Vec::with_capacity(b * horizon) };
    for (i, &o) in origins.iter().enumerate() {
        for t in 0..window {
            let (step, within) = (t / fold, t % fold);
            for (c, col) in scaled.iter().enumerate() {
                let lead = if c >= known_from { horizon } else { 0 };
                w.x[((step * b + i) * fold + within) * f + c] = col[o - window + t + lead] as f32;
            }
        }
        for h in 0..horizon {
            let base = base.map_or(0.0, |rows| rows[i][h]);
            w.y.push((scaled[0][o + h] - base) as f32);
        }
    }
    w
}

/// The seasonal-naive forecast from origin `o` for step `o + h`: the last observed value at the same
/// phase of a season of `m` steps (needs `o ≥ m`).
pub fn seasonal_naive(y: &[f64], o: usize, h: usize, m: usize) -> f64 {
    y[o - m + (h % m)]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(name: &str, text: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("lstm-transfer-ts-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    fn spec() -> SeriesSpec {
        SeriesSpec {
            time_col: "ds".into(),
            target_col: "y".into(),
            series_col: Some("id".into()),
            series: Some("B".into()),
            ..Default::default()
        }
    }

    #[test]
    fn concatenated_batches_keep_each_window_whole() {
        // Two columns; windows of 3 steps; origins 5, 7 of one series and 4 of another.
        let one = vec![(0..10).map(f64::from).collect::<Vec<_>>(), (0..10).map(|t| 100.0 + t as f64).collect()];
        let other: Vec<Vec<f64>> = one.iter().map(|c| c.iter().map(|v| -v).collect()).collect();
        let joined = Windows::concat(&[windows(&one, &[5, 7], 3, 2, None, 2, 1), windows(&other, &[4], 3, 2, None, 2, 1)]);
        let alone = windows(&one, &[5, 7], 3, 2, None, 2, 1);
        assert_eq!((joined.batch, joined.steps), (3, 3));
        // Step t holds the three windows' rows in order: [one@5, one@7, other@4], two features each.
        for t in 0..3 {
            let row = &joined.x[t * 6..(t + 1) * 6];
            assert_eq!(&row[..4], &alone.x[t * 4..(t + 1) * 4], "step {t}");
            assert_eq!(row[4..], [-(1.0 + t as f32), -(101.0 + t as f32)], "step {t}");
        }
        assert_eq!(joined.y, [5.0, 6.0, 7.0, 8.0, -4.0, -5.0]);
        assert_eq!(Windows::concat(&[]).batch, 0);
    }

    #[test]
    fn a_fold_puts_consecutive_steps_side_by_side_in_one_lstm_step() {
        // Two columns, steps t = 0..8: value 10·c + t. Window 6 at origin 6, fold 3 → 2 LSTM steps
        // of 3 × 2 inputs; the second origin (7) interleaves as batch row 1.
        let scaled: Vec<Vec<f64>> = (0..2).map(|c| (0..10).map(|t| (10 * c + t) as f64).collect()).collect();
        let flat = windows(&scaled, &[6, 7], 6, 2, None, 2, 1);
        let folded = windows(&scaled, &[6, 7], 6, 2, None, 2, 3);
        assert_eq!((folded.steps, folded.x.len(), folded.y), (2, flat.x.len(), flat.y));
        // [step, row, (j, column)]: step 1 of row 0 reads series steps 3, 4, 5 of both columns.
        assert_eq!(&folded.x[12..18], &[3.0, 13.0, 4.0, 14.0, 5.0, 15.0]);
        for (step, row, j, c) in (0..2).flat_map(|s| (0..2).flat_map(move |r| (0..3).flat_map(move |j| (0..2).map(move |c| (s, r, j, c)))))
        {
            let t = step * 3 + j;
            assert_eq!(folded.x[((step * 2 + row) * 3 + j) * 2 + c], flat.x[(t * 2 + row) * 2 + c], "step {step} row {row} j {j} col {c}");
        }
    }

    #[test]
    fn asinh_scaling_is_robust_to_a_spike_and_inverts_exactly() {
        let mut values: Vec<f64> = (0..101).map(|t| 50.0 + (t % 10) as f64).collect();
        values[40] = 5_000.0;
        let s =
            Series { times: (0..101).map(|t| t.to_string()).collect(), columns: vec!["y".into()], values: vec![values.clone()], filled: 0 };
        let z = Scaler::fit(&s, 0, 101);
        let a = Scaler::fit_as(&s, 0, 101, Scaling::Asinh);
        // The median (55) and scaled MAD (≈ 4.4) ignore the spike; the mean and sd do not.
        assert!((a.mean[0] - 55.0).abs() < 1e-12 && a.std[0] < 10.0 && z.std[0] > 400.0, "{a:?} {z:?}");
        let scaled = a.scale(&s);
        assert!(scaled[0][40] < 8.0, "the spike is compressed: {}", scaled[0][40]);
        for (t, (&v, &x)) in scaled[0].iter().zip(&values).enumerate() {
            assert!((a.unscale_target(v) - x).abs() <= 1e-9 * x.abs(), "step {t}: {} vs {x}", a.unscale_target(v));
        }
    }

    #[test]
    fn a_forecast_that_is_not_finite_is_refused_naming_its_step() {
        let s = Series { times: vec!["0".into(), "1".into()], columns: vec!["y".into()], values: vec![vec![1.0, 3.0]], filled: 0 };
        let a = Scaler::fit_as(&s, 0, 2, Scaling::Asinh);
        assert!((a.forecast_value(0.5, 7).unwrap() - a.unscale_target(0.5)).abs() < 1e-12);
        // sinh overflows past ~710; a NaN output (a diverged model) is refused in either scaling.
        let e = a.forecast_value(1_000.0, 7).unwrap_err().to_string();
        assert!(e.contains("step 7") && e.contains("inf"), "{e}");
        assert!(Scaler::fit(&s, 0, 2).forecast_value(f64::NAN, 3).unwrap_err().to_string().contains("step 3"));
    }

    #[test]
    fn reads_one_series_of_several_and_reports_bad_cells_and_gaps() {
        let ok = write("ok.csv", "id,ds,y\nA,2020-01-01,1\nB,2020-01-01,5\nB,2020-02-01,6\nB,2020-03-01,7\n");
        let s = read_series(&ok, &spec()).unwrap();
        assert_eq!((s.values[0].clone(), s.len()), (vec![5.0, 6.0, 7.0], 3));
        let bad = write("bad.csv", "id,ds,y\nB,2020-01-01,5\nB,2020-02-01,n/a\n");
        let e = read_series(&bad, &spec()).unwrap_err().to_string();
        assert!(e.contains("bad.csv") && e.contains("line 3") && e.contains("'n/a'") && e.contains("'y'"), "{e}");
        let gap = write(
            "gap.csv",
            "id,ds,y\nB,2020-01-01 00:00:00,5\nB,2020-01-01 01:00:00,5\nB,2020-01-01 02:00:00,5\nB,2020-01-01 05:00:00,6\n",
        );
        let e = read_series(&gap, &spec()).unwrap_err().to_string();
        assert!(e.contains("line 5") && e.contains("gap"), "{e}");
        let e = read_series(&ok, &SeriesSpec { target_col: "price".into(), ..spec() }).unwrap_err().to_string();
        assert!(e.contains("no column named 'price'") && e.contains("id, ds, y"), "{e}");
        let e = read_series(&ok, &SeriesSpec { series: Some("C".into()), ..spec() }).unwrap_err().to_string();
        assert!(e.contains("no rows for series 'C'"), "{e}");
        let e = read_series(&ok, &SeriesSpec { future_cols: vec!["y".into()], ..spec() }).unwrap_err().to_string();
        assert!(e.contains("'y' is the series to forecast"), "{e}");
    }

    #[test]
    fn windows_are_time_major_with_targets_after_the_origin() {
        let scaled = vec![vec![0.0, 1.0, 2.0, 3.0, 4.0, 5.0], vec![10.0, 11.0, 12.0, 13.0, 14.0, 15.0]];
        let w = windows(&scaled, &[2, 3], 2, 2, None, 2, 1);
        // x[t][b][f]: origin 2 reads steps 0,1; origin 3 reads 1,2.
        assert_eq!(w.x, [0.0, 10.0, 1.0, 11.0, 1.0, 11.0, 2.0, 12.0]);
        assert_eq!(w.y, [2.0, 3.0, 3.0, 4.0]);
        // Residual to a season of 2: targets minus the values two steps back.
        let naive = |o: usize| (0..2).map(|h| seasonal_naive(&scaled[0], o, h, 2)).collect::<Vec<f64>>();
        let w = windows(&scaled, &[2, 3], 2, 2, Some(&[naive(2), naive(3)]), 2, 1);
        assert_eq!(w.y, [2.0, 2.0, 2.0, 2.0]);
        // Column 1 known 2 steps ahead: origin 2 reads it at steps 2,3 (its targets' steps), origin 4 at 4,5.
        let w = windows(&scaled, &[2, 4], 2, 2, None, 1, 1);
        assert_eq!(w.x, [0.0, 12.0, 2.0, 14.0, 1.0, 13.0, 3.0, 15.0]);
        assert_eq!(w.y, [2.0, 3.0, 4.0, 5.0]);
    }

    #[test]
    fn clocks_name_the_steps_after_the_last_in_its_own_format() {
        let month = 31.0 * 86_400.0;
        let monthly = Clock::infer("2020-11-01", month).unwrap();
        assert_eq!(monthly.after("2020-11-01", 3).as_deref(), Some("2021-02-01"));
        let quarterly = Clock::infer("2020-10-01 00:00", 91.0 * 86_400.0).unwrap();
        assert_eq!(quarterly.after("2020-10-01 00:00", 1).as_deref(), Some("2021-01-01 00:00"));
        let hourly = Clock::infer("2020-03-29 01:00:00", 3600.0).unwrap();
        assert_eq!(hourly.after("2020-03-29 23:00:00", 2).as_deref(), Some("2020-03-30 01:00:00"));
        let years = Clock::infer("1987", 1.0).unwrap();
        assert_eq!(years.after("1987", 2).as_deref(), Some("1989"));
    }
}
