//! The transfer experiment: pretrain (or load) a source model, then for every target, label budget,
//! seed and method fine-tune on n labelled target rows and measure accuracy on a fixed test set.
//! [`report`] turns the runs into `report.md`, `results.json` and plots.
//!
//! Protocol (as in the PyTorch baseline of ../shared/data/transfer_baseline.md): per target a fixed
//! stratified test set (class proportions of the data); the n labels are a seeded stratified sample of the remaining pool; the
//! epoch is chosen on a stratified `valid_fraction` of the n labels (validation loss); every method
//! sees the same n labels for a given seed.

pub mod config;
pub mod report;

use std::collections::HashMap;
use std::path::Path;
use std::time::Instant;

use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

pub use config::ExperimentConfig;

use crate::checkpoint::{save_classifier, Checkpoint, ModelInfo, TensorMap, TOKENIZER};
use crate::data::{encode_rows, label_names, read_table, split, tokenize, Dataset, ReadOptions, TextRow, Vocab};
use crate::error::{Error, Result};
use crate::gpu::GpuContext;
use crate::kernels::loss::IGNORE_LABEL;
use crate::kernels::optimizer::AdamConfig;
use crate::model::{Classifier, ClassifierConfig};
use crate::schedule::LrSchedule;
use crate::train::{evaluate, train_classifier, Monitor, TrainConfig, TrainData, TrainObserver, TrainState};
use crate::transfer::{self, ulmfit, TransferOptions};

/// One fine-tuning run.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct RunResult {
    /// Name of the target (`TargetSpec::name`).
    pub target: String,
    /// Labelled target rows used (train + validation).
    pub budget: usize,
    /// The run's seed (label sample, split, initialisation, shuffles).
    pub seed: u64,
    /// One of `config::METHODS`.
    pub method: String,
    /// Accuracy on the target's fixed test rows (the model at its best epoch).
    pub test_accuracy: f64,
    /// Macro-averaged F1 on the same test rows.
    pub test_macro_f1: f64,
    /// Epoch picked on the validation labels (0 for source-only).
    pub best_epoch: usize,
    /// Validation accuracy per epoch (the learning curve).
    pub curve: Vec<f64>,
    /// Wall-clock seconds of the run: training and test evaluation.
    pub seconds: f64,
    /// DANN: proxy A-distance of the last epoch (held-out source vs target rows).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proxy_a_distance: Option<f64>,
}

/// Keeps the parameters of the best epoch in host memory.
struct KeepBest<'a> {
    ctx: &'a GpuContext,
    best: Option<TensorMap>,
}

impl TrainObserver for KeepBest<'_> {
    fn epoch_end(&mut self, model: &Classifier, _: &TrainState, improved: bool) -> Result<()> {
        if improved {
            let ctx = self.ctx;
            self.best = Some(model.store.download(ctx)?.into_iter().map(|(n, s, v)| (n, (s, v))).collect());
        }
        Ok(())
    }
}

/// Trains `model` and leaves it at its best epoch; returns the run's log.
fn fit(ctx: &GpuContext, model: &mut Classifier, data: TrainData, cfg: &TrainConfig) -> Result<TrainState> {
    let mut keep = KeepBest { ctx, best: None };
    let state = train_classifier(ctx, model, data, cfg, TrainState::default(), &mut keep)?;
    if let Some(best) = keep.best {
        model.load_params(ctx, &best)?;
    }
    Ok(state)
}

/// Labelled rows of one or more files.
fn read_labelled(paths: &[impl AsRef<Path>]) -> Result<Vec<TextRow>> {
    let mut rows = Vec::new();
    for p in paths {
        rows.extend(read_table(p.as_ref(), &ReadOptions::default())?.rows);
    }
    Ok(rows)
}

/// A seeded stratified sample of `n` of `rows` (largest-remainder allocation per label); returns
/// (sample, rest), both in a seeded order.
fn stratified(rows: &[TextRow], n: usize, seed: u64) -> (Vec<TextRow>, Vec<TextRow>) {
    let mut by_label: Vec<(String, Vec<TextRow>)> = Vec::new();
    for r in rows {
        let label = r.label.clone().unwrap_or_default();
        match by_label.iter_mut().find(|(l, _)| *l == label) {
            Some((_, v)) => v.push(r.clone()),
            None => by_label.push((label, vec![r.clone()])),
        }
    }
    by_label.sort_by(|a, b| a.0.cmp(&b.0));
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let n = n.min(rows.len());
    let quotas: Vec<f64> = by_label.iter().map(|(_, v)| n as f64 * v.len() as f64 / rows.len() as f64).collect();
    let mut take: Vec<usize> = quotas.iter().map(|q| q.floor() as usize).collect();
    let mut order: Vec<usize> = (0..quotas.len()).collect();
    order.sort_by(|&a, &b| (quotas[b] - quotas[b].floor()).total_cmp(&(quotas[a] - quotas[a].floor())));
    for &i in order.iter().take(n - take.iter().sum::<usize>()) {
        take[i] += 1;
    }
    let (mut sample, mut rest) = (Vec::new(), Vec::new());
    for ((_, mut v), k) in by_label.into_iter().zip(take) {
        v.shuffle(&mut rng);
        rest.extend(v.split_off(k));
        sample.extend(v);
    }
    sample.shuffle(&mut rng);
    rest.shuffle(&mut rng);
    (sample, rest)
}

/// The source model: trained on the configured data, or loaded.
fn source_model(ctx: &GpuContext, cfg: &ExperimentConfig, out: &Path, log: &mut dyn FnMut(&str)) -> Result<Checkpoint> {
    if let Some(path) = &cfg.source.checkpoint {
        return crate::checkpoint::load(path, None);
    }
    let rows = read_labelled(&cfg.source.data)?;
    let labels = label_names(rows.iter().filter_map(|r| r.label.as_deref()));
    let (train_idx, valid_idx) = split(rows.len(), 0.1, 0);
    let pick = |idx: &[usize]| idx.iter().map(|&i| rows[i].clone()).collect::<Vec<_>>();
    let (train_rows, valid_rows) = (pick(&train_idx), pick(&valid_idx));
    let texts: Vec<Vec<String>> = train_rows.iter().map(|r| tokenize(&r.text)).collect();
    let vocab = Vocab::build(texts.iter().map(Vec::as_slice), cfg.source.min_freq, 30_000);
    let m = &cfg.model;
    let mcfg = ClassifierConfig {
        vocab: vocab.len(), embed: m.embed, hidden: m.hidden, layers: m.layers, bidirectional: m.bidirectional,
        classes: labels.len(), domains: 0, pooling: m.pooling,
    };
    let source_path = Path::new("source");
    let (train, valid) = (encode_rows(&train_rows, &vocab, &labels, source_path)?, encode_rows(&valid_rows, &vocab, &labels, source_path)?);
    let tc = TrainConfig {
        epochs: cfg.source.epochs, batch_size: 32, max_len: cfg.finetune.max_len, seed: 0, dropout: m.dropout,
        optimizer: AdamConfig { lr: cfg.source.lr, max_grad_norm: 5.0, ..Default::default() }, ..Default::default()
    };
    let start = Instant::now();
    let mut model = Classifier::new(ctx, mcfg, tc.batch_size, tc.max_len, 0)?;
    let state = fit(ctx, &mut model, TrainData { train: &train, valid: &valid, labels: &labels, domain_valid: None }, &tc)?;
    let best = &state.logs[state.best_epoch - 1];
    log(&format!("source: {} train / {} valid rows, vocabulary {}; best epoch {} valid accuracy {:.3} ({:.0} s, {:.0} tokens/s)",
                 train.len(), valid.len(), vocab.len(), state.best_epoch, best.valid_accuracy, start.elapsed().as_secs_f64(),
                 best.tokens_per_second));
    let info = ModelInfo { config: mcfg, labels, max_len: tc.max_len, tokenizer: TOKENIZER.into() };
    let path = out.join("source.safetensors");
    save_classifier(&path, ctx, &model, &info, Some(&vocab.tokens))?;
    crate::checkpoint::load(&path, None)
}

/// The target rows of one (target, budget, seed): train / valid labelled rows, the unlabelled pool
/// and the fixed test rows.
struct TargetSplit<'a> {
    train: Vec<TextRow>,
    valid: Vec<TextRow>,
    pool: &'a [TextRow],
    test: &'a [TextRow],
    labels: &'a [String],
}

/// Runs the whole experiment; `log` gets one line per run.
pub fn run(ctx: &GpuContext, cfg: &ExperimentConfig, out: &Path, log: &mut dyn FnMut(&str)) -> Result<Vec<RunResult>> {
    std::fs::create_dir_all(out).map_err(|e| Error::File { path: out.into(), message: e.to_string() })?;
    let source = source_model(ctx, cfg, out, log)?;
    let source_rows = if cfg.source.data.is_empty() { Vec::new() } else { read_labelled(&cfg.source.data)? };
    let lm_source = cfg.source.lm_checkpoint.as_ref().map(|p| crate::checkpoint::load(p, None)).transpose()?;
    let mut results = Vec::new();
    for target in &cfg.targets {
        let rows = read_labelled(std::slice::from_ref(&target.data))?;
        let labels = label_names(rows.iter().filter_map(|r| r.label.as_deref()));
        if target.test_size >= rows.len() {
            return Err(Error::InvalidInput(format!("target {}: test_size {} leaves no rows of {} to train on", target.name, target.test_size, rows.len())));
        }
        let (test, pool) = stratified(&rows, target.test_size, 0);
        for &budget in &cfg.budgets {
            let n = if budget == 0 { pool.len() } else { budget.min(pool.len()) };
            for &seed in &cfg.seeds {
                let (labelled, _) = stratified(&pool, n, seed);
                let n_valid = ((n as f64) * cfg.finetune.valid_fraction).round().max(1.0) as usize;
                let (valid, train) = stratified(&labelled, n_valid, seed.wrapping_add(1000));
                let split = TargetSplit { train, valid, pool: &pool, test: &test, labels: &labels };
                for method in &cfg.methods {
                    let start = Instant::now();
                    let mut r = run_method(ctx, cfg, &source, lm_source.as_ref(), &source_rows, &split, method, seed)?;
                    (r.target, r.budget, r.seed, r.seconds) = (target.name.clone(), n, seed, start.elapsed().as_secs_f64());
                    log(&format!("{} n={n} seed={seed} {method:<11} test accuracy {:.3}  macro-F1 {:.3}  (best epoch {}, {:.1} s)",
                                 r.target, r.test_accuracy, r.test_macro_f1, r.best_epoch, r.seconds));
                    results.push(r);
                }
            }
        }
        report::write_results(out, &results)?;
    }
    Ok(results)
}

fn encode(rows: &[TextRow], vocab: &Vocab, labels: &[String]) -> Result<Dataset> {
    encode_rows(rows, vocab, labels, Path::new("target"))
}

/// One method on one split.
fn run_method(ctx: &GpuContext, cfg: &ExperimentConfig, source: &Checkpoint, lm_source: Option<&Checkpoint>, source_rows: &[TextRow],
              s: &TargetSplit, method: &str, seed: u64) -> Result<RunResult> {
    let ft = &cfg.finetune;
    let src_cfg = source.info.config;
    let same_labels = source.info.labels == s.labels;
    let mut tc = TrainConfig {
        epochs: ft.epochs, batch_size: ft.batch_size, max_len: ft.max_len, seed, dropout: cfg.model.dropout,
        optimizer: AdamConfig { lr: ft.transfer_lr, max_grad_norm: 5.0, ..Default::default() }, monitor: Monitor::Loss, read_every: 8,
        ..Default::default()
    };
    let texts: Vec<Vec<String>> = s.train.iter().map(|r| tokenize(&r.text)).collect();
    let source_vocab = source.vocab.clone().ok_or_else(|| Error::InvalidInput("the source model has no vocabulary".into()))?;
    // Vocabulary and model configuration per method.
    let mut exclude = Vec::new();
    let mut lm_from: Option<&Checkpoint> = None;
    let (vocab, rows, mcfg): (Vocab, Option<Vec<Option<usize>>>, ClassifierConfig) = match method {
        "scratch" => {
            let v = Vocab::build(texts.iter().map(Vec::as_slice), 1, 30_000);
            tc.optimizer.lr = ft.lr;
            // The source's architecture; a language-model source has no pooling of its own, so the
            // classifier pools as configured (as lm-ulmfit does).
            let pooling = if src_cfg.classes == 0 { cfg.model.pooling } else { src_cfg.pooling };
            let c = ClassifierConfig { vocab: v.len(), classes: s.labels.len(), domains: 0, pooling, ..src_cfg };
            (v, None, c)
        }
        "source-only" => {
            if !same_labels {
                return Err(Error::InvalidInput(format!("source-only needs the source's labels {:?}, the target has {:?}", source.info.labels, s.labels)));
            }
            let v = Vocab::from_tokens(source_vocab.clone())?;
            let mut model = source.classifier(ctx, ft.batch_size, ft.max_len)?;
            let eval = evaluate(ctx, &mut model, &encode(s.test, &v, s.labels)?, s.labels, ft.batch_size, ft.max_len)?;
            return Ok(result(method, &eval, 0, Vec::new()));
        }
        _ => {
            let mut all_texts = texts.clone();
            if method == "dann" {
                all_texts.extend(s.pool.iter().map(|r| tokenize(&r.text)));
            }
            let from = if method == "lm-ulmfit" { lm_source.ok_or_else(|| Error::InvalidInput("lm-ulmfit needs [source] lm_checkpoint".into()))? } else { source };
            let plan = transfer::plan_target(from, &all_texts, s.labels, 1, 30_000)?;
            let mut c = plan.config;
            match method {
                "freeze" => tc.freeze_embedding_rows_below = Some(source_vocab.len()),
                "ulmfit" | "lm-ulmfit" => {
                    if method == "lm-ulmfit" {
                        // A language model has no head to keep: the classifier pools as configured.
                        c.pooling = cfg.model.pooling;
                    }
                    tc.gradual_unfreezing = true;
                    tc.discriminative_lr = Some(ulmfit::DEFAULT_FACTOR);
                    tc.schedule = LrSchedule::SlantedTriangular { cut_frac: 0.1, ratio: 32.0 };
                    tc.optimizer.lr = ft.lr;
                }
                "hetero" => c.hidden = cfg.model.hetero_hidden.unwrap_or(2 * src_cfg.hidden),
                "dann" => {
                    c.domains = 2;
                    tc.epochs = ft.dann_epochs;
                    tc.dann_gamma = Some(10.0);
                }
                _ => {}
            }
            exclude = plan.exclude;
            lm_from = (method == "lm-ulmfit").then_some(from);
            (plan.aligned.vocab, Some(plan.aligned.rows), c)
        }
    };
    let mut model = Classifier::new(ctx, mcfg, tc.batch_size, tc.max_len, seed)?;
    if let Some(rows) = &rows {
        transfer::apply(ctx, &model, lm_from.unwrap_or(source), rows, &TransferOptions { copy: vec!["*".into()], exclude, seed })?;
    }
    let (mut train, valid, test) = (encode(&s.train, &vocab, s.labels)?, encode(&s.valid, &vocab, s.labels)?, encode(s.test, &vocab, s.labels)?);
    let mut domain_valid = None;
    if method == "dann" {
        // Labelled source rows (domain 0) + the n target labels and the unlabelled pool (domain 1).
        let (sample, _) = stratified(source_rows, ft.dann_source_rows, seed);
        let (src_fit, src_held) = sample.split_at(sample.len() * 9 / 10);
        let src = Dataset { domains: Some(vec![0; src_fit.len()]), ..encode(src_fit, &vocab, s.labels)? };
        let labelled = Dataset { domains: Some(vec![1; train.len()]), ..train.clone() };
        let unlabelled_rows: Vec<&TextRow> = s.pool.iter().cycle().take(src_fit.len()).collect();
        let unlabelled = Dataset {
            ids: unlabelled_rows.iter().map(|r| vocab.encode(&r.text)).collect(),
            labels: vec![IGNORE_LABEL; unlabelled_rows.len()],
            domains: Some(vec![1; unlabelled_rows.len()]),
        };
        train = src.concat(&labelled).concat(&unlabelled);
        let held_src = Dataset { domains: Some(vec![0; src_held.len()]), ..encode(src_held, &vocab, s.labels)? };
        let held_tgt_rows = &s.pool[s.pool.len().saturating_sub(src_held.len())..];
        let held_tgt = Dataset {
            ids: held_tgt_rows.iter().map(|r| vocab.encode(&r.text)).collect(),
            labels: vec![IGNORE_LABEL; held_tgt_rows.len()],
            domains: Some(vec![1; held_tgt_rows.len()]),
        };
        domain_valid = Some(held_src.concat(&held_tgt));
    }
    let data = TrainData { train: &train, valid: &valid, labels: s.labels, domain_valid: domain_valid.as_ref() };
    let state = fit(ctx, &mut model, data, &tc)?;
    let eval = evaluate(ctx, &mut model, &test, s.labels, ft.batch_size, ft.max_len)?;
    let curve = state.logs.iter().map(|l| l.valid_accuracy).collect();
    let mut r = result(method, &eval, state.best_epoch, curve);
    r.proxy_a_distance = state.logs.last().and_then(|l| l.proxy_a_distance);
    Ok(r)
}

fn result(method: &str, eval: &crate::train::Evaluation, best_epoch: usize, curve: Vec<f64>) -> RunResult {
    RunResult {
        target: String::new(), budget: 0, seed: 0, method: method.into(), test_accuracy: eval.metrics.accuracy,
        test_macro_f1: eval.metrics.macro_f1, best_epoch, curve, seconds: 0.0, proxy_a_distance: None,
    }
}

/// Mean of each method's curves, for plots.
pub fn mean_curves(results: &[RunResult]) -> HashMap<String, Vec<f64>> {
    let mut sums: HashMap<String, (Vec<f64>, Vec<usize>)> = HashMap::new();
    for r in results {
        let (s, c) = sums.entry(r.method.clone()).or_default();
        if s.len() < r.curve.len() {
            s.resize(r.curve.len(), 0.0);
            c.resize(r.curve.len(), 0);
        }
        for (i, v) in r.curve.iter().enumerate() {
            s[i] += v;
            c[i] += 1;
        }
    }
    sums.into_iter().map(|(m, (s, c))| (m, s.iter().zip(c).map(|(s, c)| s / c.max(1) as f64).collect())).collect()
}
