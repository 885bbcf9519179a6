//! The classifier's training: its settings, the per-epoch log, evaluation, and the task that plugs into
//! the shared loop ([`crate::core::fit`]): epochs over length-bucketed batches, a learning-rate schedule,
//! validation metrics, the best model by a monitored metric, early stopping, and a training state that
//! resumes the same run bit for bit.
//!
//! Determinism: epoch e shuffles with a generator seeded from (seed, e), dropout masks are keyed
//! by (seed, update), and every kernel reduces in a fixed order — so the same seed on the same
//! adapter gives the same losses, and a run resumed from its state continues exactly.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use super::finetune;
use super::metrics::{Metrics, proxy_a_distance};
use super::model::{Classifier, ClassifierConfig};
use crate::config::OptimConfig;
use crate::config::schedule::grl_lambda;
use crate::config::validate::{MAX_SIZE, check_count, check_finite_range, check_non_negative, check_size};
use crate::core::fit::{DEFAULT_READ_EVERY, EpochTask, FitLimits, FitObserver, FitState, Phase, ReadCadence, StepProgress, fit, run_steps};
use crate::core::lr_find::{LrFind, LrFindConfig, lr_find};
use crate::data::{Dataset, make_batches};
use crate::error::{Error, Result};
use crate::gpu::GpuContext;
use crate::params::{ParamStore, pattern_matches};

/// The metric that picks the best epoch and drives early stopping.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
#[serde(rename_all = "kebab-case")]
pub enum Monitor {
    /// Validation loss (lower is better).
    Loss,
    /// Validation accuracy.
    #[default]
    #[cfg_attr(feature = "cli", value(alias = "acc"))]
    Accuracy,
    /// Validation macro-averaged F1.
    #[cfg_attr(feature = "cli", value(alias = "f1"))]
    MacroF1,
}

impl Monitor {
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
    /// Optimizer, weight decay and learning-rate schedule (stored flat beside the other fields).
    #[serde(flatten)]
    pub optim: OptimConfig,
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
            optim: OptimConfig::adam(3e-3, 5.0),
            dropout: 0.0,
            monitor: Monitor::Accuracy,
            patience: None,
            read_every: DEFAULT_READ_EVERY,
            freeze: Vec::new(),
            freeze_embedding_rows_below: None,
            gradual_unfreezing: false,
            discriminative_lr: None,
            dann_gamma: None,
        }
    }
}

impl TrainConfig {
    /// Refuses zero, negative, NaN and oversized settings before any GPU work, naming the option.
    pub fn validate(&self) -> Result<()> {
        check_size("epochs", self.epochs, MAX_SIZE)?;
        check_size("batch-size", self.batch_size, MAX_SIZE)?;
        check_size("max-len", self.max_len, MAX_SIZE)?;
        self.optim.validate()?;
        check_finite_range("dropout", self.dropout as f64, 0.0, 1.0)?;
        if let Some(p) = self.patience {
            check_size("patience", p, MAX_SIZE)?;
        }
        check_size("read-every", self.read_every, MAX_SIZE)?;
        if let Some(n) = self.freeze_embedding_rows_below {
            check_count("freeze-embedding-rows-below", n, MAX_SIZE)?;
        }
        if let Some(f) = self.discriminative_lr {
            check_finite_range("discriminative-lr", f, 1.0, 1e6)?;
        }
        if let Some(g) = self.dann_gamma {
            check_non_negative("gamma", g)?;
        }
        Ok(())
    }

    /// Refuses a `freeze` pattern that matches no tensor of a model of `model` (a typo would otherwise
    /// train everything without a word), listing the tensors.
    pub fn check_patterns(&self, model: &ClassifierConfig) -> Result<()> {
        let names: Vec<String> = model.param_specs().into_iter().map(|(n, _)| n).collect();
        match self.freeze.iter().find(|p| !names.iter().any(|n| pattern_matches(p, n))) {
            Some(p) => {
                Err(Error::InvalidInput(format!("--freeze '{p}' matches no tensor of the model; its tensors: {}", names.join(", "))))
            }
            None => Ok(()),
        }
    }

    /// Updates of a whole run over `rows` training rows (the learning-rate schedule's horizon).
    pub fn total_updates(&self, rows: usize) -> u64 {
        (self.epochs * rows.div_ceil(self.batch_size)) as u64
    }

    /// How long the shared loop runs this configuration.
    pub fn limits(&self) -> FitLimits {
        FitLimits { epochs: self.epochs, patience: self.patience }
    }
}

/// One layer group's parameters as a run trains them in a given epoch.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct GroupSummary {
    /// `head`, `lstm layer K` or `embedding` (the fine-tuning groups, top first).
    pub name: String,
    /// Tensors in the group.
    pub tensors: usize,
    /// Parameters in the group.
    pub params: usize,
    /// Parameters updated in that epoch (frozen tensors and frozen embedding rows excluded).
    pub trainable: usize,
}

/// The trainable and frozen parameters of each layer group of `model` in `epoch` (1-based) of a run
/// with settings `cfg`: pinned `freeze` patterns, gradual unfreezing and frozen embedding rows.
pub fn parameter_summary(model: &ClassifierConfig, cfg: &TrainConfig, epoch: usize) -> Vec<GroupSummary> {
    let shapes: std::collections::HashMap<String, usize> = model.param_specs().into_iter().map(|(n, s)| (n, s.iter().product())).collect();
    let groups = finetune::layer_groups(model);
    let last = groups.len() - 1;
    groups
        .iter()
        .enumerate()
        .map(|(g, names)| {
            let name = match g {
                0 => "head".to_string(),
                g if g == last => "embedding".to_string(),
                g => format!("lstm layer {}", model.layers - g),
            };
            let params = names.iter().map(|n| shapes[n]).sum();
            let trainable = names
                .iter()
                .map(|n| {
                    let frozen = cfg.freeze.iter().any(|p| pattern_matches(p, n))
                        || (cfg.gradual_unfreezing && finetune::frozen_by_schedule(model, n, epoch));
                    match (frozen, cfg.freeze_embedding_rows_below) {
                        (true, _) => 0,
                        (false, Some(rows)) if n == "embedding.weight" => model.vocab.saturating_sub(rows) * model.embed,
                        _ => shapes[n],
                    }
                })
                .sum();
            GroupSummary { name, tensors: names.len(), params, trainable }
        })
        .collect()
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

/// Where a classifier run stands; saved with the training state so `--resume` continues it.
pub type TrainState = FitState<EpochLog>;

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
pub fn predict_logits(
    ctx: &GpuContext,
    model: &mut Classifier,
    data: &Dataset,
    batch_size: usize,
    max_len: usize,
) -> Result<(Vec<f32>, usize)> {
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
pub fn evaluate(
    ctx: &GpuContext,
    model: &mut Classifier,
    data: &Dataset,
    labels: &[String],
    batch_size: usize,
    max_len: usize,
) -> Result<Evaluation> {
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
    model.step.configure(ctx, &mut model.store, &cfg.optim);
    model.set_dropout(cfg.dropout, cfg.seed)?;
    let mcfg = model.cfg;
    let names: Vec<String> = model.store.entries().iter().map(|e| e.name.clone()).collect();
    for name in &names {
        let pinned = cfg.freeze.iter().any(|p| pattern_matches(p, name));
        let scheduled = cfg.gradual_unfreezing && finetune::frozen_by_schedule(&mcfg, name, epoch);
        model.store.set_frozen(name, pinned || scheduled)?;
        model.store.set_lr_scale(name, cfg.discriminative_lr.map_or(1.0, |f| finetune::lr_scale(&mcfg, name, f)))?;
    }
    let mask = cfg.freeze_embedding_rows_below.map(|n| (0..mcfg.vocab).map(|row| row >= n).collect());
    model.store.set_row_mask("embedding.weight", mask)?;
    model.store.sync_options(ctx);
    Ok(())
}

/// Sets the next update's learning rate (the schedule over `total` updates) and, for DANN, the
/// gradient reversal's λ; returns the rate.
pub(crate) fn set_step_rates(model: &mut Classifier, cfg: &TrainConfig, total: u64) -> f64 {
    let updates = model.step.updates();
    let lr = cfg.optim.lr_at(updates, total);
    model.step.set_learning_rate(lr as f32);
    if let Some(gamma) = cfg.dann_gamma {
        model.grl_lambda = grl_lambda(updates as f64 / total.max(1) as f64, gamma);
    }
    lr
}

/// The generator that shuffles epoch `epoch` (1-based) of a run seeded `seed`.
pub(crate) fn epoch_rng(seed: u64, epoch: usize) -> ChaCha8Rng {
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

/// One classifier run as the shared loop drives it: the model, its data and settings.
pub struct ClassifierRun<'a> {
    /// The device.
    pub ctx: &'a GpuContext,
    /// The model being trained.
    pub model: &'a mut Classifier,
    /// Its training and validation rows.
    pub data: TrainData<'a>,
    /// The run's settings.
    pub cfg: &'a TrainConfig,
    /// Updates over all epochs (the schedules' horizon).
    total_updates: u64,
}

impl EpochTask for ClassifierRun<'_> {
    type Log = EpochLog;

    fn run_epoch(&mut self, epoch: usize, progress: &mut dyn FnMut(&StepProgress)) -> Result<EpochLog> {
        let (ctx, cfg, total) = (self.ctx, self.cfg, self.total_updates);
        let TrainData { train, valid, labels, domain_valid } = self.data;
        configure(ctx, self.model, cfg, epoch)?;
        let plan = make_batches(train, cfg.batch_size, cfg.max_len, Some(&mut epoch_rng(cfg.seed, epoch)));
        let model = &mut *self.model;
        let mut lr = 0.0;
        let sums = run_steps(
            ctx,
            epoch,
            Phase::Train,
            plan.batches.len(),
            ReadCadence::every(cfg.read_every),
            |i, read| {
                let b = &plan.batches[i];
                lr = set_step_rates(model, cfg, total);
                let tokens = b.lengths.iter().map(|&l| l as usize).sum();
                Ok((model.train_step(ctx, b, true, read)?, tokens))
            },
            progress,
        )?;
        let eval = evaluate(ctx, model, valid, labels, cfg.batch_size, cfg.max_len)?;
        let mut log = EpochLog {
            epoch,
            updates: model.step.updates(),
            lr,
            train_loss: sums.mean_loss(),
            train_accuracy: sums.accuracy(),
            valid_loss: eval.loss,
            valid_accuracy: eval.metrics.accuracy,
            valid_macro_f1: eval.metrics.macro_f1,
            tokens_per_second: sums.items_per_second(),
            seconds: sums.seconds,
            truncated_rows: plan.truncated,
            ..Default::default()
        };
        if cfg.dann_gamma.is_some() {
            log.lambda = Some(model.grl_lambda as f64);
            log.domain_accuracy = Some(sums.domain_accuracy());
            if let Some(dv) = domain_valid {
                let acc = domain_accuracy(ctx, model, dv, cfg.batch_size, cfg.max_len)?;
                log.valid_domain_accuracy = Some(acc);
                log.proxy_a_distance = Some(proxy_a_distance(1.0 - acc));
            }
        }
        Ok(log)
    }

    fn score(&self, log: &EpochLog) -> f64 {
        self.cfg.monitor.score(log)
    }

    fn updates(&self) -> u64 {
        self.model.step.updates()
    }

    fn store(&self) -> &ParamStore {
        &self.model.store
    }
}

/// The learning-rate range test on `train` (its batches cycled in shuffled epochs), with the run's
/// other settings (freezing, dropout, weight decay); it changes the model's weights.
pub fn lr_find_classifier(
    ctx: &GpuContext,
    model: &mut Classifier,
    train: &Dataset,
    cfg: &TrainConfig,
    find: LrFindConfig,
) -> Result<LrFind> {
    cfg.validate()?;
    configure(ctx, model, cfg, 1)?;
    let mut batches = Vec::new();
    lr_find(find, |i, lr| {
        if i % batches.len().max(1) == 0 {
            batches = make_batches(train, cfg.batch_size, cfg.max_len, Some(&mut epoch_rng(cfg.seed, i + 1))).batches;
        }
        model.step.set_learning_rate(lr);
        let stats = model.train_step(ctx, &batches[i % batches.len()], true, true)?.expect("read back");
        Ok(stats.loss_sum as f64)
    })
}

/// Trains from `state` (default: a fresh run) until `cfg.epochs` or early stopping.
pub fn train_classifier<'a>(
    ctx: &'a GpuContext,
    model: &'a mut Classifier,
    data: TrainData<'a>,
    cfg: &'a TrainConfig,
    state: TrainState,
    observer: &mut dyn FitObserver<ClassifierRun<'a>>,
) -> Result<TrainState> {
    cfg.validate()?;
    cfg.check_patterns(&model.cfg)?;
    let TrainData { train, valid, .. } = data;
    if cfg.dann_gamma.is_some() && (model.cfg.domains == 0 || train.domains.is_none()) {
        return Err(Error::InvalidInput("DANN training needs a model with a domain head and training rows with domains".into()));
    }
    if train.is_empty() || valid.is_empty() {
        return Err(Error::InvalidInput(format!("training needs examples: {} train rows, {} valid rows", train.len(), valid.len())));
    }
    model.step.set_updates(state.updates);
    let total_updates = cfg.total_updates(train.len());
    let mut run = ClassifierRun { ctx, model, data, cfg, total_updates };
    fit(&mut run, cfg.limits(), state, observer)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Pooling;

    #[test]
    fn the_summary_counts_what_each_epoch_trains() {
        let model = ClassifierConfig {
            vocab: 10,
            embed: 4,
            hidden: 3,
            layers: 2,
            bidirectional: false,
            classes: 2,
            domains: 0,
            pooling: Pooling::Last,
        };
        let cfg = TrainConfig { gradual_unfreezing: true, freeze_embedding_rows_below: Some(6), ..Default::default() };
        let epoch1 = parameter_summary(&model, &cfg, 1);
        let names: Vec<&str> = epoch1.iter().map(|g| g.name.as_str()).collect();
        assert_eq!(names, ["head", "lstm layer 1", "lstm layer 0", "embedding"]);
        assert_eq!((epoch1[0].params, epoch1[0].trainable), (2 * 3 + 2, 8));
        assert!(epoch1[1..].iter().all(|g| g.trainable == 0));
        let epoch4 = parameter_summary(&model, &cfg, 4);
        assert_eq!((epoch4[3].params, epoch4[3].trainable), (40, 16), "only the 4 new rows of the embedding train");
        let pinned = TrainConfig { freeze: vec!["lstm.*_l0".into()], ..Default::default() };
        let summary = parameter_summary(&model, &pinned, 1);
        assert_eq!(summary[2].trainable, 0);
        assert_eq!(summary[1].trainable, summary[1].params);
    }
}
