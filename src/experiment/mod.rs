//! The transfer experiment: pretrain (or load) a source model, then for every target, label budget,
//! seed and method fine-tune on n labelled target rows and measure accuracy on a fixed test set.
//! [`report`] turns the runs into `report.md`, `results.json` and plots.
//!
//! Protocol (as in the PyTorch baseline of ../shared/data/transfer_baseline.md): per target a fixed
//! stratified test set (class proportions of the data); the n labels are a seeded stratified sample of the remaining pool; the
//! epoch is chosen on a stratified `valid_fraction` of the n labels (validation loss); every method
//! sees the same n labels for a given seed.

mod check_report;
pub mod config;
pub mod report;
mod self_train;
pub mod series;
pub mod series_report;
pub mod shard;

use std::path::{Path, PathBuf};
use web_time::Instant;

use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

pub use config::{Arm, ExperimentConfig};
pub use shard::{Shard, ShardResults};

use crate::config::OptimConfig;
use crate::core::fit::KeepBest;
use crate::data::{Dataset, ReadOptions, TextRow, Vocab, encode_rows, label_names, read_table, split, tokenize};
use crate::error::{Error, Result};
use crate::gpu::GpuContext;
use crate::tasks::classify::checkpoint::{Checkpoint, ModelInfo, TOKENIZER, save_classifier};
use crate::tasks::classify::train::Evaluation;
use crate::tasks::classify::{Classifier, ClassifierConfig, Monitor, TrainConfig, TrainData, TrainState, evaluate, train_classifier};
use crate::transfer::check::{Transferability, check};
use crate::transfer::dann::{DannData, dann_data};
use crate::transfer::{self, Method, NewWords, Recipe, TransferOptions, load_source};

/// One fine-tuning run.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct RunResult {
    /// Name of the target (`TargetSpec::name`).
    pub target: String,
    /// Labelled target rows used (train + validation).
    pub budget: usize,
    /// The run's seed (label sample, split, initialisation, shuffles).
    pub seed: u64,
    /// The arm's name ([`Arm::name`]).
    pub method: String,
    /// Accuracy on the target's fixed test rows (the model at its best epoch).
    pub test_accuracy: f64,
    /// Macro-averaged F1 on the same test rows.
    pub test_macro_f1: f64,
    /// Epoch picked on the validation labels (0 for source-only).
    pub best_epoch: usize,
    /// Validation accuracy per epoch (the learning curve).
    pub curve: Vec<f64>,
    /// Mean training loss per epoch (empty in results written before it was recorded).
    #[serde(default)]
    pub train_loss_curve: Vec<f64>,
    /// Validation loss per epoch.
    #[serde(default)]
    pub valid_loss_curve: Vec<f64>,
    /// Wall-clock seconds of the run: training and test evaluation.
    pub seconds: f64,
    /// DANN: proxy A-distance of the last epoch (held-out source vs target rows).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proxy_a_distance: Option<f64>,
    /// The transferability check of the run's split (its n labels), on the first run of each split
    /// when the experiment's `check` is on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub check: Option<Transferability>,
}

/// Trains `model` and leaves it at its best epoch; returns the run's log.
fn fit(ctx: &GpuContext, model: &mut Classifier, data: TrainData, cfg: &TrainConfig) -> Result<TrainState> {
    let mut keep = KeepBest::new(ctx);
    let state = train_classifier(ctx, model, data, cfg, TrainState::default(), &mut keep)?;
    keep.restore(&model.store)?;
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

/// Weak labels: `share` of `rows` (rounded) get another class's label (one of `labels`), drawn with
/// `seed`; the others keep theirs.
fn weaken(mut rows: Vec<TextRow>, labels: &[String], share: f64, seed: u64) -> Result<Vec<TextRow>> {
    let k = (rows.len() as f64 * share).round() as usize;
    if k == 0 {
        return Ok(rows);
    }
    if labels.len() < 2 {
        return Err(Error::InvalidInput(format!("label_noise {share} needs two classes or more to swap labels; the data has {labels:?}")));
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0x5eed);
    let mut order: Vec<usize> = (0..rows.len()).collect();
    order.shuffle(&mut rng);
    for &i in &order[..k] {
        let others: Vec<&String> = labels.iter().filter(|l| rows[i].label.as_ref() != Some(*l)).collect();
        rows[i].label = Some(others[rng.random_range(0..others.len())].clone());
    }
    Ok(rows)
}

/// The source model: trained on the configured data, or loaded.
fn source_model(ctx: &GpuContext, cfg: &ExperimentConfig, out: &Path, log: &mut dyn FnMut(&str)) -> Result<Checkpoint> {
    if let Some(path) = &cfg.source.checkpoint {
        return load_source(path, None);
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
        vocab: vocab.len(),
        embed: m.embed,
        hidden: m.hidden,
        layers: m.layers,
        bidirectional: m.bidirectional,
        classes: labels.len(),
        domains: 0,
        pooling: m.pooling,
    };
    let source_name = Path::new("source");
    let (train, valid) = (encode_rows(&train_rows, &vocab, &labels, source_name)?, encode_rows(&valid_rows, &vocab, &labels, source_name)?);
    let tc = TrainConfig {
        epochs: cfg.source.epochs,
        batch_size: 32,
        max_len: cfg.finetune.max_len,
        seed: 0,
        dropout: m.dropout,
        optim: OptimConfig::adam(cfg.source.lr, 5.0),
        ..Default::default()
    };
    let start = Instant::now();
    let mut model = Classifier::new(ctx, mcfg, tc.batch_size, tc.max_len, 0)?;
    let state = fit(ctx, &mut model, TrainData { train: &train, valid: &valid, labels: &labels, domain_valid: None }, &tc)?;
    let best = &state.logs[state.best_epoch - 1];
    log(&format!(
        "source: {} train / {} valid rows, vocabulary {}; best epoch {} valid accuracy {:.3} ({:.0} s, {:.0} tokens/s)",
        train.len(),
        valid.len(),
        vocab.len(),
        state.best_epoch,
        best.valid_accuracy,
        start.elapsed().as_secs_f64(),
        best.tokens_per_second
    ));
    let info = ModelInfo { config: mcfg, labels, max_len: tc.max_len, tokenizer: TOKENIZER.into() };
    let path = source_path(out);
    save_classifier(&path, ctx, &model, &info, Some(&vocab.tokens))?;
    load_source(&path, None)
}

/// The target rows of one (target, budget, seed): train / valid labelled rows, the unlabelled pool
/// and the fixed test rows.
struct TargetSplit<'a> {
    train: Vec<TextRow>,
    valid: Vec<TextRow>,
    pool: &'a [TextRow],
    /// The pool's rows outside the n labels (their labels unused): self-training's unlabelled rows.
    unlabelled: Vec<TextRow>,
    test: &'a [TextRow],
    labels: &'a [String],
}

/// Runs the whole experiment; `log` gets one line per run. `results.json` in `out` is rewritten
/// after every run.
pub fn run(ctx: &GpuContext, cfg: &ExperimentConfig, out: &Path, log: &mut dyn FnMut(&str)) -> Result<Vec<RunResult>> {
    create_dir(out)?;
    let source = source_model(ctx, cfg, out, log)?;
    let runs = run_grid(ctx, cfg, &source, Shard::WHOLE, Vec::new(), &mut |runs| report::write_results(out, &results_of(runs)), log)?;
    Ok(results_of(&runs))
}

/// Trains the source model once and writes `out/source.safetensors`, for shards to share
/// (`experiment --stage source`); returns its path.
pub fn train_source(ctx: &GpuContext, cfg: &ExperimentConfig, out: &Path, log: &mut dyn FnMut(&str)) -> Result<PathBuf> {
    if let Some(path) = &cfg.source.checkpoint {
        return Err(Error::InvalidInput(format!("[source] checkpoint is set ({}): there is no source model to train", path.display())));
    }
    create_dir(out)?;
    source_model(ctx, cfg, out, log)?;
    Ok(source_path(out))
}

/// Where [`run`] and [`train_source`] write the source model they train.
pub fn source_path(out: &Path) -> PathBuf {
    out.join("source.safetensors")
}

/// Runs slice `shard` of the grid and writes `out/results-shard-K-of-N.json` after every run. The
/// source model is `[source] checkpoint` or the one [`train_source`] left in `out`. With `resume`,
/// the runs already in that file are kept and not run again (a preempted job goes on).
pub fn run_shard(
    ctx: &GpuContext,
    cfg: &ExperimentConfig,
    out: &Path,
    shard: Shard,
    resume: bool,
    log: &mut dyn FnMut(&str),
) -> Result<ShardResults> {
    let path = out.join(shard.file_name());
    let source_file = match &cfg.source.checkpoint {
        Some(p) => p.clone(),
        None if source_path(out).is_file() => source_path(out),
        None => {
            return Err(Error::InvalidInput(format!(
                "shard {shard} needs the source model trained once for all shards: run `experiment --stage source` with this --out first (it writes {}), or set [source] checkpoint",
                source_path(out).display()
            )));
        }
    };
    let grid = shard::grid_size(cfg);
    if shard.count > grid {
        return Err(Error::InvalidInput(format!("{} shards for a grid of {grid} runs: some would have nothing to run", shard.count)));
    }
    let source_sha256 = shard::file_sha256(&source_file)?;
    let mut results =
        ShardResults { shard, adapter: ctx.adapter_line(), config: cfg.clone(), source_sha256, positions: Vec::new(), runs: Vec::new() };
    if resume && path.is_file() {
        let done = ShardResults::load(&path)?;
        if done.shard != shard || !done.same_experiment(&results) {
            return Err(Error::File {
                path,
                message: format!("holds another shard, configuration or source model than shard {shard} of this run: cannot resume it"),
            });
        }
        log(&format!("resuming shard {shard}: {} run(s) already done", done.runs.len()));
        if !done.adapter.split("; ").any(|a| a == results.adapter) {
            results.adapter = format!("{}; {}", done.adapter, results.adapter);
        }
        (results.positions, results.runs) = (done.positions, done.runs);
    }
    create_dir(out)?;
    let source = load_source(&source_file, None)?;
    let done = results.positions.iter().copied().zip(results.runs.iter().cloned()).collect();
    let runs = run_grid(
        ctx,
        cfg,
        &source,
        shard,
        done,
        &mut |runs| {
            (results.positions, results.runs) = runs.iter().cloned().unzip();
            results.save(&path)
        },
        log,
    )?;
    (results.positions, results.runs) = runs.into_iter().unzip();
    // Also when every run was already done (resumed): the file is the shard's record.
    results.save(&path)?;
    Ok(results)
}

pub(crate) fn create_dir(out: &Path) -> Result<()> {
    std::fs::create_dir_all(out).map_err(|e| Error::File { path: out.into(), message: e.to_string() })
}

/// A run and its position in the grid.
type Placed = (usize, RunResult);

fn results_of(runs: &[Placed]) -> Vec<RunResult> {
    runs.iter().map(|(_, r)| r.clone()).collect()
}

/// The runs of the grid that `shard` owns and `done` does not hold yet, in the grid's order
/// (targets, budgets, seeds, methods); `save` gets every finished run (with `done`'s) after each
/// one. Returns them all with their positions.
fn run_grid(
    ctx: &GpuContext,
    cfg: &ExperimentConfig,
    source: &Checkpoint,
    shard: Shard,
    mut done: Vec<Placed>,
    save: &mut dyn FnMut(&[Placed]) -> Result<()>,
    log: &mut dyn FnMut(&str),
) -> Result<Vec<Placed>> {
    let source_rows = if cfg.source.data.is_empty() { Vec::new() } else { read_labelled(&cfg.source.data)? };
    let lm_source = cfg.source.lm_checkpoint.as_ref().map(|p| load_source(p, None)).transpose()?;
    let sources = Sources { classifier: source, lm: lm_source.as_ref(), rows: &source_rows };
    let already: Vec<usize> = done.iter().map(|(p, _)| *p).collect();
    let todo = |p: usize| shard.owns(p) && !already.contains(&p);
    let per_target = cfg.budgets.len() * cfg.seeds.len() * cfg.methods.len();
    let mut position = 0;
    for target in &cfg.targets {
        if !(position..position + per_target).any(todo) {
            position += per_target;
            continue;
        }
        let rows = read_labelled(std::slice::from_ref(&target.data))?;
        let labels = label_names(rows.iter().filter_map(|r| r.label.as_deref()));
        if target.test_size >= rows.len() {
            return Err(Error::InvalidInput(format!(
                "target {}: test_size {} leaves no rows of {} to train on",
                target.name,
                target.test_size,
                rows.len()
            )));
        }
        let (test, pool) = stratified(&rows, target.test_size, 0);
        for &budget in &cfg.budgets {
            let n = if budget == 0 { pool.len() } else { budget.min(pool.len()) };
            for &seed in &cfg.seeds {
                let (labelled, unlabelled) = stratified(&pool, n, seed);
                let labelled = weaken(labelled, &labels, target.label_noise, seed)
                    .map_err(|e| Error::InvalidInput(format!("target {}: {e}", target.name)))?;
                // The check reads the split's n labels before any run, as a user would before training.
                let mut figures = None;
                if cfg.check && todo(position) {
                    let source_rows = (!source_rows.is_empty()).then_some(&source_rows[..]);
                    match check(ctx, source, &labelled, &labels, source_rows, seed, cfg.finetune.new_words) {
                        Ok(c) => figures = Some(c),
                        // What the check cannot read (too few rows, no vocabulary) leaves the runs to go on.
                        Err(e @ Error::InvalidInput(_)) => {
                            log(&format!("{} n={n} seed={seed}: no transferability check: {e}", target.name))
                        }
                        Err(e) => return Err(e),
                    }
                }
                let n_valid = ((n as f64) * cfg.finetune.valid_fraction).round().max(1.0) as usize;
                let (valid, train) = stratified(&labelled, n_valid, seed.wrapping_add(1000));
                let split = TargetSplit { train, valid, pool: &pool, unlabelled, test: &test, labels: &labels };
                for &arm in &cfg.methods {
                    let p = position;
                    position += 1;
                    if !todo(p) {
                        continue;
                    }
                    let start = Instant::now();
                    let mut r = run_arm(ctx, cfg, &sources, &split, arm, seed)?;
                    (r.target, r.budget, r.seed, r.seconds) = (target.name.clone(), n, seed, start.elapsed().as_secs_f64());
                    r.check = figures.take();
                    log(&format!(
                        "{} n={n} seed={seed} {:<11} test accuracy {:.3}  macro-F1 {:.3}  (best epoch {}, {:.1} s)",
                        r.target,
                        arm.name(),
                        r.test_accuracy,
                        r.test_macro_f1,
                        r.best_epoch,
                        r.seconds
                    ));
                    done.push((p, r));
                    done.sort_by_key(|(p, _)| *p);
                    save(&done)?;
                }
            }
        }
    }
    Ok(done)
}

fn encode(rows: &[TextRow], vocab: &Vocab, labels: &[String]) -> Result<Dataset> {
    encode_rows(rows, vocab, labels, Path::new("target"))
}

/// What the arms transfer from.
struct Sources<'a> {
    /// The source classifier.
    classifier: &'a Checkpoint,
    /// The language model of `lm-ulmfit`.
    lm: Option<&'a Checkpoint>,
    /// The labelled source rows (DANN trains on a sample).
    rows: &'a [TextRow],
}

/// One arm on one split.
fn run_arm(ctx: &GpuContext, cfg: &ExperimentConfig, sources: &Sources, s: &TargetSplit, arm: Arm, seed: u64) -> Result<RunResult> {
    let ft = &cfg.finetune;
    let mut tc = TrainConfig {
        epochs: ft.epochs,
        batch_size: ft.batch_size,
        max_len: ft.max_len,
        seed,
        dropout: cfg.model.dropout,
        optim: OptimConfig::adam(ft.transfer_lr, 5.0),
        monitor: Monitor::Loss,
        patience: ft.patience,
        read_every: 8,
        ..Default::default()
    };
    let (method, from) = match arm {
        Arm::Scratch => return run_scratch(ctx, cfg, sources.classifier, s, tc),
        Arm::SourceOnly => return run_source_only(ctx, cfg, sources.classifier, s),
        Arm::SelfTrain => return self_train::run(ctx, sources.classifier, s, tc, seed, ft.new_words),
        Arm::Transfer(method) => (method, sources.classifier),
        Arm::LmUlmfit => (Method::Ulmfit, sources.lm.ok_or_else(|| Error::InvalidInput("lm-ulmfit needs [source] lm_checkpoint".into()))?),
    };
    let recipe = Recipe::new(method);
    // The target vocabulary: the source's, then the new words of the n labels, and of the unlabelled
    // rows too when their rows start from the source's subwords (or DANN trains on them).
    let mut texts: Vec<Vec<String>> = s.train.iter().map(|r| tokenize(&r.text)).collect();
    if method == Method::Dann {
        texts.extend(s.pool.iter().map(|r| tokenize(&r.text)));
    } else if ft.new_words == NewWords::Subword {
        texts.extend(s.unlabelled.iter().map(|r| tokenize(&r.text)));
    }
    let mut plan = transfer::plan_target(from, &texts, s.labels, 1, 30_000)?;
    plan.aligned.start_new_rows(from, ft.new_words)?;
    let mut mcfg = ClassifierConfig { domains: recipe.domains(), ..plan.config };
    if from.info.config.classes == 0 {
        // A language model has no head, so no pooling of its own: the classifier pools as configured.
        mcfg.pooling = cfg.model.pooling;
    }
    if method == Method::Hetero {
        mcfg.hidden = cfg.model.hetero_hidden.unwrap_or(2 * from.info.config.hidden);
    }
    recipe.apply(&mut tc, plan.aligned.coverage.source_tokens);
    if method == Method::Ulmfit {
        // The slanted triangular schedule peaks at the from-scratch rate.
        tc.optim.optimizer.lr = ft.lr;
    }
    if method == Method::Dann {
        (tc.epochs, tc.dann_gamma) = (ft.dann_epochs, Some(ft.dann_gamma));
    }
    let mut model = Classifier::new(ctx, mcfg, tc.batch_size, tc.max_len, seed)?;
    let options = TransferOptions { copy: vec!["*".into()], exclude: plan.exclude, seed };
    transfer::apply(ctx, &model, from, &plan.aligned.rows, &options)?;
    let vocab = &plan.aligned.vocab;
    let (train, valid, test) = (encode(&s.train, vocab, s.labels)?, encode(&s.valid, vocab, s.labels)?, encode(s.test, vocab, s.labels)?);
    let dann = (method == Method::Dann).then(|| dann_rows(sources.rows, s, vocab, &train, ft.dann_source_rows, seed)).transpose()?;
    let data = match &dann {
        Some(d) => TrainData { train: &d.train, valid: &valid, labels: s.labels, domain_valid: Some(&d.domain_valid) },
        None => TrainData { train: &train, valid: &valid, labels: s.labels, domain_valid: None },
    };
    finish(ctx, &mut model, data, &tc, &test, arm)
}

/// DANN's rows: a sample of labelled source rows (90% to train, 10% held out), the n target labels,
/// the unlabelled pool (its tail held out for the domain head).
fn dann_rows(
    source_rows: &[TextRow],
    s: &TargetSplit,
    vocab: &Vocab,
    target_labelled: &Dataset,
    sample: usize,
    seed: u64,
) -> Result<DannData> {
    let (sample, _) = stratified(source_rows, sample, seed);
    let (src_fit, src_held) = sample.split_at(sample.len() * 9 / 10);
    let unlabelled = |rows: &[TextRow]| Dataset::unlabelled(rows.iter().map(|r| vocab.encode(&r.text)).collect());
    let held_target = &s.pool[s.pool.len().saturating_sub(src_held.len())..];
    Ok(dann_data(
        &encode(src_fit, vocab, s.labels)?,
        target_labelled,
        &unlabelled(s.pool),
        &encode(src_held, vocab, s.labels)?,
        &unlabelled(held_target),
    ))
}

/// Scratch: the source's architecture on the target's own vocabulary, at the from-scratch rate.
fn run_scratch(ctx: &GpuContext, cfg: &ExperimentConfig, source: &Checkpoint, s: &TargetSplit, mut tc: TrainConfig) -> Result<RunResult> {
    let texts: Vec<Vec<String>> = s.train.iter().map(|r| tokenize(&r.text)).collect();
    let vocab = Vocab::build(texts.iter().map(Vec::as_slice), 1, 30_000);
    tc.optim.optimizer.lr = cfg.finetune.lr;
    let src = source.info.config;
    // A language-model source has no pooling of its own: the classifier pools as configured.
    let pooling = if src.classes == 0 { cfg.model.pooling } else { src.pooling };
    let mcfg = ClassifierConfig { vocab: vocab.len(), classes: s.labels.len(), domains: 0, pooling, ..src };
    let mut model = Classifier::new(ctx, mcfg, tc.batch_size, tc.max_len, tc.seed)?;
    let (train, valid, test) =
        (encode(&s.train, &vocab, s.labels)?, encode(&s.valid, &vocab, s.labels)?, encode(s.test, &vocab, s.labels)?);
    finish(ctx, &mut model, TrainData { train: &train, valid: &valid, labels: s.labels, domain_valid: None }, &tc, &test, Arm::Scratch)
}

/// The source model as it is on the target's test rows.
fn run_source_only(ctx: &GpuContext, cfg: &ExperimentConfig, source: &Checkpoint, s: &TargetSplit) -> Result<RunResult> {
    if source.info.labels != s.labels {
        return Err(Error::InvalidInput(format!(
            "source-only needs the source's labels {:?}, the target has {:?}",
            source.info.labels, s.labels
        )));
    }
    let ft = &cfg.finetune;
    let vocab = Vocab::from_tokens(source.vocab.clone().ok_or_else(|| Error::InvalidInput("the source model has no vocabulary".into()))?)?;
    let mut model = source.classifier(ctx, ft.batch_size, ft.max_len)?;
    let eval = evaluate(ctx, &mut model, &encode(s.test, &vocab, s.labels)?, s.labels, ft.batch_size, ft.max_len)?;
    Ok(result(Arm::SourceOnly, &eval, 0))
}

/// Trains, tests the best epoch's model and records the run.
fn finish(ctx: &GpuContext, model: &mut Classifier, data: TrainData, tc: &TrainConfig, test: &Dataset, arm: Arm) -> Result<RunResult> {
    let state = fit(ctx, model, data, tc)?;
    let eval = evaluate(ctx, model, test, data.labels, tc.batch_size, tc.max_len)?;
    let mut r = result(arm, &eval, state.best_epoch);
    r.curve = state.logs.iter().map(|l| l.valid_accuracy).collect();
    r.train_loss_curve = state.logs.iter().map(|l| l.train_loss).collect();
    r.valid_loss_curve = state.logs.iter().map(|l| l.valid_loss).collect();
    r.proxy_a_distance = state.logs.last().and_then(|l| l.proxy_a_distance);
    Ok(r)
}

fn result(arm: Arm, eval: &Evaluation, best_epoch: usize) -> RunResult {
    RunResult {
        target: String::new(),
        budget: 0,
        seed: 0,
        method: arm.name().into(),
        test_accuracy: eval.metrics.accuracy,
        test_macro_f1: eval.metrics.macro_f1,
        best_epoch,
        curve: Vec::new(),
        train_loss_curve: Vec::new(),
        valid_loss_curve: Vec::new(),
        seconds: 0.0,
        proxy_a_distance: None,
        check: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weak_labels_swap_the_share_asked_for_to_other_classes() {
        let labels: Vec<String> = ["0", "1", "2"].map(String::from).to_vec();
        let rows: Vec<TextRow> =
            (0..50).map(|i| TextRow { label: Some(labels[i % 3].clone()), text: format!("row {i}"), line: i + 1 }).collect();
        let tags = |rows: &[TextRow]| rows.iter().map(|r| r.label.clone().unwrap()).collect::<Vec<_>>();
        let weak = weaken(rows.clone(), &labels, 0.2, 7).unwrap();
        let swapped = weak.iter().zip(&rows).filter(|(w, r)| w.label != r.label).count();
        assert_eq!(swapped, 10);
        assert!(weak.iter().zip(&rows).all(|(w, r)| w.text == r.text && labels.contains(w.label.as_ref().unwrap())));
        assert_eq!(tags(&weaken(rows.clone(), &labels, 0.2, 7).unwrap()), tags(&weak), "the seed fixes the swaps");
        assert_ne!(tags(&weaken(rows.clone(), &labels, 0.2, 8).unwrap()), tags(&weak));
        assert_eq!(tags(&weaken(rows.clone(), &labels, 0.0, 7).unwrap()), tags(&rows));
        let err = weaken(rows[..4].to_vec(), &labels[..1], 0.5, 1).unwrap_err().to_string();
        assert!(err.contains("two classes"), "{err}");
    }
}
