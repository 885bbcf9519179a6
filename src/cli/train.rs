//! `train`: read data, build or resume a model, train with progress, checkpoints, a JSONL log and a
//! learning-curve plot beside the checkpoint, then report the best model's test metrics. `transfer`
//! runs through here too ([`execute`]), with its own start and, for DANN, its own training rows.
//!
//! Files for `--out DIR/NAME.safetensors`:
//!   NAME.safetensors        the best model by the monitored validation metric (PyTorch state_dict names)
//!   NAME.state.safetensors  the last epoch's parameters, Adam moments and progress (`--resume`)
//!   NAME.log.jsonl          one JSON object per epoch
//!   NAME.curve.svg          loss and accuracy per epoch

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::Args;
use indicatif::ProgressBar;
use lstm_transfer::GpuContext;
use lstm_transfer::config::Pooling;
use lstm_transfer::core::fit::{FitObserver, StepProgress};
use lstm_transfer::core::lr_find::LrFindConfig;
use lstm_transfer::data::{Dataset, TextRow, Vocab, embedded, encode_rows, label_names, parse_text_table, split, tokenize};
use lstm_transfer::fsutil::RunLock;
use lstm_transfer::fsutil::write_atomic;
use lstm_transfer::params::pattern_matches;
use lstm_transfer::plot::{Panel, Series, XAxis, write_line_chart};
use lstm_transfer::tasks::classify::checkpoint::{
    META_DATA, ModelInfo, TOKENIZER, TrainingCheckpoint, data_fingerprint, load_train_state, save_classifier, save_train_state, state_path,
};
use lstm_transfer::tasks::classify::train::lr_find_classifier;
use lstm_transfer::tasks::classify::{
    Classifier, ClassifierConfig, ClassifierRun, EpochLog, Monitor, TrainConfig, TrainData, TrainState, evaluate, parameter_summary,
    train_classifier,
};
use lstm_transfer::transfer::dann::DannData;

use super::{
    GpuArgs, IoArgs, OptimArgs, OutputFormat, TableArgs, epoch_bar, lr_find_outputs, outputs_of, report_lr_find, report_skipped,
    report_truncated, sibling, verbose_step,
};

/// The dataset used when `train` is given no `--data`: UCI Yelp sentences (CC BY 4.0, see data/README.md).
const EMBEDDED_NAME: &str = "embedded:uci_yelp";

#[derive(Args)]
pub struct TrainArgs {
    /// Training data (CSV, TSV or JSONL; see the column options). Default: the embedded UCI Yelp sentences.
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Validation data. Default: --valid-fraction of --data, split by --seed.
    #[arg(long)]
    pub valid: Option<PathBuf>,
    /// Test data, evaluated once with the best model at the end. Default: --test-fraction of --data.
    #[arg(long)]
    pub test: Option<PathBuf>,
    #[command(flatten)]
    pub table: TableArgs,
    /// Where the best model goes; the training state, log and plot go beside it.
    #[arg(long, default_value = "runs/classifier.safetensors")]
    pub out: PathBuf,
    /// Continue the run saved beside --out (same data options); settings come from the saved run,
    /// except --epochs which may extend it.
    #[arg(long)]
    pub resume: bool,

    /// Embedding size [default: 64; transfer: the source's].
    #[arg(long)]
    pub embed: Option<usize>,
    /// LSTM hidden size [default: 64; transfer: the source's].
    #[arg(long)]
    pub hidden: Option<usize>,
    /// LSTM layers [default: 1; transfer: the source's].
    #[arg(long)]
    pub layers: Option<usize>,
    /// Bidirectional LSTM [transfer: as the source unless given].
    #[arg(long, conflicts_with = "unidirectional")]
    pub bidirectional: bool,
    /// Unidirectional LSTM (transfer from a bidirectional source).
    #[arg(long)]
    pub unidirectional: bool,
    /// How the LSTM outputs become the head's features (concat: last, max and mean side by side)
    /// [default: last; transfer: the source's].
    #[arg(long, value_enum)]
    pub pooling: Option<Pooling>,
    /// Dropout on the pooled features.
    #[arg(long, default_value_t = 0.0)]
    pub dropout: f32,
    /// Keep tokens seen at least this often in the training data.
    #[arg(long, default_value_t = 2)]
    pub min_freq: usize,
    /// Largest vocabulary, <pad> and <unk> included.
    #[arg(long, default_value_t = 30_000)]
    pub max_vocab: usize,

    /// Default 5 (with --resume: the saved run's).
    #[arg(long)]
    pub epochs: Option<usize>,
    #[arg(long, default_value_t = 32)]
    pub batch_size: usize,
    #[command(flatten)]
    pub optim: OptimArgs,
    /// Longer rows are truncated (and counted).
    #[arg(long, default_value_t = 64)]
    pub max_len: usize,
    /// Validation metric that picks the best epoch.
    #[arg(long, value_enum, default_value_t)]
    pub monitor: Monitor,
    /// Stop after this many epochs without improvement.
    #[arg(long)]
    pub patience: Option<usize>,
    #[arg(long, default_value_t = 0.1)]
    pub valid_fraction: f64,
    #[arg(long, default_value_t = 0.1)]
    pub test_fraction: f64,
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Result format (json: the metrics, as in NAME.metrics.json, on stdout; progress on stderr).
    #[arg(long, value_enum, default_value_t)]
    pub format: OutputFormat,
}

impl TrainArgs {
    /// The run's settings from the command line (checked).
    pub fn train_config(&self) -> Result<TrainConfig> {
        let config = TrainConfig {
            epochs: self.epochs.unwrap_or(5),
            batch_size: self.batch_size,
            max_len: self.max_len,
            seed: self.seed,
            optim: self.optim.config(3e-3, 5.0)?,
            dropout: self.dropout,
            monitor: self.monitor,
            patience: self.patience,
            ..Default::default()
        };
        config.validate()?;
        Ok(config)
    }

    /// The model shape: `base` (the source's, for transfer) with the options given on the command line.
    pub fn shape(&self, base: ClassifierConfig) -> ClassifierConfig {
        ClassifierConfig {
            embed: self.embed.unwrap_or(base.embed),
            hidden: self.hidden.unwrap_or(base.hidden),
            layers: self.layers.unwrap_or(base.layers),
            bidirectional: if self.bidirectional {
                true
            } else if self.unidirectional {
                false
            } else {
                base.bidirectional
            },
            pooling: self.pooling.unwrap_or(base.pooling),
            ..base
        }
    }

    /// Whether an option that changes the parameters' shapes was given (--pooling aside: it changes the
    /// head, which a language-model source does not have).
    pub fn changes_shape(&self) -> bool {
        self.embed.is_some() || self.hidden.is_some() || self.layers.is_some() || self.bidirectional || self.unidirectional
    }
}

/// The labelled rows of train / valid / test.
pub struct Splits {
    pub train: Vec<TextRow>,
    pub valid: Vec<TextRow>,
    pub test: Vec<TextRow>,
    pub source: String,
}

pub fn read_splits(a: &TrainArgs) -> Result<Splits> {
    let table = match &a.data {
        Some(path) => a.table.read(path, false)?,
        None => {
            let text = embedded(EMBEDDED_NAME).expect("compiled in");
            let t = parse_text_table(text, Path::new(EMBEDDED_NAME), &Default::default())?;
            report_skipped(Path::new(EMBEDDED_NAME), &t);
            t
        }
    };
    let source = a.data.as_ref().map(|p| p.display().to_string()).unwrap_or_else(|| EMBEDDED_NAME.into());
    let mut rows = table.rows;
    let mut take = |fraction: f64, seed: u64| -> Vec<TextRow> {
        let (keep, held) = split(rows.len(), fraction, seed);
        let held_rows = held.iter().map(|&i| rows[i].clone()).collect();
        rows = keep.iter().map(|&i| rows[i].clone()).collect();
        held_rows
    };
    let test = match &a.test {
        Some(path) => a.table.read(path, false)?.rows,
        None => take(a.test_fraction, a.seed),
    };
    let valid = match &a.valid {
        Some(path) => a.table.read(path, false)?.rows,
        None => take(a.valid_fraction, a.seed.wrapping_add(1)),
    };
    if rows.is_empty() || valid.is_empty() {
        bail!("{source}: {} training and {} validation rows — too few to train (use more data or --valid)", rows.len(), valid.len());
    }
    Ok(Splits { train: rows, valid, test, source })
}

/// Writes a source model into a new classifier before training (and prints what it did); gets the
/// validation rows to compare the model with its source.
pub type StartFrom = Box<dyn FnOnce(&GpuContext, &mut Classifier, &Dataset) -> Result<()>>;

/// Builds a run's own training rows from the vocabulary and the labelled train / valid rows (DANN).
pub type TrainRows = Box<dyn FnOnce(&Vocab, &Dataset, &Dataset) -> Result<DannData>>;

/// What the run starts from.
pub enum Start {
    /// A fresh model.
    Fresh,
    /// The run saved beside `--out`.
    Resume(Box<TrainingCheckpoint>),
    /// A model written by the caller (a transfer).
    From(StartFrom),
}

/// Everything decided before the GPU work starts.
pub struct Prepared {
    pub vocab: Vocab,
    pub info: ModelInfo,
    pub config: TrainConfig,
    pub state: TrainState,
    pub start: Start,
    /// Training rows other than the labelled ones (DANN: with the unlabelled target text).
    pub rows: Option<TrainRows>,
}

/// The run saved beside `--out`, continued: its settings, except `--epochs` which may extend it.
pub fn resume(a: &TrainArgs) -> Result<Prepared> {
    let state_file = state_path(&a.out);
    let r = load_train_state(&state_file).with_context(|| format!("resuming from {}", state_file.display()))?;
    let tokens = r.checkpoint.vocab.clone().context("the training state has no vocabulary")?;
    let mut config = r.config.clone();
    if let Some(e) = a.epochs {
        config.epochs = e;
    }
    check_same_settings(a, &r.config)?;
    let (info, mut state) = (r.checkpoint.info.clone(), r.state.clone());
    // An explicit --epochs continues even a run that stopped early.
    state.stopped_early &= a.epochs.is_none();
    Ok(Prepared { vocab: Vocab::from_tokens(tokens)?, info, config, state, start: Start::Resume(Box::new(r)), rows: None })
}

/// A resumed run keeps its saved settings: a training option given on this command line (one whose
/// value is not the default) that differs from the saved run's is refused rather than ignored.
fn check_same_settings(a: &TrainArgs, saved: &TrainConfig) -> Result<()> {
    #[derive(clap::Parser)]
    struct Defaults {
        #[command(flatten)]
        train: TrainArgs,
    }
    use clap::Parser;
    let as_json = |c: &TrainConfig| serde_json::to_value(c).unwrap_or_default();
    let (given, default, saved) =
        (as_json(&a.train_config()?), as_json(&Defaults::parse_from(["train"]).train.train_config()?), as_json(saved));
    let differing: Vec<String> = given
        .as_object()
        .into_iter()
        .flatten()
        .filter(|(key, value)| *key != "epochs" && default.get(key.as_str()) != Some(value) && saved.get(key.as_str()) != Some(value))
        .map(|(key, value)| format!("{key} {value} (the saved run has {})", saved.get(key.as_str()).unwrap_or(&serde_json::Value::Null)))
        .collect();
    if !differing.is_empty() {
        bail!(
            "--resume continues the saved run with its own settings, but this command changes {}; \
               drop those options, or start a new run with another --out",
            differing.join(", ")
        );
    }
    Ok(())
}

/// A fresh model with the vocabulary and labels of the training rows.
fn fresh(a: &TrainArgs, splits: &Splits) -> Result<Prepared> {
    let tokens: Vec<Vec<String>> = splits.train.iter().map(|r| tokenize(&r.text)).collect();
    let vocab = Vocab::build(tokens.iter().map(Vec::as_slice), a.min_freq, a.max_vocab);
    let labels = label_names(splits.train.iter().filter_map(|r| r.label.as_deref()));
    let defaults = ClassifierConfig {
        vocab: vocab.len(),
        embed: 64,
        hidden: 64,
        layers: 1,
        bidirectional: false,
        classes: labels.len(),
        domains: 0,
        pooling: Pooling::Last,
    };
    let info = ModelInfo { config: a.shape(defaults), labels, max_len: a.max_len, tokenizer: TOKENIZER.into() };
    Ok(Prepared { vocab, info, config: a.train_config()?, state: TrainState::default(), start: Start::Fresh, rows: None })
}

/// `train`: a fresh run, or the saved one with `--resume`.
pub fn run(gpu: &GpuArgs, io: &IoArgs, a: &TrainArgs) -> Result<()> {
    let _lock = guard(io, a, &[])?;
    let splits = read_splits(a)?;
    let prepared = if a.resume { resume(a)? } else { fresh(a, &splits)? };
    if a.resume && prepared.config.dann_gamma.is_some() {
        bail!("this run trains DANN: resume it with the same `transfer --method dann --target FILE` command plus --resume");
    }
    execute(gpu, a, &splits, prepared)
}

/// Refuses a run whose outputs (the model, its state, log and plot) are among its inputs or belong
/// to an earlier run (unless `--overwrite`, or `--resume` of that run), and takes the run's lock.
pub fn guard(io: &IoArgs, a: &TrainArgs, more_inputs: &[Option<&Path>]) -> Result<RunLock> {
    let outputs = match a.optim.lr_find {
        true => lr_find_outputs(&a.out),
        false => outputs_of(&a.out, &[".state.safetensors", ".log.jsonl", ".curve.svg", ".metrics.json"]),
    };
    let mut inputs = vec![a.data.as_deref(), a.valid.as_deref(), a.test.as_deref()];
    inputs.extend(more_inputs);
    io.guard(&a.out, &outputs, &inputs, a.resume)
}

impl Splits {
    /// The fingerprint of the rows the run trains and validates on (in order).
    fn fingerprint(&self) -> String {
        // An empty pair between the two sets: moving a row from one to the other changes the print.
        fn pair(r: &TextRow) -> (&str, &str) {
            (r.label.as_deref().unwrap_or(""), r.text.as_str())
        }
        data_fingerprint(self.train.iter().map(pair).chain([("", "")]).chain(self.valid.iter().map(pair)))
    }
}

/// Trains a prepared run: encodes the rows, starts the model, trains with the CLI's observer and tests
/// the best model.
pub fn execute(gpu: &GpuArgs, a: &TrainArgs, splits: &Splits, prepared: Prepared) -> Result<()> {
    let state_file = state_path(&a.out);
    let Prepared { vocab, info, config, state, start, rows } = prepared;
    let started_from = match &start {
        Start::Fresh => "a fresh model",
        Start::Resume(_) => "the saved run",
        Start::From(_) => "a transferred model",
    };
    if info.labels.len() < 2 {
        bail!("{}: the training rows have {} distinct label(s); a classifier needs at least 2", splits.source, info.labels.len());
    }
    info.validate()?;
    config.validate()?;
    config.check_patterns(&info.config)?;
    let fingerprint = splits.fingerprint();
    if let Start::Resume(r) = &start
        && let Some(saved) = r.checkpoint.metadata.get(META_DATA)
        && *saved != fingerprint
    {
        bail!(
            "{}: the saved run trained and validated on other rows than these ({}; same files, column options, \
               fractions and --seed needed); start a new run with another --out",
            state_file.display(),
            splits.source
        );
    }
    let encode = |rows: &[TextRow], what: &str| -> Result<Dataset> { Ok(encode_rows(rows, &vocab, &info.labels, Path::new(what))?) };
    let valid_name = a.valid.as_ref().map(|p| p.display().to_string()).unwrap_or_else(|| format!("{} (valid split)", splits.source));
    let test_name = a.test.as_ref().map(|p| p.display().to_string()).unwrap_or_else(|| format!("{} (test split)", splits.source));
    let mut train = encode(&splits.train, &splits.source)?;
    let valid = encode(&splits.valid, &valid_name)?;
    let test = encode(&splits.test, &test_name)?;

    let started = std::time::Instant::now();
    let ctx = gpu.context()?;
    say!(a.format, "adapter: {}", ctx.adapter_line());
    say!(
        a.format,
        "data: {}: {} train, {} valid, {} test rows; {} classes {:?}; vocabulary {} ({} train tokens)",
        splits.source,
        train.len(),
        valid.len(),
        test.len(),
        info.labels.len(),
        info.labels,
        vocab.len(),
        train.tokens()
    );
    let mut model = Classifier::new(&ctx, info.config, config.batch_size, config.max_len, config.seed)?;
    match start {
        Start::Fresh => {}
        Start::Resume(r) => {
            r.restore(&ctx, &mut model)?;
            say!(a.format, "resuming {} after epoch {} ({} updates)", state_file.display(), r.state.epoch, r.state.updates);
        }
        Start::From(write) => write(&ctx, &mut model, &valid)?,
    }
    let mut domain_valid = None;
    if let Some(rows) = rows {
        let labelled = train.len();
        let d = rows(&vocab, &train, &valid)?;
        say!(
            a.format,
            "dann: {labelled} labelled + {} unlabelled target rows per epoch, γ = {}",
            d.train.len() - labelled,
            config.dann_gamma.unwrap_or_default()
        );
        (train, domain_valid) = (d.train, Some(d.domain_valid));
    }
    if a.optim.lr_find {
        let found = lr_find_classifier(&ctx, &mut model, &train, &config, LrFindConfig::default())?;
        return report_lr_find(a.format, &a.out, &found);
    }
    if state.finished(config.limits()) {
        say!(
            a.format,
            "the run already ended after epoch {} of {}{}; pass a larger --epochs to continue it",
            state.epoch,
            config.epochs,
            if state.stopped_early { " (early stop)" } else { "" }
        );
        return Ok(());
    }
    let counts = model.step_counts(&ctx, config.batch_size, config.max_len)?;
    say!(
        a.format,
        "model: {} parameters; per training step {} dispatches, {} pass, {} submit",
        model.store.entries().iter().map(|e| e.len()).sum::<usize>(),
        counts.dispatches,
        counts.passes,
        counts.submits
    );
    print_parameter_summary(a.format, &info.config, &config, state.epoch + 1);

    let mut observer = CliObserver {
        ctx: &ctx,
        out: &a.out,
        state_file: &state_file,
        info: &info,
        vocab: &vocab.tokens,
        config: &config,
        fingerprint: &fingerprint,
        format: a.format,
        bar: None,
    };
    let data = TrainData { train: &train, valid: &valid, labels: &info.labels, domain_valid: domain_valid.as_ref() };
    let state = train_classifier(&ctx, &mut model, data, &config, state, &mut observer)?;
    if let Some(bar) = observer.bar.take() {
        bar.finish_and_clear();
    }
    let monitor = serde_json::to_value(config.monitor)?.as_str().unwrap_or_default().to_string();
    if state.stopped_early {
        say!(a.format, "early stop: no {monitor} improvement for {} epochs", state.epochs_without_improvement);
    }
    say!(
        a.format,
        "best epoch {} ({monitor} {:.4}); model: {}",
        state.best_epoch,
        state.best_score.map(|s| if config.monitor == Monitor::Loss { -s } else { s }).unwrap_or(f64::NAN),
        a.out.display()
    );
    let mut test_metrics = None;
    if !test.is_empty() {
        let best = super::load_checkpoint(&a.out, None)?;
        let mut best_model = best.classifier(&ctx, config.batch_size, config.max_len)?;
        let eval = evaluate(&ctx, &mut best_model, &test, &info.labels, config.batch_size, config.max_len)?;
        report_truncated(&test_name, eval.truncated_rows, config.max_len);
        say!(a.format, "test ({test_name}, best model): loss {:.4}", eval.loss);
        say!(a.format, "{}", eval.metrics.to_text().trim_end());
        test_metrics = Some(serde_json::json!({
            "data": test_name, "loss": eval.loss, "accuracy": eval.metrics.accuracy, "macro_f1": eval.metrics.macro_f1,
            "per_class": eval.metrics.per_class, "confusion": eval.metrics.confusion,
        }));
    }
    let best = state.best_epoch.checked_sub(1).and_then(|i| state.logs.get(i));
    let json = serde_json::json!({
        "start": started_from, "adapter": ctx.adapter_line(), "data": splits.source,
        "rows": { "train": train.len(), "valid": valid.len(), "test": test.len() }, "model": info, "config": config,
        "epochs": state.logs, "best_epoch": state.best_epoch, "monitor": monitor,
        "valid": best.map(|l| serde_json::json!({ "loss": l.valid_loss, "accuracy": l.valid_accuracy, "macro_f1": l.valid_macro_f1 })),
        "test": test_metrics, "tokens_per_second": state.logs.iter().map(|l| l.tokens_per_second).sum::<f64>() / state.logs.len().max(1) as f64,
        "seconds": started.elapsed().as_secs_f64(), "stopped_early": state.stopped_early,
    });
    write_atomic(&sibling(&a.out, ".metrics.json"), serde_json::to_string_pretty(&json)?.as_bytes())?;
    if a.format == OutputFormat::Json {
        println!("{}", serde_json::to_string_pretty(&json)?);
    }
    Ok(())
}

/// The parameters of each layer group, trainable and frozen in `epoch`, and the tensors each
/// `--freeze` pattern matched (as torchinfo and fastai show them before training).
fn print_parameter_summary(format: OutputFormat, model: &ClassifierConfig, config: &TrainConfig, epoch: usize) {
    let groups = parameter_summary(model, config, epoch);
    let (params, trainable) = groups.iter().fold((0, 0), |(p, t), g| (p + g.params, t + g.trainable));
    say!(format, "parameters in epoch {epoch}: {trainable} trainable, {} frozen", params - trainable);
    say!(format, "  {:<14} {:>7} {:>10} {:>10}", "group", "tensors", "params", "trainable");
    for g in &groups {
        say!(format, "  {:<14} {:>7} {:>10} {:>10}", g.name, g.tensors, g.params, g.trainable);
    }
    let names: Vec<String> = model.param_specs().into_iter().map(|(n, _)| n).collect();
    for pattern in &config.freeze {
        let matched: Vec<&str> = names.iter().filter(|n| pattern_matches(pattern, n)).map(String::as_str).collect();
        say!(format, "  --freeze '{pattern}' matches {}", matched.join(", "));
    }
    if let Some(rows) = config.freeze_embedding_rows_below {
        say!(format, "  embedding rows 0..{rows} (the source's tokens) frozen; the {} new rows train", model.vocab.saturating_sub(rows));
    }
}

/// Progress bar, per-epoch line, checkpoints, log and plot.
struct CliObserver<'a> {
    ctx: &'a GpuContext,
    out: &'a Path,
    state_file: &'a Path,
    info: &'a ModelInfo,
    vocab: &'a [String],
    config: &'a TrainConfig,
    fingerprint: &'a str,
    format: OutputFormat,
    bar: Option<ProgressBar>,
}

impl<'a> FitObserver<ClassifierRun<'a>> for CliObserver<'_> {
    fn step(&mut self, p: &StepProgress) {
        let what = format!("loss {:.4} acc {:.3} {:.0} tok/s", p.sums.mean_loss(), p.sums.accuracy(), p.sums.items_per_second());
        verbose_step(self.format, p, self.config.epochs, &what);
        let bar = self.bar.get_or_insert_with(|| epoch_bar(p.epoch, self.config.epochs));
        bar.set_length(p.steps as u64);
        bar.set_position(p.step as u64);
        bar.set_message(what);
    }

    fn epoch_end(&mut self, run: &ClassifierRun<'a>, state: &TrainState, improved: bool) -> lstm_transfer::Result<()> {
        let model = &*run.model;
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
        let log = state.logs.last().expect("an epoch just ended");
        progress!(
            self.format,
            "epoch {:>3}  loss {:.4}  acc {:.3} | valid loss {:.4}  acc {:.3}  macro-F1 {:.3} | lr {:.2e}  {:.0} tok/s  {:.1} s{}",
            log.epoch,
            log.train_loss,
            log.train_accuracy,
            log.valid_loss,
            log.valid_accuracy,
            log.valid_macro_f1,
            log.lr,
            log.tokens_per_second,
            log.seconds,
            if improved { "  *best" } else { "" }
        );
        if self.config.gradual_unfreezing {
            let groups = parameter_summary(&self.info.config, self.config, log.epoch);
            let training: Vec<&str> = groups.iter().filter(|g| g.trainable > 0).map(|g| g.name.as_str()).collect();
            progress!(self.format, "           trained: {} (gradual unfreezing)", training.join(", "));
        }
        if let (Some(lambda), Some(train_acc)) = (log.lambda, log.domain_accuracy) {
            progress!(
                self.format,
                "           domain head: λ {lambda:.3}  train accuracy {train_acc:.3}{}",
                match (log.valid_domain_accuracy, log.proxy_a_distance) {
                    (Some(acc), Some(pad)) => format!("  held-out accuracy {acc:.3}  proxy A-distance {pad:.3}"),
                    _ => String::new(),
                }
            );
        }
        report_truncated("training data", log.truncated_rows, self.config.max_len);
        if improved {
            save_classifier(self.out, self.ctx, model, self.info, Some(self.vocab))?;
        }
        save_train_state(self.state_file, self.ctx, model, self.info, Some(self.vocab), state, self.config, self.fingerprint)?;
        let jsonl: String = state.logs.iter().map(|l| serde_json::to_string(l).expect("EpochLog serializes") + "\n").collect();
        write_atomic(&sibling(self.out, ".log.jsonl"), jsonl.as_bytes())?;
        let series = |name: &str, f: fn(&EpochLog) -> f64| Series::new(name, state.logs.iter().map(|l| (l.epoch as f64, f(l))).collect());
        let panels = [
            Panel::new("loss", "epoch", "cross-entropy", vec![series("train", |l| l.train_loss), series("valid", |l| l.valid_loss)]),
            Panel::new(
                "accuracy",
                "epoch",
                "fraction",
                vec![
                    series("train", |l| l.train_accuracy),
                    series("valid", |l| l.valid_accuracy),
                    series("valid macro-F1", |l| l.valid_macro_f1),
                ],
            ),
        ]
        .map(|p| p.with_x_axis(XAxis::Integers));
        write_line_chart(&sibling(self.out, ".curve.svg"), "learning curves", &panels)
    }
}
