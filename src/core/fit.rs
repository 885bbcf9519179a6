//! The one training-loop shape every task plugs into: epochs of steps with the loss read back on a
//! fixed cadence, a validation score after each epoch, the best epoch kept by that score, early
//! stopping, and a state that resumes the run where it stopped.
//!
//! A task implements [`EpochTask`] (one epoch: its batches through [`run_steps`], then its
//! validation); [`fit`] drives the epochs and tells a [`FitObserver`] (progress bars, checkpoints,
//! logs) what happened. [`KeepBest`] is the observer that keeps the best epoch's parameters in memory.

use web_time::Instant;

use crate::core::step::StepStats;
use crate::error::Result;
use crate::gpu::GpuContext;
use crate::params::{ParamStore, TensorMap};

/// Steps between loss readbacks when a run does not say otherwise: the GPU runs ahead in between.
pub const DEFAULT_READ_EVERY: usize = 16;

/// When the stats come back: after every `every` steps and after an epoch's last step.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReadCadence {
    every: usize,
}

impl ReadCadence {
    /// A readback every `every` steps (at least 1).
    pub fn every(every: usize) -> Self {
        Self { every: every.max(1) }
    }

    /// Whether step `index` (0-based) of `steps` reads the stats back.
    pub fn reads_after(&self, index: usize, steps: usize) -> bool {
        (index + 1).is_multiple_of(self.every) || index + 1 == steps
    }
}

impl Default for ReadCadence {
    fn default() -> Self {
        Self::every(DEFAULT_READ_EVERY)
    }
}

/// One epoch's readbacks added up.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct EpochSums {
    /// Sum of the read-back loss sums (see [`StepStats::loss_sum`]).
    pub loss: f64,
    /// Labelled rows predicted right (classifier).
    pub correct: f64,
    /// Labelled rows counted (classifier).
    pub rows: f64,
    /// Domain head: rows whose domain was predicted right (DANN).
    pub domain_correct: f64,
    /// Domain head: rows counted (DANN).
    pub domain_rows: f64,
    /// Steps whose stats came back (every step once the epoch has ended).
    pub steps: u32,
    /// Items the steps processed: tokens (text) or windows (series).
    pub items: usize,
    /// Seconds since the epoch's first step, less one-time work meanwhile ([`GpuContext::setup_seconds`]).
    pub seconds: f64,
}

impl EpochSums {
    fn add(&mut self, s: &StepStats) {
        self.loss += s.loss_sum as f64;
        self.correct += s.correct as f64;
        self.rows += s.rows as f64;
        self.domain_correct += s.domain_correct as f64;
        self.domain_rows += s.domain_rows as f64;
        self.steps += s.steps;
    }

    /// Mean over the steps of each step's loss.
    pub fn mean_loss(&self) -> f64 {
        self.loss / self.steps.max(1) as f64
    }

    /// Share of the labelled rows predicted right.
    pub fn accuracy(&self) -> f64 {
        self.correct / self.rows.max(1.0)
    }

    /// Share of the rows whose domain was predicted right.
    pub fn domain_accuracy(&self) -> f64 {
        self.domain_correct / self.domain_rows.max(1.0)
    }

    /// Items per second of [`EpochSums::seconds`].
    pub fn items_per_second(&self) -> f64 {
        self.items as f64 / self.seconds.max(f64::MIN_POSITIVE)
    }
}

/// What the steps of a pass do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// Training steps (forward, backward, update).
    Train,
    /// Evaluation steps (forward and loss only): a validation or test pass.
    Evaluate,
}

/// Progress inside an epoch, reported after each step whose stats came back.
#[derive(Clone, Copy, Debug)]
pub struct StepProgress<'a> {
    /// The epoch (1-based; 0 outside training).
    pub epoch: usize,
    /// Training or evaluating.
    pub phase: Phase,
    /// Steps done in this epoch (1-based).
    pub step: usize,
    /// Steps in this epoch.
    pub steps: usize,
    /// What came back so far this epoch.
    pub sums: &'a EpochSums,
}

/// Runs one epoch of `steps` steps: `step(i, read)` submits step `i` (reading the stats back when
/// `read`, as `cadence` decides) and returns what came back with the items it processed.
pub fn run_steps(
    ctx: &GpuContext,
    epoch: usize,
    phase: Phase,
    steps: usize,
    cadence: ReadCadence,
    mut step: impl FnMut(usize, bool) -> Result<(Option<StepStats>, usize)>,
    progress: &mut dyn FnMut(&StepProgress),
) -> Result<EpochSums> {
    // One-time work during the pass (a new shape's plan recorded, compiled and first run) is left
    // out of its time, so epoch 1's throughput is the kernels', not the driver's compiler's.
    let (start, setup_before) = (Instant::now(), ctx.setup_seconds());
    let elapsed = || (start.elapsed().as_secs_f64() - (ctx.setup_seconds() - setup_before)).max(0.0);
    let mut sums = EpochSums::default();
    for i in 0..steps {
        let (stats, items) = step(i, cadence.reads_after(i, steps))?;
        sums.items += items;
        if let Some(s) = stats {
            sums.add(&s);
            sums.seconds = elapsed();
            progress(&StepProgress { epoch, phase, step: i + 1, steps, sums: &sums });
        }
    }
    sums.seconds = elapsed();
    Ok(sums)
}

/// One task's training as [`fit`] drives it.
pub trait EpochTask {
    /// What one epoch reports (saved per epoch in the run's state).
    type Log;
    /// Trains epoch `epoch` (1-based) and validates; `progress` gets the steps' readbacks.
    fn run_epoch(&mut self, epoch: usize, progress: &mut dyn FnMut(&StepProgress)) -> Result<Self::Log>;
    /// The epoch's validation score: higher is better (a loss is negated).
    fn score(&self, log: &Self::Log) -> f64;
    /// Optimizer updates done so far.
    fn updates(&self) -> u64;
    /// The parameters being trained.
    fn store(&self) -> &ParamStore;
}

/// How long [`fit`] runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FitLimits {
    /// Epochs in all; a resumed run continues up to the same total.
    pub epochs: usize,
    /// Stop after this many epochs without a better score (None: never).
    pub patience: Option<usize>,
}

/// Where a run stands; saved with the training state so it resumes exactly.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct FitState<L> {
    /// Epochs completed.
    pub epoch: usize,
    /// Optimizer updates done (Adam's t; also the dropout counter).
    pub updates: u64,
    /// Best score so far (higher is better).
    pub best_score: Option<f64>,
    /// Epoch (1-based) of `best_score`; 0 before the first epoch.
    pub best_epoch: usize,
    /// Epochs since the last improvement (compared with the patience).
    pub epochs_without_improvement: usize,
    /// Early stopping ended the run before its last epoch.
    pub stopped_early: bool,
    /// One log per completed epoch.
    pub logs: Vec<L>,
}

impl<L> Default for FitState<L> {
    fn default() -> Self {
        Self {
            epoch: 0,
            updates: 0,
            best_score: None,
            best_epoch: 0,
            epochs_without_improvement: 0,
            stopped_early: false,
            logs: Vec::new(),
        }
    }
}

impl<L> FitState<L> {
    /// Whether the run has nothing left to do under `limits`.
    pub fn finished(&self, limits: FitLimits) -> bool {
        self.stopped_early || self.epoch >= limits.epochs
    }

    /// Records a finished epoch; returns whether it is the new best.
    fn end_epoch(&mut self, log: L, score: f64, updates: u64, limits: FitLimits) -> bool {
        let improved = self.best_score.is_none_or(|best| score > best);
        self.epoch += 1;
        if improved {
            (self.best_score, self.best_epoch, self.epochs_without_improvement) = (Some(score), self.epoch, 0);
        } else {
            self.epochs_without_improvement += 1;
        }
        self.updates = updates;
        self.stopped_early = limits.patience.is_some_and(|p| self.epochs_without_improvement >= p) && self.epoch < limits.epochs;
        self.logs.push(log);
        improved
    }
}

/// Hooks for the caller of [`fit`]. Errors stop training.
pub trait FitObserver<T: EpochTask + ?Sized> {
    /// After each step whose stats came back.
    fn step(&mut self, _progress: &StepProgress) {}
    /// After each epoch's validation; `improved` says whether it is the new best.
    fn epoch_end(&mut self, _task: &T, _state: &FitState<T::Log>, _improved: bool) -> Result<()> {
        Ok(())
    }
}

impl<T: EpochTask + ?Sized> FitObserver<T> for () {}

impl<T: EpochTask + ?Sized, O: FitObserver<T> + ?Sized> FitObserver<T> for &mut O {
    fn step(&mut self, progress: &StepProgress) {
        (**self).step(progress)
    }
    fn epoch_end(&mut self, task: &T, state: &FitState<T::Log>, improved: bool) -> Result<()> {
        (**self).epoch_end(task, state, improved)
    }
}

/// Two observers, told in order.
impl<T: EpochTask + ?Sized, A: FitObserver<T>, B: FitObserver<T>> FitObserver<T> for (A, B) {
    fn step(&mut self, progress: &StepProgress) {
        self.0.step(progress);
        self.1.step(progress);
    }
    fn epoch_end(&mut self, task: &T, state: &FitState<T::Log>, improved: bool) -> Result<()> {
        self.0.epoch_end(task, state, improved)?;
        self.1.epoch_end(task, state, improved)
    }
}

/// Trains from `state` (default: a fresh run) until `limits.epochs` or early stopping.
pub fn fit<T: EpochTask>(
    task: &mut T,
    limits: FitLimits,
    mut state: FitState<T::Log>,
    observer: &mut dyn FitObserver<T>,
) -> Result<FitState<T::Log>> {
    while !state.finished(limits) {
        let epoch = state.epoch + 1;
        let log = task.run_epoch(epoch, &mut |p| observer.step(p))?;
        let score = task.score(&log);
        let improved = state.end_epoch(log, score, task.updates(), limits);
        observer.epoch_end(task, &state, improved)?;
    }
    Ok(state)
}

/// Keeps the best epoch's parameters in host memory; [`KeepBest::restore`] puts them back.
pub struct KeepBest<'a> {
    ctx: &'a GpuContext,
    best: Option<TensorMap>,
}

impl<'a> KeepBest<'a> {
    /// Nothing kept yet.
    pub fn new(ctx: &'a GpuContext) -> Self {
        Self { ctx, best: None }
    }

    /// Writes the kept parameters into `store` (nothing when no epoch ran).
    pub fn restore(self, store: &ParamStore) -> Result<()> {
        match &self.best {
            Some(best) => store.upload_all(self.ctx, best),
            None => Ok(()),
        }
    }
}

impl<T: EpochTask + ?Sized> FitObserver<T> for KeepBest<'_> {
    fn epoch_end(&mut self, task: &T, _: &FitState<T::Log>, improved: bool) -> Result<()> {
        if improved {
            self.best = Some(task.store().download_map(self.ctx)?);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cadence_reads_every_n_steps_and_at_the_end() {
        let c = ReadCadence::every(4);
        let reads: Vec<usize> = (0..10).filter(|&i| c.reads_after(i, 10)).collect();
        assert_eq!(reads, [3, 7, 9]);
        assert!(ReadCadence::every(0).reads_after(0, 5));
    }

    #[test]
    fn early_stopping_counts_epochs_without_improvement() {
        let limits = FitLimits { epochs: 10, patience: Some(2) };
        let mut s = FitState::<()>::default();
        assert!(s.end_epoch((), 1.0, 5, limits));
        assert!(!s.end_epoch((), 0.5, 10, limits));
        assert!(!s.finished(limits));
        assert!(!s.end_epoch((), 1.0, 15, limits));
        assert!(s.stopped_early && s.finished(limits));
        assert_eq!((s.best_epoch, s.updates, s.logs.len()), (1, 15, 3));
    }
}
