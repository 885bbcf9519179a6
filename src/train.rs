//! The classifier training loop: epochs over length-bucketed batches, a learning-rate schedule,
//! validation metrics, the best model by a monitored metric, early stopping, and a training state
//! that resumes the same run bit for bit.
//!
//! Determinism: epoch e shuffles with a generator seeded from (seed, e), dropout masks are keyed
//! by (seed, update), and every kernel reduces in a fixed order — so the same seed on the same
//! adapter gives the same losses, and a run resumed from its state continues exactly.

use std::time::Instant;

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::data::{make_batches, Dataset};
use crate::error::{Error, Result};
use crate::gpu::GpuContext;
use crate::kernels::optimizer::AdamConfig;
use crate::metrics::Metrics;
use crate::model::Classifier;
use crate::schedule::LrSchedule;
use crate::transfer::{dann, pattern_matches, ulmfit};

/// The metric that picks the best epoch and drives early stopping.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Monitor {
    /// Validation loss (lower is better).
    Loss,
    /// Validation accuracy.
    #[default]
    Accuracy,
    /// Validation macro-averaged F1.
    MacroF1,
}

impl Monitor {
    /// Parses `loss`, `accuracy` (or `acc`) and `macro-f1` (or `f1`).
    pub fn parse(s: &str) -> Result<Self> {
        match s {
            "loss" => Ok(Self::Loss),
            "accuracy" | "acc" => Ok(Self::Accuracy),
            "macro-f1" | "f1" => Ok(Self::MacroF1),
            _ => Err(Error::InvalidInput(format!("unknown metric '{s}': expected loss, accuracy or macro-f1"))),
        }
    }

    /// The score to maximise.
    fn score(self, log: &EpochLog) -> f64 {
        match self {
            Self::Loss => -log.valid_loss,
            Self::Accuracy => log.valid_accuracy,
            Self::MacroF1 => log.valid_macro_f1,
        }
    }
}

/// Settings of one training run (see [`train_classifier`]).
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct TrainConfig {
    /// Epochs in all; a resumed run continues up to the same total.
    pub epochs: usize,
    /// Rows per batch (batches are length-bucketed).
    pub batch_size: usize,
    /// Longer rows are truncated (and counted).
    pub max_len: usize,
    /// Seeds the epoch shuffles and the dropout masks (not the model's initialisation).
    pub seed: u64,
    /// Adam / AdamW settings; `lr` is the base rate the schedule scales.
    pub optimizer: AdamConfig,
    /// Weight decay of every tensor (L2 or decoupled per `optimizer.decay`).
    pub weight_decay: f32,
    /// Factor on `optimizer.lr` per update, over all `epochs` of updates.
    pub schedule: LrSchedule,
    /// Dropout on the pooled features.
    pub dropout: f32,
    /// Validation metric that picks the best epoch and drives early stopping.
    pub monitor: Monitor,
    /// Stop after this many epochs without improving the monitored metric (None: never).
    pub patience: Option<usize>,
    /// Read the loss back every this many steps (and at the end of each epoch).
    pub read_every: usize,
    /// Patterns of tensors kept frozen throughout (no update, no moment update, no weight decay).
    #[serde(default)]
    pub freeze: Vec<String>,
    /// Embedding rows below this id stay frozen while the rows from it on train (the source-known rows
    /// of an aligned vocabulary).
    #[serde(default)]
    pub freeze_embedding_rows_below: Option<usize>,
    /// ULMFiT gradual unfreezing: epoch e trains the top e layer groups.
    #[serde(default)]
    pub gradual_unfreezing: bool,
    /// ULMFiT discriminative learning rates: layer group g from the top trains at lr / factor^g.
    #[serde(default)]
    pub discriminative_lr: Option<f64>,
    /// DANN: γ of the gradient-reversal schedule λ = 2/(1+exp(−γ·p)) − 1 (None: no domain head training).
    #[serde(default)]
    pub dann_gamma: Option<f64>,
}

impl Default for TrainConfig {
    fn default() -> Self {
        Self {
            epochs: 5,
            batch_size: 32,
            max_len: 64,
            seed: 1,
            optimizer: AdamConfig { lr: 3e-3, max_grad_norm: 5.0, ..Default::default() },
            weight_decay: 0.0,
            schedule: LrSchedule::Constant,
            dropout: 0.0,
            monitor: Monitor::Accuracy,
            patience: None,
            read_every: 16,
            freeze: Vec::new(),
            freeze_embedding_rows_below: None,
            gradual_unfreezing: false,
            discriminative_lr: None,
            dann_gamma: None,
        }
    }
}

/// One line of the per-epoch log (also written as JSONL by the CLI).
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct EpochLog {
    /// The epoch (1-based).
    pub epoch: usize,
    /// Optimizer updates done at the epoch's end (counted over the whole run).
    pub updates: u64,
    /// Learning rate of the epoch's last update.
    pub lr: f64,
    /// Mean over the epoch's steps of each batch's mean cross-entropy.
    pub train_loss: f64,
    /// Share of the epoch's labelled training rows predicted right (while training).
    pub train_accuracy: f64,
    /// Mean cross-entropy on the validation rows after the epoch.
    pub valid_loss: f64,
    /// Validation accuracy after the epoch.
    pub valid_accuracy: f64,
    /// Validation macro-averaged F1 after the epoch.
    pub valid_macro_f1: f64,
    /// Training tokens (after truncation) per second of `seconds`.
    pub tokens_per_second: f64,
    /// Wall-clock seconds of the epoch's training steps (validation excluded).
    pub seconds: f64,
    /// Training rows truncated to `max_len`.
    pub truncated_rows: usize,
    /// DANN: λ of the gradient-reversal layer at the epoch's end.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lambda: Option<f64>,
    /// DANN: the domain head's accuracy on the epoch's training rows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domain_accuracy: Option<f64>,
    /// DANN: the domain head's accuracy on held-out rows of both domains (when given).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_domain_accuracy: Option<f64>,
    /// DANN: proxy A-distance 2(1 − 2ε) from that held-out domain error ε.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proxy_a_distance: Option<f64>,
}

/// Where a run stands; saved with the training state so `--resume` continues it.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct TrainState {
    /// Epochs completed.
    pub epoch: usize,
    /// Optimizer updates done (Adam's t; also the dropout counter).
    pub updates: u64,
    /// Best monitored score so far (higher is better) and its epoch.
    pub best_score: Option<f64>,
    /// Epoch (1-based) of `best_score`; 0 before the first epoch.
    pub best_epoch: usize,
    /// Epochs since the last improvement (compared with `patience`).
    pub epochs_without_improvement: usize,
    /// Early stopping ended the run before `epochs`.
    pub stopped_early: bool,
    /// One log per completed epoch.
    pub logs: Vec<EpochLog>,
}

/// Progress inside an epoch, for progress bars.
#[derive(Clone, Copy, Debug, Default)]
pub struct StepProgress {
    /// The epoch (1-based).
    pub epoch: usize,
    /// Batches done in this epoch (1-based).
    pub step: usize,
    /// Batches in this epoch.
    pub steps: usize,
    /// Running mean of the steps' cross-entropy over the epoch's readbacks so far.
    pub loss: f64,
    /// Running accuracy over the epoch's labelled rows read back so far.
    pub accuracy: f64,
    /// Training tokens per second since the epoch started.
    pub tokens_per_second: f64,
}

/// Hooks for the caller (progress display, checkpoints, logs). Errors stop training.
pub trait TrainObserver {
    /// After each step whose stats were read back (every `read_every` steps and at the epoch's end).
    fn step(&mut self, _progress: &StepProgress) {}
    /// After each epoch's validation; `improved` says whether this epoch is the new best.
    fn epoch_end(&mut self, _model: &Classifier, _state: &TrainState, _improved: bool) -> Result<()> {
        Ok(())
    }
}

impl TrainObserver for () {}

/// Loss and metrics of a model on labelled data.
#[derive(Clone, Debug)]
pub struct Evaluation {
    /// Mean cross-entropy.
    pub loss: f64,
    /// Accuracy, macro-F1, per-class scores and confusion matrix of the predictions.
    pub metrics: Metrics,
    /// Predicted class per row, in the data's order.
    pub predictions: Vec<u32>,
    /// Rows truncated to the maximum length.
    pub truncated_rows: usize,
}

/// Logits `[rows, classes]` of every row of `data`, in its order (labels are not used).
pub fn predict_logits(ctx: &GpuContext, model: &mut Classifier, data: &Dataset, batch_size: usize, max_len: usize) -> Result<(Vec<f32>, usize)> {
    let classes = model.cfg.classes;
    let plan = make_batches(data, batch_size, max_len, None);
    let mut out = vec![0.0f32; data.len() * classes];
    for (b, rows) in plan.batches.iter().zip(&plan.rows) {
        let logits = model.logits(ctx, b)?;
        for (i, &row) in rows.iter().enumerate() {
            out[row * classes..(row + 1) * classes].copy_from_slice(&logits[i * classes..(i + 1) * classes]);
        }
    }
    Ok((out, plan.truncated))
}

/// Index of the largest logit (the first on ties).
pub fn argmax(z: &[f32]) -> usize {
    (0..z.len()).fold(0, |m, c| if z[c] > z[m] { c } else { m })
}

/// Mean cross-entropy (f64, log-sum-exp) and metrics of the model on `data`.
pub fn evaluate(ctx: &GpuContext, model: &mut Classifier, data: &Dataset, labels: &[String], batch_size: usize,
                max_len: usize) -> Result<Evaluation> {
    if data.is_empty() {
        return Err(Error::InvalidInput("no examples to evaluate".into()));
    }
    let classes = model.cfg.classes;
    let (logits, truncated_rows) = predict_logits(ctx, model, data, batch_size, max_len)?;
    let mut loss = 0.0;
    let mut predictions = Vec::with_capacity(data.len());
    for (row, &label) in data.labels.iter().enumerate() {
        let z = &logits[row * classes..(row + 1) * classes];
        let max = z.iter().fold(f32::NEG_INFINITY, |a, &b| a.max(b)) as f64;
        let lse = max + z.iter().map(|&v| (v as f64 - max).exp()).sum::<f64>().ln();
        loss += lse - z[label as usize] as f64;
        predictions.push(argmax(z) as u32);
    }
    let metrics = Metrics::from_predictions(labels, &data.labels, &predictions)?;
    Ok(Evaluation { loss: loss / data.len() as f64, metrics, predictions, truncated_rows })
}

/// Applies the run's model-side settings for `epoch` (1-based): optimizer, dropout, weight decay,
/// frozen tensors and rows, gradual unfreezing and discriminative learning rates. Idempotent.
pub fn configure(ctx: &GpuContext, model: &mut Classifier, cfg: &TrainConfig, epoch: usize) -> Result<()> {
    model.set_optimizer(cfg.optimizer);
    model.set_dropout(cfg.dropout, cfg.seed)?;
    let mcfg = model.cfg;
    let names: Vec<String> = model.store.entries().iter().map(|e| e.name.clone()).collect();
    for name in &names {
        let pinned = cfg.freeze.iter().any(|p| pattern_matches(p, name));
        let scheduled = cfg.gradual_unfreezing && ulmfit::frozen_by_schedule(&mcfg, name, epoch);
        model.store.set_frozen(name, pinned || scheduled)?;
        model.store.set_weight_decay(name, cfg.weight_decay)?;
        model.store.set_lr_scale(name, cfg.discriminative_lr.map_or(1.0, |f| ulmfit::lr_scale(&mcfg, name, f)))?;
    }
    let mask = cfg.freeze_embedding_rows_below.map(|n| (0..mcfg.vocab).map(|row| row >= n).collect());
    model.store.set_row_mask("embedding.weight", mask)?;
    model.store.sync_options(ctx);
    Ok(())
}

/// The generator that shuffles epoch `epoch` (1-based) of a run seeded `seed`.
fn epoch_rng(seed: u64, epoch: usize) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15).wrapping_add(epoch as u64))
}

/// What a run trains and validates on.
#[derive(Clone, Copy)]
pub struct TrainData<'a> {
    /// Training rows (DANN: source and target rows with domains, target labels ignored).
    pub train: &'a Dataset,
    /// Labelled validation rows (they pick the best epoch).
    pub valid: &'a Dataset,
    /// Class names in id order.
    pub labels: &'a [String],
    /// DANN: held-out rows of both domains (with domains) for the domain head's accuracy.
    pub domain_valid: Option<&'a Dataset>,
}

/// Accuracy of the domain head on rows with domains.
pub fn domain_accuracy(ctx: &GpuContext, model: &mut Classifier, data: &Dataset, batch_size: usize, max_len: usize) -> Result<f64> {
    let plan = make_batches(data, batch_size, max_len, None);
    let domains = model.cfg.domains;
    let mut correct = 0usize;
    for b in &plan.batches {
        let (_, z) = model.logits_and_domains(ctx, b)?;
        let truth = b.domain_labels.as_ref().ok_or_else(|| Error::InvalidInput("domain accuracy needs rows with domains".into()))?;
        correct += z.chunks(domains).zip(truth).filter(|(z, d)| argmax(z) == **d as usize).count();
    }
    Ok(correct as f64 / data.len().max(1) as f64)
}

/// Trains from `state` (default: a fresh run) until `cfg.epochs` or early stopping.
pub fn train_classifier(ctx: &GpuContext, model: &mut Classifier, data: TrainData, cfg: &TrainConfig, mut state: TrainState,
                        observer: &mut dyn TrainObserver) -> Result<TrainState> {
    let TrainData { train, valid, labels, domain_valid } = data;
    if cfg.dann_gamma.is_some() && (model.cfg.domains == 0 || train.domains.is_none()) {
        return Err(Error::InvalidInput("DANN training needs a model with a domain head and training rows with domains".into()));
    }
    if train.is_empty() || valid.is_empty() {
        return Err(Error::InvalidInput(format!("training needs examples: {} train rows, {} valid rows", train.len(), valid.len())));
    }
    if cfg.batch_size == 0 || cfg.max_len == 0 {
        return Err(Error::InvalidInput("batch size and max length must be positive".into()));
    }
    model.updates = state.updates;
    let per_epoch = train.len().div_ceil(cfg.batch_size);
    let total_updates = (cfg.epochs * per_epoch) as u64;
    while state.epoch < cfg.epochs && !state.stopped_early {
        let epoch = state.epoch + 1;
        configure(ctx, model, cfg, epoch)?;
        let start = Instant::now();
        let plan = make_batches(train, cfg.batch_size, cfg.max_len, Some(&mut epoch_rng(cfg.seed, epoch)));
        let (mut loss, mut correct, mut rows, mut steps, mut tokens) = (0.0f64, 0.0f64, 0.0f64, 0u32, 0usize);
        let (mut domain_correct, mut domain_rows) = (0.0f64, 0.0f64);
        let mut lr = 0.0;
        for (i, b) in plan.batches.iter().enumerate() {
            lr = cfg.optimizer.lr as f64 * cfg.schedule.factor(model.updates, total_updates);
            model.set_learning_rate(lr as f32);
            if let Some(gamma) = cfg.dann_gamma {
                model.grl_lambda = dann::lambda(model.updates as f64 / total_updates.max(1) as f64, gamma);
            }
            let read = (i + 1) % cfg.read_every.max(1) == 0 || i + 1 == plan.batches.len();
            tokens += b.lengths.iter().map(|&l| l as usize).sum::<usize>();
            if let Some(s) = model.train_step(ctx, b, true, read)? {
                loss += s.loss_sum as f64;
                correct += s.correct as f64;
                rows += s.rows as f64;
                steps += s.steps;
                domain_correct += s.domain_correct as f64;
                domain_rows += s.domain_rows as f64;
                observer.step(&StepProgress {
                    epoch,
                    step: i + 1,
                    steps: plan.batches.len(),
                    loss: loss / steps.max(1) as f64,
                    accuracy: correct / rows.max(1.0),
                    tokens_per_second: tokens as f64 / start.elapsed().as_secs_f64(),
                });
            }
        }
        let seconds = start.elapsed().as_secs_f64();
        let eval = evaluate(ctx, model, valid, labels, cfg.batch_size, cfg.max_len)?;
        let log = EpochLog {
            epoch,
            updates: model.updates,
            lr,
            train_loss: loss / steps.max(1) as f64,
            train_accuracy: correct / rows.max(1.0),
            valid_loss: eval.loss,
            valid_accuracy: eval.metrics.accuracy,
            valid_macro_f1: eval.metrics.macro_f1,
            tokens_per_second: tokens as f64 / seconds,
            seconds,
            truncated_rows: plan.truncated,
            ..Default::default()
        };
        let mut log = log;
        if cfg.dann_gamma.is_some() {
            log.lambda = Some(model.grl_lambda as f64);
            log.domain_accuracy = Some(domain_correct / domain_rows.max(1.0));
            if let Some(dv) = domain_valid {
                let acc = domain_accuracy(ctx, model, dv, cfg.batch_size, cfg.max_len)?;
                log.valid_domain_accuracy = Some(acc);
                log.proxy_a_distance = Some(dann::proxy_a_distance(1.0 - acc));
            }
        }
        let score = cfg.monitor.score(&log);
        let improved = state.best_score.is_none_or(|best| score > best);
        if improved {
            state.best_score = Some(score);
            state.best_epoch = epoch;
            state.epochs_without_improvement = 0;
        } else {
            state.epochs_without_improvement += 1;
        }
        state.epoch = epoch;
        state.updates = model.updates;
        state.stopped_early = cfg.patience.is_some_and(|p| state.epochs_without_improvement >= p) && epoch < cfg.epochs;
        state.logs.push(log);
        observer.epoch_end(model, &state, improved)?;
    }
    Ok(state)
}
