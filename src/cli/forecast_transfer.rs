//! `forecast-transfer`: a forecaster of one series carried to another with few steps, over target
//! lengths, seeds and methods, against training on the target alone; the report and plot.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;
use lstm_transfer::experiment::series::{Learn, SeriesGridConfig, SeriesMethod, SeriesRef, run_series_grid, source_path};
use lstm_transfer::experiment::series_report::{FILES, write_results, write_series_report};
use lstm_transfer::tasks::forecast::read_series;

use super::series_args::{SeriesColumnsArgs, WindowArgs};
use super::{GpuArgs, IoArgs};

#[derive(Args)]
pub struct ForecastTransferArgs {
    /// CSV holding the target series (and the source's, unless --source-data).
    #[arg(long)]
    pub data: PathBuf,
    /// The target series (a value of --series-col), when the file holds several.
    #[arg(long)]
    pub target: Option<String>,
    /// CSV of the source series [default: --data].
    #[arg(long)]
    pub source_data: Option<PathBuf>,
    /// The source series (a value of --series-col).
    #[arg(long)]
    pub source: Option<String>,
    /// Use this forecaster checkpoint as the source instead of training one.
    #[arg(long)]
    pub source_model: Option<PathBuf>,
    #[command(flatten)]
    pub columns: SeriesColumnsArgs,
    #[command(flatten)]
    pub shape: WindowArgs,
    /// Held-out tail of each series [default: 10% of the target series].
    #[arg(long)]
    pub test_len: Option<usize>,
    /// The source's validation steps before its tail [default: --test-len].
    #[arg(long)]
    pub source_valid_len: Option<usize>,
    /// Target lengths L: steps of the target training may use (a quarter of them, in whole
    /// horizons, validates), comma-separated. Default: 7, 14, 30 and 60 days of hours.
    #[arg(long, value_delimiter = ',', default_value = "168,336,720,1440")]
    pub lengths: Vec<usize>,
    /// Seeds, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "1,2,3")]
    pub seeds: Vec<u64>,
    /// Methods, comma-separated (scratch is required: the others are paired with it).
    #[arg(long, value_enum, value_delimiter = ',', default_value = "scratch,source-only,init,frozen-lstm,lower-rate")]
    pub methods: Vec<SeriesMethod>,
    /// What the forecasters learn.
    #[arg(long, value_enum, default_value_t)]
    pub learn: Learn,
    #[arg(long, default_value_t = 64)]
    pub hidden: usize,
    #[arg(long, default_value_t = 1)]
    pub layers: usize,
    /// Epochs of the source (early stopping with --patience).
    #[arg(long, default_value_t = 30)]
    pub source_epochs: usize,
    /// Epochs of each target run (early stopping with --patience).
    #[arg(long, default_value_t = 30)]
    pub epochs: usize,
    #[arg(long, default_value_t = 5)]
    pub patience: usize,
    #[arg(long, default_value_t = 32)]
    pub batch_size: usize,
    #[arg(long, default_value_t = 3e-3)]
    pub lr: f32,
    /// lower-rate: the LSTM trains at --lr / this.
    #[arg(long, default_value_t = 10.0)]
    pub lower_rate_factor: f32,
    /// Directory for report.md, results.json, summary.json, mae_vs_length.svg, config.json and the source model.
    #[arg(long, default_value = "runs/forecast-transfer")]
    pub out: PathBuf,
}

impl ForecastTransferArgs {
    fn config(&self, target_steps: usize) -> SeriesGridConfig {
        let test_len = self.test_len.unwrap_or(target_steps / 10);
        SeriesGridConfig {
            source: SeriesRef { data: self.source_data.clone().unwrap_or_else(|| self.data.clone()), series: self.source.clone() },
            target: SeriesRef { data: self.data.clone(), series: self.target.clone() },
            columns: self.columns.spec(None),
            source_checkpoint: self.source_model.clone(),
            window: self.shape.window,
            horizon: self.shape.horizon,
            season: self.shape.season,
            fold: self.shape.fold,
            scaling: self.shape.scaling,
            test_len,
            source_valid_len: self.source_valid_len.unwrap_or(test_len),
            lengths: self.lengths.clone(),
            seeds: self.seeds.clone(),
            methods: self.methods.clone(),
            learn: self.learn,
            hidden: self.hidden,
            layers: self.layers,
            source_epochs: self.source_epochs,
            epochs: self.epochs,
            patience: self.patience,
            batch_size: self.batch_size,
            lr: self.lr,
            lower_rate_factor: self.lower_rate_factor,
        }
    }
}

pub fn run(gpu: &GpuArgs, io: &IoArgs, a: &ForecastTransferArgs) -> Result<()> {
    let mut outputs: Vec<PathBuf> = FILES.iter().chain(&["config.json"]).map(|f| a.out.join(f)).collect();
    if a.source_model.is_none() {
        outputs.push(source_path(&a.out));
    }
    let inputs = [Some(a.data.as_path()), a.source_data.as_deref(), a.source_model.as_deref()];
    let _lock = io.guard(&a.out.join("results.json"), &outputs, &inputs, false)?;
    let target =
        read_series(&a.data, &a.columns.spec(a.target.clone())).with_context(|| format!("the target series in {}", a.data.display()))?;
    let cfg = a.config(target.len());
    cfg.validate()?;
    cfg.check_target(target.len())?;
    let ctx = gpu.context()?;
    let adapter = ctx.adapter_line();
    println!("adapter: {adapter}");
    println!(
        "{} → {}: lengths {:?} × seeds {:?} × methods {} = {} runs, each scored on the target's last {} steps",
        cfg.source.name(),
        cfg.target.name(),
        cfg.lengths,
        cfg.seeds,
        cfg.methods.iter().map(|m| m.name()).collect::<Vec<_>>().join(", "),
        cfg.runs(),
        cfg.test_len
    );
    let start = std::time::Instant::now();
    let runs = run_series_grid(&ctx, &cfg, &a.out, &mut |runs| write_results(&a.out, runs), &mut |line| println!("{line}"))?;
    let md = write_series_report(&a.out, &runs, &adapter)?;
    println!("\n{md}");
    println!(
        "{} runs in {:.0} s; wrote {}/report.md, results.json, summary.json, mae_vs_length.svg, config.json",
        runs.len(),
        start.elapsed().as_secs_f64(),
        a.out.display()
    );
    Ok(())
}
