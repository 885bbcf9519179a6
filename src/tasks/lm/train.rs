//! Language-model training as a task of the shared loop: an epoch walks the B streams in chunks of
//! `bptt` tokens with the state carried across chunks (truncated BPTT), then scores the validation
//! streams; the best epoch is the one with the lowest validation perplexity (training perplexity
//! when there is no validation set).

use super::model::LanguageModel;
use crate::config::OptimConfig;
use crate::config::validate::{MAX_SIZE, check_size};
use crate::core::fit::{EpochSums, EpochTask, FitLimits, FitObserver, FitState, Phase, ReadCadence, StepProgress, fit, run_steps};
use crate::core::lr_find::{LrFind, LrFindConfig, lr_find};
use crate::error::{Error, Result};
use crate::gpu::GpuContext;
use crate::params::ParamStore;

/// Settings of a language-model run.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct LmTrainConfig {
    /// Epochs over the training streams.
    pub epochs: usize,
    /// Tokens per chunk of truncated backpropagation through time.
    pub bptt: usize,
    /// Optimizer, weight decay and learning-rate schedule.
    #[serde(flatten)]
    pub optim: OptimConfig,
}

impl LmTrainConfig {
    /// Refuses zero or oversized lengths and bad optimizer settings, naming the option.
    pub fn validate(&self) -> Result<()> {
        check_size("epochs", self.epochs, MAX_SIZE)?;
        check_size("bptt", self.bptt, MAX_SIZE)?;
        self.optim.validate()
    }
}

/// One epoch's figures.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct LmEpoch {
    /// 1-based.
    pub epoch: usize,
    /// Perplexity over the epoch's training chunks (running, as the weights changed).
    pub train_ppl: f64,
    /// Validation perplexity after the epoch.
    pub valid_ppl: Option<f64>,
    /// Training tokens per second.
    pub tokens_per_second: f64,
    /// Seconds of the epoch's training chunks.
    pub seconds: f64,
}

/// Perplexity from a summed cross-entropy over `count` predictions.
pub fn perplexity(loss_sum: f64, count: usize) -> f64 {
    (loss_sum / count.max(1) as f64).exp()
}

/// What a pass over the streams does.
#[derive(Clone, Copy)]
pub enum Pass<'a> {
    /// Only the loss (evaluation).
    Score,
    /// Train: epoch `epoch` of a run of `total_updates` updates under `optim`'s schedule.
    Train {
        /// The epoch (1-based), for progress.
        epoch: usize,
        /// Updates over the whole run (the schedule's horizon).
        total_updates: u64,
        /// The run's optimizer settings and schedule.
        optim: &'a OptimConfig,
    },
}

/// One pass over `streams` in chunks of `bptt`: the state starts at zero and is carried across
/// chunks. Returns the readbacks' sums (loss: summed cross-entropy; items: predicted tokens).
pub fn run_streams(
    ctx: &GpuContext,
    model: &mut LanguageModel,
    streams: &[Vec<u32>],
    bptt: usize,
    pass: Pass,
    progress: &mut dyn FnMut(&StepProgress),
) -> Result<EpochSums> {
    model.reset_state(ctx);
    let len = streams.first().map_or(0, Vec::len);
    let chunks = len.saturating_sub(1).div_ceil(bptt.max(1));
    let (epoch, phase) = match pass {
        Pass::Score => (0, Phase::Evaluate),
        Pass::Train { epoch, .. } => (epoch, Phase::Train),
    };
    run_steps(
        ctx,
        epoch,
        phase,
        chunks,
        ReadCadence::default(),
        |k, read| {
            let t0 = k * bptt;
            let t = bptt.min(len - 1 - t0);
            let ids: Vec<u32> = streams.iter().flat_map(|s| s[t0..t0 + t].iter().copied()).collect();
            let targets: Vec<u32> = streams.iter().flat_map(|s| s[t0 + 1..t0 + 1 + t].iter().copied()).collect();
            let train = match pass {
                Pass::Score => false,
                Pass::Train { total_updates, optim, .. } => {
                    model.step.set_learning_rate(optim.lr_at(model.step.updates(), total_updates) as f32);
                    true
                }
            };
            Ok((model.step(ctx, &ids, &targets, train, read)?, ids.len()))
        },
        progress,
    )
}

/// Perplexity of `model` over `streams`, without training; `progress` sees the chunks go by.
pub fn score_with(
    ctx: &GpuContext,
    model: &mut LanguageModel,
    streams: &[Vec<u32>],
    bptt: usize,
    progress: &mut dyn FnMut(&StepProgress),
) -> Result<f64> {
    let sums = run_streams(ctx, model, streams, bptt, Pass::Score, progress)?;
    Ok(perplexity(sums.loss, sums.items))
}

/// Perplexity of `model` over `streams`, without training.
pub fn score(ctx: &GpuContext, model: &mut LanguageModel, streams: &[Vec<u32>], bptt: usize) -> Result<f64> {
    score_with(ctx, model, streams, bptt, &mut |_| {})
}

/// One language-model run as the shared loop drives it.
pub struct LmRun<'a> {
    /// The device.
    pub ctx: &'a GpuContext,
    /// The model being trained.
    pub model: &'a mut LanguageModel,
    /// Training streams `[B][len]`.
    pub train: &'a [Vec<u32>],
    /// Validation streams, if any.
    pub valid: Option<&'a [Vec<u32>]>,
    /// The run's settings.
    pub cfg: &'a LmTrainConfig,
}

impl LmRun<'_> {
    fn total_updates(&self) -> u64 {
        let len = self.train.first().map_or(0, Vec::len);
        (self.cfg.epochs * len.saturating_sub(1).div_ceil(self.cfg.bptt)) as u64
    }
}

impl EpochTask for LmRun<'_> {
    type Log = LmEpoch;

    fn run_epoch(&mut self, epoch: usize, progress: &mut dyn FnMut(&StepProgress)) -> Result<LmEpoch> {
        let total = self.total_updates();
        let cfg = self.cfg;
        let pass = Pass::Train { epoch, total_updates: total, optim: &cfg.optim };
        let sums = run_streams(self.ctx, self.model, self.train, cfg.bptt, pass, progress)?;
        // The validation pass reports its chunks under this epoch, so a bar can follow it.
        let mut valid_progress = |p: &StepProgress| progress(&StepProgress { epoch, ..*p });
        let valid_ppl = self.valid.map(|v| score_with(self.ctx, self.model, v, cfg.bptt, &mut valid_progress)).transpose()?;
        Ok(LmEpoch {
            epoch,
            train_ppl: perplexity(sums.loss, sums.items),
            valid_ppl,
            tokens_per_second: sums.items_per_second(),
            seconds: sums.seconds,
        })
    }

    fn score(&self, log: &LmEpoch) -> f64 {
        -log.valid_ppl.unwrap_or(log.train_ppl)
    }

    fn updates(&self) -> u64 {
        self.model.step.updates()
    }

    fn store(&self) -> &ParamStore {
        &self.model.store
    }
}

/// The learning-rate range test on the training streams (chunks of `cfg.bptt`, cycled); it changes
/// the model's weights.
pub fn lr_find_lm(
    ctx: &GpuContext,
    model: &mut LanguageModel,
    train: &[Vec<u32>],
    cfg: &LmTrainConfig,
    find: LrFindConfig,
) -> Result<LrFind> {
    cfg.validate()?;
    let len = train.first().map_or(0, Vec::len);
    if len < 2 {
        return Err(Error::InvalidInput(format!("the range test needs streams of at least 2 tokens, got {len}")));
    }
    model.step.configure(ctx, &mut model.store, &cfg.optim);
    let chunks = len.saturating_sub(1).div_ceil(cfg.bptt).max(1);
    lr_find(find, |i, lr| {
        let k = i % chunks;
        if k == 0 {
            model.reset_state(ctx);
        }
        let (t0, t) = (k * cfg.bptt, cfg.bptt.min(len - 1 - k * cfg.bptt));
        let ids: Vec<u32> = train.iter().flat_map(|s| s[t0..t0 + t].iter().copied()).collect();
        let targets: Vec<u32> = train.iter().flat_map(|s| s[t0 + 1..t0 + 1 + t].iter().copied()).collect();
        model.step.set_learning_rate(lr);
        let stats = model.step(ctx, &ids, &targets, true, true)?.expect("read back");
        Ok(stats.loss_sum as f64 / ids.len() as f64)
    })
}

/// Trains `model` for `cfg.epochs` epochs (no early stopping: the observer keeps the best).
pub fn train_lm<'a>(
    ctx: &'a GpuContext,
    model: &'a mut LanguageModel,
    train: &'a [Vec<u32>],
    valid: Option<&'a [Vec<u32>]>,
    cfg: &'a LmTrainConfig,
    observer: &mut dyn FitObserver<LmRun<'a>>,
) -> Result<FitState<LmEpoch>> {
    cfg.validate()?;
    model.step.configure(ctx, &mut model.store, &cfg.optim);
    let mut run = LmRun { ctx, model, train, valid, cfg };
    fit(&mut run, FitLimits { epochs: cfg.epochs, patience: None }, FitState::default(), observer)
}
