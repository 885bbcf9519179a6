//! The LSTM forecaster: numeric windows `x` `[T,B,F]` (F input series, already scaled) → LSTM stack (its
//! input weights are the linear input projection) → the last step's hidden state → linear head →
//! `horizon` future values of the target series, trained with mean squared error.
//!
//! One training step is one command buffer with one compute pass, like the classifier's:
//!   LSTM forward → last-step features → head → MSE → head backward → pool backward → LSTM backward
//!   [→ global norm] → Adam.
//! Parameter names follow PyTorch (`lstm.weight_ih_l0`, …, `fc.weight` `[horizon, H]`, `fc.bias`).

use std::collections::HashMap;

use crate::error::{Error, Result};
use crate::gpu::{read_staging, staging_buffer, GpuContext, View};
use crate::graph::Schedule;
use crate::kernels::loss::mse;
use crate::kernels::matmul::{gemm, Gemm};
use crate::kernels::optimizer::{adam_step, AdamConfig, AdamParams};
use crate::kernels::pool::{pool_backward, pool_forward, PoolParams, Pooling};
use crate::kernels::reduce::{column_sum, sum_squares};
use crate::model::init::{init_tensor, rng};
use crate::model::lstm::{LstmConfig, LstmStack};
use crate::params::ParamStore;

/// Shape of a forecaster.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ForecasterConfig {
    /// Input series per step (the target series plus any covariates).
    pub inputs: usize,
    /// LSTM hidden size.
    pub hidden: usize,
    /// Stacked LSTM layers.
    pub layers: usize,
    /// Future steps predicted at once (direct multi-step forecast).
    pub horizon: usize,
}

impl ForecasterConfig {
    /// The LSTM stack (unidirectional: a forecast reads only the past).
    pub fn lstm(&self) -> LstmConfig {
        LstmConfig { input: self.inputs, hidden: self.hidden, layers: self.layers, bidirectional: false }
    }

    /// (name, shape) of every parameter with PyTorch names.
    pub fn param_specs(&self) -> Vec<(String, Vec<usize>)> {
        let mut specs = self.lstm().param_specs("lstm.");
        specs.push(("fc.weight".into(), vec![self.horizon, self.hidden]));
        specs.push(("fc.bias".into(), vec![self.horizon]));
        specs
    }
}

/// A batch of windows: `x` `[T,B,F]` (time-major, as the LSTM reads it) and targets `y` `[B,horizon]`.
#[derive(Clone, Debug, Default)]
pub struct Windows {
    /// Windows in the batch.
    pub batch: usize,
    /// Steps per window.
    pub steps: usize,
    /// Inputs, time-major `[T,B,F]`.
    pub x: Vec<f32>,
    /// Targets `[B,horizon]` (empty when only predicting).
    pub y: Vec<f32>,
}

const STATS_LEN: usize = 8;
const SLOT_LOSS: usize = 0;
const SLOT_NORM: usize = 6;

/// The forecaster on the GPU, with its plans cached per (batch, steps, training).
pub struct Forecaster {
    /// Its shape.
    pub cfg: ForecasterConfig,
    /// Every parameter, with gradients and Adam moments.
    pub store: ParamStore,
    /// Adam settings (change with [`Forecaster::set_optimizer`]).
    pub optimizer: AdamConfig,
    /// Optimizer updates done (Adam's t).
    pub updates: u64,
    lstm: LstmStack,
    batch_cap: usize,
    steps_cap: usize,
    x: wgpu::Buffer,
    y: wgpu::Buffer,
    lengths: wgpu::Buffer,
    features: wgpu::Buffer,
    d_features: wgpu::Buffer,
    pred: wgpu::Buffer,
    d_pred: wgpu::Buffer,
    stats: wgpu::Buffer,
    stats_staging: wgpu::Buffer,
    pred_staging: wgpu::Buffer,
    plans: HashMap<(usize, usize, bool), (Schedule, Option<usize>)>,
}

impl Forecaster {
    /// A forecaster with PyTorch-style random parameters, for batches up to (batch_cap, steps_cap).
    pub fn new(ctx: &GpuContext, cfg: ForecasterConfig, batch_cap: usize, steps_cap: usize, seed: u64) -> Result<Self> {
        if cfg.inputs == 0 || cfg.hidden == 0 || cfg.layers == 0 || cfg.horizon == 0 {
            return Err(Error::InvalidInput(format!("every forecaster dimension must be positive: {cfg:?}")));
        }
        let specs = cfg.param_specs();
        let store = ParamStore::new(ctx, &specs)?;
        let mut r = rng(seed);
        for (name, shape) in &specs {
            store.upload(ctx, name, &init_tensor(name, shape.iter().product(), cfg.hidden, &mut r))?;
        }
        let (b, t) = (batch_cap as u64, steps_cap as u64);
        let buf = |name: &str, n: u64| ctx.storage_buffer(name, n * 4);
        let f = ctx.storage_buffer("lengths", b * 4)?;
        ctx.queue.write_buffer(&f, 0, bytemuck::cast_slice(&vec![0u32; batch_cap]));
        Ok(Self {
            lstm: LstmStack::new(ctx, cfg.lstm(), "lstm.", batch_cap, steps_cap)?,
            x: buf("windows x", t * b * cfg.inputs as u64)?,
            y: buf("windows y", b * cfg.horizon as u64)?,
            lengths: f,
            features: buf("features", b * cfg.hidden as u64)?,
            d_features: buf("d features", b * cfg.hidden as u64)?,
            pred: buf("forecast", b * cfg.horizon as u64)?,
            d_pred: buf("d forecast", b * cfg.horizon as u64)?,
            stats: buf("stats", STATS_LEN as u64)?,
            stats_staging: staging_buffer(ctx, "stats staging", STATS_LEN as u64 * 4),
            pred_staging: staging_buffer(ctx, "forecast staging", b * cfg.horizon as u64 * 4),
            store,
            optimizer: AdamConfig::default(),
            updates: 0,
            batch_cap,
            steps_cap,
            cfg,
            plans: HashMap::new(),
        })
    }

    /// Changes the optimizer settings (training plans are rebuilt only when clipping is switched).
    pub fn set_optimizer(&mut self, cfg: AdamConfig) {
        // The recorded plans hold only whether clipping runs (the norm kernel); every other setting
        // reaches the GPU through the optimizer's parameters, written each step.
        let clipping_changed = (cfg.max_grad_norm > 0.0) != (self.optimizer.max_grad_norm > 0.0);
        self.optimizer = cfg;
        if clipping_changed {
            self.plans.retain(|(_, _, train), _| !*train);
        }
    }

    fn build_plan(&self, ctx: &GpuContext, batch: usize, steps: usize, train: bool) -> Result<(Schedule, Option<usize>)> {
        let (cfg, st, w) = (self.cfg, &self.store, View::whole);
        let mut s = Schedule::default();
        s.extend(self.lstm.forward(ctx, st, w(&self.x), w(&self.lengths), batch, steps)?);
        let pool = PoolParams::new(batch, steps, cfg.hidden, 1, Pooling::Last);
        s.push(pool_forward(ctx, pool, w(&self.lengths), w(self.lstm.output()), w(&self.features))?);
        let head = Gemm::new(batch, cfg.horizon, cfg.hidden).b_transposed();
        s.push(gemm(ctx, head, w(&self.features), st.view("fc.weight")?, w(&self.pred), &[st.view("fc.bias")?])?);
        if !train {
            return Ok((s, None));
        }
        let n = batch * cfg.horizon;
        s.push(mse(ctx, n, SLOT_LOSS, 1.0, w(&self.pred), w(&self.y), w(&self.d_pred), w(&self.stats))?);
        let dw = Gemm::new(cfg.horizon, cfg.hidden, batch).a_transposed().accumulate(true);
        s.push(gemm(ctx, dw, w(&self.d_pred), w(&self.features), st.grad_view("fc.weight")?, &[])?);
        s.push(column_sum(ctx, batch, cfg.horizon, true, w(&self.d_pred), st.grad_view("fc.bias")?)?);
        s.push(gemm(ctx, Gemm::new(batch, cfg.hidden, cfg.horizon), w(&self.d_pred), st.view("fc.weight")?, w(&self.d_features), &[])?);
        s.push(pool_backward(ctx, pool, w(&self.lengths), w(&self.d_features), w(self.lstm.output()), w(self.lstm.output_grad()))?);
        s.extend(self.lstm.backward(ctx, st, w(&self.x), w(&self.lengths), None, batch, steps)?);
        let total = st.total_len();
        if self.optimizer.max_grad_norm > 0.0 {
            s.push(sum_squares(ctx, total, SLOT_NORM, w(&st.grads), w(&self.stats))?);
        }
        let p = AdamParams::new(&self.optimizer, total, st.entries().len(), SLOT_NORM, 1, self.optimizer.lr);
        let adam = s.push(adam_step(ctx, p, &st.adam_views(w(&self.stats)))?);
        Ok((s, Some(adam)))
    }

    fn write_inputs(&mut self, ctx: &GpuContext, b: &Windows, train: bool) -> Result<(usize, usize, bool)> {
        let (cfg, bad) = (self.cfg, |m: String| Err(Error::InvalidInput(m)));
        if b.batch == 0 || b.steps == 0 || b.batch > self.batch_cap || b.steps > self.steps_cap {
            return bad(format!("windows {}×{} must be non-empty and within the capacity {}×{}", b.batch, b.steps, self.batch_cap, self.steps_cap));
        }
        if b.x.len() != b.steps * b.batch * cfg.inputs || (train && b.y.len() != b.batch * cfg.horizon) {
            return bad(format!("window arrays disagree with {} windows × {} steps × {} inputs → {} horizon", b.batch, b.steps, cfg.inputs, cfg.horizon));
        }
        if let Some(i) = b.x.iter().chain(&b.y).position(|v| !v.is_finite()) {
            return bad(format!("window value {i} is not finite"));
        }
        ctx.queue.write_buffer(&self.x, 0, bytemuck::cast_slice(&b.x));
        ctx.queue.write_buffer(&self.lengths, 0, bytemuck::cast_slice(&vec![b.steps as u32; b.batch]));
        if train {
            ctx.queue.write_buffer(&self.y, 0, bytemuck::cast_slice(&b.y));
        }
        let key = (b.batch, b.steps, train);
        if !self.plans.contains_key(&key) {
            let plan = self.build_plan(ctx, b.batch, b.steps, train)?;
            self.plans.insert(key, plan);
        }
        Ok(key)
    }

    /// One training step. Each step's mean squared error is added up on the GPU; with `read`, the sum
    /// over the steps since the last read comes back (the only wait on the GPU).
    pub fn train_step(&mut self, ctx: &GpuContext, b: &Windows, read: bool) -> Result<Option<f32>> {
        let key = self.write_inputs(ctx, b, true)?;
        self.updates += 1;
        let (opt, n, tensors, updates) = (self.optimizer, self.store.total_len(), self.store.entries().len(), self.updates);
        let (schedule, adam) = self.plans.get_mut(&key).expect("built above");
        schedule.ops[adam.expect("training plans update")].write_params(&ctx.queue, &AdamParams::new(&opt, n, tensors, SLOT_NORM, updates, opt.lr));
        let mut encoder = ctx.device.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("forecaster step") });
        encoder.clear_buffer(&self.store.grads, 0, None);
        encoder.clear_buffer(self.lstm.output_grad(), 0, None);
        schedule.record(&mut encoder, "forecaster step");
        if read {
            encoder.copy_buffer_to_buffer(&self.stats, 0, &self.stats_staging, 0, STATS_LEN as u64 * 4);
            encoder.clear_buffer(&self.stats, 0, None);
        }
        ctx.queue.submit([encoder.finish()]);
        if !read {
            return Ok(None);
        }
        let loss = read_staging::<f32>(ctx, &self.stats_staging, STATS_LEN)?[SLOT_LOSS];
        if !loss.is_finite() {
            return Err(Error::NonFiniteLoss { update: self.updates, value: loss });
        }
        Ok(Some(loss))
    }

    /// Forecasts `[B,horizon]` for a batch of windows (`y` is not used).
    pub fn predict(&mut self, ctx: &GpuContext, b: &Windows) -> Result<Vec<f32>> {
        let key = self.write_inputs(ctx, b, false)?;
        let (schedule, _) = &self.plans[&key];
        let mut encoder = ctx.device.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("forecast") });
        schedule.record(&mut encoder, "forecast");
        encoder.copy_buffer_to_buffer(&self.pred, 0, &self.pred_staging, 0, (b.batch * self.cfg.horizon * 4) as u64);
        ctx.queue.submit([encoder.finish()]);
        read_staging(ctx, &self.pred_staging, b.batch * self.cfg.horizon)
    }

    /// Replaces parameters by name (shapes checked).
    pub fn load_params(&self, ctx: &GpuContext, tensors: &crate::params::TensorMap) -> Result<()> {
        self.store.upload_all(ctx, tensors)
    }
}
