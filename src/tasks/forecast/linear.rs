//! The linear baseline a practitioner would fit instead: a lasso-estimated autoregression of the
//! kind the electricity-price literature benchmarks against (LEAR, Lago, Marcjasz, De Schutter &
//! Weron 2021), generalised from days of 24 hours to blocks of `horizon` steps.
//!
//! One linear model per forecast step h (LEAR: one per hour of the day), on features at the
//! forecast origin o, all in a variance-stabilised scale (asinh of the value less the column's
//! median over its scaled MAD, LEAR's transform):
//! - the target's `horizon` values of the blocks k = 1, 2, 3 and 7 before the origin
//!   (`o − k·horizon ..`: LEAR's days d−1, d−2, d−3, d−7) and, when the season is a whole number of
//!   blocks, of the block one season back;
//! - each covariate's block before the origin and the furthest of those blocks; a covariate known in
//!   advance also its values over the forecast block itself (LEAR: the day-ahead load and
//!   generation forecasts of day d);
//! - with sub-daily timestamps, dummies of the origin's weekday.
//!
//! Fitted on the training part only (the targets the LSTM trains on; `train_len` respected, the
//! scale's statistics too) with
//! the penalty chosen by Akaike's criterion ([`super::lasso`]); origins every `horizon` steps in
//! phase with the test origins (LEAR's daily samples) when that leaves enough samples, else every
//! step, the most recent [`MAX_SAMPLES`] at most. A block k is read only when `2·k·horizon` steps
//! precede the training end (its history may take at most half of them).

use super::data::{Clock, Scaler, Series};
use super::lasso::LassoProblem;
use super::train::{ForecastConfig, boundaries};
use crate::error::{Error, Result};

/// Blocks of `horizon` steps before the origin whose target values are features (LEAR's days back).
const BLOCKS_BACK: [usize; 4] = [1, 2, 3, 7];
/// Training samples below which origins are taken every step rather than every `horizon` steps.
const MIN_ALIGNED_SAMPLES: usize = 200;
/// The most recent training origins kept at most (bounds the fit's time and memory on long series).
pub const MAX_SAMPLES: usize = 2_000;
/// A block's history may take at most 1/this of the steps before the training end.
const HISTORY_DIVISOR: usize = 2;
/// The furthest block back a file's baseline may read (the season block included).
const MAX_BLOCKS_BACK: usize = 1 << 20;
/// How far past the training target's range (stabilised scale) a forecast may go.
const Z_MARGIN: f64 = 3.0;
/// MAD → standard deviation of a normal distribution.
const MAD_TO_SD: f64 = 1.482_6;

/// The scale the models work in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scale {
    /// LEAR's variance-stabilising `asinh((x − median) / MAD)`: tames price spikes, but its inverse
    /// (sinh) magnifies errors on a series that trends beyond its training range.
    Asinh,
    /// `(x − median) / MAD`: linear, for trending series.
    Linear,
}

/// A column's transform: `(x − median) / scale`, then asinh for [`Scale::Asinh`].
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
struct Stabilise {
    median: f64,
    scale: f64,
    asinh: bool,
}

/// The median of `values` and their MAD scaled to a normal's standard deviation (the spread about
/// the median when the MAD is 0, else 1): LEAR's statistics, also the forecaster's
/// [`Scaling::Asinh`](super::data::Scaling::Asinh).
pub(crate) fn robust_centre_and_spread(values: &[f64]) -> (f64, f64) {
    let centre = median(values.to_vec());
    let mad = MAD_TO_SD * median(values.iter().map(|v| (v - centre).abs()).collect());
    let sd = (values.iter().map(|v| (v - centre).powi(2)).sum::<f64>() / values.len().max(1) as f64).sqrt();
    let spread = if mad > 0.0 {
        mad
    } else if sd > 0.0 {
        sd
    } else {
        1.0
    };
    (centre, spread)
}

impl Stabilise {
    fn fit(values: &[f64], kind: Scale) -> Self {
        let (median, scale) = robust_centre_and_spread(values);
        Self { median, scale, asinh: kind == Scale::Asinh }
    }

    fn apply(&self, x: f64) -> f64 {
        let u = (x - self.median) / self.scale;
        if self.asinh { u.asinh() } else { u }
    }

    fn invert(&self, z: f64) -> f64 {
        (if self.asinh { z.sinh() } else { z }) * self.scale + self.median
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(f64::total_cmp);
    let m = v.len() / 2;
    if v.len() % 2 == 1 { v[m] } else { 0.5 * (v[m - 1] + v[m]) }
}

/// The fitted baseline: one lasso model per forecast step.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct LinearBaseline {
    horizon: usize,
    /// First column known in advance.
    known_from: usize,
    /// Blocks back read for the target, and for the covariates.
    target_blocks: Vec<usize>,
    covariate_blocks: Vec<usize>,
    weekday: bool,
    stabilise: Vec<Stabilise>,
    feature_mean: Vec<f64>,
    feature_sd: Vec<f64>,
    /// Per step h: (intercept, coefficients on the standardized features).
    models: Vec<(f64, Vec<f64>)>,
    /// Training samples (origins).
    pub samples: usize,
    /// Bound of a forecast in the stabilised scale: the training target's largest magnitude plus a margin.
    z_limit: f64,
    scale: Scale,
    validation_mae: Vec<f64>,
}

/// What [`LinearBaseline::describe`] reports.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct LinearSummary {
    /// Training origins.
    pub samples: usize,
    /// Features per origin.
    pub features: usize,
    /// Blocks of `horizon` steps back read for the target.
    pub blocks: Vec<usize>,
    /// Mean number of nonzero coefficients over the per-step models.
    pub mean_nonzero: f64,
    /// The scale kept: the one with the lower MAE over the validation part.
    pub scale: Scale,
    /// Validation MAE of each scale tried (series units), `[asinh, linear]`; empty without validation origins.
    pub validation_mae: Vec<f64>,
}

impl LinearBaseline {
    /// Fits the per-step models on the training part of `series` (the split of `cfg`) in both
    /// scales and keeps the one with the lower MAE on the validation part (origins every `horizon`
    /// steps from the training end; LEAR's asinh without any).
    pub fn fit(series: &Series, cfg: &ForecastConfig) -> Result<Self> {
        Self::fit_with(series, cfg, true)
    }

    /// The base a residual forecaster learns from: [`LinearBaseline::fit_with`] without the calendar
    /// on `series` scaled by `scaler`, so that its forecasts are in scaled units.
    pub fn fit_scaled(series: &Series, scaler: &Scaler, cfg: &ForecastConfig) -> Result<Self> {
        Self::fit_with(&Series { values: scaler.scale(series), ..series.clone() }, cfg, false)
    }

    /// [`LinearBaseline::fit`] without the weekday dummies when `calendar` is false: the model then
    /// needs no timestamps ([`LinearBaseline::forecasts_from_columns`]), as the base a forecaster
    /// learns its residual to, which must also forecast past the end of the data.
    pub fn fit_with(series: &Series, cfg: &ForecastConfig, calendar: bool) -> Result<Self> {
        let (train_end, test_start) = boundaries(series.len(), cfg)?;
        let origins: Vec<usize> = (train_end..).step_by(cfg.horizon).take_while(|o| o + cfg.horizon <= test_start).collect();
        let asinh = Self::fit_in(series, cfg, Scale::Asinh, calendar)?;
        if origins.is_empty() {
            return Ok(asinh);
        }
        let linear = Self::fit_in(series, cfg, Scale::Linear, calendar)?;
        let y = &series.values[0];
        let mae = |b: &Self| {
            let errors: Vec<f64> = origins
                .iter()
                .zip(b.forecasts(series, &origins))
                .flat_map(|(&o, f)| f.into_iter().enumerate().map(move |(h, f)| (f - y[o + h]).abs()))
                .collect();
            errors.iter().sum::<f64>() / errors.len() as f64
        };
        let scores = vec![mae(&asinh), mae(&linear)];
        let mut kept = if scores[1] < scores[0] { linear } else { asinh };
        kept.validation_mae = scores;
        Ok(kept)
    }

    /// Fits the per-step models in one scale.
    fn fit_in(series: &Series, cfg: &ForecastConfig, scale: Scale, calendar: bool) -> Result<Self> {
        let (train_end, test_start) = boundaries(series.len(), cfg)?;
        let h = cfg.horizon;
        let first_target = cfg.train_len.map_or(0, |l| train_end.saturating_sub(l));
        // The history a block needs may use at most half of the steps before the training end.
        let mut blocks: Vec<usize> = BLOCKS_BACK.to_vec();
        if cfg.season.is_multiple_of(h) && !blocks.contains(&(cfg.season / h)) {
            blocks.push(cfg.season / h);
        }
        blocks.retain(|&k| k * h * HISTORY_DIVISOR <= train_end);
        if blocks.is_empty() {
            return Err(Error::InvalidInput(format!(
                "a linear baseline needs a {h}-step block of history with as many steps again to fit on: {train_end} training steps"
            )));
        }
        blocks.sort_unstable();
        let furthest = *blocks.last().expect("a block");
        let covariate_blocks = if furthest > 1 { vec![1, furthest] } else { vec![1] };
        let weekday = calendar
            && matches!(series.clock(), Some(Clock::Seconds { step, .. }) if step < 86_400)
            && series.times.iter().all(|t| weekday_of(t).is_some());
        // Statistics of the steps the fit reads (its origins' history and targets), not of every step
        // before validation: with `train_len`, only that stretch of the series counts as known.
        let read_from = first_target.saturating_sub(furthest * h);
        let stabilise: Vec<Stabilise> = series.values.iter().map(|col| Stabilise::fit(&col[read_from..train_end], scale)).collect();
        let known_from = series.values.len() - cfg.future_cols;
        let mut baseline = Self {
            horizon: h,
            known_from,
            target_blocks: blocks,
            covariate_blocks,
            weekday,
            stabilise,
            feature_mean: Vec::new(),
            feature_sd: Vec::new(),
            models: Vec::new(),
            samples: 0,
            z_limit: f64::INFINITY,
            scale,
            validation_mae: Vec::new(),
        };

        // Origins with their targets inside the training part and their history inside the series.
        let start = first_target.max(furthest * h);
        let last = train_end.saturating_sub(h);
        let aligned: Vec<usize> = (start..=last).filter(|o| o % h == test_start % h).collect();
        let mut origins: Vec<usize> = if aligned.len() >= MIN_ALIGNED_SAMPLES { aligned } else { (start..=last).collect() };
        origins.drain(..origins.len().saturating_sub(MAX_SAMPLES));
        if origins.len() < 4 {
            return Err(Error::InvalidInput(format!("a linear baseline needs training origins: {} here", origins.len())));
        }
        let z = baseline.stabilised(&series.values);
        let rows: Vec<Vec<f64>> = origins.iter().map(|&o| baseline.features(&z, Some(&series.times), o)).collect();
        let (n, p) = (rows.len(), rows[0].len());
        baseline.feature_mean = (0..p).map(|j| rows.iter().map(|r| r[j]).sum::<f64>() / n as f64).collect();
        baseline.feature_sd = (0..p)
            .map(|j| {
                let sd = (rows.iter().map(|r| (r[j] - baseline.feature_mean[j]).powi(2)).sum::<f64>() / n as f64).sqrt();
                if sd > 0.0 { sd } else { 1.0 }
            })
            .collect();
        let x: Vec<Vec<f64>> = rows.into_iter().map(|r| baseline.standardize(&r)).collect();
        let mut gram = vec![0.0; p * p];
        for r in &x {
            for j in 0..p {
                if r[j] != 0.0 {
                    for k in 0..p {
                        gram[j * p + k] += r[j] * r[k];
                    }
                }
            }
        }
        gram.iter_mut().for_each(|g| *g /= n as f64);
        baseline.models = (0..h)
            .map(|step| {
                let y: Vec<f64> = origins.iter().map(|&o| z[0][o + step]).collect();
                let mean = y.iter().sum::<f64>() / n as f64;
                let xty: Vec<f64> = (0..p).map(|j| x.iter().zip(&y).map(|(r, v)| r[j] * (v - mean)).sum::<f64>() / n as f64).collect();
                let yty = y.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n as f64;
                (mean, LassoProblem { gram: &gram, xty: &xty, yty, n }.best_by_aic().coef)
            })
            .collect();
        baseline.samples = n;
        baseline.z_limit = z[0][..train_end].iter().fold(0.0f64, |m, v| m.max(v.abs())) + Z_MARGIN;
        Ok(baseline)
    }

    /// Refuses a baseline read from a file that does not fit a series of `columns` columns and
    /// forecasts of `horizon` steps, or whose parts disagree in size (it would index out of range,
    /// or silently drop features), or that needs timestamps to forecast a residual's base.
    pub fn validate(&self, horizon: usize, columns: usize) -> Result<()> {
        let bad = |what: String| Err(Error::InvalidInput(format!("linear_residual: {what}")));
        if self.horizon != horizon || self.models.len() != horizon {
            return bad(format!("{} models of horizon {} for a {horizon}-step forecaster", self.models.len(), self.horizon));
        }
        if self.stabilise.len() != columns || self.known_from == 0 || self.known_from > columns {
            return bad(format!(
                "{} column transforms (known in advance from {}) for {columns} columns",
                self.stabilise.len(),
                self.known_from
            ));
        }
        if self.weekday {
            return bad("weekday dummies need timestamps: a residual's base is fitted without them".into());
        }
        let blocks_ok =
            |b: &[usize]| !b.is_empty() && b.windows(2).all(|w| w[0] < w[1]) && b[0] >= 1 && b.iter().all(|&k| k <= MAX_BLOCKS_BACK);
        if !blocks_ok(&self.target_blocks) || !blocks_ok(&self.covariate_blocks) {
            return bad(format!("blocks back {:?} / {:?}: expected ascending counts from 1", self.target_blocks, self.covariate_blocks));
        }
        let features = self.target_blocks.len() * horizon
            + (columns - 1) * self.covariate_blocks.len() * horizon
            + (columns - self.known_from) * horizon;
        let sizes = [self.feature_mean.len(), self.feature_sd.len()].into_iter().chain(self.models.iter().map(|(_, c)| c.len()));
        if sizes.into_iter().any(|n| n != features) {
            return bad(format!("coefficients or feature statistics of another length than the {features} features"));
        }
        let numbers = self.models.iter().flat_map(|(i, c)| std::iter::once(i).chain(c)).chain(&self.feature_mean).chain(&self.feature_sd);
        let transforms = self.stabilise.iter().all(|s| s.median.is_finite() && s.scale.is_finite() && s.scale > 0.0);
        if !numbers.into_iter().all(|v| v.is_finite()) || !transforms || !self.z_limit.is_finite() {
            return bad("a coefficient, statistic or bound that is not finite".into());
        }
        Ok(())
    }

    /// Steps before an origin the features read.
    pub fn history(&self) -> usize {
        self.target_blocks.last().copied().unwrap_or(1) * self.horizon
    }

    /// The shape of the fit, for reports.
    pub fn describe(&self) -> LinearSummary {
        let nonzero: usize = self.models.iter().map(|(_, c)| c.iter().filter(|b| **b != 0.0).count()).sum();
        LinearSummary {
            samples: self.samples,
            features: self.feature_mean.len(),
            blocks: self.target_blocks.clone(),
            mean_nonzero: nonzero as f64 / self.models.len().max(1) as f64,
            scale: self.scale,
            validation_mae: self.validation_mae.clone(),
        }
    }

    /// The `horizon` forecasts from each origin `o` (needs `o ≥ history()` and, with covariates known
    /// in advance, their values up to `o + horizon`), in the series' units.
    pub fn forecasts(&self, series: &Series, origins: &[usize]) -> Vec<Vec<f64>> {
        self.forecasts_z(&self.stabilised(&series.values), Some(&series.times), origins)
    }

    /// [`LinearBaseline::forecasts`] from the columns alone, for a model fitted without the
    /// calendar ([`LinearBaseline::fit_with`]).
    pub fn forecasts_from_columns(&self, columns: &[Vec<f64>], origins: &[usize]) -> Vec<Vec<f64>> {
        assert!(!self.weekday, "a model with weekday dummies needs timestamps");
        self.forecasts_z(&self.stabilised(columns), None, origins)
    }

    fn forecasts_z(&self, z: &[Vec<f64>], times: Option<&[String]>, origins: &[usize]) -> Vec<Vec<f64>> {
        origins
            .iter()
            .map(|&o| {
                let x = self.standardize(&self.features(z, times, o));
                self.models
                    .iter()
                    .map(|(intercept, coef)| {
                        // Far outside the training range the inverse (sinh) would blow an error up
                        // to infinity: a forecast stays within a margin of the training range.
                        let z = intercept + coef.iter().zip(&x).map(|(b, v)| b * v).sum::<f64>();
                        self.stabilise[0].invert(z.clamp(-self.z_limit, self.z_limit))
                    })
                    .collect()
            })
            .collect()
    }

    /// Every column in the stabilised scale.
    fn stabilised(&self, columns: &[Vec<f64>]) -> Vec<Vec<f64>> {
        columns.iter().zip(&self.stabilise).map(|(col, s)| col.iter().map(|&x| s.apply(x)).collect()).collect()
    }

    /// The raw feature vector at origin `o` of the stabilised columns `z`.
    fn features(&self, z: &[Vec<f64>], times: Option<&[String]>, o: usize) -> Vec<f64> {
        let h = self.horizon;
        let block = |col: &[f64], k: usize| col[o - k * h..o - k * h + h].to_vec();
        let mut f: Vec<f64> = self.target_blocks.iter().flat_map(|&k| block(&z[0], k)).collect();
        for (c, col) in z.iter().enumerate().skip(1) {
            f.extend(self.covariate_blocks.iter().flat_map(|&k| block(col, k)));
            if c >= self.known_from {
                f.extend_from_slice(&col[o..o + h]);
            }
        }
        if self.weekday {
            let day = times.and_then(|t| weekday_of(&t[o])).expect("checked when fitted");
            f.extend((0..7).map(|d| if d == day { 1.0 } else { 0.0 }));
        }
        f
    }

    fn standardize(&self, raw: &[f64]) -> Vec<f64> {
        raw.iter().zip(&self.feature_mean).zip(&self.feature_sd).map(|((v, m), s)| (v - m) / s).collect()
    }
}

/// Day of the week (Monday 0) of a timestamp starting `YYYY-MM-DD`.
fn weekday_of(t: &str) -> Option<usize> {
    use chrono::Datelike;
    let date = chrono::NaiveDate::parse_from_str(t.trim().get(..10)?, "%Y-%m-%d").ok()?;
    Some(date.weekday().num_days_from_monday() as usize)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::OptimConfig;

    fn cfg(horizon: usize, season: usize) -> ForecastConfig {
        ForecastConfig {
            window: 2 * season,
            horizon,
            season,
            stride: 1,
            test_len: 4 * horizon,
            valid_len: 2 * horizon,
            train_len: None,
            epochs: 1,
            batch_size: 8,
            optim: OptimConfig::adam(1e-3, 5.0),
            patience: 1,
            seed: 0,
            seasonal_residual: false,
            future_cols: 0,
            linear_residual: None,
            fold: 1,
        }
    }

    fn series(values: Vec<f64>) -> Series {
        Series { times: (0..values.len()).map(|t| t.to_string()).collect(), columns: vec!["y".into()], values: vec![values], filled: 0 }
    }

    #[test]
    fn a_weekly_pattern_is_found_among_the_blocks_back_and_forecast_exactly() {
        // Hourly values with a daily shape and a weekday level: the week-back block (k = 7) repeats
        // the target exactly, the day-back blocks only approximately.
        let day: Vec<f64> = (0..24).map(|i| (i as f64 * 0.26).sin() * 10.0).collect();
        let week = [0.0, 3.0, 5.0, 4.0, 6.0, -8.0, -12.0];
        let y: Vec<f64> = (0..24 * 70).map(|t| 50.0 + day[t % 24] + week[(t / 24) % 7]).collect();
        let s = series(y.clone());
        let c = cfg(24, 24);
        let baseline = LinearBaseline::fit(&s, &c).unwrap();
        assert_eq!(baseline.describe().blocks, vec![1, 2, 3, 7]);
        let (_, test_start) = boundaries(s.len(), &c).unwrap();
        let origins = [test_start, test_start + 24, test_start + 48];
        for (&o, forecast) in origins.iter().zip(baseline.forecasts(&s, &origins)) {
            for (h, f) in forecast.iter().enumerate() {
                assert!((f - y[o + h]).abs() < 0.05, "origin {o} step {h}: {f} vs {}", y[o + h]);
            }
        }
    }

    #[test]
    fn a_linear_residual_model_learns_the_values_less_the_linear_forecast_and_keeps_its_base() {
        let y: Vec<f64> = (0..400).map(|t| 50.0 + (t as f64 * 0.7).sin() * 5.0 + 0.02 * t as f64).collect();
        let s = series(y.clone());
        let mut c = cfg(6, 6);
        let linear = LinearBaseline::fit_with(&s, &c, false).unwrap();
        c.linear_residual = Some(linear.clone());
        let (_, test_start) = boundaries(s.len(), &c).unwrap();
        let origins = [test_start, test_start + 6];
        let w = c.cut(&s.values, &origins);
        let forecasts = linear.forecasts_from_columns(&s.values, &origins);
        assert!(forecasts.iter().flatten().any(|f| (f - 50.0).abs() > 1.0), "a forecast that is not a constant");
        for (i, &o) in origins.iter().enumerate() {
            for h in 0..6 {
                let want = y[o + h] - forecasts[i][h];
                assert!((w.y[i * 6 + h] as f64 - want).abs() < 1e-4, "origin {o} step {h}");
            }
        }
        assert_eq!(c.history(), c.window.max(linear.history()));
        // The base travels with the configuration (checkpoints): a JSON round trip keeps it.
        let back: ForecastConfig = serde_json::from_str(&serde_json::to_string(&c).unwrap()).unwrap();
        assert_eq!(back, c);
        linear.validate(6, 1).unwrap();
        let mut broken = linear.clone();
        broken.models[0].1.pop();
        assert!(broken.validate(6, 1).unwrap_err().to_string().contains("another length"));
        assert!(linear.validate(12, 1).is_err() && linear.validate(6, 2).is_err());
        assert!(ForecastConfig { seasonal_residual: true, ..c }.validate().is_err(), "one residual at a time");
    }

    #[test]
    fn blocks_too_far_back_for_a_short_series_are_dropped() {
        // 144 monthly values, horizon 12: 7 years back would eat the training part.
        let y: Vec<f64> = (0..144).map(|t| 100.0 + t as f64 + 20.0 * ((t % 12) as f64 / 2.0).sin()).collect();
        let c = ForecastConfig { test_len: 24, valid_len: 12, window: 24, ..cfg(12, 12) };
        let baseline = LinearBaseline::fit(&series(y), &c).unwrap();
        let d = baseline.describe();
        assert_eq!(d.blocks, vec![1, 2, 3]);
        // Too few aligned (yearly) origins: every step is an origin.
        assert!(d.samples > 50, "{d:?}");
    }
}
