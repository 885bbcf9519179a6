//! Rolling forecasts over the held-out tail and their errors in the series' units, beside two
//! baselines a practitioner would use instead: the seasonal-naive forecast and a lasso-estimated
//! linear autoregression ([`LinearBaseline`], LEAR's kind): MAE, RMSE and MASE.

use super::data::{Scaler, Series};
use super::linear::{LinearBaseline, LinearSummary};
use super::model::{Forecaster, predict_mean};
use super::train::{ForecastConfig, boundaries, origins};
use super::windows::{Windows, seasonal_naive};
use crate::config::validate::check_size;
use crate::error::{Error, Result};
use crate::gpu::GpuContext;

/// Forecast errors in the series' units over the held-out tail, beside the seasonal-naive forecast's.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize)]
pub struct ForecastMetrics {
    /// Forecast points scored.
    pub points: usize,
    /// Mean absolute error of the model.
    pub mae: f64,
    /// Root mean squared error of the model.
    pub rmse: f64,
    /// MAE over the in-sample MAE of the one-season-back forecast on the training part (Hyndman &
    /// Koehler 2006); None when that in-sample MAE is 0 (a training part that repeats every season
    /// exactly, e.g. a constant series), where the ratio is undefined.
    pub mase: Option<f64>,
    /// The seasonal-naive forecast (the value one season earlier, repeated over the horizon).
    pub naive_mae: f64,
    /// RMSE of the seasonal-naive forecast.
    pub naive_rmse: f64,
    /// MASE of the seasonal-naive forecast (None as for `mase`).
    pub naive_mase: Option<f64>,
    /// The linear baseline ([`LinearBaseline`]), fitted on the training part: MAE (None when the
    /// series is too short to fit it, see `linear_skipped`).
    #[serde(default)]
    pub linear_mae: Option<f64>,
    /// RMSE of the linear baseline.
    #[serde(default)]
    pub linear_rmse: Option<f64>,
    /// MASE of the linear baseline.
    #[serde(default)]
    pub linear_mase: Option<f64>,
    /// The linear baseline's fit: samples, features, blocks back, nonzero coefficients.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub linear: Option<LinearSummary>,
    /// Why there is no linear baseline.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub linear_skipped: Option<String>,
}

/// One forecast point of the held-out tail, in the series' units.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
pub struct ForecastPoint {
    /// Time index in the series.
    pub step: usize,
    /// The model's forecast.
    pub forecast: f64,
    /// The seasonal-naive forecast.
    pub naive: f64,
    /// The linear baseline's forecast.
    pub linear: Option<f64>,
}

/// Rolling forecasts over the tail (origins every `horizon` steps from the tail's start) and their
/// metrics: of one model, or the members' mean forecast of an ensemble.
pub fn evaluate(
    ctx: &GpuContext,
    model: &mut [Forecaster],
    series: &Series,
    scaler: &Scaler,
    cfg: &ForecastConfig,
) -> Result<(Vec<ForecastPoint>, ForecastMetrics)> {
    evaluate_against(ctx, model, series, scaler, cfg, &LinearBaseline::fit(series, cfg))
}

/// [`evaluate`] beside a linear baseline already fitted on `series` with `cfg`'s split (or the
/// reason it could not be), for callers that score several models on the same split.
pub fn evaluate_against(
    ctx: &GpuContext,
    model: &mut [Forecaster],
    series: &Series,
    scaler: &Scaler,
    cfg: &ForecastConfig,
    linear: &Result<LinearBaseline>,
) -> Result<(Vec<ForecastPoint>, ForecastMetrics)> {
    let n = series.len();
    let (train_end, test_start) = boundaries(n, cfg)?;
    let scaled = scaler.scale(series);
    let y = &series.values[0];
    let tail = origins(test_start, n, cfg, cfg.horizon);
    let m = cfg.season.max(1);
    let linear_forecasts: Option<Vec<Vec<f64>>> =
        linear.as_ref().ok().filter(|l| tail.iter().all(|&o| o >= l.history())).map(|l| l.forecasts(series, &tail));
    let mut points = Vec::new();
    for (c, chunk) in tail.chunks(cfg.batch_size).enumerate() {
        let pred = predict_mean(ctx, model, &cfg.cut(&scaled, chunk))?;
        let base = cfg.base(&scaled, chunk);
        for (i, &o) in chunk.iter().enumerate() {
            let lin = linear_forecasts.as_ref().map(|f| &f[c * cfg.batch_size + i]);
            for h in 0..cfg.horizon {
                let naive = seasonal_naive(y, o, h, m);
                let forecast = scaler.forecast_value(pred[i * cfg.horizon + h] as f64 + base.as_ref().map_or(0.0, |b| b[i][h]), o + h)?;
                points.push(ForecastPoint { step: o + h, forecast, naive, linear: lin.as_ref().map(|l| l[h]) });
            }
        }
    }
    let scale = (m..train_end).map(|t| (y[t] - y[t - m]).abs()).sum::<f64>() / (train_end.saturating_sub(m)).max(1) as f64;
    let err = |f: fn(&ForecastPoint) -> f64| -> (f64, f64) {
        let k = points.len().max(1) as f64;
        let mae = points.iter().map(|p| (f(p) - y[p.step]).abs()).sum::<f64>() / k;
        (mae, (points.iter().map(|p| (f(p) - y[p.step]).powi(2)).sum::<f64>() / k).sqrt())
    };
    let (mae, rmse) = err(|p| p.forecast);
    let (naive_mae, naive_rmse) = err(|p| p.naive);
    let linear_scored = points.iter().all(|p| p.linear.is_some()) && linear.is_ok();
    let (linear_mae, linear_rmse) = if linear_scored { err(|p| p.linear.expect("scored")) } else { (f64::NAN, f64::NAN) };
    let metrics = ForecastMetrics {
        points: points.len(),
        mae,
        rmse,
        mase: (scale > 0.0).then(|| mae / scale),
        naive_mae,
        naive_rmse,
        naive_mase: (scale > 0.0).then(|| naive_mae / scale),
        linear_mae: linear_scored.then_some(linear_mae),
        linear_rmse: linear_scored.then_some(linear_rmse),
        linear_mase: (linear_scored && scale > 0.0).then(|| linear_mae / scale),
        linear: linear.as_ref().ok().map(LinearBaseline::describe),
        linear_skipped: linear.as_ref().err().map(|e| e.to_string()),
    };
    Ok((points, metrics))
}

/// Most steps [`forecast_ahead`] forecasts: each `horizon` of them is a pass fed back, so a bound
/// keeps that loop and its memory small.
pub const MAX_STEPS_AHEAD: usize = 100_000;

/// The window whose origin is the end of a scaled series: the forecast of the steps after it.
/// Targets past the end are unknown (zeros); the window reads only steps before the origin.
pub(crate) fn window_after(scaled: &[Vec<f64>], cfg: &ForecastConfig) -> Windows {
    let mut padded = scaled.to_vec();
    padded.iter_mut().for_each(|c| c.extend(std::iter::repeat_n(0.0, cfg.horizon)));
    cfg.cut(&padded, &[scaled[0].len()])
}

/// What the model's output at each of the `horizon` steps after the end of a scaled series is
/// added to: the seasonal naive or the linear baseline for a residual model, else 0.
pub(crate) fn residual_base(scaled: &[Vec<f64>], cfg: &ForecastConfig) -> Vec<f64> {
    cfg.base(scaled, &[scaled[0].len()]).map_or_else(|| vec![0.0; cfg.horizon], |mut rows| rows.remove(0))
}

/// The next `steps` values past the end of `series`, in its units. A direct forecast gives up to
/// `horizon` steps; a series read without covariates goes further by feeding the forecasts back as
/// inputs, `horizon` steps at a time. Covariates known in advance are not in the data past its end,
/// so such a model cannot forecast ahead. An ensemble forecasts its members' mean.
pub fn forecast_ahead(
    ctx: &GpuContext,
    model: &mut [Forecaster],
    series: &Series,
    scaler: &Scaler,
    cfg: &ForecastConfig,
    steps: usize,
) -> Result<Vec<f64>> {
    check_size("predict", steps, MAX_STEPS_AHEAD)?;
    if cfg.future_cols > 0 {
        return Err(Error::InvalidInput(
            "a model that reads covariates known in advance needs their values past the end of the data: \
                                        it cannot forecast ahead from this file"
                .into(),
        ));
    }
    if steps > cfg.horizon && series.values.len() > 1 {
        return Err(Error::invalid_option(
            "predict",
            &format!("at most --horizon {} steps for a series with covariates", cfg.horizon),
            steps,
        ));
    }
    let mut scaled = scaler.scale(series);
    let mut out = Vec::with_capacity(steps);
    while out.len() < steps {
        let pred = predict_mean(ctx, model, &window_after(&scaled, cfg))?;
        let base = residual_base(&scaled, cfg);
        for (&p, base) in pred.iter().zip(base) {
            let value = p as f64 + base;
            if out.len() < steps {
                out.push(scaler.forecast_value(value, scaled[0].len())?);
            }
            scaled[0].push(value);
        }
    }
    Ok(out)
}
