//! The step machinery every task model shares: the stats buffer and its readback, the recorded
//! plans cached per (batch, steps, kind), the update tail (global norm → Adam with freeze masks) and
//! one submit per step that records the plan, optionally copies the stats back and checks the loss.
//!
//! A model owns a [`StepCore`], records its forward/backward ops into a [`Plan`] the first time a
//! shape is seen (appending [`UpdateTail::push`] for training plans), writes the few per-step
//! parameters into the plan's ops and calls [`StepCore::submit`].

use std::collections::HashMap;

use crate::config::{AdamConfig, OptimConfig};
use crate::error::{Error, Result};
use crate::gpu::{GpuContext, Pending, View, read_staging, staging_buffer};
use crate::graph::{Op, Schedule};
use crate::kernels::optimizer::{AdamParams, adam_step};
use crate::kernels::reduce::sum_squares;
use crate::params::ParamStore;

/// f32 slots of the stats buffer: `[loss_sum, correct, rows, domain_loss_sum, domain_correct,
/// domain_rows, grad_norm_sq, unused]`. The loss kernels add into their slots every step; the
/// buffer is copied back and cleared on a readback.
pub const STATS_LEN: usize = 8;
/// First slot of the task loss: (loss sum, correct rows, counted rows).
pub const SLOT_LOSS: usize = 0;
/// First slot of the DANN domain head's loss, laid out as [`SLOT_LOSS`].
pub const SLOT_DOMAIN: usize = 3;
/// The squared global gradient norm of the last step (written when clipping is on).
pub const SLOT_NORM: usize = 6;

/// What a recorded plan runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PlanKind {
    /// The forward pass only: the outputs stay readable.
    Infer,
    /// The forward pass and the loss into the stats, no backward (evaluation that reads the loss).
    Score,
    /// Forward, loss and backward: the gradients are left in the store.
    Gradients,
    /// Gradients, then the update tail.
    Train,
}

impl PlanKind {
    /// Whether the plan writes gradients (so the step starts by clearing them).
    pub fn has_backward(self) -> bool {
        matches!(self, Self::Gradients | Self::Train)
    }
}

/// The cache key of a plan: the batch shape and the kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PlanKey {
    /// Rows B of the batch.
    pub batch: usize,
    /// Time steps T.
    pub steps: usize,
    /// What the plan runs.
    pub kind: PlanKind,
}

/// A recorded schedule and the indices of its ops whose parameters change from step to step.
#[derive(Default)]
pub struct Plan {
    /// The ops in dispatch order.
    pub schedule: Schedule,
    /// The embedding scatter-add (its segment count and grid follow each batch's tokens).
    pub scatter: Option<usize>,
    /// The Adam update (its step count, learning rate and bias corrections change each update).
    pub adam: Option<usize>,
    /// The gradient-reversal layer (λ follows a schedule).
    pub grl: Option<usize>,
    /// The dropout forward and backward ops (the mask counter is the update count).
    pub dropout: Vec<usize>,
}

impl Plan {
    /// The op at `index` (an index this plan handed out).
    pub fn op(&mut self, index: usize) -> &mut Op {
        &mut self.schedule.ops[index]
    }
}

/// Sums since the last readback.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct StepStats {
    /// Sum over steps of each step's loss as its kernel accumulates it (the classifier and the
    /// forecaster: the batch mean; the language model: the sum over the chunk's tokens).
    pub loss_sum: f32,
    /// Labelled rows whose largest logit is the label (classifier).
    pub correct: f32,
    /// Labelled rows counted in the loss and accuracy (classifier).
    pub rows: f32,
    /// Domain head: sum over steps of the mean domain cross-entropy (DANN only).
    pub domain_loss_sum: f32,
    /// Domain head: rows whose predicted domain is right.
    pub domain_correct: f32,
    /// Domain head: rows counted.
    pub domain_rows: f32,
    /// Squared global gradient norm of the last step (when clipping is on), of the gradients as
    /// stored: `grad_scale²` × the true one with f16 activations ([`ParamStore::grad_scale`]).
    pub grad_norm_sq: f32,
    /// Steps submitted since the last readback (this one included).
    pub steps: u32,
}

impl StepStats {
    fn from_slots(s: &[f32], steps: u32) -> Self {
        Self {
            loss_sum: s[SLOT_LOSS],
            correct: s[SLOT_LOSS + 1],
            rows: s[SLOT_LOSS + 2],
            domain_loss_sum: s[SLOT_DOMAIN],
            domain_correct: s[SLOT_DOMAIN + 1],
            domain_rows: s[SLOT_DOMAIN + 2],
            grad_norm_sq: s[SLOT_NORM],
            steps,
        }
    }
}

/// What a training plan appends after its backward pass: the global gradient norm (when clipping
/// is on) and the Adam update of the whole store. Handed to the plan builder by [`StepCore::plan`].
pub struct UpdateTail<'a> {
    optimizer: AdamConfig,
    stats: &'a wgpu::Buffer,
}

impl UpdateTail<'_> {
    /// The stats buffer the loss kernels add into.
    pub fn stats(&self) -> &wgpu::Buffer {
        self.stats
    }

    /// Appends `[global norm →] Adam` to `s`; returns the Adam op's index for [`Plan::adam`].
    pub fn push(&self, ctx: &GpuContext, s: &mut Schedule, store: &ParamStore) -> Result<usize> {
        let n = store.total_len();
        let stats = View::whole(self.stats);
        if self.optimizer.max_grad_norm > 0.0 {
            s.push(sum_squares(ctx, n, SLOT_NORM, store.grads_view(), stats)?);
        }
        let p =
            AdamParams::new(&self.optimizer, n, store.entries().len(), SLOT_NORM, 1, self.optimizer.lr).with_grad_scale(store.grad_scale);
        Ok(s.push(adam_step(ctx, p, &store.adam_views(stats))?))
    }
}

/// The shared half of every task model: optimizer settings, the update count, the stats buffer
/// with its readback and the plan cache.
pub struct StepCore {
    optimizer: AdamConfig,
    updates: u64,
    stats: wgpu::Buffer,
    stats_staging: wgpu::Buffer,
    steps_since_read: u32,
    plans: HashMap<PlanKey, Plan>,
    /// Plans whose recording compiled new pipelines and that have not run yet: a training plan's
    /// first run is timed as setup.
    fresh_kernels: std::collections::HashSet<PlanKey>,
}

impl StepCore {
    /// A core with default Adam settings and no plans.
    pub fn new(ctx: &GpuContext) -> Result<Self> {
        Ok(Self {
            optimizer: AdamConfig::default(),
            updates: 0,
            stats: ctx.storage_buffer("stats", (STATS_LEN * 4) as u64)?,
            stats_staging: staging_buffer(ctx, "stats staging", (STATS_LEN * 4) as u64),
            steps_since_read: 0,
            plans: HashMap::new(),
            fresh_kernels: Default::default(),
        })
    }

    /// The optimizer settings read at every update.
    pub fn optimizer(&self) -> &AdamConfig {
        &self.optimizer
    }

    /// Changes the optimizer settings. Only whether clipping runs (the norm kernel) is recorded in
    /// the training plans; every other setting reaches the GPU through Adam's parameters, written
    /// each step, so plans are rebuilt only when clipping is switched on or off.
    pub fn set_optimizer(&mut self, cfg: AdamConfig) {
        let clipping_switched = (cfg.max_grad_norm > 0.0) != (self.optimizer.max_grad_norm > 0.0);
        self.optimizer = cfg;
        if clipping_switched {
            self.forget_plans(|kind| kind == PlanKind::Train);
        }
    }

    /// Applies a run's shared update settings: Adam's settings here, the weight decay on every tensor
    /// of `store` (uploaded with the other per-tensor options).
    pub fn configure(&mut self, ctx: &GpuContext, store: &mut ParamStore, optim: &OptimConfig) {
        self.set_optimizer(optim.optimizer);
        store.set_weight_decay_all(optim.weight_decay);
        store.sync_options(ctx);
    }

    /// Changes only the learning rate of the next updates (schedules call this every step).
    pub fn set_learning_rate(&mut self, lr: f32) {
        self.optimizer.lr = lr;
    }

    /// Optimizer updates done (Adam's t; also the dropout mask counter).
    pub fn updates(&self) -> u64 {
        self.updates
    }

    /// The update number the next submit of a `kind` plan runs as: one more than [`StepCore::updates`]
    /// for a training plan (per-step parameters such as the dropout counter are keyed by it).
    pub fn next_update(&self, kind: PlanKind) -> u64 {
        self.updates + u64::from(kind == PlanKind::Train)
    }

    /// Sets the update count (a resumed run continues Adam's bias correction and dropout masks).
    pub fn set_updates(&mut self, updates: u64) {
        self.updates = updates;
    }

    /// Drops the cached plans of the kinds for which `drop` holds (their recorded structure changed).
    pub fn forget_plans(&mut self, drop: impl Fn(PlanKind) -> bool) {
        self.plans.retain(|key, _| !drop(key.kind));
    }

    /// The plan for `key`, recorded by `build` the first time the key is seen.
    pub fn plan(&mut self, ctx: &GpuContext, key: PlanKey, build: impl FnOnce(&UpdateTail) -> Result<Plan>) -> Result<&mut Plan> {
        if !self.plans.contains_key(&key) {
            let (start, pipelines) = (web_time::Instant::now(), ctx.pipelines_built());
            let tail = UpdateTail { optimizer: self.optimizer, stats: &self.stats };
            let plan = build(&tail)?;
            self.plans.insert(key, plan);
            ctx.add_setup_time(start.elapsed());
            if ctx.pipelines_built() > pipelines {
                self.fresh_kernels.insert(key);
            }
        }
        Ok(self.plans.get_mut(&key).expect("inserted above"))
    }

    /// Submits the plan of `key` (record it with [`StepCore::plan`] first) as one command buffer:
    /// for plans with a backward pass the store's gradients and the buffers in `clear` are zeroed
    /// first; a training plan counts one update and gets this update's Adam parameters. `after` adds
    /// copies after the pass (state carry, logits readback). With `read` the stats accumulated since
    /// the last read come back (the only wait on the GPU) and a non-finite loss is an error.
    pub fn submit(
        &mut self,
        ctx: &GpuContext,
        key: PlanKey,
        store: &ParamStore,
        clear: &[&wgpu::Buffer],
        after: impl FnOnce(&mut wgpu::CommandEncoder),
        read: bool,
    ) -> Result<Option<StepStats>> {
        let staging = read.then(|| self.stats_staging.clone());
        let Some(steps) = self.record_and_submit(ctx, key, store, clear, after, staging.as_ref(), true)? else {
            return Ok(None);
        };
        checked_stats(&read_staging(ctx, &self.stats_staging, STATS_LEN)?, steps, self.updates).map(Some)
    }

    /// [`StepCore::submit`] without any wait: with `read` the stats come back as a
    /// [`PendingStats`] to poll between frames (or to await in a browser, where nothing may block).
    pub fn submit_pending(
        &mut self,
        ctx: &GpuContext,
        key: PlanKey,
        store: &ParamStore,
        clear: &[&wgpu::Buffer],
        read: bool,
    ) -> Result<Option<PendingStats>> {
        // A buffer of its own per read, so several reads may be in flight.
        let staging = read.then(|| staging_buffer(ctx, "pending stats", (STATS_LEN * 4) as u64));
        let Some(steps) = self.record_and_submit(ctx, key, store, clear, |_| {}, staging.as_ref(), false)? else {
            return Ok(None);
        };
        let staging = staging.expect("a read has its staging buffer");
        Ok(Some(PendingStats { values: Pending::new(staging, STATS_LEN), steps, update: self.updates }))
    }

    /// Records and submits one step; with `read_into` the stats are copied there and cleared, and
    /// the steps they sum over are returned. With `time_first_run`, a training plan's first run is
    /// timed alone as setup (draining the queue: never on the non-blocking path).
    fn record_and_submit(
        &mut self,
        ctx: &GpuContext,
        key: PlanKey,
        store: &ParamStore,
        clear: &[&wgpu::Buffer],
        after: impl FnOnce(&mut wgpu::CommandEncoder),
        read_into: Option<&wgpu::Buffer>,
        time_first_run: bool,
    ) -> Result<Option<u32>> {
        self.updates = self.next_update(key.kind);
        let plan = self.plans.get(&key).ok_or_else(|| Error::InvalidInput(format!("no plan recorded for {key:?}")))?;
        if let Some(adam) = plan.adam {
            let p = AdamParams::new(&self.optimizer, store.total_len(), store.entries().len(), SLOT_NORM, self.updates, self.optimizer.lr)
                .with_grad_scale(store.grad_scale);
            plan.schedule.ops[adam].write_params(&ctx.queue, &p);
        }
        let mut encoder = ctx.device.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("step") });
        if key.kind.has_backward() {
            encoder.clear_buffer(&store.grads, 0, None);
            for buffer in clear {
                encoder.clear_buffer(buffer, 0, None);
            }
            self.steps_since_read += 1;
        }
        plan.schedule.record(&mut encoder, "step");
        after(&mut encoder);
        if let Some(staging) = read_into {
            encoder.copy_buffer_to_buffer(&self.stats, 0, staging, 0, (STATS_LEN * 4) as u64);
            encoder.clear_buffer(&self.stats, 0, None);
        }
        // The first run of a plan that brought new kernels may include the driver compiling them:
        // a training plan then runs alone (the queue drained before and after) and counts as
        // setup. Inference submits never wait here, so a frame loop polling predictions is not
        // blocked.
        let first_run = self.fresh_kernels.remove(&key) && key.kind.has_backward() && time_first_run;
        if first_run {
            ctx.wait_idle()?;
        }
        let started = web_time::Instant::now();
        ctx.queue.submit([encoder.finish()]);
        if first_run {
            ctx.wait_idle()?;
            ctx.add_setup_time(started.elapsed());
        }
        Ok(read_into.map(|_| std::mem::take(&mut self.steps_since_read)))
    }
}

/// The stats of `steps` steps from the buffer's slots; a non-finite loss (at `update`) is an error.
fn checked_stats(slots: &[f32], steps: u32, update: u64) -> Result<StepStats> {
    let stats = StepStats::from_slots(slots, steps);
    if !stats.loss_sum.is_finite() {
        return Err(Error::NonFiniteLoss { update, value: stats.loss_sum });
    }
    Ok(stats)
}

/// Step stats on their way back from the GPU ([`StepCore::submit_pending`]).
pub struct PendingStats {
    values: Pending<f32>,
    steps: u32,
    update: u64,
}

impl PendingStats {
    /// Makes progress without waiting: `Ok(Some(stats))` once the GPU has finished the steps; a
    /// non-finite loss is an error, as with [`StepCore::submit`].
    pub fn poll(&self, ctx: &GpuContext) -> Result<Option<StepStats>> {
        match self.values.poll(ctx)? {
            Some(slots) => checked_stats(&slots, self.steps, self.update).map(Some),
            None => Ok(None),
        }
    }
}
