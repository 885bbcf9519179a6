//! Forecaster training as a task of the shared loop: the windows' layout over a series, shuffled
//! training windows, the validation MSE after each epoch, early stopping, and the best epoch's
//! parameters kept (see [`fit`]).
//!
//! Layout of a series of length N: training targets in `0..train_end`, validation targets in
//! `train_end..test_start`, the held-out tail `test_start..N`. Training can be limited to the last
//! `train_len` steps before `train_end` (little data, for transfer across series).

use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;

use super::data::{Scaler, Scaling, Series};
use super::linear::LinearBaseline;
use super::model::Forecaster;
use super::windows::{Windows, seasonal_naive, windows};
use crate::config::OptimConfig;
use crate::config::validate::{MAX_SIZE, check_count, check_size};
use crate::core::fit::{
    EpochTask, FitLimits, FitObserver, FitState, KeepBest, Phase, ReadCadence, StepProgress, fit as fit_epochs, run_steps,
};
use crate::core::lr_find::{LrFind, LrFindConfig, lr_find};
use crate::error::{Error, Result};
use crate::gpu::GpuContext;
use crate::params::ParamStore;

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
    /// Optimizer, weight decay and learning-rate schedule (stored flat beside the other fields).
    #[serde(flatten)]
    pub optim: OptimConfig,
    /// Stop after this many epochs without a lower validation MSE.
    pub patience: usize,
    /// Seeds the window order.
    pub seed: u64,
    /// Learn the difference to the seasonal-naive forecast instead of the values themselves.
    #[serde(default)]
    pub seasonal_residual: bool,
    /// The last this many input columns are known `horizon` steps in advance ([`SeriesSpec::future_cols`](super::SeriesSpec::future_cols)).
    #[serde(default)]
    pub future_cols: usize,
    /// Learn the difference to this linear baseline's forecast (fitted without the calendar on the
    /// scaled series, so its forecasts are in scaled units) instead of the values themselves.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub linear_residual: Option<LinearBaseline>,
    /// Series steps per LSTM step (1: one step at a time; 24 on hourly data: a day of inputs per
    /// step, so the LSTM recurs over days). Divides `window`.
    #[serde(default = "crate::tasks::forecast::train::default_fold")]
    pub fold: usize,
}

/// One series step per LSTM step: the fold of checkpoints and configurations written without one.
pub(crate) fn default_fold() -> usize {
    1
}

impl ForecastConfig {
    /// Refuses zero, negative, NaN and oversized settings before any GPU work, naming the option.
    pub fn validate(&self) -> Result<()> {
        for (option, value) in [
            ("window", self.window),
            ("horizon", self.horizon),
            ("season", self.season),
            ("stride", self.stride),
            ("test-len", self.test_len),
            ("epochs", self.epochs),
            ("batch-size", self.batch_size),
            ("patience", self.patience),
        ] {
            check_size(option, value, MAX_SIZE)?;
        }
        check_count("valid-len", self.valid_len, MAX_SIZE)?;
        if let Some(n) = self.train_len {
            check_size("train-len", n, MAX_SIZE)?;
        }
        check_size("fold", self.fold, MAX_SIZE)?;
        if !self.window.is_multiple_of(self.fold) {
            return Err(Error::invalid_option("fold", &format!("a divisor of --window {}", self.window), self.fold));
        }
        if self.seasonal_residual && self.linear_residual.is_some() {
            return Err(Error::InvalidInput("learn the residual to the seasonal naive or to the linear baseline, not both".into()));
        }
        self.optim.validate()
    }

    /// Steps of history a forecast needs before its origin.
    pub fn history(&self) -> usize {
        match (&self.linear_residual, self.seasonal_residual) {
            (Some(linear), _) => self.window.max(linear.history()),
            (None, true) => self.window.max(self.season),
            (None, false) => self.window,
        }
    }

    /// What the model's `horizon` outputs from each origin are added to (scaled units): the
    /// seasonal naive or the linear baseline's forecast for a residual model, None for one that
    /// learns the values.
    pub(crate) fn base(&self, scaled: &[Vec<f64>], origins: &[usize]) -> Option<Vec<Vec<f64>>> {
        if let Some(linear) = &self.linear_residual {
            return Some(linear.forecasts_from_columns(scaled, origins));
        }
        let m = self.seasonal_residual.then_some(self.season)?;
        Some(origins.iter().map(|&o| (0..self.horizon).map(|h| seasonal_naive(&scaled[0], o, h, m)).collect()).collect())
    }

    /// The windows at `origins` of a scaled series.
    pub(crate) fn cut(&self, scaled: &[Vec<f64>], origins: &[usize]) -> Windows {
        let base = self.base(scaled, origins);
        windows(scaled, origins, self.window, self.horizon, base.as_deref(), scaled.len() - self.future_cols, self.fold)
    }

    /// LSTM steps per window.
    pub fn lstm_steps(&self) -> usize {
        self.window / self.fold
    }

    /// LSTM inputs per step for a series of `columns` columns.
    pub fn lstm_inputs(&self, columns: usize) -> usize {
        columns * self.fold
    }
}

/// Training windows a default stride leaves at least (when the series has that many origins).
pub const MIN_TRAINING_WINDOWS: usize = 512;

/// The stride that leaves at least [`MIN_TRAINING_WINDOWS`] training windows, between 1 and the
/// horizon: on a short series (AirPassengers: 144 months) every origin is used, while a long
/// hourly one does not repeat each step in `horizon` overlapping windows per epoch.
pub fn default_stride(n: usize, held_out: usize, train_len: Option<usize>, window: usize, horizon: usize) -> usize {
    let before_validation = n.saturating_sub(held_out);
    let trainable = train_len.map_or(before_validation, |l| l.min(before_validation));
    let origins = trainable.saturating_sub(window + horizon);
    (origins / MIN_TRAINING_WINDOWS).clamp(1, horizon.max(1))
}

/// Index boundaries (train_end, test_start) of a series of length `n`.
pub fn boundaries(n: usize, cfg: &ForecastConfig) -> Result<(usize, usize)> {
    let need = cfg.history() + cfg.horizon;
    let test_start = n.checked_sub(cfg.test_len).filter(|&s| s >= need).ok_or_else(|| {
        Error::InvalidInput(format!(
            "the series has {n} steps: too short for a {}-step test tail after a {}-step window and {}-step horizon",
            cfg.test_len, cfg.window, cfg.horizon
        ))
    })?;
    let train_end = test_start.checked_sub(cfg.valid_len).filter(|&e| e >= need).ok_or_else(|| {
        Error::InvalidInput(format!(
            "the series has {n} steps: too short for {} validation steps before the {}-step tail and a {}-step window",
            cfg.valid_len, cfg.test_len, cfg.window
        ))
    })?;
    if cfg.season >= train_end {
        return Err(Error::invalid_option(
            "season",
            &format!("fewer steps than the {train_end} before validation (the seasonal naive needs a season of history)"),
            cfg.season,
        ));
    }
    Ok((train_end, test_start))
}

/// Origins `o` with targets `o..o+horizon` inside `start..end`, inputs available, every `step`.
pub(crate) fn origins(start: usize, end: usize, cfg: &ForecastConfig, step: usize) -> Vec<usize> {
    (start.max(cfg.history())..=end.saturating_sub(cfg.horizon)).step_by(step.max(1)).collect()
}

/// The training window origins.
pub fn train_origins(n: usize, cfg: &ForecastConfig) -> Result<Vec<usize>> {
    let (train_end, _) = boundaries(n, cfg)?;
    let start = cfg.train_len.map_or(0, |l| train_end.saturating_sub(l));
    let o = origins(start, train_end, cfg, cfg.stride);
    if o.is_empty() {
        return Err(Error::InvalidInput(format!(
            "no training window: {} training steps for a {}-step window and {}-step horizon",
            train_end - start,
            cfg.window,
            cfg.horizon
        )));
    }
    Ok(o)
}

/// Mean squared error (scaled units) of the model on the windows at `origins`.
pub(crate) fn scaled_mse(
    ctx: &GpuContext,
    model: &mut Forecaster,
    scaled: &[Vec<f64>],
    origins: &[usize],
    cfg: &ForecastConfig,
) -> Result<f64> {
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

/// Another series whose training windows join those of the series being forecast: one model learns
/// from several series at once (a "global" forecasting model), while validation, early stopping and
/// the scaling the model meets at forecast time stay the forecast series' own.
#[derive(Clone, Debug)]
pub struct ExtraSeries {
    /// Its name in errors.
    pub name: String,
    /// The series, scaled with statistics of its own training part, `[column][t]`; the same columns
    /// as the forecast series.
    pub scaled: Vec<Vec<f64>>,
    /// Its boundaries, stride, training length and linear base (when the run learns a linear
    /// residual); the window, horizon, fold and columns known in advance must be the run's. What
    /// its windows learn follows the run: the seasonal residual as the run learns it, the residual to
    /// its own linear base where the run learns one.
    pub cfg: ForecastConfig,
}

impl ExtraSeries {
    /// `series` scaled with statistics of its own training part (the split of `cfg`) and, with
    /// `linear`, with its own linear base fitted there.
    pub fn new(name: &str, series: &Series, mut cfg: ForecastConfig, scaling: Scaling, linear: bool) -> Result<Self> {
        let (train_end, _) = boundaries(series.len(), &cfg)?;
        let start = cfg.train_len.map_or(0, |l| train_end.saturating_sub(l));
        let scaler = Scaler::fit_as(series, start, train_end, scaling);
        if linear {
            cfg.linear_residual = Some(LinearBaseline::fit_scaled(series, &scaler, &cfg)?);
        }
        Ok(Self { name: name.to_string(), scaled: scaler.scale(series), cfg })
    }

    /// Its windows' settings in a run with settings `main` over `columns` columns: the seasonal
    /// residual as the run learns it, the residual to its own linear base where the run learns one;
    /// refused when the shapes differ or the run learns a linear residual it has no base for.
    fn windows_config(&self, main: &ForecastConfig, columns: usize) -> Result<ForecastConfig> {
        let (name, c, s) = (&self.name, &self.cfg, self.scaled.len());
        if (c.window, c.horizon, c.fold, c.future_cols, s) != (main.window, main.horizon, main.fold, main.future_cols, columns) {
            return Err(Error::InvalidInput(format!(
                "extra series {name}: window {}, horizon {}, fold {}, {s} columns ({} known in advance); the forecast series: {}, {}, \
                 {}, {columns} ({})",
                c.window, c.horizon, c.fold, c.future_cols, main.window, main.horizon, main.fold, main.future_cols
            )));
        }
        if main.linear_residual.is_some() && c.linear_residual.is_none() {
            return Err(Error::InvalidInput(format!("extra series {name}: the run learns a linear residual and it has no linear base")));
        }
        let linear_residual = main.linear_residual.as_ref().and(c.linear_residual.clone());
        let cfg = ForecastConfig { seasonal_residual: main.seasonal_residual, linear_residual, ..c.clone() };
        cfg.validate().map_err(|e| Error::InvalidInput(format!("extra series {name}: {e}")))?;
        Ok(cfg)
    }
}

/// One forecaster run as the shared loop drives it.
pub struct ForecastRun<'a> {
    /// The device.
    pub ctx: &'a GpuContext,
    /// The model being trained.
    pub model: &'a mut Forecaster,
    /// The scaled series, `[column][t]`.
    pub scaled: &'a [Vec<f64>],
    /// The run's settings.
    pub cfg: &'a ForecastConfig,
    /// Series whose training windows join the forecast series', with their windows' settings.
    extra: Vec<(&'a [Vec<f64>], ForecastConfig)>,
    /// Training windows: (series, origin), series 0 the forecast series, k ≥ 1 `extra[k - 1]`.
    train: Vec<(usize, usize)>,
    valid: Vec<usize>,
}

impl ForecastRun<'_> {
    /// The batch of the training windows `chunk`, cut from each one's series with its settings.
    fn cut(&self, chunk: &[(usize, usize)]) -> Windows {
        let parts: Vec<Windows> = (0..=self.extra.len())
            .filter_map(|k| {
                let origins: Vec<usize> = chunk.iter().filter(|&&(s, _)| s == k).map(|&(_, o)| o).collect();
                let (scaled, cfg) = if k == 0 { (self.scaled, self.cfg) } else { (self.extra[k - 1].0, &self.extra[k - 1].1) };
                (!origins.is_empty()).then(|| cfg.cut(scaled, &origins))
            })
            .collect();
        Windows::concat(&parts)
    }
}

impl EpochTask for ForecastRun<'_> {
    type Log = ForecastEpoch;

    fn run_epoch(&mut self, epoch: usize, progress: &mut dyn FnMut(&StepProgress)) -> Result<ForecastEpoch> {
        let (ctx, cfg, scaled) = (self.ctx, self.cfg, self.scaled);
        self.train.shuffle(&mut ChaCha8Rng::seed_from_u64(cfg.seed.wrapping_mul(31).wrapping_add(epoch as u64)));
        let steps = self.train.len().div_ceil(cfg.batch_size);
        let total = (cfg.epochs * steps) as u64;
        let sums = run_steps(
            ctx,
            epoch,
            Phase::Train,
            steps,
            ReadCadence::default(),
            |i, read| {
                let chunk = &self.train[i * cfg.batch_size..((i + 1) * cfg.batch_size).min(self.train.len())];
                let batch = self.cut(chunk);
                self.model.step.set_learning_rate(cfg.optim.lr_at(self.model.step.updates(), total) as f32);
                Ok((self.model.train_step(ctx, &batch, read)?, chunk.len()))
            },
            progress,
        )?;
        let train_mse = sums.mean_loss();
        let valid_mse = if self.valid.is_empty() { train_mse } else { scaled_mse(ctx, self.model, scaled, &self.valid, cfg)? };
        Ok(ForecastEpoch { epoch, train_mse, valid_mse })
    }

    fn score(&self, log: &ForecastEpoch) -> f64 {
        -log.valid_mse
    }

    fn updates(&self) -> u64 {
        self.model.step.updates()
    }

    fn store(&self) -> &ParamStore {
        &self.model.store
    }
}

/// The learning-rate range test on the training windows (shuffled batches, cycled); it changes the
/// model's weights.
pub fn lr_find_forecaster(
    ctx: &GpuContext,
    model: &mut Forecaster,
    scaled: &[Vec<f64>],
    cfg: &ForecastConfig,
    find: LrFindConfig,
) -> Result<LrFind> {
    cfg.validate()?;
    let mut train = train_origins(scaled[0].len(), cfg)?;
    train.shuffle(&mut ChaCha8Rng::seed_from_u64(cfg.seed));
    model.step.configure(ctx, &mut model.store, &cfg.optim);
    let batches: Vec<&[usize]> = train.chunks(cfg.batch_size).collect();
    lr_find(find, |i, lr| {
        model.step.set_learning_rate(lr);
        let stats = model.train_step(ctx, &cfg.cut(scaled, batches[i % batches.len()]), true)?.expect("read back");
        Ok(stats.loss_sum as f64)
    })
}

/// Trains with early stopping on the validation windows and leaves the model at its best epoch.
pub fn fit<'a>(
    ctx: &'a GpuContext,
    model: &'a mut Forecaster,
    scaled: &'a [Vec<f64>],
    cfg: &'a ForecastConfig,
    observer: &mut dyn FitObserver<ForecastRun<'a>>,
) -> Result<Vec<ForecastEpoch>> {
    fit_with(ctx, model, scaled, &[], false, cfg, observer)
}

/// [`fit`], the training windows of the `extra` series shuffled in with the series' own (validation
/// stays the series' own). With `balance`, the series' own windows are repeated (a whole number of
/// times, at least once) until they are as many per epoch as the extra series' together.
pub fn fit_with<'a>(
    ctx: &'a GpuContext,
    model: &'a mut Forecaster,
    scaled: &'a [Vec<f64>],
    extra: &'a [ExtraSeries],
    balance: bool,
    cfg: &'a ForecastConfig,
    observer: &mut dyn FitObserver<ForecastRun<'a>>,
) -> Result<Vec<ForecastEpoch>> {
    cfg.validate()?;
    let n = scaled[0].len();
    let (train_end, test_start) = boundaries(n, cfg)?;
    let own = train_origins(n, cfg)?;
    let mut train: Vec<(usize, usize)> = own.iter().map(|&o| (0, o)).collect();
    let mut extras = Vec::with_capacity(extra.len());
    for (k, series) in extra.iter().enumerate() {
        let windows = series.windows_config(cfg, scaled.len())?;
        let origins = train_origins(series.scaled[0].len(), &windows)
            .map_err(|e| Error::InvalidInput(format!("extra series {}: {e}", series.name)))?;
        train.extend(origins.into_iter().map(|o| (k + 1, o)));
        extras.push((&series.scaled[..], windows));
    }
    if balance {
        // The extra windows over the own ones, rounded up: that many copies of the own in all.
        let copies = (train.len() - own.len()).div_ceil(own.len().max(1)).max(1);
        for _ in 1..copies {
            train.extend(own.iter().map(|&o| (0, o)));
        }
    }
    let valid = origins(train_end, test_start, cfg, cfg.horizon);
    model.step.configure(ctx, &mut model.store, &cfg.optim);
    let mut run = ForecastRun { ctx, model, scaled, cfg, extra: extras, train, valid };
    let mut keep = (KeepBest::new(ctx), observer);
    let limits = FitLimits { epochs: cfg.epochs, patience: Some(cfg.patience) };
    let state = fit_epochs(&mut run, limits, FitState::default(), &mut keep)?;
    keep.0.restore(&run.model.store)?;
    Ok(state.logs)
}

/// A model's parameters and validation MSE before fine-tuning: early stopping's epoch 0 for a model
/// that starts from another series' parameters. When no epoch beats it on the validation windows,
/// [`StartPoint::keep_if_better`] leaves the model as it started (fine-tuning on a few steps only
/// made it worse there).
pub struct StartPoint {
    /// Validation MSE (scaled units).
    pub mse: f64,
    params: crate::params::TensorMap,
}

impl StartPoint {
    /// Measures `model` on the validation windows of `cfg` (None without validation windows).
    pub fn measure(ctx: &GpuContext, model: &mut Forecaster, scaled: &[Vec<f64>], cfg: &ForecastConfig) -> Result<Option<Self>> {
        let (train_end, test_start) = boundaries(scaled[0].len(), cfg)?;
        let valid = origins(train_end, test_start, cfg, cfg.horizon);
        if valid.is_empty() {
            return Ok(None);
        }
        Ok(Some(Self { mse: scaled_mse(ctx, model, scaled, &valid, cfg)?, params: model.store.download_map(ctx)? }))
    }

    /// After [`fit`]: puts the starting parameters back when no epoch of `logs` had a lower
    /// validation MSE; returns whether it did.
    pub fn keep_if_better(self, ctx: &GpuContext, model: &Forecaster, logs: &[ForecastEpoch]) -> Result<bool> {
        let best = logs.iter().map(|l| l.valid_mse).fold(f64::INFINITY, f64::min);
        if self.mse <= best {
            model.load_params(ctx, &self.params)?;
            return Ok(true);
        }
        Ok(false)
    }
}
