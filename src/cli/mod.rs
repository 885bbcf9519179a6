//! The command line's pieces: shared argument groups here, one module per subcommand.
//! Library errors are typed; here they become anyhow reports with context.

/// Prints a line for a person through an [`OutputFormat`]: on stdout, or on stderr with
/// `--format json` (stdout then carries only the JSON).
macro_rules! say {
    ($format:expr, $($arg:tt)*) => { $format.say(format!($($arg)*)) };
}

/// Prints a per-epoch progress line through an [`OutputFormat`], unless `--quiet`.
macro_rules! progress {
    ($format:expr, $($arg:tt)*) => {
        if crate::cli::verbosity() != crate::cli::Verbosity::Quiet {
            $format.say(format!($($arg)*))
        }
    };
}

pub mod eval;
pub mod experiment;
pub mod forecast;
pub mod forecast_transfer;
pub mod lm;
pub mod predict;
pub mod series_args;
pub mod system;
pub mod train;
pub mod transfer;

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::{Args, ValueEnum};
use lstm_transfer::config::validate::check_capacity;
use lstm_transfer::config::{AdamConfig, LrSchedule, OptimConfig, Pooling, Precision, ScheduleKind, WeightDecay};
use lstm_transfer::core::lr_find::LrFind;
use lstm_transfer::data::{Column, ReadOptions, TableFormat, TextRow, TextTable, read_table};
use lstm_transfer::fsutil::{RunLock, check_outputs, write_atomic};
use lstm_transfer::gpu::{Backend, TuneMode, Tuning, default_cache_path};
use lstm_transfer::plot::{Panel, Series as PlotSeries, write_line_chart};
use lstm_transfer::tasks::classify::checkpoint::{self, Checkpoint};
use lstm_transfer::{AdapterChoice, GpuContext};

/// A file written beside a model: `DIR/NAME.safetensors` → `DIR/NAME{suffix}`.
pub fn sibling(out: &Path, suffix: &str) -> PathBuf {
    let stem = out.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "model".into());
    out.with_file_name(format!("{stem}{suffix}"))
}

#[derive(Args, Clone)]
pub struct GpuArgs {
    /// Backend(s) to use, comma-separated. Default: $LSTM_TRANSFER_BACKEND or any.
    #[arg(long, global = true, value_enum, value_delimiter = ',')]
    pub backend: Vec<Backend>,
    /// Part of the adapter's name, or its whole PCI bus id, to select (case-insensitive; `info` lists both).
    /// Default: $LSTM_TRANSFER_ADAPTER or the best.
    #[arg(long, global = true)]
    pub adapter: Option<String>,
    /// When to time kernel variants on this adapter: cached (the first time a shape runs, then reuse
    /// the winner), force (time again), off (a fixed rule per adapter type; reproducible to the bit).
    #[arg(long, global = true, value_enum, env = "LSTM_TRANSFER_TUNE", default_value = "cached")]
    pub tune: TuneMode,
    /// The tuning cache file. Default: <user cache dir>/lstm-transfer/tuning.json.
    #[arg(long, global = true, env = "LSTM_TRANSFER_TUNE_CACHE", value_name = "FILE")]
    pub tune_cache: Option<PathBuf>,
    /// How weights, gradients and the LSTM's activations (gates, layer outputs and their gradients)
    /// are stored: f32, or f16 (half their bytes; arithmetic, the LSTM states, the optimizer's master
    /// copy of the weights and its moments stay f32).
    #[arg(long, global = true, value_enum, env = "LSTM_TRANSFER_PRECISION", default_value = "f32")]
    pub precision: Precision,
}

impl GpuArgs {
    /// The adapter choice: the environment's, overridden by the options given.
    pub fn choice(&self) -> AdapterChoice {
        AdapterChoice::from_env().with_overrides(&self.backend, self.adapter.as_deref())
    }

    /// The device, with kernel tuning as asked (notes about the cache file go to stderr).
    pub fn context(&self) -> Result<GpuContext> {
        let path = self.tune_cache.clone().or_else(default_cache_path);
        let tuning = Tuning::new(self.tune, path).reporting(Box::new(|note| eprintln!("warning: {note}")));
        Ok(GpuContext::new(&self.choice())?.with_tuning(tuning).with_precision(self.precision))
    }
}

/// How inputs are bounded and outputs protected (global options).
#[derive(Args, Clone)]
pub struct IoArgs {
    /// Replace the files of an earlier run at --out (otherwise a run refuses to).
    #[arg(long, global = true)]
    pub overwrite: bool,
    /// Print results only: no progress bars, no per-epoch lines.
    #[arg(long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
    /// Print a line per loss readback instead of a progress bar (for logs).
    #[arg(long, global = true)]
    pub verbose: bool,
    /// Largest input file read, in bytes.
    #[arg(long, global = true, default_value_t = lstm_transfer::fsutil::DEFAULT_MAX_INPUT_BYTES)]
    pub max_input_bytes: u64,
    /// Longest line of a text input, in bytes.
    #[arg(long, global = true, default_value_t = lstm_transfer::fsutil::DEFAULT_MAX_LINE_BYTES)]
    pub max_line_bytes: u64,
}

impl IoArgs {
    /// Refuses outputs that are inputs or (unless `--overwrite` or `resuming`) already exist, then
    /// takes the run's lock on `out`; hold the lock until the run's last write.
    pub fn guard(&self, out: &Path, outputs: &[PathBuf], inputs: &[Option<&Path>], resuming: bool) -> Result<RunLock> {
        let inputs: Vec<&Path> = inputs.iter().flatten().copied().collect();
        let lock = RunLock::acquire(out)?;
        check_outputs(outputs, &inputs, self.overwrite || resuming)?;
        Ok(lock)
    }
}

/// The files written beside a model at `out`: `out` itself and `out`'s `suffixes` siblings.
pub fn outputs_of(out: &Path, suffixes: &[&str]) -> Vec<PathBuf> {
    std::iter::once(out.to_path_buf()).chain(suffixes.iter().map(|s| sibling(out, s))).collect()
}

/// How to read the text of a table (CSV, TSV or JSONL): format and text columns. Shared by the
/// commands that read labelled rows ([`TableArgs`]) and by `predict --data`.
#[derive(Args, Clone, Default, PartialEq)]
pub struct TextTableArgs {
    /// Data file format. Default: from the extension (.csv, .jsonl/.json, else TSV).
    #[arg(long, value_enum)]
    pub input_format: Option<TableFormat>,
    /// Text column(s), repeatable; several are joined with a space (e.g. --text-col 1 --text-col 2 for
    /// AG News title + description). Default: every other column / "text".
    #[arg(long)]
    pub text_col: Vec<Column>,
    /// The first row is a header (default: only when a column is given by name).
    #[arg(long)]
    pub header: bool,
    /// CSV: quoted fields may hold line breaks (by default a field spanning lines is refused as a
    /// probable unclosed quote).
    #[arg(long)]
    pub multiline_fields: bool,
}

impl TextTableArgs {
    /// The reader's options with `label` read as each row's label (`None`: the format's default),
    /// or no label at all when `unlabeled`.
    pub fn options(&self, label: Option<Column>, unlabeled: bool) -> ReadOptions {
        ReadOptions {
            format: self.input_format,
            label,
            text: self.text_col.clone(),
            header: self.header.then_some(true),
            unlabeled,
            skip_bad_rows: false,
            multiline_fields: self.multiline_fields,
        }
    }
}

/// How to read a data file of labelled rows (CSV, TSV or JSONL, with column choices).
#[derive(Args, Clone, Default)]
pub struct TableArgs {
    #[command(flatten)]
    pub text: TextTableArgs,
    /// Label column: a header name, a 0-based index, or a JSONL key. Default: column 0 / "label".
    #[arg(long)]
    pub label_col: Option<Column>,
    /// Skip malformed rows (counted and reported with their lines) instead of stopping at the first.
    #[arg(long)]
    pub skip_bad_rows: bool,
}

impl TableArgs {
    pub fn options(&self, unlabeled: bool) -> ReadOptions {
        ReadOptions { skip_bad_rows: self.skip_bad_rows, ..self.text.options(self.label_col.clone(), unlabeled) }
    }

    /// Reads a table (or an `embedded:NAME` dataset), reporting skipped rows on stderr.
    pub fn read(&self, path: &Path, unlabeled: bool) -> Result<TextTable> {
        let table = read_table(path, &self.options(unlabeled))?;
        report_skipped(path, &table);
        Ok(table)
    }

    /// The texts of a file whose labels, if any, are not used: read as labelled rows (so the label
    /// column does not end up in the text), or, when it has no label column, as unlabelled ones.
    pub fn read_texts(&self, path: &Path) -> Result<Vec<TextRow>> {
        let rows = match read_table(path, &self.options(false)) {
            Ok(table) => {
                report_skipped(path, &table);
                table.rows
            }
            Err(_) => self.read(path, true)?.rows,
        };
        Ok(rows.into_iter().map(|r| TextRow { label: None, ..r }).collect())
    }
}

pub fn report_skipped(path: &Path, table: &TextTable) {
    if !table.skipped.is_empty() {
        eprintln!("{}: skipped {} malformed rows (--skip-bad-rows):", path.display(), table.skipped.len());
        for reason in table.skipped.iter().take(5) {
            eprintln!("  {reason}");
        }
        if table.skipped.len() > 5 {
            eprintln!("  … and {} more", table.skipped.len() - 5);
        }
    }
}

/// How results are printed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    /// Lines for a person.
    #[default]
    Text,
    /// One JSON document on stdout (progress goes to stderr).
    Json,
}

impl OutputFormat {
    /// Prints a progress or result line: on stdout for text, on stderr with `--format json` (so stdout
    /// carries only the JSON).
    pub fn say(self, line: impl std::fmt::Display) {
        match self {
            Self::Text => println!("{line}"),
            Self::Json => eprintln!("{line}"),
        }
    }
}

/// How much a command tells while it runs (the global `--quiet` / `--verbose`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verbosity {
    /// Results only: no bars, no per-epoch lines.
    Quiet,
    /// A bar per epoch and a line per epoch.
    Normal,
    /// A line per readback instead of a bar (for logs), and a line per epoch.
    Verbose,
}

static VERBOSITY: std::sync::atomic::AtomicU8 = std::sync::atomic::AtomicU8::new(1);

/// Sets how much every command tells (once, at start).
pub fn set_verbosity(v: Verbosity) {
    VERBOSITY.store(v as u8, std::sync::atomic::Ordering::Relaxed);
}

/// How much commands tell.
pub fn verbosity() -> Verbosity {
    match VERBOSITY.load(std::sync::atomic::Ordering::Relaxed) {
        0 => Verbosity::Quiet,
        1 => Verbosity::Normal,
        _ => Verbosity::Verbose,
    }
}

/// A bar over one epoch's steps, within 80 columns: `epoch 3/10 [=====>     ] 40/120 …`. Hidden under
/// `--quiet` and `--verbose` (which prints lines instead, see [`verbose_step`]).
pub fn epoch_bar(epoch: usize, epochs: usize) -> indicatif::ProgressBar {
    step_bar(format!("epoch {epoch}/{epochs}"))
}

/// A bar over the steps of a pass, `prefix` in front (`epoch 3/10`, `test`); hidden under
/// `--quiet` and `--verbose`.
pub fn step_bar(prefix: String) -> indicatif::ProgressBar {
    if verbosity() != Verbosity::Normal {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(0);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{prefix} [{bar:16}] {pos}/{len} {msg}").expect("valid template").progress_chars("=> "),
    );
    bar.set_prefix(prefix);
    bar
}

/// Under `--verbose`, one line per readback: where the epoch is and what it measured.
pub fn verbose_step(format: OutputFormat, p: &lstm_transfer::core::fit::StepProgress, epochs: usize, what: &str) {
    if verbosity() == Verbosity::Verbose {
        format.say(format!("epoch {}/{epochs} step {}/{}  {what}", p.epoch, p.step, p.steps));
    }
}

/// The optimizer's update rule.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum OptimizerKind {
    /// Adam, with --weight-decay as an L2 penalty (PyTorch's `Adam(weight_decay=…)`).
    #[default]
    Adam,
    /// AdamW: decoupled weight decay.
    Adamw,
}

/// The optimizer, gradient clip and learning-rate schedule: one group for `train`, `transfer`, `lm`
/// and `forecast`. The learning rate and the clip default per command (see [`OptimArgs::config`]).
#[derive(Args, Clone, Default)]
pub struct OptimArgs {
    /// Base learning rate [default: 3e-3; lm: 2e-3].
    #[arg(long, allow_negative_numbers = true)]
    pub lr: Option<f32>,
    /// Update rule.
    #[arg(long, value_enum, default_value_t)]
    pub optimizer: OptimizerKind,
    /// Weight decay of every tensor (an L2 penalty with adam, decoupled with adamw).
    #[arg(long, default_value_t = 0.0, allow_negative_numbers = true)]
    pub weight_decay: f32,
    /// Clip the global gradient norm (0: off) [default: 5; forecast: 1].
    #[arg(long, allow_negative_numbers = true)]
    pub clip: Option<f32>,
    /// Learning-rate schedule [default: constant; transfer --method ulmfit: stlr].
    #[arg(long, value_enum)]
    pub schedule: Option<ScheduleKind>,
    /// warmup-linear, cosine, one-cycle: fraction of the updates spent warming up (one-cycle: rising).
    #[arg(long, default_value_t = 0.1)]
    pub warmup: f64,
    /// stlr: fraction of the updates spent rising.
    #[arg(long, default_value_t = 0.1)]
    pub cut_frac: f64,
    /// stlr: ratio of the peak rate to the lowest.
    #[arg(long, default_value_t = 32.0)]
    pub stlr_ratio: f64,
    /// Instead of training, run the learning-rate range test (100 updates, the rate growing from 1e-7
    /// to 10 until the loss diverges): NAME.lr_find.svg, NAME.lr_find.json and a suggested --lr.
    #[arg(long)]
    pub lr_find: bool,
}

impl OptimArgs {
    /// The settings, with the command's `lr` and `clip` where the options were not given (checked).
    pub fn config(&self, lr: f32, clip: f32) -> Result<OptimConfig> {
        let decay = match self.optimizer {
            OptimizerKind::Adam if self.weight_decay > 0.0 => WeightDecay::L2,
            OptimizerKind::Adam => WeightDecay::None,
            OptimizerKind::Adamw => WeightDecay::Decoupled,
        };
        let optimizer = AdamConfig { lr: self.lr.unwrap_or(lr), max_grad_norm: self.clip.unwrap_or(clip), decay, ..Default::default() };
        let schedule = LrSchedule::new(self.schedule.unwrap_or_default(), self.warmup, self.cut_frac, self.stlr_ratio)?;
        let config = OptimConfig { optimizer, weight_decay: self.weight_decay, schedule };
        config.validate()?;
        Ok(config)
    }
}

/// The files of a learning-rate range test written beside `out`.
pub fn lr_find_outputs(out: &Path) -> Vec<PathBuf> {
    vec![sibling(out, ".lr_find.svg"), sibling(out, ".lr_find.json")]
}

/// Writes the range test's plot (loss against log10 of the rate) and JSON beside `out` and prints
/// the suggested rate.
pub fn report_lr_find(format: OutputFormat, out: &Path, found: &LrFind) -> Result<()> {
    let [svg, json] = <[PathBuf; 2]>::try_from(lr_find_outputs(out)).expect("two files");
    let points = found.lrs.iter().zip(&found.losses).map(|(lr, loss)| (lr.log10(), *loss)).collect();
    let title = format!("suggested lr {:.1e}", found.suggestion);
    let panel = Panel::new(title, "log10 learning rate", "training loss (smoothed)", vec![PlotSeries::new("loss", points)]);
    write_line_chart(&svg, "learning-rate range test", &[panel])?;
    write_atomic(&json, serde_json::to_string_pretty(found)?.as_bytes())?;
    say!(
        format,
        "range test: {} updates, lowest loss at lr {:.1e}; suggested --lr {:.1e}",
        found.lrs.len(),
        found.suggestion * 10.0,
        found.suggestion
    );
    say!(format, "wrote {} and {}", svg.display(), json.display());
    if format == OutputFormat::Json {
        println!("{}", serde_json::to_string_pretty(found)?);
    }
    Ok(())
}

/// How `eval` and `predict` run a saved model.
#[derive(Args, Clone)]
pub struct InferenceArgs {
    /// A checkpoint written by `train`/`transfer`, or a PyTorch classifier state_dict (safetensors).
    #[arg(long)]
    pub checkpoint: std::path::PathBuf,
    /// Rows per forward pass.
    #[arg(long, default_value_t = 64)]
    pub batch_size: usize,
    /// Longer rows are truncated (and counted) [default: the length the model was trained with; 512 for a state_dict].
    #[arg(long)]
    pub max_len: Option<usize>,
    /// Pooling of a plain state_dict (its shapes cannot tell last, max and mean apart) [default: last].
    #[arg(long)]
    pub pooling: Option<Pooling>,
}

impl InferenceArgs {
    /// The checkpoint and the maximum length to use with it.
    pub fn load(&self) -> Result<(Checkpoint, usize)> {
        check_capacity(self.batch_size, "max-len", self.max_len.unwrap_or(1))?;
        let ckpt = load_checkpoint(&self.checkpoint, self.pooling)?;
        let max_len = self.max_len.unwrap_or(ckpt.info.max_len);
        Ok((ckpt, max_len))
    }
}

/// Loads a classifier checkpoint or PyTorch state_dict, telling what was ignored.
pub fn load_checkpoint(path: &Path, pooling: Option<Pooling>) -> Result<Checkpoint> {
    let ckpt = checkpoint::load(path, pooling).with_context(|| format!("loading the model from {}", path.display()))?;
    report_ignored(path, &ckpt);
    Ok(ckpt)
}

/// Loads a transfer source (a classifier, a state_dict or a language model), telling what was ignored.
pub fn load_source(path: &Path, pooling: Option<Pooling>) -> Result<Checkpoint> {
    let ckpt =
        lstm_transfer::transfer::load_source(path, pooling).with_context(|| format!("loading the source model from {}", path.display()))?;
    report_ignored(path, &ckpt);
    Ok(ckpt)
}

fn report_ignored(path: &Path, ckpt: &Checkpoint) {
    if !ckpt.ignored.is_empty() {
        let shown: Vec<&str> = ckpt.ignored.iter().take(4).map(String::as_str).collect();
        eprintln!(
            "{}: ignored {} tensors that are not parameters of the model ({}{})",
            path.display(),
            ckpt.ignored.len(),
            shown.join(", "),
            if ckpt.ignored.len() > 4 { ", …" } else { "" }
        );
    }
}

/// Reports rows truncated to the maximum length (never silent).
pub fn report_truncated(what: &str, rows: usize, max_len: usize) {
    if rows > 0 {
        eprintln!("{what}: {rows} rows longer than {max_len} tokens were truncated to {max_len} (raise --max-len to keep them)");
    }
}
