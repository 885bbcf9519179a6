//! Time-series input: a CSV with a header, a timestamp column and value columns (optionally several
//! series in one file, picked by an id column), checked for non-numeric cells and gaps; z-score and
//! asinh scaling. The sliding windows cut from it are in [`super::windows`](mod@super::windows).

use std::path::Path;

use chrono::NaiveDateTime;

use crate::error::{Error, Result};

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
    /// read after `input_cols`; a window's step t reads them at t + horizon (see [`windows`](super::windows::windows)).
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
