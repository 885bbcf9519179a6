//! The LSTM forecaster: numeric windows `x` `[T,B,F]` (F input series, already scaled) → LSTM stack (its
//! input weights are the linear input projection) → the last step's hidden state → linear head →
//! `horizon` future values of the target series, trained with mean squared error.
//!
//! One training step is one command buffer with one compute pass, like the classifier's:
//!   LSTM forward → last-step features → head → MSE → head backward → pool backward → LSTM backward
//!   [→ global norm] → Adam.
//! Parameter names follow PyTorch (`lstm.weight_ih_l0`, …, `fc.weight` `[horizon, H]`, `fc.bias`).

use super::windows::Windows;
use crate::config::Pooling;
use crate::config::validate::{MAX_SIZE, bytes_of, check_capacity, check_size};
use crate::core::step::{Plan, PlanKey, PlanKind, SLOT_LOSS, StepCore, StepStats, UpdateTail};
use crate::error::{Error, Result};
use crate::gpu::{GpuContext, Pending, View, read_staging, staging_buffer};
use crate::graph::Schedule;
use crate::kernels::loss::mse;
use crate::kernels::matmul::{Gemm, gemm};
use crate::kernels::pool::{PoolParams, pool_backward, pool_forward};
use crate::kernels::reduce::column_sum;
use crate::nn::init::{Draw, init_store};
use crate::nn::{LstmConfig, LstmStack};
use crate::params::{ParamStore, TensorMap};

/// Shape of a forecaster.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ForecasterConfig {
    /// LSTM inputs per step: the series' columns (the target plus any covariates) times the
    /// window's fold ([`ForecastConfig::fold`](super::ForecastConfig::fold)).
    pub inputs: usize,
    /// LSTM hidden size.
    pub hidden: usize,
    /// Stacked LSTM layers.
    pub layers: usize,
    /// Future steps predicted at once (direct multi-step forecast).
    pub horizon: usize,
}

impl ForecasterConfig {
    /// Refuses zero or oversized sizes, naming the field.
    pub fn validate(&self) -> Result<()> {
        check_size("inputs", self.inputs, MAX_SIZE)?;
        check_size("horizon", self.horizon, MAX_SIZE)?;
        self.lstm().validate()
    }

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

/// The forecaster on the GPU, with its plans cached per (batch, steps, kind) in its step core.
///
/// Training from Rust on a CSV series, then scoring the held-out tail against the seasonal naive
/// (to only predict, [`ForecastPredictor`](super::ForecastPredictor) loads a checkpoint):
///
/// ```no_run
/// use lstm_transfer::config::OptimConfig;
/// use lstm_transfer::tasks::forecast::{self, ForecastConfig, Forecaster, ForecasterConfig, Scaler, SeriesSpec, read_series};
/// use lstm_transfer::{AdapterChoice, GpuContext};
///
/// let spec = SeriesSpec { time_col: "ds".into(), target_col: "y".into(), input_cols: vec![], future_cols: vec![],
///                         series_col: None, series: None, fill_gaps: None, max_gap: 3 };
/// let series = read_series("AirPassengers.csv".as_ref(), &spec)?;
/// let cfg = ForecastConfig { window: 24, horizon: 12, season: 12, stride: 1, test_len: 24, valid_len: 12, train_len: None,
///                            epochs: 30, batch_size: 32, optim: OptimConfig::adam(3e-3, 1.0), patience: 5, seed: 1,
///                            seasonal_residual: true, future_cols: 0, linear_residual: None, fold: 1 };
/// let (train_end, _) = forecast::boundaries(series.len(), &cfg)?;
/// let scaler = Scaler::fit(&series, 0, train_end);
/// let ctx = GpuContext::new(&AdapterChoice::from_env())?;
/// let shape = ForecasterConfig { inputs: 1, hidden: 64, layers: 1, horizon: cfg.horizon };
/// let mut model = Forecaster::new(&ctx, shape, cfg.batch_size, cfg.window, 1)?;
/// forecast::fit(&ctx, &mut model, &scaler.scale(&series), &cfg, &mut ())?;
/// let (_, metrics) = forecast::evaluate(&ctx, std::slice::from_mut(&mut model), &series, &scaler, &cfg)?;
/// println!("MASE {:?} (seasonal naive {:?})", metrics.mase, metrics.naive_mase);
/// # Ok::<(), lstm_transfer::Error>(())
/// ```
pub struct Forecaster {
    /// Its shape.
    pub cfg: ForecasterConfig,
    /// Every parameter, with gradients and Adam moments.
    pub store: ParamStore,
    /// Optimizer settings, update count, stats and recorded plans.
    pub step: StepCore,
    lstm: LstmStack,
    batch_cap: usize,
    steps_cap: usize,
    bufs: Buffers,
    pred_staging: wgpu::Buffer,
}

/// Activation buffers, sized for the capacity (B, T).
struct Buffers {
    x: wgpu::Buffer,
    y: wgpu::Buffer,
    lengths: wgpu::Buffer,
    features: wgpu::Buffer,
    d_features: wgpu::Buffer,
    pred: wgpu::Buffer,
    d_pred: wgpu::Buffer,
}

impl Forecaster {
    /// A forecaster with PyTorch-style random parameters, for batches up to (batch_cap, steps_cap).
    pub fn new(ctx: &GpuContext, cfg: ForecasterConfig, batch_cap: usize, steps_cap: usize, seed: u64) -> Result<Self> {
        cfg.validate()?;
        check_capacity(batch_cap, "window", steps_cap)?;
        let specs = cfg.param_specs();
        let store = init_store(ctx, &specs, seed, |name| Draw { kind: name, fan_in: cfg.hidden })?;
        let (b, t) = (batch_cap, steps_cap);
        let buf = |name: &str, dims: &[usize]| ctx.storage_buffer(name, bytes_of(name, dims)?);
        let bufs = Buffers {
            x: buf("windows x", &[t, b, cfg.inputs])?,
            y: buf("windows y", &[b, cfg.horizon])?,
            lengths: buf("lengths", &[b])?,
            features: buf("features", &[b, cfg.hidden])?,
            d_features: buf("d features", &[b, cfg.hidden])?,
            pred: buf("forecast", &[b, cfg.horizon])?,
            d_pred: buf("d forecast", &[b, cfg.horizon])?,
        };
        Ok(Self {
            lstm: LstmStack::new(ctx, cfg.lstm(), "lstm.", batch_cap, steps_cap)?,
            pred_staging: staging_buffer(ctx, "forecast staging", bytes_of("forecast staging", &[b, cfg.horizon])?),
            step: StepCore::new(ctx)?,
            bufs,
            store,
            batch_cap,
            steps_cap,
            cfg,
        })
    }

    /// Checks and uploads a batch of windows; returns the key of its plan, recorded if new.
    fn prepare(&mut self, ctx: &GpuContext, b: &Windows, kind: PlanKind) -> Result<PlanKey> {
        let (cfg, bad) = (self.cfg, |m: String| Err(Error::InvalidInput(m)));
        let train = kind.has_backward();
        if b.batch == 0 || b.steps == 0 || b.batch > self.batch_cap || b.steps > self.steps_cap {
            return bad(format!(
                "windows {}×{} must be non-empty and within the capacity {}×{}",
                b.batch, b.steps, self.batch_cap, self.steps_cap
            ));
        }
        if b.x.len() != b.steps * b.batch * cfg.inputs || (train && b.y.len() != b.batch * cfg.horizon) {
            return bad(format!(
                "window arrays disagree with {} windows × {} steps × {} inputs → {} horizon",
                b.batch, b.steps, cfg.inputs, cfg.horizon
            ));
        }
        if let Some(i) = b.x.iter().chain(&b.y).position(|v| !v.is_finite()) {
            return bad(format!("window value {i} is not finite"));
        }
        let q = &ctx.queue;
        q.write_buffer(&self.bufs.x, 0, bytemuck::cast_slice(&b.x));
        q.write_buffer(&self.bufs.lengths, 0, bytemuck::cast_slice(&vec![b.steps as u32; b.batch]));
        if train {
            q.write_buffer(&self.bufs.y, 0, bytemuck::cast_slice(&b.y));
        }
        let key = PlanKey { batch: b.batch, steps: b.steps, kind };
        let (store, lstm, bufs) = (&self.store, &self.lstm, &self.bufs);
        self.step.plan(ctx, key, |tail| build_plan(ctx, cfg, store, lstm, bufs, key, tail))?;
        Ok(key)
    }

    /// One training step. Each step's mean squared error is added up on the GPU; with `read`, the sum
    /// over the steps since the last read comes back (the only wait on the GPU).
    pub fn train_step(&mut self, ctx: &GpuContext, b: &Windows, read: bool) -> Result<Option<StepStats>> {
        let key = self.prepare(ctx, b, PlanKind::Train)?;
        self.step.submit(ctx, key, &self.store, &[self.lstm.output_grad().buffer], |_| {}, read)
    }

    /// Forecasts `[B,horizon]` for a batch of windows (`y` is not used); blocks until they are back.
    pub fn predict(&mut self, ctx: &GpuContext, b: &Windows) -> Result<Vec<f32>> {
        let staging = self.pred_staging.clone();
        self.submit_forecast(ctx, b, &staging)?;
        read_staging(ctx, &self.pred_staging, b.batch * self.cfg.horizon)
    }

    /// Submits the forecasts `[B,horizon]` of a batch of windows and returns at once: poll the
    /// result (a frame loop never waits on the GPU).
    pub fn submit_predict(&mut self, ctx: &GpuContext, b: &Windows) -> Result<Pending<f32>> {
        let len = b.batch * self.cfg.horizon;
        let staging = staging_buffer(ctx, "async forecast", (len * 4) as u64);
        self.submit_forecast(ctx, b, &staging)?;
        Ok(Pending::new(staging, len))
    }

    /// Records and submits the forward pass of `b`, its forecasts copied into `staging`.
    fn submit_forecast(&mut self, ctx: &GpuContext, b: &Windows, staging: &wgpu::Buffer) -> Result<()> {
        let key = self.prepare(ctx, b, PlanKind::Infer)?;
        let (pred, bytes) = (&self.bufs.pred, (b.batch * self.cfg.horizon * 4) as u64);
        self.step.submit(ctx, key, &self.store, &[], |encoder| encoder.copy_buffer_to_buffer(pred, 0, staging, 0, bytes), false)?;
        Ok(())
    }

    /// Replaces parameters by name (shapes checked).
    pub fn load_params(&self, ctx: &GpuContext, tensors: &TensorMap) -> Result<()> {
        self.store.upload_all(ctx, tensors)
    }
}

/// The mean of the members' outputs `[B,horizon]` for a batch of windows (scaled units, before any
/// residual base, which is the same for every member): an ensemble of forecasters trained from
/// different seeds forecasts as one.
pub fn predict_mean(ctx: &GpuContext, members: &mut [Forecaster], b: &Windows) -> Result<Vec<f32>> {
    let outputs = members.iter_mut().map(|m| m.predict(ctx, b)).collect::<Result<Vec<_>>>()?;
    mean_output(&outputs)
}

/// The element-wise mean of the members' outputs (summed in f64, rounded once).
pub(crate) fn mean_output(outputs: &[impl AsRef<[f32]>]) -> Result<Vec<f32>> {
    let Some(first) = outputs.first() else { return Err(Error::InvalidInput("an ensemble of no forecasters".into())) };
    let k = outputs.len() as f64;
    Ok((0..first.as_ref().len()).map(|i| (outputs.iter().map(|o| o.as_ref()[i] as f64).sum::<f64>() / k) as f32).collect())
}

/// Records the forward pass (and for a training key the MSE, the backward pass and the update tail).
fn build_plan(
    ctx: &GpuContext,
    cfg: ForecasterConfig,
    st: &ParamStore,
    lstm: &LstmStack,
    bufs: &Buffers,
    key: PlanKey,
    tail: &UpdateTail,
) -> Result<Plan> {
    let (batch, steps, w) = (key.batch, key.steps, View::whole);
    let mut s = Schedule::default();
    s.extend(lstm.forward(ctx, st, w(&bufs.x), w(&bufs.lengths), batch, steps)?);
    let pool = PoolParams::new(batch, steps, cfg.hidden, 1, Pooling::Last);
    s.push(pool_forward(ctx, pool, w(&bufs.lengths), lstm.output(), w(&bufs.features))?);
    let head = Gemm::new(batch, cfg.horizon, cfg.hidden).b_transposed();
    s.push(gemm(ctx, head, w(&bufs.features), st.view("fc.weight")?, w(&bufs.pred), &[st.view("fc.bias")?])?);
    if !key.kind.has_backward() {
        return Ok(Plan { schedule: s, ..Default::default() });
    }
    let n = batch * cfg.horizon;
    s.push(mse(ctx, n, SLOT_LOSS, st.grad_scale, w(&bufs.pred), w(&bufs.y), w(&bufs.d_pred), w(tail.stats()))?);
    let dw = Gemm::new(cfg.horizon, cfg.hidden, batch).a_transposed().accumulate(true);
    s.push(gemm(ctx, dw, w(&bufs.d_pred), w(&bufs.features), st.grad_view("fc.weight")?, &[])?);
    s.push(column_sum(ctx, batch, cfg.horizon, true, w(&bufs.d_pred), st.grad_view("fc.bias")?)?);
    s.push(gemm(ctx, Gemm::new(batch, cfg.hidden, cfg.horizon), w(&bufs.d_pred), st.view("fc.weight")?, w(&bufs.d_features), &[])?);
    s.push(pool_backward(ctx, pool, w(&bufs.lengths), w(&bufs.d_features), lstm.output(), lstm.output_grad())?);
    s.extend(lstm.backward(ctx, st, w(&bufs.x), w(&bufs.lengths), None, batch, steps)?);
    let adam = if key.kind == PlanKind::Train { Some(tail.push(ctx, &mut s, st)?) } else { None };
    Ok(Plan { schedule: s, adam, ..Default::default() })
}
