//! Time-series forecasting: a regular series from a CSV ([`data`]), z-scored with statistics from the
//! training part, cut into sliding windows, an LSTM [`Forecaster`] trained on them with early stopping
//! on the validation windows, and rolling multi-step forecasts over the held-out tail scored by MAE,
//! RMSE and MASE against the seasonal-naive forecast.
//!
//! Layout of a series of length N: training targets in `0..train_end`, validation targets in
//! `train_end..test_start`, the held-out tail `test_start..N`. Training can be limited to the last
//! `train_len` steps before `train_end` (little data, for transfer across series).

pub mod data;

use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

pub use data::{read_series, windows, Scaler, Series, SeriesSpec};

use crate::error::{Error, Result};
use crate::gpu::GpuContext;
use crate::kernels::optimizer::AdamConfig;
use crate::model::Forecaster;

/// Windows, training and evaluation settings.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ForecastConfig {
    /// Input steps per window.
    pub window: usize,
    /// Steps forecast at once.
    pub horizon: usize,
    /// Season length of the seasonal-naive baseline (24 for hourly data with a daily cycle, 12 for monthly).
    pub season: usize,
    /// Steps between training window origins.
    pub stride: usize,
    /// Held-out tail length (test).
    pub test_len: usize,
    /// Validation length before the tail.
    pub valid_len: usize,
    /// Train on at most the last this many steps before validation (None: all).
    pub train_len: Option<usize>,
    /// Epochs (upper bound with `patience`).
    pub epochs: usize,
    /// Windows per step.
    pub batch_size: usize,
    /// Adam settings.
    pub optimizer: AdamConfig,
    /// Stop after this many epochs without a lower validation MSE.
    pub patience: usize,
    /// Seeds the window order.
    pub seed: u64,
    /// Learn the difference to the seasonal-naive forecast instead of the values themselves.
    #[serde(default)]
    pub seasonal_residual: bool,
    /// The last this many input columns are known `horizon` steps in advance ([`SeriesSpec::future_cols`]).
    #[serde(default)]
    pub future_cols: usize,
}

impl ForecastConfig {
    /// Steps of history a forecast needs before its origin.
    fn history(&self) -> usize {
        if self.seasonal_residual { self.window.max(self.season) } else { self.window }
    }

    fn residual(&self) -> Option<usize> {
        self.seasonal_residual.then_some(self.season.max(1))
    }

    /// The windows at `origins` of a scaled series.
    fn cut(&self, scaled: &[Vec<f64>], origins: &[usize]) -> crate::model::Windows {
        windows(scaled, origins, self.window, self.horizon, self.residual(), scaled.len() - self.future_cols)
    }
}

/// Forecast errors in the series' units over the held-out tail, beside the seasonal-naive forecast's.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize)]
pub struct ForecastMetrics {
    /// Forecast points scored.
    pub points: usize,
    /// Mean absolute error of the model.
    pub mae: f64,
    /// Root mean squared error of the model.
    pub rmse: f64,
    /// MAE over the in-sample MAE of the one-season-back forecast on the training part (Hyndman & Koehler 2006).
    pub mase: f64,
    /// The seasonal-naive forecast (the value one season earlier, repeated over the horizon).
    pub naive_mae: f64,
    /// RMSE of the seasonal-naive forecast.
    pub naive_rmse: f64,
    /// MASE of the seasonal-naive forecast.
    pub naive_mase: f64,
}

/// Index boundaries (train_end, test_start) of a series of length `n`.
pub fn boundaries(n: usize, cfg: &ForecastConfig) -> Result<(usize, usize)> {
    let need = cfg.history() + cfg.horizon;
    let test_start = n.checked_sub(cfg.test_len).filter(|&s| s >= need).ok_or_else(|| {
        Error::InvalidInput(format!("the series has {n} steps: too short for a {}-step test tail after a {}-step window and {}-step horizon",
                                    cfg.test_len, cfg.window, cfg.horizon))
    })?;
    let train_end = test_start.checked_sub(cfg.valid_len).filter(|&e| e >= need).ok_or_else(|| {
        Error::InvalidInput(format!("the series has {n} steps: too short for {} validation steps before the {}-step tail and a {}-step window",
                                    cfg.valid_len, cfg.test_len, cfg.window))
    })?;
    Ok((train_end, test_start))
}

/// Origins `o` with targets `o..o+horizon` inside `start..end`, inputs available, every `step`.
fn origins(start: usize, end: usize, cfg: &ForecastConfig, step: usize) -> Vec<usize> {
    (start.max(cfg.history())..=end.saturating_sub(cfg.horizon)).step_by(step.max(1)).collect()
}

/// The training window origins.
pub fn train_origins(n: usize, cfg: &ForecastConfig) -> Result<Vec<usize>> {
    let (train_end, _) = boundaries(n, cfg)?;
    let start = cfg.train_len.map_or(0, |l| train_end.saturating_sub(l));
    let o = origins(start, train_end, cfg, cfg.stride);
    if o.is_empty() {
        return Err(Error::InvalidInput(format!("no training window: {} training steps for a {}-step window and {}-step horizon",
                                               train_end - start, cfg.window, cfg.horizon)));
    }
    Ok(o)
}

/// Mean squared error (scaled units) of the model on the windows at `origins`.
fn scaled_mse(ctx: &GpuContext, model: &mut Forecaster, scaled: &[Vec<f64>], origins: &[usize], cfg: &ForecastConfig) -> Result<f64> {
    let (mut sum, mut n) = (0.0, 0usize);
    for chunk in origins.chunks(cfg.batch_size) {
        let w = cfg.cut(scaled, chunk);
        let pred = model.predict(ctx, &w)?;
        sum += pred.iter().zip(&w.y).map(|(p, y)| ((p - y) as f64).powi(2)).sum::<f64>();
        n += pred.len();
    }
    Ok(sum / n.max(1) as f64)
}

/// One epoch's figures.
#[derive(Clone, Debug, serde::Serialize)]
pub struct ForecastEpoch {
    /// 1-based.
    pub epoch: usize,
    /// Mean training MSE (scaled units).
    pub train_mse: f64,
    /// Validation MSE (scaled units).
    pub valid_mse: f64,
}

/// What [`fit`] reports as it goes.
pub enum FitProgress<'a> {
    /// A training step of the current epoch ended.
    Step {
        /// Steps done in this epoch.
        done: usize,
        /// Steps per epoch.
        total: usize,
    },
    /// An epoch ended.
    Epoch(&'a ForecastEpoch),
}

/// Trains with early stopping on the validation windows and leaves the model at its best epoch.
pub fn fit(ctx: &GpuContext, model: &mut Forecaster, scaled: &[Vec<f64>], cfg: &ForecastConfig,
           mut report: impl FnMut(FitProgress)) -> Result<Vec<ForecastEpoch>> {
    let n = scaled[0].len();
    let (train_end, test_start) = boundaries(n, cfg)?;
    let mut train = train_origins(n, cfg)?;
    let valid = origins(train_end, test_start, cfg, cfg.horizon);
    model.set_optimizer(cfg.optimizer);
    let (mut best, mut best_params, mut bad, mut logs) = (f64::INFINITY, None, 0, Vec::new());
    for epoch in 1..=cfg.epochs {
        train.shuffle(&mut ChaCha8Rng::seed_from_u64(cfg.seed.wrapping_mul(31).wrapping_add(epoch as u64)));
        let (mut sum, mut count) = (0.0, 0);
        let steps = train.len().div_ceil(cfg.batch_size);
        for (i, chunk) in train.chunks(cfg.batch_size).enumerate() {
            // The summed loss comes back every 16 steps and after the last; the GPU runs ahead in between.
            let read = (i + 1) % 16 == 0 || i + 1 == steps;
            if let Some(loss_sum) = model.train_step(ctx, &cfg.cut(scaled, chunk), read)? {
                sum += loss_sum as f64;
            }
            count += 1;
            report(FitProgress::Step { done: i + 1, total: steps });
        }
        let valid_mse = if valid.is_empty() { sum / count.max(1) as f64 } else { scaled_mse(ctx, model, scaled, &valid, cfg)? };
        let log = ForecastEpoch { epoch, train_mse: sum / count.max(1) as f64, valid_mse };
        report(FitProgress::Epoch(&log));
        logs.push(log);
        if valid_mse < best {
            (best, bad) = (valid_mse, 0);
            best_params = Some(model.store.download(ctx)?.into_iter().map(|(n, s, v)| (n, (s, v))).collect());
        } else {
            bad += 1;
            if bad >= cfg.patience {
                break;
            }
        }
    }
    if let Some(p) = best_params {
        model.load_params(ctx, &p)?;
    }
    Ok(logs)
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
}

/// Rolling forecasts over the tail (origins every `horizon` steps from the tail's start) and their metrics.
pub fn evaluate(ctx: &GpuContext, model: &mut Forecaster, series: &Series, scaler: &Scaler, cfg: &ForecastConfig)
                -> Result<(Vec<ForecastPoint>, ForecastMetrics)> {
    let n = series.len();
    let (train_end, test_start) = boundaries(n, cfg)?;
    let scaled = scaler.scale(series);
    let y = &series.values[0];
    let tail = origins(test_start, n, cfg, cfg.horizon);
    let m = cfg.season.max(1);
    let mut points = Vec::new();
    for chunk in tail.chunks(cfg.batch_size) {
        let pred = model.predict(ctx, &cfg.cut(&scaled, chunk))?;
        for (i, &o) in chunk.iter().enumerate() {
            for h in 0..cfg.horizon {
                let naive = data::seasonal_naive(y, o, h, m);
                let base = cfg.residual().map_or(0.0, |m| data::seasonal_naive(&scaled[0], o, h, m));
                let forecast = scaler.unscale_target(pred[i * cfg.horizon + h] as f64 + base);
                points.push(ForecastPoint { step: o + h, forecast, naive });
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
    let metrics = ForecastMetrics {
        points: points.len(), mae, rmse, mase: mae / scale.max(f64::MIN_POSITIVE), naive_mae, naive_rmse,
        naive_mase: naive_mae / scale.max(f64::MIN_POSITIVE),
    };
    Ok((points, metrics))
}

/// Everything a forecaster checkpoint says besides its tensors.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ForecasterInfo {
    /// The model's shape.
    pub config: crate::model::ForecasterConfig,
    /// The columns it reads.
    pub spec: SeriesSpec,
    /// The scaling statistics of the series it was trained on.
    pub scaler: Scaler,
    /// Windows and training settings.
    pub forecast: ForecastConfig,
}

const META_FORECASTER: &str = "lstm_transfer_forecaster";

/// Writes a forecaster checkpoint (PyTorch names, description in the metadata), atomically.
pub fn save_forecaster(path: &std::path::Path, ctx: &GpuContext, model: &Forecaster, info: &ForecasterInfo) -> Result<()> {
    let metadata = [(META_FORECASTER.to_string(), serde_json::to_string(info).expect("ForecasterInfo serializes"))].into();
    crate::checkpoint::save_tensors(path, &model.store.download(ctx)?, metadata)
}

/// Reads a forecaster checkpoint: its description and tensors.
pub fn load_forecaster(path: &std::path::Path) -> Result<(ForecasterInfo, crate::params::TensorMap)> {
    let (tensors, metadata) = crate::checkpoint::read_tensors(path)?;
    let err = |message: String| Error::File { path: path.to_path_buf(), message };
    let info = metadata.get(META_FORECASTER).ok_or_else(|| err(format!("no '{META_FORECASTER}' metadata: not a forecaster checkpoint")))?;
    let info: ForecasterInfo = serde_json::from_str(info).map_err(|e| err(format!("metadata '{META_FORECASTER}': {e}")))?;
    Ok((info, tensors))
}
