//! `forecast`: train an LSTM forecaster on a series from a CSV (or fine-tune one trained on another
//! series, `--from`), then score rolling forecasts over the held-out tail against the seasonal-naive
//! forecast and a lasso-estimated linear autoregression, plot them and save the model.
//!
//! Files for `--out DIR/NAME.safetensors`: the model, `NAME.forecast.svg` (actual, forecast and the
//! two baselines over the tail, after some history), `NAME.metrics.json` and, with `--predict`,
//! `NAME.predict.csv`.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::Args;
use indicatif::ProgressBar;
use lstm_transfer::core::fit::{FitObserver, FitState, StepProgress};
use lstm_transfer::fsutil::write_atomic;
use lstm_transfer::plot::{Panel, Series as PlotSeries, XAxis, write_line_chart};
use lstm_transfer::tasks::forecast::{
    self as timeseries, ExtraSeries, ForecastConfig, ForecastEpoch, ForecastPoint, ForecastRun, Forecaster, ForecasterConfig,
    ForecasterInfo, Scaler, Series, SeriesSpec, StartPoint, boundaries, read_series,
};

use lstm_transfer::config::validate::check_size;
use lstm_transfer::tasks::forecast::checkpoint::{MAX_MEMBERS, ensemble_as_source};
use lstm_transfer::tasks::forecast::data::FillGaps;
use lstm_transfer::tasks::forecast::evaluate::{MAX_STEPS_AHEAD, forecast_ahead};
use lstm_transfer::tasks::forecast::linear::LinearBaseline;

use super::series_args::{SeriesColumnsArgs, WindowArgs};
use super::{GpuArgs, IoArgs, OptimArgs, OutputFormat, epoch_bar, lr_find_outputs, outputs_of, report_lr_find, sibling, verbose_step};
use lstm_transfer::core::lr_find::LrFindConfig;
use lstm_transfer::tasks::forecast::train::{default_stride, lr_find_forecaster};

#[derive(Args)]
pub struct ForecastArgs {
    /// CSV with a header: a timestamp column and value columns.
    #[arg(long)]
    pub data: PathBuf,
    #[command(flatten)]
    pub columns: SeriesColumnsArgs,
    /// …and the series to use (of the file's --series-col).
    #[arg(long)]
    pub series: Option<String>,
    /// Also forecast the next N steps past the end of the data, to NAME.predict.csv (timestamp,
    /// forecast). Up to --horizon steps; more for a series without covariates (forecasts fed back).
    #[arg(long)]
    pub predict: Option<usize>,
    #[command(flatten)]
    pub shape: WindowArgs,
    /// Steps between training windows [default: as many steps as leave at least 512 windows, from 1
    /// (a short monthly series: every window counts) up to the horizon (a long hourly one)].
    #[arg(long)]
    pub stride: Option<usize>,
    /// Held-out tail length [default: 10% of the series].
    #[arg(long)]
    pub test_len: Option<usize>,
    /// Validation length before the tail [default: 10% of the series].
    #[arg(long)]
    pub valid_len: Option<usize>,
    /// Train on only the last N steps before validation (little data).
    #[arg(long)]
    pub train_len: Option<usize>,
    /// Learn the values themselves (off), their difference to the seasonal-naive forecast (on: an
    /// all-zero output is that baseline), or train both and keep the one with the lower validation
    /// MSE (auto; --lr-find tests the plain values). `--seasonal-residual` alone means on.
    #[arg(long, value_enum, default_value_t, num_args = 0..=1, default_missing_value = "on")]
    pub seasonal_residual: Residual,
    /// Learn the difference to the linear (lasso) baseline's forecast instead (an all-zero output is
    /// that baseline, fitted on the training part without the weekday dummies).
    #[arg(long, conflicts_with = "seasonal_residual")]
    pub linear_residual: bool,
    /// Start from a forecaster trained on another series (same inputs and horizon), then fine-tune.
    #[arg(long)]
    pub from: Option<PathBuf>,
    /// Also train on the windows of these other series of the file (comma-separated values of
    /// --series-col; a model of several series at once). Each is scaled with statistics of its own
    /// training part and, with --linear-residual, learns the residual to its own linear base;
    /// validation, early stopping and the scores stay --series'. An extra series trains on its whole
    /// training part (--train-len limits --series only), which must end before --series' held-out
    /// tail begins.
    #[arg(long, value_delimiter = ',')]
    pub with_series: Vec<String>,
    #[arg(long, default_value_t = 64)]
    pub hidden: usize,
    #[arg(long, default_value_t = 1)]
    pub layers: usize,
    #[arg(long, default_value_t = 30)]
    pub epochs: usize,
    #[arg(long, default_value_t = 32)]
    pub batch_size: usize,
    #[command(flatten)]
    pub optim: OptimArgs,
    /// Stop after this many epochs without a lower validation MSE.
    #[arg(long, default_value_t = 5)]
    pub patience: usize,
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Train N forecasters, from seeds --seed, --seed + 1, …, and forecast their mean output (a
    /// seed ensemble; the checkpoint holds every member).
    #[arg(long, default_value_t = 1)]
    pub ensemble: usize,
    #[arg(long, default_value = "runs/forecaster.safetensors")]
    pub out: PathBuf,
    /// Result format (json: the metrics on stdout).
    #[arg(long, value_enum, default_value_t)]
    pub format: OutputFormat,
}

/// One trained forecaster: its epochs, best validation MSE (scaled) and whether it is --from's
/// model kept unchanged.
struct Trained {
    model: Forecaster,
    logs: Vec<ForecastEpoch>,
    valid_mse: f64,
    kept_from: bool,
}

/// Whether the forecaster learns the residual to the seasonal naive.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Residual {
    /// Train both ways, keep the one with the lower validation MSE.
    #[default]
    Auto,
    /// The residual to the seasonal-naive forecast.
    On,
    /// The values themselves.
    Off,
}

impl ForecastArgs {
    fn spec(&self) -> SeriesSpec {
        self.columns.spec(self.series.clone())
    }

    /// The run's settings for a series of `n` steps (checked).
    fn config(&self, n: usize) -> Result<ForecastConfig> {
        let (test_len, valid_len) = (self.test_len.unwrap_or(n / 10), self.valid_len.unwrap_or(n / 10));
        let cfg = ForecastConfig {
            window: self.shape.window,
            horizon: self.shape.horizon,
            season: self.shape.season,
            stride: self
                .stride
                .unwrap_or_else(|| default_stride(n, test_len + valid_len, self.train_len, self.shape.window, self.shape.horizon)),
            test_len,
            valid_len,
            train_len: self.train_len,
            epochs: self.epochs,
            batch_size: self.batch_size,
            optim: self.optim.config(3e-3, 1.0)?,
            patience: self.patience,
            seed: self.seed,
            seasonal_residual: self.seasonal_residual == Residual::On,
            future_cols: self.columns.future_cols.len(),
            linear_residual: None,
            fold: self.shape.fold,
        };
        cfg.validate()?;
        Ok(cfg)
    }
}

/// The model's shape: the source's (which must read the same columns and horizon), or the options'.
fn model_config(a: &ForecastArgs, series: &Series, cfg: &ForecastConfig, source: Option<&ForecasterInfo>) -> Result<ForecasterConfig> {
    let Some(info) = source else {
        let inputs = cfg.lstm_inputs(series.columns.len());
        return Ok(ForecasterConfig { inputs, hidden: a.hidden, layers: a.layers, horizon: a.shape.horizon });
    };
    if info.columns() != series.columns.len()
        || info.config.horizon != a.shape.horizon
        || info.forecast.future_cols != cfg.future_cols
        || info.forecast.fold != cfg.fold
    {
        bail!(
            "{} reads {} series ({} known in advance, --fold {}) and forecasts {} steps; this run has {} series ({}; {} known in \
               advance, --fold {}) and --horizon {}",
            a.from.as_ref().expect("source given").display(),
            info.columns(),
            info.forecast.future_cols,
            info.forecast.fold,
            info.config.horizon,
            series.columns.len(),
            series.columns.join(", "),
            cfg.future_cols,
            cfg.fold,
            a.shape.horizon
        );
    }
    Ok(info.config)
}

pub fn run(gpu: &GpuArgs, io: &IoArgs, a: &ForecastArgs) -> Result<()> {
    let mut outputs = if a.optim.lr_find { lr_find_outputs(&a.out) } else { outputs_of(&a.out, &[".forecast.svg", ".metrics.json"]) };
    if let Some(steps) = a.predict {
        // Refused here too, before any training, rather than after it.
        lstm_transfer::config::validate::check_size("predict", steps, MAX_STEPS_AHEAD)?;
        if !a.columns.future_cols.is_empty() {
            bail!("--predict needs the covariates known in advance past the end of the data (--future-col): this file does not have them");
        }
        if steps > a.shape.horizon && !a.columns.input_cols.is_empty() {
            bail!("--predict {steps} exceeds --horizon {}: only a series without --input-col can feed its forecasts back", a.shape.horizon);
        }
        outputs.push(sibling(&a.out, ".predict.csv"));
    }
    let _lock = io.guard(&a.out, &outputs, &[Some(&a.data), a.from.as_deref()], false)?;
    let spec = a.spec();
    let series = read_series(&a.data, &spec)?;
    let n = series.len();
    if series.filled > 0 {
        a.format.say(format!(
            "{}: filled {} missing steps in gaps ({:?})",
            a.data.display(),
            series.filled,
            a.columns.fill_gaps.unwrap_or(FillGaps::Linear)
        ));
    }
    let source = a.from.as_ref().map(|p| timeseries::load_forecaster(p).with_context(|| format!("loading {}", p.display()))).transpose()?;
    let mut cfg = a.config(n)?;
    check_size("ensemble", a.ensemble, MAX_MEMBERS)?;
    if a.ensemble > 1 && (a.from.is_some() || a.optim.lr_find) {
        // From one starting model the members would differ only in their window order, and those
        // that no epoch improves would be that model itself.
        bail!("--ensemble trains fresh models from different seeds: it cannot be combined with --from or --lr-find");
    }
    if let (Some(from), Some((info, _))) = (&a.from, &source) {
        if info.members > 1 {
            bail!("{}: {}", from.display(), ensemble_as_source(info.members));
        }
        // The source learnt residuals (or values): fine-tuning must read its output the same way
        // (`auto` follows the source).
        let learnt_linear = info.forecast.linear_residual.is_some();
        if a.linear_residual != learnt_linear {
            bail!(
                "{} {}: fine-tune it {} --linear-residual",
                from.display(),
                if learnt_linear {
                    "learnt the residual to the linear baseline"
                } else {
                    "did not learn the residual to the linear baseline"
                },
                if learnt_linear { "with" } else { "without" }
            );
        }
        if a.seasonal_residual == Residual::On && !info.forecast.seasonal_residual {
            bail!("{} forecasts the values themselves: it cannot fine-tune with --seasonal-residual", from.display());
        }
        if a.seasonal_residual == Residual::Off && info.forecast.seasonal_residual {
            bail!("{} learnt the residual to the seasonal naive: it cannot fine-tune with --seasonal-residual off", from.display());
        }
        if info.forecast.seasonal_residual && info.forecast.season != cfg.season {
            bail!(
                "{} learnt the residual to the {}-step seasonal naive: give --season {}",
                from.display(),
                info.forecast.season,
                info.forecast.season
            );
        }
        if info.scaler.scaling != a.shape.scaling {
            bail!("{} reads values scaled with --scaling {}: fine-tune it with the same", from.display(), info.scaler.scaling.name());
        }
        cfg.seasonal_residual = info.forecast.seasonal_residual;
    }
    let (train_end, test_start) = boundaries(n, &cfg)?;
    let train_start = cfg.train_len.map_or(0, |l| train_end.saturating_sub(l));
    // Scaling statistics from the steps the model trains on.
    let scaler = Scaler::fit_as(&series, train_start, train_end, a.shape.scaling);
    if a.linear_residual {
        // Fitted on this series' training part (also after --from: a linear model is the series' own).
        let base = LinearBaseline::fit_scaled(&series, &scaler, &cfg).context("the linear baseline to learn the residual to")?;
        cfg.linear_residual = Some(base);
        boundaries(n, &cfg)?;
    }
    let extras = a.with_series.iter().map(|name| extra_series(a, name, &series, test_start)).collect::<Result<Vec<_>>>()?;
    let model_cfg = model_config(a, &series, &cfg, source.as_ref().map(|(info, _)| info))?;
    let say = |line: String| a.format.say(line);
    let ctx = gpu.context()?;
    say(format!("adapter: {}", ctx.adapter_line()));
    say(format!(
        "series: {} ({}), {} steps {} … {}; train {}..{}, valid {}..{}, test {}..{}; {} training windows",
        a.data.display(),
        series.columns.join(", "),
        n,
        series.times[0],
        series.times[n - 1],
        train_start,
        train_end,
        train_end,
        test_start,
        test_start,
        n,
        timeseries::train_origins(n, &cfg)?.len()
    ));
    if let Some((info, _)) = &source {
        say(format!(
            "starting from {} (trained on {}{})",
            a.from.as_ref().expect("source given").display(),
            info.spec.target_col,
            info.spec.series.as_ref().map(|s| format!(" of series {s}")).unwrap_or_default()
        ));
    }
    let scaled = scaler.scale(&series);
    // A model seeded (its parameters and window order) from `fc.seed`, started from --from's.
    let new_model = |fc: &ForecastConfig| -> Result<Forecaster> {
        let model = Forecaster::new(&ctx, model_cfg, fc.batch_size, fc.lstm_steps(), fc.seed)?;
        if let Some((_, tensors)) = &source {
            model.load_params(&ctx, tensors)?;
        }
        Ok(model)
    };
    if a.optim.lr_find {
        if !extras.is_empty() {
            bail!("--lr-find tests the rate on --series alone: leave out --with-series");
        }
        let found = lr_find_forecaster(&ctx, &mut new_model(&cfg)?, &scaled, &cfg, LrFindConfig::default())?;
        return report_lr_find(a.format, &a.out, &found);
    }
    let train = |fc: &ForecastConfig| -> Result<Trained> {
        let mut model = new_model(fc)?;
        // A model from --from counts as epoch 0 of early stopping.
        let start_point = if source.is_some() { StartPoint::measure(&ctx, &mut model, &scaled, fc)? } else { None };
        let mut observer = ForecastObserver { format: a.format, epochs: fc.epochs, bar: None };
        let logs = timeseries::fit_with(&ctx, &mut model, &scaled, &extras, false, fc, &mut observer)?;
        if let Some(bar) = observer.bar.take() {
            bar.finish_and_clear();
        }
        let mut trained =
            Trained { valid_mse: logs.iter().map(|l| l.valid_mse).fold(f64::INFINITY, f64::min), model, logs, kept_from: false };
        if let Some(start) = start_point {
            let mse = start.mse;
            if start.keep_if_better(&ctx, &trained.model, &trained.logs)? {
                say(format!("kept the model as --from gave it: no epoch beat its validation MSE {mse:.4} (scaled)"));
                (trained.valid_mse, trained.kept_from) = (mse, true);
            }
        }
        Ok(trained)
    };
    // --seasonal-residual auto (without --from) trains both ways; the residual needs a season of history.
    let mut candidates = vec![cfg.clone()];
    if a.seasonal_residual == Residual::Auto && source.is_none() && !a.linear_residual {
        let residual = ForecastConfig { seasonal_residual: true, ..cfg.clone() };
        if boundaries(n, &residual).is_ok() {
            candidates.push(residual);
        }
    }
    let start = std::time::Instant::now();
    let mut best: Option<(Trained, ForecastConfig)> = None;
    for candidate in candidates.iter() {
        let trained = train(candidate)?;
        if candidates.len() > 1 {
            let what = if candidate.seasonal_residual { "residual to the seasonal naive" } else { "values" };
            say(format!("learning the {what}: best validation MSE {:.4} (scaled)", trained.valid_mse));
        }
        if best.as_ref().is_none_or(|(b, _)| trained.valid_mse < b.valid_mse) {
            best = Some((trained, candidate.clone()));
        }
    }
    let (first, cfg) = best.expect("at least one candidate");
    if candidates.len() > 1 {
        let kept = if cfg.seasonal_residual { "--seasonal-residual on" } else { "--seasonal-residual off" };
        say(format!("kept {kept} (lower validation MSE)"));
    }
    // The further members of an --ensemble: the same setting from the next seeds.
    let mut members = vec![first];
    for k in 1..a.ensemble {
        members.push(train(&ForecastConfig { seed: cfg.seed.wrapping_add(k as u64), ..cfg.clone() })?);
        say(format!("ensemble member {} of {}: best validation MSE {:.4} (scaled)", k + 1, a.ensemble, members[k].valid_mse));
    }
    let seconds = start.elapsed().as_secs_f64();
    let summaries: Vec<serde_json::Value> = members
        .iter()
        .enumerate()
        .map(|(k, m)| serde_json::json!({"seed": cfg.seed.wrapping_add(k as u64), "epochs": m.logs.len(), "valid_mse": m.valid_mse, "kept_from": m.kept_from}))
        .collect();
    let (logs, kept_from) = (members[0].logs.clone(), members[0].kept_from);
    let mut models: Vec<Forecaster> = members.into_iter().map(|m| m.model).collect();
    let linear = LinearBaseline::fit(&series, &cfg);
    let (points, m) = timeseries::evaluate_against(&ctx, &mut models, &series, &scaler, &cfg, &linear)?;
    // Each member alone on the same tail, beside the ensemble.
    let mut member_mae = Vec::new();
    if models.len() > 1 {
        for model in models.iter_mut() {
            member_mae.push(timeseries::evaluate_against(&ctx, std::slice::from_mut(model), &series, &scaler, &cfg, &linear)?.1.mae);
        }
    }
    let info = ForecasterInfo { config: model_cfg, spec, scaler, forecast: cfg.clone(), members: models.len() };
    timeseries::save_forecaster(&a.out, &ctx, &models, &info)?;
    if let Some(steps) = a.predict {
        let values = forecast_ahead(&ctx, &mut models, &series, &info.scaler, &cfg, steps)?;
        let path = write_predictions(a, &series, &values)?;
        a.format.say(format!("forecast of the next {steps} steps: {}", path.display()));
    }
    // As much history as the tail is long (at least a window), so the forecast is seen in context.
    let history = cfg.window.max(n - test_start).min(test_start);
    write_forecast_chart(&sibling(&a.out, ".forecast.svg"), &a.columns.target_col, &series, &points, test_start, history)?;
    let json = serde_json::json!({
        "data": a.data.display().to_string(), "series": a.series, "target": a.columns.target_col, "adapter": ctx.adapter_line(),
        "window": cfg.window, "horizon": cfg.horizon, "season": cfg.season, "train_steps": train_end - train_start,
        "seasonal_residual": cfg.seasonal_residual, "config": cfg, "epochs": logs.len(), "seconds": seconds, "from": a.from.as_ref().map(|p| p.display().to_string()), "kept_from": kept_from, "metrics": m,
        "members": summaries, "member_mae": member_mae, "with_series": a.with_series,
    });
    write_atomic(&sibling(&a.out, ".metrics.json"), serde_json::to_string_pretty(&json)?.as_bytes())?;
    if a.format == OutputFormat::Json {
        println!("{}", serde_json::to_string_pretty(&json)?);
    } else {
        println!("held-out tail: {} points, {}-step rolling forecasts ({} epochs, {seconds:.0} s)", m.points, cfg.horizon, logs.len());
        println!("                     MAE        RMSE       MASE");
        let mase = |v: Option<f64>| v.map_or_else(|| format!("{:>10}", "n/a"), |v| format!("{v:>10.3}"));
        println!("LSTM            {:>9.3} {:>11.3} {}", m.mae, m.rmse, mase(m.mase));
        if !member_mae.is_empty() {
            let each: Vec<String> = member_mae.iter().map(|v| format!("{v:.3}")).collect();
            println!("  (the mean of {} members; each alone: MAE {})", member_mae.len(), each.join(" / "));
        }
        println!("seasonal naive  {:>9.3} {:>11.3} {}   (season {})", m.naive_mae, m.naive_rmse, mase(m.naive_mase), cfg.season);
        match (m.linear_mae, m.linear_rmse, &m.linear) {
            (Some(mae), Some(rmse), Some(l)) => println!(
                "linear (lasso)  {mae:>9.3} {rmse:>11.3} {}   ({} blocks of {} steps back, {} features, {:.0} kept on average, {} samples)",
                mase(m.linear_mase),
                l.blocks.len(),
                cfg.horizon,
                l.features,
                l.mean_nonzero,
                l.samples
            ),
            _ => println!("linear (lasso)  not fitted: {}", m.linear_skipped.as_deref().unwrap_or("no forecast for the whole tail")),
        }
        if m.mase.is_none() {
            println!("MASE is undefined: the training part repeats every {} steps exactly (the in-sample naive error is 0)", cfg.season);
        }
        println!("wrote {} (+ .forecast.svg, .metrics.json)", a.out.display());
    }
    Ok(())
}

/// Reads the extra series `name` of --data (its whole training part: --train-len limits the series
/// forecast only), checks that its training part ends before the held-out tail of `main` (which
/// starts at `test_start`), and scales it with its own statistics (with its own linear base).
fn extra_series(a: &ForecastArgs, name: &str, main: &Series, test_start: usize) -> Result<ExtraSeries> {
    if a.columns.series_col.is_none() || a.series.is_none() {
        bail!("--with-series names other series of the file: give --series-col and the --series to forecast");
    }
    if a.series.as_deref() == Some(name) || a.with_series.iter().filter(|s| *s == name).count() > 1 {
        bail!("--with-series {name}: each extra series once, and not the --series forecast");
    }
    let series = read_series(&a.data, &a.columns.spec(Some(name.to_string())))
        .with_context(|| format!("--with-series {name} in {}", a.data.display()))?;
    let n = series.len();
    let mut cfg = ForecastConfig { train_len: None, ..a.config(n)? };
    if a.stride.is_none() {
        cfg.stride = default_stride(n, cfg.test_len + cfg.valid_len, None, cfg.window, cfg.horizon);
    }
    let (train_end, _) = boundaries(n, &cfg).with_context(|| format!("--with-series {name}"))?;
    if let (Some(seen), Some(tail)) = (series.seconds_at(train_end - 1), main.seconds_at(test_start))
        && seen >= tail
    {
        bail!(
            "--with-series {name}: its training part reaches {}, past the start of the held-out tail ({}); give a longer \
             --test-len or --valid-len",
            series.times[train_end - 1],
            main.times[test_start]
        );
    }
    ExtraSeries::new(name, &series, cfg, a.shape.scaling, a.linear_residual).with_context(|| format!("--with-series {name}"))
}

/// `NAME.forecast.svg`: the actual series from `history` steps before the held-out tail (which
/// starts at `test_start`), the LSTM's, the seasonal naive and the linear baseline's forecasts on the
/// tail, with the series' timestamps on the x axis.
fn write_forecast_chart(
    path: &Path,
    target: &str,
    series: &Series,
    points: &[ForecastPoint],
    test_start: usize,
    history: usize,
) -> Result<()> {
    let y = &series.values[0];
    let actual = (test_start - history..y.len()).map(|t| (t as f64, y[t])).collect();
    let on_tail = |f: fn(&ForecastPoint) -> f64| points.iter().map(|p| (p.step as f64, f(p))).collect();
    let panel = Panel::new(
        format!("{target}: held-out tail after {history} steps of history"),
        "time",
        target,
        vec![
            PlotSeries::new("actual", actual),
            PlotSeries::new("LSTM forecast", on_tail(|p| p.forecast)),
            PlotSeries::new("seasonal naive", on_tail(|p| p.naive)),
        ]
        .into_iter()
        .chain(
            points
                .iter()
                .all(|p| p.linear.is_some())
                .then(|| PlotSeries::new("linear (lasso)", points.iter().map(|p| (p.step as f64, p.linear.expect("checked"))).collect())),
        )
        .collect(),
    )
    .with_x_axis(XAxis::Labels(series.times.clone()));
    Ok(write_line_chart(path, "forecast vs actual", &[panel])?)
}

/// `NAME.predict.csv`: the forecasts past the end of the data, each with its timestamp.
fn write_predictions(a: &ForecastArgs, series: &Series, values: &[f64]) -> Result<PathBuf> {
    let last = series.times.last().expect("a series has steps");
    let clock = series.clock();
    let mut csv = format!("{},{}_forecast\n", a.columns.time_col, a.columns.target_col);
    for (k, v) in values.iter().enumerate() {
        let time = clock.and_then(|c| c.after(last, k + 1)).unwrap_or_else(|| format!("{last}+{}", k + 1));
        csv += &format!("{time},{v}\n");
    }
    let path = sibling(&a.out, ".predict.csv");
    write_atomic(&path, csv.as_bytes())?;
    Ok(path)
}

/// A progress bar over each epoch's steps and a line per epoch.
struct ForecastObserver {
    format: OutputFormat,
    epochs: usize,
    bar: Option<ProgressBar>,
}

impl<'r> FitObserver<ForecastRun<'r>> for ForecastObserver {
    fn step(&mut self, p: &StepProgress) {
        verbose_step(self.format, p, self.epochs, &format!("train MSE {:.4}", p.sums.mean_loss()));
        let bar = self.bar.get_or_insert_with(|| epoch_bar(p.epoch, self.epochs));
        bar.set_length(p.steps as u64);
        bar.set_position(p.step as u64);
    }

    fn epoch_end(&mut self, _: &ForecastRun<'r>, state: &FitState<ForecastEpoch>, _: bool) -> lstm_transfer::Result<()> {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
        let e = state.logs.last().expect("an epoch just ended");
        progress!(self.format, "epoch {:>3}  train MSE {:.4}  valid MSE {:.4} (scaled)", e.epoch, e.train_mse, e.valid_mse);
        Ok(())
    }
}
