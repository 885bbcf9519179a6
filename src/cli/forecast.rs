//! `forecast`: train an LSTM forecaster on a series from a CSV (or fine-tune one trained on another
//! series, `--from`), then score rolling forecasts over the held-out tail against the seasonal-naive
//! forecast, plot them and save the model.
//!
//! Files for `--out DIR/NAME.safetensors`: the model, `NAME.forecast.svg` (actual, forecast and
//! seasonal naive over the tail) and `NAME.metrics.json`.

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use lstm_transfer::fsutil::write_atomic;
use lstm_transfer::kernels::optimizer::AdamConfig;
use lstm_transfer::model::{Forecaster, ForecasterConfig};
use lstm_transfer::plot::{write_line_chart, Panel, Series as PlotSeries};
use lstm_transfer::timeseries::{self, boundaries, FitProgress, read_series, ForecastConfig, ForecastPoint, ForecasterInfo, Scaler, SeriesSpec};

use super::{sibling, GpuArgs};

#[derive(Args)]
pub struct ForecastArgs {
    /// CSV with a header: a timestamp column and value columns.
    #[arg(long)]
    pub data: PathBuf,
    #[arg(long, default_value = "ds")]
    pub time_col: String,
    /// The series to forecast.
    #[arg(long, default_value = "y")]
    pub target_col: String,
    /// Further input series (covariates), repeatable.
    #[arg(long = "input-col")]
    pub input_cols: Vec<String>,
    /// Covariates known --horizon steps in advance (e.g. day-ahead load forecasts), repeatable: the
    /// window's last --horizon steps read their values for the steps being forecast.
    #[arg(long = "future-col")]
    pub future_cols: Vec<String>,
    /// Column naming the series of each row (several series in one file)…
    #[arg(long)]
    pub series_col: Option<String>,
    /// …and the series to use.
    #[arg(long)]
    pub series: Option<String>,
    /// Input steps per window.
    #[arg(long, default_value_t = 168)]
    pub window: usize,
    /// Steps forecast at once.
    #[arg(long, default_value_t = 24)]
    pub horizon: usize,
    /// Season length of the seasonal-naive baseline and of MASE's scale.
    #[arg(long, default_value_t = 24)]
    pub season: usize,
    /// Steps between training windows [default: the horizon].
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
    /// Learn the difference to the seasonal-naive forecast (an all-zero output is that baseline).
    #[arg(long)]
    pub seasonal_residual: bool,
    /// Start from a forecaster trained on another series (same inputs and horizon), then fine-tune.
    #[arg(long)]
    pub from: Option<PathBuf>,
    #[arg(long, default_value_t = 64)]
    pub hidden: usize,
    #[arg(long, default_value_t = 1)]
    pub layers: usize,
    #[arg(long, default_value_t = 30)]
    pub epochs: usize,
    #[arg(long, default_value_t = 32)]
    pub batch_size: usize,
    #[arg(long, default_value_t = 3e-3)]
    pub lr: f32,
    #[arg(long, default_value_t = 5)]
    pub patience: usize,
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    #[arg(long, default_value = "runs/forecaster.safetensors")]
    pub out: PathBuf,
    /// text or json (the metrics).
    #[arg(long, default_value = "text")]
    pub format: String,
}

pub fn run(gpu: &GpuArgs, a: &ForecastArgs) -> Result<()> {
    if a.format != "text" && a.format != "json" {
        bail!("unknown --format '{}': expected text or json", a.format);
    }
    let spec = SeriesSpec {
        time_col: a.time_col.clone(), target_col: a.target_col.clone(), input_cols: a.input_cols.clone(),
        future_cols: a.future_cols.clone(), series_col: a.series_col.clone(), series: a.series.clone(),
    };
    let series = read_series(&a.data, &spec)?;
    let n = series.len();
    let cfg = ForecastConfig {
        window: a.window, horizon: a.horizon, season: a.season, stride: a.stride.unwrap_or(a.horizon),
        test_len: a.test_len.unwrap_or(n / 10), valid_len: a.valid_len.unwrap_or(n / 10), train_len: a.train_len,
        epochs: a.epochs, batch_size: a.batch_size, optimizer: AdamConfig { lr: a.lr, max_grad_norm: 1.0, ..Default::default() },
        patience: a.patience, seed: a.seed, seasonal_residual: a.seasonal_residual, future_cols: a.future_cols.len(),
    };
    let (train_end, test_start) = boundaries(n, &cfg)?;
    let train_start = cfg.train_len.map_or(0, |l| train_end.saturating_sub(l));
    // Scaling statistics from the steps the model trains on.
    let scaler = Scaler::fit(&series, train_start, train_end);
    let source = a.from.as_ref().map(|p| timeseries::load_forecaster(p).with_context(|| format!("loading {}", p.display()))).transpose()?;
    let model_cfg = match &source {
        Some((info, _)) => {
            if info.config.inputs != series.columns.len() || info.config.horizon != a.horizon || info.forecast.future_cols != cfg.future_cols {
                bail!("{} reads {} series ({} known in advance) and forecasts {} steps; this run has {} series ({}; {} known in advance) \
                       and --horizon {}", a.from.as_ref().expect("source given").display(), info.config.inputs, info.forecast.future_cols,
                      info.config.horizon, series.columns.len(), series.columns.join(", "), cfg.future_cols, a.horizon);
            }
            info.config
        }
        None => ForecasterConfig { inputs: series.columns.len(), hidden: a.hidden, layers: a.layers, horizon: a.horizon },
    };
    // With --format json, stdout carries only the JSON; progress goes to stderr.
    let json_out = a.format == "json";
    let say = |line: String| if json_out { eprintln!("{line}") } else { println!("{line}") };
    let ctx = gpu.context()?;
    say(format!("adapter: {}", ctx.adapter_line()));
    say(format!("series: {} ({}), {} steps {} … {}; train {}..{}, valid {}..{}, test {}..{}; {} training windows",
             a.data.display(), series.columns.join(", "), n, series.times[0], series.times[n - 1], train_start, train_end,
             train_end, test_start, test_start, n, timeseries::train_origins(n, &cfg)?.len()));
    let mut model = Forecaster::new(&ctx, model_cfg, cfg.batch_size, cfg.window, a.seed)?;
    if let Some((info, tensors)) = &source {
        model.load_params(&ctx, tensors)?;
        say(format!("starting from {} (trained on {}{})", a.from.as_ref().expect("source given").display(), info.spec.target_col,
                    info.spec.series.as_ref().map(|s| format!(" of series {s}")).unwrap_or_default()));
    }
    let start = std::time::Instant::now();
    let bar = ProgressBar::new(0);
    bar.set_style(ProgressStyle::with_template("epoch {prefix} [{bar:30}] {pos}/{len} steps ({elapsed})").expect("valid template").progress_chars("=> "));
    bar.set_prefix("1");
    let logs = timeseries::fit(&ctx, &mut model, &scaler.scale(&series), &cfg, |p| match p {
        FitProgress::Step { done, total } => {
            bar.set_length(total as u64);
            bar.set_position(done as u64);
        }
        FitProgress::Epoch(e) => {
            bar.set_prefix((e.epoch + 1).to_string());
            bar.suspend(|| say(format!("epoch {:>3}  train MSE {:.4}  valid MSE {:.4} (scaled)", e.epoch, e.train_mse, e.valid_mse)));
        }
    })?;
    bar.finish_and_clear();
    let seconds = start.elapsed().as_secs_f64();
    let (points, m) = timeseries::evaluate(&ctx, &mut model, &series, &scaler, &cfg)?;
    let info = ForecasterInfo { config: model_cfg, spec, scaler, forecast: cfg.clone() };
    timeseries::save_forecaster(&a.out, &ctx, &model, &info)?;
    let y = &series.values[0];
    let line = |name: &str, f: &dyn Fn(&ForecastPoint) -> f64| PlotSeries { name: name.into(), points: points.iter().map(|p| (p.step as f64, f(p))).collect() };
    let panel = Panel {
        title: format!("{} — held-out tail", a.target_col), x_label: "step".into(), y_label: a.target_col.clone(),
        series: vec![line("actual", &|p| y[p.step]), line("LSTM forecast", &|p| p.forecast), line("seasonal naive", &|p| p.naive)],
    };
    write_line_chart(&sibling(&a.out, ".forecast.svg"), "forecast vs actual", &[panel])?;
    let json = serde_json::json!({
        "data": a.data.display().to_string(), "series": a.series, "target": a.target_col, "adapter": ctx.adapter_line(),
        "window": cfg.window, "horizon": cfg.horizon, "season": cfg.season, "train_steps": train_end - train_start,
        "epochs": logs.len(), "seconds": seconds, "from": a.from.as_ref().map(|p| p.display().to_string()), "metrics": m,
    });
    write_atomic(&sibling(&a.out, ".metrics.json"), serde_json::to_string_pretty(&json)?.as_bytes())?;
    if json_out {
        println!("{}", serde_json::to_string_pretty(&json)?);
    } else {
        println!("held-out tail: {} points, {}-step rolling forecasts ({} epochs, {seconds:.0} s)", m.points, cfg.horizon, logs.len());
        println!("                     MAE        RMSE       MASE");
        println!("LSTM            {:>9.3} {:>11.3} {:>10.3}", m.mae, m.rmse, m.mase);
        println!("seasonal naive  {:>9.3} {:>11.3} {:>10.3}   (season {})", m.naive_mae, m.naive_rmse, m.naive_mase, cfg.season);
        println!("wrote {} (+ .forecast.svg, .metrics.json)", a.out.display());
    }
    Ok(())
}
