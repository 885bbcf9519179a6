//! Transfer between series: a forecaster trained on a source series (French day-ahead prices, say)
//! carried to a target series of which only a few steps are known (Belgian prices with 7 to 60
//! days), against a model trained on those steps alone; [`report`](super::series_report) turns the
//! runs into a table with paired intervals and a plot.
//!
//! Protocol, per target length L (steps of the target that training may use):
//! - the target's held-out tail (its last `test_len` steps) is the same for every run;
//! - the L steps before it are split into training targets (the first L − v) and validation targets
//!   (the last v = ⌊L/4⌋ rounded down to whole horizons, at least one horizon), which pick the epoch;
//!   a window's inputs may reach up to `window` steps before the training targets, as a forecaster's
//!   inputs always do;
//! - the target is scaled with statistics of its own training steps, so a source's dynamics carry
//!   over in the units of the series they meet;
//! - every method sees the same steps, scaling and window order for a seed; the seed also draws the
//!   fresh model of `scratch`;
//! - a method that fine-tunes the source counts the source itself as epoch 0 of early stopping
//!   ([`StartPoint`]): when no epoch beats it on the validation steps, the
//!   source is kept (the run records it).
//!
//! The source is trained once on the source series' own training part (its last `test_len` steps
//! held out, `source_valid_len` before them for early stopping), or read from a checkpoint. What the
//! source saw must precede the target's tail in time (two series of the same dates, as EPF's FR
//! and BE, with the same `test_len`): with timestamps on both, a source that reaches into the
//! target's tail is refused; a checkpoint's period cannot be checked, so that is the caller's care.

use std::path::{Path, PathBuf};

use web_time::Instant;

use super::create_dir;
use crate::config::OptimConfig;
use crate::config::validate::MAX_SIZE;
use crate::error::{Error, Result};
use crate::fsutil::write_atomic;
use crate::gpu::GpuContext;
use crate::params::TensorMap;
use crate::tasks::forecast::checkpoint::ensemble_as_source;
use crate::tasks::forecast::data::Scaling;
use crate::tasks::forecast::linear::LinearBaseline;
use crate::tasks::forecast::train::default_stride;
use crate::tasks::forecast::{
    self as timeseries, ExtraSeries, ForecastConfig, Forecaster, ForecasterConfig, ForecasterInfo, Scaler, Series, SeriesSpec, StartPoint,
    boundaries, load_forecaster, read_series, save_forecaster,
};

/// How a target model starts from the source and trains.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
#[serde(rename_all = "kebab-case")]
pub enum SeriesMethod {
    /// A fresh model trained on the target's steps alone (what the others are paired with).
    Scratch,
    /// The source model as it is, without target training (in the target's own scaling).
    SourceOnly,
    /// Every source parameter, then everything fine-tuned.
    Init,
    /// The source's LSTM frozen, its head fine-tuned.
    FrozenLstm,
    /// The source's LSTM fine-tuned at a lower rate (lr / `lower_rate_factor`), its head at the full rate.
    LowerRate,
    /// A fresh model trained on the source's training windows and the target's together (each in
    /// its own scaling; validated on the target's steps): learning both at once instead of one
    /// after the other. Needs the source series, not a checkpoint.
    Joint,
    /// [`SeriesMethod::Joint`] with the target's training windows repeated (a whole number of times)
    /// until they are at least as many per epoch as the source's. Measured on FR → BE it did not pay
    /// (results/forecast-transfer/README.md).
    JointBalanced,
}

impl SeriesMethod {
    /// Every method, in report order.
    pub const ALL: [Self; 7] =
        [Self::Scratch, Self::SourceOnly, Self::Init, Self::FrozenLstm, Self::LowerRate, Self::Joint, Self::JointBalanced];

    /// The name in reports (as on the command line).
    pub fn name(self) -> &'static str {
        match self {
            Self::Scratch => "scratch",
            Self::SourceOnly => "source-only",
            Self::Init => "init",
            Self::FrozenLstm => "frozen-lstm",
            Self::LowerRate => "lower-rate",
            Self::Joint => "joint",
            Self::JointBalanced => "joint-balanced",
        }
    }

    /// Whether it trains on the source series' windows beside the target's.
    pub fn is_joint(self) -> bool {
        matches!(self, Self::Joint | Self::JointBalanced)
    }
}

/// What the forecasters learn: the values, or their residual to a baseline's forecast.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
#[serde(rename_all = "kebab-case")]
pub enum Learn {
    /// The values themselves.
    Values,
    /// The residual to the seasonal-naive forecast.
    #[default]
    SeasonalResidual,
    /// The residual to the linear (lasso) baseline, fitted on each series' own training steps.
    LinearResidual,
    /// The residual to the source's linear baseline: fitted on the source's training steps (as with
    /// `linear-residual`) and applied to the target in the target's own scaling, where a few target
    /// days are too few to fit one. The source model learns as with `linear-residual`.
    SourceLinearResidual,
}

impl Learn {
    /// What the source model learns: a target's source-linear residual is the source's own linear one.
    pub fn of_source(self) -> Self {
        if self == Self::SourceLinearResidual { Self::LinearResidual } else { self }
    }
}

/// One series of a file: the file and, when it holds several, the series' name.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SeriesRef {
    /// The CSV.
    pub data: PathBuf,
    /// The series (`columns.series_col`'s value), when the file holds several.
    pub series: Option<String>,
}

impl SeriesRef {
    /// A short name for reports: the series' name, else the file's stem.
    pub fn name(&self) -> String {
        self.series.clone().unwrap_or_else(|| self.data.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default())
    }

    fn read(&self, columns: &SeriesSpec) -> Result<Series> {
        read_series(&self.data, &SeriesSpec { series: self.series.clone(), ..columns.clone() })
    }
}

/// The grid's settings (written to the output folder as `config.json`).
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SeriesGridConfig {
    /// The series the source model learns from.
    pub source: SeriesRef,
    /// The series it is carried to.
    pub target: SeriesRef,
    /// The columns read from both (its `series` is each [`SeriesRef`]'s).
    pub columns: SeriesSpec,
    /// A source checkpoint to use instead of training one.
    pub source_checkpoint: Option<PathBuf>,
    /// Input steps per window.
    pub window: usize,
    /// Steps forecast at once.
    pub horizon: usize,
    /// Season of the seasonal naive (and of MASE).
    pub season: usize,
    /// Series steps per LSTM step ([`ForecastConfig::fold`]).
    #[serde(default = "crate::tasks::forecast::train::default_fold")]
    pub fold: usize,
    /// How both series are scaled for the LSTM.
    #[serde(default)]
    pub scaling: Scaling,
    /// Held-out tail of each series (the target's is the test set).
    pub test_len: usize,
    /// The source's validation steps before its tail.
    pub source_valid_len: usize,
    /// Target lengths L (steps training may use, validation included).
    pub lengths: Vec<usize>,
    /// Seeds (window order, scratch's initialisation).
    pub seeds: Vec<u64>,
    /// Methods; `scratch` is needed for the paired differences.
    pub methods: Vec<SeriesMethod>,
    /// What the forecasters learn.
    pub learn: Learn,
    /// LSTM hidden size and layers of the source (a checkpoint's shape wins).
    pub hidden: usize,
    /// Stacked LSTM layers.
    pub layers: usize,
    /// Epochs of the source (with `patience`).
    pub source_epochs: usize,
    /// Epochs of a target run (with `patience`).
    pub epochs: usize,
    /// Stop after this many epochs without a lower validation MSE.
    pub patience: usize,
    /// Windows per step.
    pub batch_size: usize,
    /// Adam's learning rate.
    pub lr: f32,
    /// `lower-rate`: the LSTM's rate is lr / this.
    pub lower_rate_factor: f32,
}

impl SeriesGridConfig {
    /// Refuses settings the grid cannot run, naming them.
    pub fn validate(&self) -> Result<()> {
        crate::config::validate::check_size("source-epochs", self.source_epochs, MAX_SIZE)?;
        self.forecast_config(self.source_valid_len, None, 1, 1).validate()?;
        let bad = |what: String| Err(Error::InvalidInput(what));
        if self.lengths.is_empty() || self.seeds.is_empty() || self.methods.is_empty() {
            return bad("the grid needs at least one target length, seed and method".into());
        }
        for &l in &self.lengths {
            crate::config::validate::check_size("lengths", l, MAX_SIZE)?;
        }
        // A repeated entry would pair several runs with one scratch run and overstate the intervals.
        fn repeated<T: PartialEq>(v: &[T]) -> bool {
            v.iter().enumerate().any(|(i, x)| v[..i].contains(x))
        }
        for (option, twice) in
            [("lengths", repeated(&self.lengths)), ("seeds", repeated(&self.seeds)), ("methods", repeated(&self.methods))]
        {
            if twice {
                return bad(format!("--{option}: an entry is repeated (each must appear once)"));
            }
        }
        if self.source_checkpoint.is_none() && self.source == self.target {
            return bad(format!(
                "the source and the target are the same series ({}): name another with --source / --source-data",
                self.target.name()
            ));
        }
        if let Some(&l) = self.lengths.iter().find(|&&l| l < 2 * self.horizon) {
            return bad(format!(
                "target length {l}: at least two horizons ({}) are needed, one to train and one to validate",
                2 * self.horizon
            ));
        }
        if self.source_checkpoint.is_some() && self.methods.iter().any(|m| m.is_joint()) {
            return bad("joint trains on the source series' windows: it needs the source series, not --source-model".into());
        }
        if !self.methods.contains(&SeriesMethod::Scratch) {
            return bad("the methods must include scratch: every other method is compared with it".into());
        }
        if !(self.lower_rate_factor.is_finite() && self.lower_rate_factor >= 1.0) {
            return bad(format!("lower-rate factor {}: expected a number ≥ 1", self.lower_rate_factor));
        }
        Ok(())
    }

    /// Refuses target lengths a target series of `steps` steps cannot give in full: each needs the
    /// tail, L steps before it and a window of history before those (no run silently trains on fewer).
    pub fn check_target(&self, steps: usize) -> Result<()> {
        for &length in &self.lengths {
            let valid_len = self.valid_len(length);
            let history = self.forecast_config(valid_len, Some(length - valid_len), 1, 1).history();
            let need = self.test_len + length + history;
            if steps < need {
                return Err(Error::InvalidInput(format!(
                    "{}: {steps} steps; target length {length} needs {need} (the {}-step tail, {length} steps before it and {history} \
                     steps of history before those)",
                    self.target.data.display(),
                    self.test_len
                )));
            }
        }
        Ok(())
    }

    /// Validation steps of a target length L: a quarter, in whole horizons, at least one.
    pub fn valid_len(&self, length: usize) -> usize {
        (length / 4 / self.horizon).max(1) * self.horizon
    }

    fn forecast_config(&self, valid_len: usize, train_len: Option<usize>, stride: usize, seed: u64) -> ForecastConfig {
        ForecastConfig {
            window: self.window,
            horizon: self.horizon,
            season: self.season,
            stride,
            test_len: self.test_len,
            valid_len,
            train_len,
            epochs: self.epochs,
            batch_size: self.batch_size,
            optim: OptimConfig::adam(self.lr, 1.0),
            patience: self.patience,
            seed,
            seasonal_residual: self.learn == Learn::SeasonalResidual,
            future_cols: self.columns.future_cols.len(),
            linear_residual: None,
            fold: self.fold,
        }
    }

    /// The grid's runs: lengths × seeds × methods.
    pub fn runs(&self) -> usize {
        self.lengths.len() * self.seeds.len() * self.methods.len()
    }
}

/// One target run.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SeriesRun {
    /// `TARGET from SOURCE`.
    pub target: String,
    /// Target steps training used (validation included).
    pub length: usize,
    /// The run's seed.
    pub seed: u64,
    /// [`SeriesMethod::name`].
    pub method: String,
    /// MAE, RMSE and MASE on the target's held-out tail (series units).
    pub mae: f64,
    /// RMSE on the tail.
    pub rmse: f64,
    /// MASE on the tail (None where undefined).
    pub mase: Option<f64>,
    /// The seasonal naive's MAE on the same tail.
    pub naive_mae: f64,
    /// The linear baseline's MAE, fitted on the same training steps (None where it cannot be fitted).
    pub linear_mae: Option<f64>,
    /// Epochs trained (0 for source-only).
    pub epochs: usize,
    /// The source's parameters were kept: no fine-tuning epoch beat them on the validation steps
    /// (always for source-only, never for scratch).
    #[serde(default)]
    pub kept_source: bool,
    /// The source's validation MSE before fine-tuning (scaled units; None for scratch and source-only).
    #[serde(default)]
    pub start_mse: Option<f64>,
    /// Validation MSE per epoch (scaled units).
    pub valid_curve: Vec<f64>,
    /// Wall-clock seconds of training and evaluation.
    pub seconds: f64,
}

/// The source model: its description and tensors.
pub struct SeriesSource {
    /// Shape, columns, scaling and settings.
    pub info: ForecasterInfo,
    /// Its parameters.
    pub tensors: TensorMap,
    /// The source series as the source model read it (scaled, with its base), for `joint` (None for
    /// a checkpoint).
    pub series: Option<ExtraSeries>,
}

/// Where the grid writes the source it trains.
pub fn source_path(out: &Path) -> PathBuf {
    out.join("source.safetensors")
}

/// Trains the source on its series' training part (or reads `source_checkpoint`), checked against
/// the grid's columns, horizon and what it learns.
pub fn source_model(
    ctx: &GpuContext,
    cfg: &SeriesGridConfig,
    target: &Series,
    out: &Path,
    log: &mut dyn FnMut(&str),
) -> Result<SeriesSource> {
    if let Some(path) = &cfg.source_checkpoint {
        let (info, tensors) = load_forecaster(path)?;
        if info.members > 1 {
            return Err(Error::File { path: path.clone(), message: ensemble_as_source(info.members) });
        }
        let learns = match (info.forecast.seasonal_residual, info.forecast.linear_residual.is_some()) {
            (true, _) => Learn::SeasonalResidual,
            (_, true) => Learn::LinearResidual,
            _ => Learn::Values,
        };
        let columns = |s: &SeriesSpec| (s.input_cols.clone(), s.future_cols.clone());
        // A residual to the seasonal naive means the same thing only with the same season.
        let season = |learn: Learn, season: usize| (learn == Learn::SeasonalResidual).then_some(season);
        if info.config.horizon != cfg.horizon
            || columns(&info.spec) != columns(&cfg.columns)
            || learns != cfg.learn.of_source()
            || season(learns, info.forecast.season) != season(cfg.learn, cfg.season)
            || info.forecast.fold != cfg.fold
            || info.scaler.scaling != cfg.scaling
        {
            return Err(Error::File {
                path: path.clone(),
                message: format!(
                    "a source forecasting {} steps from inputs {:?} / known in advance {:?}, learning {learns:?} (season {}, fold {}, \
                     {} scaling); the grid needs {} steps from {:?} / {:?}, learning {:?} (season {}, fold {}, {} scaling)",
                    info.config.horizon,
                    info.spec.input_cols,
                    info.spec.future_cols,
                    info.forecast.season,
                    info.forecast.fold,
                    info.scaler.scaling.name(),
                    cfg.horizon,
                    cfg.columns.input_cols,
                    cfg.columns.future_cols,
                    cfg.learn,
                    cfg.season,
                    cfg.fold,
                    cfg.scaling.name()
                ),
            });
        }
        log(&format!("source: {} ({} hidden, {} layers)", path.display(), info.config.hidden, info.config.layers));
        return Ok(SeriesSource { info, tensors, series: None });
    }
    let series = cfg.source.read(&cfg.columns)?;
    let n = series.len();
    let held_out = cfg.test_len + cfg.source_valid_len;
    let seed = cfg.seeds[0];
    let mut fc = ForecastConfig {
        epochs: cfg.source_epochs,
        ..cfg.forecast_config(cfg.source_valid_len, None, default_stride(n, held_out, None, cfg.window, cfg.horizon), seed)
    };
    let in_source = |e: Error| Error::File { path: cfg.source.data.clone(), message: format!("source series {}: {e}", cfg.source.name()) };
    let (train_end, test_start) = boundaries(n, &fc).map_err(in_source)?;
    // What the source sees (training and validation steps) must end before the target's tail.
    let target_tail = target.len().saturating_sub(cfg.test_len);
    if let (Some(seen), Some(tail)) = (series.seconds_at(test_start - 1), target.seconds_at(target_tail))
        && seen >= tail
    {
        return Err(in_source(Error::InvalidInput(format!(
            "its training and validation steps reach {}, past the start of the target's held-out tail ({}): the source would \
             have seen the test period; give it a longer --source-valid-len or an earlier stretch",
            series.times[test_start - 1],
            target.times[target_tail]
        ))));
    }
    let scaler = Scaler::fit_as(&series, 0, train_end, cfg.scaling);
    set_linear_base(&mut fc, &series, &scaler, cfg.learn.of_source()).map_err(in_source)?;
    let shape =
        ForecasterConfig { inputs: fc.lstm_inputs(series.columns.len()), hidden: cfg.hidden, layers: cfg.layers, horizon: cfg.horizon };
    let mut model = Forecaster::new(ctx, shape, fc.batch_size, fc.lstm_steps(), seed)?;
    let start = Instant::now();
    let scaled = scaler.scale(&series);
    let logs = timeseries::fit(ctx, &mut model, &scaled, &fc, &mut ())?;
    let (_, m) = timeseries::evaluate(ctx, std::slice::from_mut(&mut model), &series, &scaler, &fc)?;
    log(&format!(
        "source {}: {} epochs in {:.0} s; its own tail: MAE {:.3} (seasonal naive {:.3}, linear {})",
        cfg.source.name(),
        logs.len(),
        start.elapsed().as_secs_f64(),
        m.mae,
        m.naive_mae,
        m.linear_mae.map_or("n/a".into(), |v| format!("{v:.3}"))
    ));
    let spec = SeriesSpec { series: cfg.source.series.clone(), ..cfg.columns.clone() };
    let info = ForecasterInfo { config: shape, spec, scaler, forecast: fc, members: 1 };
    let path = source_path(out);
    save_forecaster(&path, ctx, std::slice::from_ref(&model), &info)?;
    log(&format!("wrote {}", path.display()));
    let series = ExtraSeries { name: cfg.source.name(), scaled, cfg: info.forecast.clone() };
    Ok(SeriesSource { info, tensors: model.store.download_map(ctx)?, series: Some(series) })
}

/// With [`Learn::LinearResidual`], fits the base on the series' training part (scaled units).
fn set_linear_base(fc: &mut ForecastConfig, series: &Series, scaler: &Scaler, learn: Learn) -> Result<()> {
    if learn == Learn::LinearResidual {
        fc.linear_residual = Some(LinearBaseline::fit_scaled(series, scaler, fc)?);
    }
    Ok(())
}

/// Runs the grid (lengths × seeds × methods) on the target; `progress` gets the runs so far after
/// each run (to save them), `log` a line per run.
pub fn run_series_grid(
    ctx: &GpuContext,
    cfg: &SeriesGridConfig,
    out: &Path,
    progress: &mut dyn FnMut(&[SeriesRun]) -> Result<()>,
    log: &mut dyn FnMut(&str),
) -> Result<Vec<SeriesRun>> {
    cfg.validate()?;
    let series = cfg.target.read(&cfg.columns)?;
    cfg.check_target(series.len())?;
    create_dir(out)?;
    write_atomic(&out.join("config.json"), serde_json::to_string_pretty(cfg).expect("config serializes").as_bytes())?;
    let source = source_model(ctx, cfg, &series, out, log)?;
    if series.columns.len() != source.info.columns() {
        return Err(Error::InvalidInput(format!(
            "{}: {} columns, the source reads {}",
            cfg.target.data.display(),
            series.columns.len(),
            source.info.columns()
        )));
    }
    let name = format!("{} from {}", cfg.target.name(), cfg.source.name());
    let mut runs = Vec::new();
    for &length in &cfg.lengths {
        // The split, scaling, residual base and linear baseline of a length do not depend on the seed.
        let valid_len = cfg.valid_len(length);
        let mut base = cfg.forecast_config(valid_len, Some(length - valid_len), 1, 0);
        let (train_end, _) = boundaries(series.len(), &base)?;
        let scaler = Scaler::fit_as(&series, train_end - (length - valid_len), train_end, cfg.scaling);
        if cfg.learn == Learn::SourceLinearResidual {
            base.linear_residual = Some(source.info.forecast.linear_residual.clone().ok_or_else(|| {
                Error::InvalidInput(format!(
                    "--learn source-linear-residual: the model of the source series {} learned no linear residual",
                    cfg.source.name()
                ))
            })?);
        } else {
            set_linear_base(&mut base, &series, &scaler, cfg.learn)?;
        }
        if train_end - (length - valid_len) < base.history() {
            return Err(Error::InvalidInput(format!(
                "{}: target length {length} needs {} steps of history before its first step (the linear base's); {} precede it",
                cfg.target.data.display(),
                base.history(),
                train_end - (length - valid_len)
            )));
        }
        let scaled = scaler.scale(&series);
        let linear = LinearBaseline::fit(&series, &base);
        for &seed in &cfg.seeds {
            let fc = ForecastConfig { seed, ..base.clone() };
            for &method in &cfg.methods {
                let start = Instant::now();
                let mut model = Forecaster::new(ctx, source.info.config, fc.batch_size, fc.lstm_steps(), seed)?;
                prepare(ctx, &mut model, &source.tensors, method, cfg.lower_rate_factor)?;
                let (logs, start_mse, kept_source) = match method {
                    SeriesMethod::SourceOnly => (Vec::new(), None, true),
                    SeriesMethod::Scratch => (timeseries::fit(ctx, &mut model, &scaled, &fc, &mut ())?, None, false),
                    SeriesMethod::Joint | SeriesMethod::JointBalanced => {
                        let Some(extra) = &source.series else {
                            return Err(Error::InvalidInput("joint needs the source series, not --source-model".into()));
                        };
                        let extra = std::slice::from_ref(extra);
                        let balance = method == SeriesMethod::JointBalanced;
                        (timeseries::fit_with(ctx, &mut model, &scaled, extra, balance, &fc, &mut ())?, None, false)
                    }
                    _ => {
                        let start = StartPoint::measure(ctx, &mut model, &scaled, &fc)?;
                        let start_mse = start.as_ref().map(|s| s.mse);
                        let logs = timeseries::fit(ctx, &mut model, &scaled, &fc, &mut ())?;
                        let kept = match start {
                            Some(start) => start.keep_if_better(ctx, &model, &logs)?,
                            None => false,
                        };
                        (logs, start_mse, kept)
                    }
                };
                let (_, m) = timeseries::evaluate_against(ctx, std::slice::from_mut(&mut model), &series, &scaler, &fc, &linear)?;
                let run = SeriesRun {
                    target: name.clone(),
                    length,
                    seed,
                    method: method.name().into(),
                    mae: m.mae,
                    rmse: m.rmse,
                    mase: m.mase,
                    naive_mae: m.naive_mae,
                    linear_mae: m.linear_mae,
                    epochs: logs.len(),
                    kept_source,
                    start_mse,
                    valid_curve: logs.iter().map(|l| l.valid_mse).collect(),
                    seconds: start.elapsed().as_secs_f64(),
                };
                log(&format!(
                    "L={length:<5} seed {seed:<3} {:<12} MAE {:>8.3}  (naive {:.3}, linear {}; {} epochs{}, {:.0} s)",
                    run.method,
                    run.mae,
                    run.naive_mae,
                    run.linear_mae.map_or("n/a".into(), |v| format!("{v:.3}")),
                    run.epochs,
                    if run.kept_source && method != SeriesMethod::SourceOnly { ", source kept" } else { "" },
                    run.seconds
                ));
                runs.push(run);
                progress(&runs)?;
            }
        }
    }
    Ok(runs)
}

/// Sets a fresh model up for `method`: the source's parameters for every method but scratch and joint, the
/// LSTM frozen or at a lower rate.
fn prepare(ctx: &GpuContext, model: &mut Forecaster, source: &TensorMap, method: SeriesMethod, factor: f32) -> Result<()> {
    if method == SeriesMethod::Scratch || method.is_joint() {
        return Ok(());
    }
    model.load_params(ctx, source)?;
    let lstm: Vec<String> = model.store.entries().iter().map(|e| e.name.clone()).filter(|n| n.starts_with("lstm.")).collect();
    if lstm.is_empty() {
        return Err(Error::InvalidInput(format!("{}: the forecaster has no lstm.* tensors to freeze or slow down", method.name())));
    }
    for name in &lstm {
        match method {
            SeriesMethod::FrozenLstm => model.store.set_frozen(name, true)?,
            SeriesMethod::LowerRate => model.store.set_lr_scale(name, 1.0 / factor)?,
            _ => {}
        }
    }
    Ok(())
}
