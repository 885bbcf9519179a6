//! The LSTM language model: embedding → LSTM stack → decoder over the vocabulary (optionally tied to
//! the embedding, as in Press & Wolf 2017) → next-token cross-entropy, trained with truncated
//! backpropagation through time: the final state of each chunk becomes the initial state of the next
//! (copied on the GPU at the end of the step's command buffer), gradients stop at chunk boundaries.
//!
//! A training step is one command buffer with one compute pass:
//!   gather → LSTM forward → decoder GEMM → in-place cross-entropy rows (`logits` becomes `d_logits`)
//!   → Σ row losses → decoder backward → LSTM backward → embedding scatter-add [→ norm] → Adam,
//!   then the state copies. The logits `[T·B, V]` are the only vocabulary-sized buffer; their rows are
//!   padded to a multiple of 4 (`logits_stride`) so every decoder GEMM reads them as vec4.
//! Names follow PyTorch's word_language_model: `encoder.weight` is here `embedding.weight`,
//! `decoder.weight` `[V, H]` (absent when tied), `decoder.bias` `[V]`.

use crate::error::{Error, Result};
use crate::gpu::{read_staging, staging_buffer, GpuContext, View};
use crate::graph::Schedule;
use crate::kernels::embedding::{gather, scatter_add, scatter_grid, EmbeddingParams, SegmentViews, TokenSegments};
use crate::kernels::loss::cross_entropy_rows;
use crate::kernels::matmul::{gemm, Gemm};
use crate::kernels::optimizer::{adam_step, AdamConfig, AdamParams};
use crate::kernels::reduce::{column_sum, column_sum_strided, sum_squares};
use crate::model::init::{init_tensor, rng};
use crate::model::lstm::{LstmConfig, LstmStack};
use crate::params::ParamStore;

/// Shape of a language model.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct LanguageModelConfig {
    /// Vocabulary size V.
    pub vocab: usize,
    /// Embedding size E.
    pub embed: usize,
    /// LSTM hidden size H.
    pub hidden: usize,
    /// Stacked LSTM layers.
    pub layers: usize,
    /// The decoder reuses `embedding.weight` (needs E = H).
    pub tie_weights: bool,
}

impl LanguageModelConfig {
    /// The LSTM stack (unidirectional).
    pub fn lstm(&self) -> LstmConfig {
        LstmConfig { input: self.embed, hidden: self.hidden, layers: self.layers, bidirectional: false }
    }

    /// (name, shape) of every parameter.
    pub fn param_specs(&self) -> Vec<(String, Vec<usize>)> {
        let mut specs = vec![("embedding.weight".to_string(), vec![self.vocab, self.embed])];
        specs.extend(self.lstm().param_specs("lstm."));
        if !self.tie_weights {
            specs.push(("decoder.weight".into(), vec![self.vocab, self.hidden]));
        }
        specs.push(("decoder.bias".into(), vec![self.vocab]));
        specs
    }

    fn decoder_weight(&self) -> &'static str {
        if self.tie_weights { "embedding.weight" } else { "decoder.weight" }
    }
}

const STATS_LEN: usize = 8;
const SLOT_LOSS: usize = 0;
const SLOT_NORM: usize = 6;

/// Row stride of the logits: the vocabulary rounded up to a multiple of 4, so the decoder GEMMs read
/// them as vec4 (the padding columns are never written and stay zero).
fn logits_stride(vocab: usize) -> usize {
    vocab.next_multiple_of(4)
}

/// The language model on the GPU.
pub struct LanguageModel {
    /// Its shape.
    pub cfg: LanguageModelConfig,
    /// Every parameter with gradients and Adam moments.
    pub store: ParamStore,
    /// Adam settings (change with [`LanguageModel::set_optimizer`]).
    pub optimizer: AdamConfig,
    /// Optimizer updates done.
    pub updates: u64,
    lstm: LstmStack,
    batch: usize,
    steps_cap: usize,
    ids: wgpu::Buffer,
    targets: wgpu::Buffer,
    lengths: wgpu::Buffer,
    seg: [wgpu::Buffer; 3],
    x: wgpu::Buffer,
    dx: wgpu::Buffer,
    logits: wgpu::Buffer,
    row_loss: wgpu::Buffer,
    stats: wgpu::Buffer,
    stats_staging: wgpu::Buffer,
    plans: std::collections::HashMap<(usize, bool), LmPlan>,
}

/// A recorded chunk for one (steps, training) and the ops whose parameters change per step.
struct LmPlan {
    schedule: Schedule,
    scatter: Option<usize>,
    adam: Option<usize>,
}

impl LanguageModel {
    /// A model for `batch` parallel streams and chunks of up to `steps_cap` tokens.
    pub fn new(ctx: &GpuContext, cfg: LanguageModelConfig, batch: usize, steps_cap: usize, seed: u64) -> Result<Self> {
        if cfg.tie_weights && cfg.embed != cfg.hidden {
            return Err(Error::InvalidInput(format!("tied weights need embed = hidden, got {} and {}", cfg.embed, cfg.hidden)));
        }
        if cfg.vocab < 2 || cfg.embed == 0 || cfg.hidden == 0 || cfg.layers == 0 || batch == 0 || steps_cap == 0 {
            return Err(Error::InvalidInput(format!("every language-model dimension must be positive: {cfg:?}, batch {batch}, steps {steps_cap}")));
        }
        let specs = cfg.param_specs();
        let store = ParamStore::new(ctx, &specs)?;
        let mut r = rng(seed);
        for (name, shape) in &specs {
            let values = if name == "embedding.weight" {
                // Small uniform init (as PyTorch's word_language_model) so a tied decoder starts calm.
                init_tensor("decoder", shape.iter().product(), 100, &mut r)
            } else {
                init_tensor(name, shape.iter().product(), cfg.hidden, &mut r)
            };
            store.upload(ctx, name, &values)?;
        }
        let (b, t) = (batch as u64, steps_cap as u64);
        let buf = |name: &str, n: u64| ctx.storage_buffer(name, n * 4);
        let lengths = buf("lengths", b)?;
        Ok(Self {
            lstm: LstmStack::new(ctx, cfg.lstm(), "lstm.", batch, steps_cap)?,
            ids: buf("token ids", b * t)?,
            targets: buf("next tokens", b * t)?,
            seg: [buf("segment offsets", b * t + 1)?, buf("segment positions", b * t)?, buf("segment tokens", b * t)?],
            x: buf("embedded x", t * b * cfg.embed as u64)?,
            dx: buf("embedded dx", t * b * cfg.embed as u64)?,
            logits: buf("logits", t * b * logits_stride(cfg.vocab) as u64)?,
            row_loss: buf("row losses", t * b)?,
            stats: buf("stats", STATS_LEN as u64)?,
            stats_staging: staging_buffer(ctx, "stats staging", STATS_LEN as u64 * 4),
            lengths,
            store,
            optimizer: AdamConfig::default(),
            updates: 0,
            batch,
            steps_cap,
            cfg,
            plans: Default::default(),
        })
    }

    /// Changes the optimizer settings (training plans are rebuilt only when clipping is switched).
    pub fn set_optimizer(&mut self, cfg: AdamConfig) {
        // The recorded plans hold only whether clipping runs (the norm kernel); every other setting
        // reaches the GPU through the optimizer's parameters, written each step.
        let clipping_changed = (cfg.max_grad_norm > 0.0) != (self.optimizer.max_grad_norm > 0.0);
        self.optimizer = cfg;
        if clipping_changed {
            self.plans.retain(|(_, train), _| !*train);
        }
    }

    fn build_plan(&self, ctx: &GpuContext, steps: usize, train: bool) -> Result<LmPlan> {
        let (cfg, st, w, b) = (self.cfg, &self.store, View::whole, self.batch);
        let rows = steps * b;
        let mut s = Schedule::default();
        s.push(gather(ctx, b, steps, cfg.embed, w(&self.ids), st.view("embedding.weight")?, w(&self.x))?);
        s.extend(self.lstm.forward(ctx, st, w(&self.x), w(&self.lengths), b, steps)?);
        let (v, h, ld) = (cfg.vocab, cfg.hidden, logits_stride(cfg.vocab));
        let dec = Gemm::new(rows, v, h).b_transposed().strides(h, h, ld);
        s.push(gemm(ctx, dec, w(self.lstm.output()), st.view(cfg.decoder_weight())?, w(&self.logits), &[st.view("decoder.bias")?])?);
        s.push(cross_entropy_rows(ctx, rows, v, ld, 1.0 / rows as f32, w(&self.targets), w(&self.logits), w(&self.row_loss))?);
        let stats_loss = View { buffer: &self.stats, offset: (SLOT_LOSS * 4) as u64, size: 4 };
        s.push(column_sum(ctx, rows, 1, true, w(&self.row_loss), stats_loss)?);
        if !train {
            return Ok(LmPlan { schedule: s, scatter: None, adam: None });
        }
        // Decoder backward: dW += dlogitsᵀ·y, db = Σ rows, dy = dlogits·W.
        let dw = Gemm::new(v, h, rows).a_transposed().strides(ld, h, h).accumulate(true);
        s.push(gemm(ctx, dw, w(&self.logits), w(self.lstm.output()), st.grad_view(cfg.decoder_weight())?, &[])?);
        s.push(column_sum_strided(ctx, rows, v, ld, true, w(&self.logits), st.grad_view("decoder.bias")?)?);
        let dy = Gemm::new(rows, h, v).strides(ld, h, h);
        s.push(gemm(ctx, dy, w(&self.logits), st.view(cfg.decoder_weight())?, w(self.lstm.output_grad()), &[])?);
        s.extend(self.lstm.backward(ctx, st, w(&self.x), w(&self.lengths), Some(w(&self.dx)), b, steps)?);
        let seg = SegmentViews { offsets: w(&self.seg[0]), positions: w(&self.seg[1]), tokens: w(&self.seg[2]) };
        let scatter = s.push(scatter_add(ctx, cfg.embed, 0, &seg, w(&self.dx), st.grad_view("embedding.weight")?)?);
        let total = st.total_len();
        if self.optimizer.max_grad_norm > 0.0 {
            s.push(sum_squares(ctx, total, SLOT_NORM, w(&st.grads), w(&self.stats))?);
        }
        let p = AdamParams::new(&self.optimizer, total, st.entries().len(), SLOT_NORM, 1, self.optimizer.lr);
        let adam = s.push(adam_step(ctx, p, &st.adam_views(w(&self.stats)))?);
        Ok(LmPlan { schedule: s, scatter: Some(scatter), adam: Some(adam) })
    }

    /// Zeroes the carried state (the start of a stream).
    pub fn reset_state(&self, ctx: &GpuContext) {
        let mut encoder = ctx.device.create_command_encoder(&Default::default());
        for l in 0..self.cfg.layers {
            encoder.clear_buffer(self.lstm.initial_state(l, 0), 0, None);
        }
        ctx.queue.submit([encoder.finish()]);
    }

    /// Runs one chunk: `ids` and `targets` are `[B,T]` (stream-major, targets = the next tokens).
    /// With `train`, updates the parameters. The chunk's summed cross-entropy stays on the GPU; with
    /// `read`, the sum over the chunks since the last read comes back (the only wait on the GPU).
    /// The final state is carried into the next call either way.
    pub fn step(&mut self, ctx: &GpuContext, ids: &[u32], targets: &[u32], train: bool, read: bool) -> Result<Option<f64>> {
        let b = self.batch;
        let steps = ids.len() / b;
        if steps == 0 || steps > self.steps_cap || ids.len() != b * steps || targets.len() != ids.len() {
            return Err(Error::InvalidInput(format!("a chunk must be {b} streams × 1..={} steps, with as many targets", self.steps_cap)));
        }
        if let Some(i) = ids.iter().chain(targets).position(|&id| id as usize >= self.cfg.vocab) {
            return Err(Error::InvalidInput(format!("token id at position {i} is outside the vocabulary of {}", self.cfg.vocab)));
        }
        let q = &ctx.queue;
        q.write_buffer(&self.ids, 0, bytemuck::cast_slice(ids));
        // The loss rows are time-major (row t·B + b), like the LSTM output.
        let time_major: Vec<u32> = (0..steps).flat_map(|t| (0..b).map(move |s| targets[s * steps + t])).collect();
        q.write_buffer(&self.targets, 0, bytemuck::cast_slice(&time_major));
        q.write_buffer(&self.lengths, 0, bytemuck::cast_slice(&vec![steps as u32; b]));
        let key = (steps, train);
        if !self.plans.contains_key(&key) {
            let plan = self.build_plan(ctx, steps, train)?;
            self.plans.insert(key, plan);
        }
        if train {
            self.updates += 1;
            let seg = TokenSegments::build(ids, &vec![steps as u32; b], b, steps);
            q.write_buffer(&self.seg[0], 0, bytemuck::cast_slice(&seg.offsets));
            q.write_buffer(&self.seg[1], 0, bytemuck::cast_slice(&seg.positions));
            q.write_buffer(&self.seg[2], 0, bytemuck::cast_slice(&seg.tokens));
            let (opt, n, tensors, updates, embed) = (self.optimizer, self.store.total_len(), self.store.entries().len(), self.updates, self.cfg.embed);
            let plan = self.plans.get_mut(&key).expect("built above");
            let op = &mut plan.schedule.ops[plan.scatter.expect("training plan")];
            op.workgroups = scatter_grid(embed, seg.segments());
            op.write_params(q, &EmbeddingParams { batch: 0, steps: 0, dim: embed as u32, segments: seg.segments() as u32 });
            plan.schedule.ops[plan.adam.expect("training plan")].write_params(q, &AdamParams::new(&opt, n, tensors, SLOT_NORM, updates, opt.lr));
        }
        let schedule = &self.plans[&key].schedule;
        let mut encoder = ctx.device.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("lm chunk") });
        if train {
            encoder.clear_buffer(&self.store.grads, 0, None);
        }
        schedule.record(&mut encoder, "lm chunk");
        // Carry the final state: states [2][T+1][B][H] slot T → state0 [2][B][H].
        let bh = (b * self.cfg.hidden * 4) as u64;
        for l in 0..self.cfg.layers {
            let (states, state0) = (self.lstm.states(l, 0), self.lstm.initial_state(l, 0));
            encoder.copy_buffer_to_buffer(states, steps as u64 * bh, state0, 0, bh);
            encoder.copy_buffer_to_buffer(states, (2 * steps as u64 + 1) * bh, state0, bh, bh);
        }
        if read {
            encoder.copy_buffer_to_buffer(&self.stats, 0, &self.stats_staging, 0, STATS_LEN as u64 * 4);
            encoder.clear_buffer(&self.stats, 0, None);
        }
        ctx.queue.submit([encoder.finish()]);
        if !read {
            return Ok(None);
        }
        let loss = read_staging::<f32>(ctx, &self.stats_staging, STATS_LEN)?[SLOT_LOSS] as f64;
        if !loss.is_finite() {
            return Err(Error::NonFiniteLoss { update: self.updates, value: loss as f32 });
        }
        Ok(Some(loss))
    }
}
