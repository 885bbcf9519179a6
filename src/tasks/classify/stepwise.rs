//! Training one step at a time, never waiting on the GPU: for a browser page (WebGPU, where the
//! main thread may not block) or an application's frame loop. The epochs are those of
//! [`train_classifier`](super::train_classifier) — the run's settings applied per epoch, the same
//! seeded shuffle, the same learning-rate schedule — while validation, early stopping and when to
//! read the loss are the caller's (it polls the [`PendingStats`] it asked for).
//!
//! ```no_run
//! # use lstm_transfer::GpuContext;
//! # use lstm_transfer::tasks::classify::{Classifier, ClassifierConfig, TrainConfig, stepwise::StepwiseTrainer};
//! # fn frame_loop(ctx: &GpuContext, model: &mut Classifier, train: lstm_transfer::data::Dataset) -> lstm_transfer::Result<()> {
//! let mut trainer = StepwiseTrainer::new(TrainConfig { epochs: 3, ..Default::default() }, train)?;
//! let mut loss_on_its_way = None;
//! while !trainer.finished() {
//!     // Ask for the loss when none is on its way; look at it once it has arrived, never waiting.
//!     let step = trainer.submit_step(ctx, model, loss_on_its_way.is_none())?;
//!     loss_on_its_way = loss_on_its_way.or(step.stats);
//!     if let Some(stats) = loss_on_its_way.as_ref().map(|p| p.poll(ctx)).transpose()?.flatten() {
//!         println!("epoch {}: mean loss {:.3}", step.epoch, stats.loss_sum / stats.steps as f32);
//!         loss_on_its_way = None;
//!     }
//! }
//! # Ok(()) }
//! ```

use super::model::Classifier;
use super::train::{TrainConfig, configure, epoch_rng, set_step_rates};
use crate::core::step::PendingStats;
use crate::data::{BatchPlan, Dataset, make_batches};
use crate::error::{Error, Result};
use crate::gpu::GpuContext;

/// The position of a run trained step by step.
pub struct StepwiseTrainer {
    cfg: TrainConfig,
    train: Dataset,
    /// The current epoch (1-based; 0 before the first step).
    epoch: usize,
    /// The current epoch's batches and the next one to submit.
    plan: Option<BatchPlan>,
    next: usize,
    /// Steps submitted over the run.
    steps: usize,
    total_updates: u64,
}

/// What [`StepwiseTrainer::submit_step`] submitted.
pub struct SubmittedStep {
    /// The epoch the step belongs to (1-based).
    pub epoch: usize,
    /// The step ended its epoch (validate now, if the caller validates per epoch).
    pub epoch_done: bool,
    /// With `read`: the stats summed since the last read, on their way back.
    pub stats: Option<PendingStats>,
}

impl StepwiseTrainer {
    /// A run of `cfg.epochs` epochs over `train`; refuses an invalid configuration or no rows.
    pub fn new(cfg: TrainConfig, train: Dataset) -> Result<Self> {
        cfg.validate()?;
        if train.is_empty() {
            return Err(Error::InvalidInput("training needs examples: 0 train rows".into()));
        }
        let total_updates = cfg.total_updates(train.len());
        Ok(Self { cfg, train, epoch: 0, plan: None, next: 0, steps: 0, total_updates })
    }

    /// Every epoch is submitted.
    pub fn finished(&self) -> bool {
        self.epoch == self.cfg.epochs && self.plan.is_none()
    }

    /// Steps submitted so far.
    pub fn step(&self) -> usize {
        self.steps
    }

    /// Steps per epoch.
    pub fn steps_per_epoch(&self) -> usize {
        self.train.len().div_ceil(self.cfg.batch_size)
    }

    /// Submits the next training step of `model` (starting the next epoch when one ended: its
    /// settings applied, its batches shuffled) and returns at once.
    pub fn submit_step(&mut self, ctx: &GpuContext, model: &mut Classifier, read: bool) -> Result<SubmittedStep> {
        if self.finished() {
            return Err(Error::InvalidInput(format!("the run's {} epochs are done", self.cfg.epochs)));
        }
        if self.plan.is_none() {
            self.epoch += 1;
            configure(ctx, model, &self.cfg, self.epoch)?;
            let mut rng = epoch_rng(self.cfg.seed, self.epoch);
            self.plan = Some(make_batches(&self.train, self.cfg.batch_size, self.cfg.max_len, Some(&mut rng)));
            self.next = 0;
        }
        let plan = self.plan.as_ref().expect("an epoch's batches");
        set_step_rates(model, &self.cfg, self.total_updates);
        let stats = model.submit_train_step(ctx, &plan.batches[self.next], read)?;
        self.next += 1;
        self.steps += 1;
        let epoch_done = self.next == plan.batches.len();
        if epoch_done {
            self.plan = None;
        }
        Ok(SubmittedStep { epoch: self.epoch, epoch_done, stats })
    }
}
