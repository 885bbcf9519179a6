//! The LSTM text classifier: embedding → LSTM stack → pooling (last / max / mean / concat) → dropout
//! → linear head, with an optional domain head behind a gradient-reversal layer (DANN).
//!
//! One training step is one command buffer with one compute pass:
//!   gather → LSTM forward → pool `[→ dropout]` → head → cross-entropy `[→ domain head → domain cross-entropy]`
//!   → head backward `[→ domain head backward → gradient reversal]` `[→ dropout backward]` → pool backward
//!   → LSTM backward
//!   → embedding scatter-add `[→ global norm]` → Adam
//! The loss, accuracy and norm land in a small stats buffer that is copied to a staging buffer only
//! when the caller asks for a readback.

use std::collections::HashMap;

use crate::error::{Error, Result};
use crate::gpu::{read_staging, staging_buffer, GpuContext, Pending, View};
use crate::graph::{Schedule, StepCounts};
use crate::kernels::embedding::{gather, scatter_add, scatter_grid, EmbeddingParams, SegmentViews, TokenSegments};
use crate::kernels::grad_reverse::{grad_reverse, GradReverseParams};
use crate::kernels::loss::{cross_entropy, IGNORE_LABEL};
use crate::kernels::matmul::{gemm, Gemm};
use crate::kernels::optimizer::{adam_step, AdamConfig, AdamParams};
use crate::kernels::dropout::{dropout, DropoutParams};
use crate::kernels::pool::{pool_backward, pool_forward, PoolParams, Pooling};
use crate::kernels::reduce::{column_sum, sum_squares};
use crate::model::init::{init_tensor, rng};
use crate::model::lstm::{LstmConfig, LstmStack};
use crate::params::ParamStore;

/// Sizes and options of a [`Classifier`]; saved with checkpoints.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ClassifierConfig {
    /// Vocabulary size V (rows of `embedding.weight`, `[V, E]`).
    pub vocab: usize,
    /// Embedding width E (the LSTM's input size).
    pub embed: usize,
    /// LSTM hidden size H per layer and direction.
    pub hidden: usize,
    /// Stacked LSTM layers.
    pub layers: usize,
    /// Whether every LSTM layer also runs a reverse direction (doubles the output width).
    pub bidirectional: bool,
    /// Output classes C of the label head (`fc.weight` is `[C, features]`).
    pub classes: usize,
    /// Classes of the DANN domain head (0: no domain head).
    #[serde(default)]
    pub domains: usize,
    /// How the LSTM outputs over time become the heads' features.
    #[serde(default)]
    pub pooling: Pooling,
}

impl ClassifierConfig {
    /// The LSTM stack's sizes (input = `embed`).
    pub fn lstm(&self) -> LstmConfig {
        LstmConfig { input: self.embed, hidden: self.hidden, layers: self.layers, bidirectional: self.bidirectional }
    }

    /// Width of the heads' input: poolings × dirs × H.
    pub fn features(&self) -> usize {
        self.pooling.parts() * self.lstm().output_size()
    }

    /// (name, shape) of every parameter with PyTorch state_dict names.
    pub fn param_specs(&self) -> Vec<(String, Vec<usize>)> {
        let mut specs = vec![("embedding.weight".to_string(), vec![self.vocab, self.embed])];
        specs.extend(self.lstm().param_specs("lstm."));
        specs.push(("fc.weight".into(), vec![self.classes, self.features()]));
        specs.push(("fc.bias".into(), vec![self.classes]));
        if self.domains > 0 {
            specs.push(("domain.weight".into(), vec![self.domains, self.features()]));
            specs.push(("domain.bias".into(), vec![self.domains]));
        }
        specs
    }
}

/// One batch, host side. `ids` is `[batch, steps]` right-padded; `labels` may hold IGNORE_LABEL.
#[derive(Clone, Debug, Default)]
pub struct Batch {
    /// Rows B.
    pub batch: usize,
    /// Time steps T of the padded rows.
    pub steps: usize,
    /// Token ids, `[B, T]` row-major, right-padded.
    pub ids: Vec<u32>,
    /// Valid tokens per row, `[B]`, each in `1..=steps`.
    pub lengths: Vec<u32>,
    /// Class of each row, `[B]` (IGNORE_LABEL: no loss, not counted).
    pub labels: Vec<u32>,
    /// Domain of each row (DANN only).
    pub domain_labels: Option<Vec<u32>>,
}

/// Sums since the last readback.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct StepStats {
    /// Sum over steps of the mean cross-entropy of each step.
    pub loss_sum: f32,
    /// Labelled rows whose largest logit is the label.
    pub correct: f32,
    /// Labelled rows (label not IGNORE_LABEL) counted in the loss and accuracy.
    pub rows: f32,
    /// Domain head: sum over steps of the mean domain cross-entropy (DANN only).
    pub domain_loss_sum: f32,
    /// Domain head: rows whose predicted domain is right.
    pub domain_correct: f32,
    /// Domain head: rows counted.
    pub domain_rows: f32,
    /// Squared global gradient norm of the last step (when clipping is on).
    pub grad_norm_sq: f32,
    /// Training steps submitted since the last readback (this one included).
    pub steps: u32,
}

/// Stats buffer slots.
const SLOT_LOSS: usize = 0;
const SLOT_DOMAIN: usize = 3;
const SLOT_NORM: usize = 6;
const STATS_LEN: usize = 8;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum PlanKind {
    /// Forward to the logits.
    Infer,
    /// Forward, loss and backward: gradients only.
    Gradients,
    /// Gradients, then the optimizer.
    Train,
}

/// A recorded schedule for one (batch, steps, kind), with the ops whose parameters change per step.
struct Plan {
    schedule: Schedule,
    scatter: Option<usize>,
    adam: Option<usize>,
    grl: Option<usize>,
    /// The dropout forward and backward ops (their counter changes per step).
    dropout: Vec<usize>,
}

/// The classifier on the GPU: its parameters, activation buffers for batches up to a fixed capacity,
/// and the recorded step plans, cached per (batch, steps, kind).
pub struct Classifier {
    /// The model's sizes (fixed at construction).
    pub cfg: ClassifierConfig,
    /// Parameters, gradients, Adam moments and per-tensor optimizer options.
    pub store: ParamStore,
    /// Adam settings read at every update; change them with `set_optimizer`, since turning gradient
    /// clipping on or off changes the recorded plans.
    pub optimizer: AdamConfig,
    lstm: LstmStack,
    batch_cap: usize,
    steps_cap: usize,
    ids: wgpu::Buffer,
    lengths: wgpu::Buffer,
    labels: wgpu::Buffer,
    domain_labels: wgpu::Buffer,
    seg_offsets: wgpu::Buffer,
    seg_positions: wgpu::Buffer,
    seg_tokens: wgpu::Buffer,
    x: wgpu::Buffer,
    dx: wgpu::Buffer,
    /// Pooled features `[B, F]` and their gradient.
    features: wgpu::Buffer,
    d_features: wgpu::Buffer,
    /// The heads' input after dropout, and its gradient (used only when dropout is on).
    dropped: wgpu::Buffer,
    d_dropped: wgpu::Buffer,
    logits: wgpu::Buffer,
    d_logits: wgpu::Buffer,
    domain_logits: wgpu::Buffer,
    d_domain_logits: wgpu::Buffer,
    d_domain_features: wgpu::Buffer,
    stats: wgpu::Buffer,
    stats_staging: wgpu::Buffer,
    logits_staging: wgpu::Buffer,
    plans: HashMap<(usize, usize, PlanKind), Plan>,
    /// Optimizer updates done (Adam's t).
    pub updates: u64,
    steps_since_read: u32,
    /// λ of the gradient-reversal layer for the next step.
    pub grl_lambda: f32,
    /// Drop probability on the pooled features while training (0: off).
    dropout: f32,
    /// Seeds the dropout masks (with the update count as the counter); set with the dropout rate.
    seed: u32,
}

impl Classifier {
    /// A classifier with PyTorch-style random parameters, for batches up to (batch_cap, steps_cap).
    pub fn new(ctx: &GpuContext, cfg: ClassifierConfig, batch_cap: usize, steps_cap: usize, seed: u64) -> Result<Self> {
        if cfg.vocab == 0 || cfg.embed == 0 || cfg.hidden == 0 || cfg.layers == 0 || cfg.classes == 0 {
            return Err(Error::InvalidInput(format!("every classifier dimension must be positive: {cfg:?}")));
        }
        let specs = cfg.param_specs();
        let store = ParamStore::new(ctx, &specs)?;
        let mut r = rng(seed);
        for (name, shape) in &specs {
            // LSTM tensors: fan-in H; the heads (fc, domain): their input, the feature width.
            let fan_in = if name.starts_with("lstm.") { cfg.hidden } else { cfg.features() };
            store.upload(ctx, name, &init_tensor(name, shape.iter().product(), fan_in, &mut r))?;
        }
        let (b, t) = (batch_cap as u64, steps_cap as u64);
        let f = cfg.features() as u64;
        let buf = |name: &str, n: u64| ctx.storage_buffer(name, n * 4);
        Ok(Self {
            lstm: LstmStack::new(ctx, cfg.lstm(), "lstm.", batch_cap, steps_cap)?,
            ids: buf("token ids", b * t)?,
            lengths: buf("lengths", b)?,
            labels: buf("labels", b)?,
            domain_labels: buf("domain labels", b)?,
            seg_offsets: buf("segment offsets", b * t + 1)?,
            seg_positions: buf("segment positions", b * t)?,
            seg_tokens: buf("segment tokens", b * t)?,
            x: buf("embedded x", t * b * cfg.embed as u64)?,
            dx: buf("embedded dx", t * b * cfg.embed as u64)?,
            features: buf("features", b * f)?,
            d_features: buf("d features", b * f)?,
            dropped: buf("dropped features", b * f)?,
            d_dropped: buf("d dropped features", b * f)?,
            logits: buf("logits", b * cfg.classes as u64)?,
            d_logits: buf("d logits", b * cfg.classes as u64)?,
            domain_logits: buf("domain logits", b * cfg.domains.max(1) as u64)?,
            d_domain_logits: buf("d domain logits", b * cfg.domains.max(1) as u64)?,
            d_domain_features: buf("d domain features", b * f)?,
            stats: buf("stats", STATS_LEN as u64)?,
            stats_staging: staging_buffer(ctx, "stats staging", STATS_LEN as u64 * 4),
            logits_staging: staging_buffer(ctx, "logits staging", b * (cfg.classes + cfg.domains) as u64 * 4),
            store,
            optimizer: AdamConfig::default(),
            batch_cap,
            steps_cap,
            cfg,
            plans: HashMap::new(),
            updates: 0,
            steps_since_read: 0,
            grl_lambda: 0.0,
            dropout: 0.0,
            seed: 0,
        })
    }

    /// Replaces parameters by name (e.g. from a checkpoint or a PyTorch state_dict).
    pub fn load_params(&self, ctx: &GpuContext, tensors: &crate::params::TensorMap) -> Result<()> {
        self.store.upload_all(ctx, tensors)
    }

    /// Changes the optimizer settings (the training plans are rebuilt only when clipping is switched).
    pub fn set_optimizer(&mut self, cfg: AdamConfig) {
        // The recorded plans hold only whether clipping runs (the norm kernel); every other setting
        // reaches the GPU through the optimizer's parameters, written each step.
        let clipping_changed = (cfg.max_grad_norm > 0.0) != (self.optimizer.max_grad_norm > 0.0);
        self.optimizer = cfg;
        if clipping_changed {
            self.plans.retain(|(_, _, kind), _| *kind != PlanKind::Train);
        }
    }

    /// Changes only the learning rate of the next updates (schedules call this every step; no plan is rebuilt).
    pub fn set_learning_rate(&mut self, lr: f32) {
        self.optimizer.lr = lr;
    }

    /// Sets the training dropout probability on the pooled features and the seed of its masks (the
    /// mask of update u is keyed by (seed, u)); training plans are rebuilt only when dropout is switched on or off.
    pub fn set_dropout(&mut self, p: f32, seed: u64) -> Result<()> {
        if !(0.0..1.0).contains(&p) {
            return Err(Error::InvalidInput(format!("dropout must be in [0, 1), got {p}")));
        }
        // The plans hold only whether dropout runs; its rate and seed are written each step.
        let switched = (p > 0.0) != (self.dropout > 0.0);
        self.dropout = p;
        self.seed = seed as u32;
        if switched {
            self.plans.retain(|(_, _, kind), _| *kind == PlanKind::Infer);
        }
        Ok(())
    }

    /// The training dropout probability on the pooled features (0: off).
    pub fn dropout_rate(&self) -> f32 {
        self.dropout
    }

    fn validate(&self, b: &Batch) -> Result<()> {
        let bad = |msg: String| Err(Error::InvalidInput(msg));
        if b.batch == 0 || b.steps == 0 {
            return bad("empty batch".into());
        }
        if b.batch > self.batch_cap || b.steps > self.steps_cap {
            return bad(format!("batch {}×{} exceeds the model's capacity {}×{}", b.batch, b.steps, self.batch_cap, self.steps_cap));
        }
        if b.ids.len() != b.batch * b.steps || b.lengths.len() != b.batch || b.labels.len() != b.batch {
            return bad(format!("batch arrays disagree with batch {} × steps {}", b.batch, b.steps));
        }
        if let Some(pos) = b.ids.iter().position(|&id| id as usize >= self.cfg.vocab) {
            return bad(format!("token id {} at row {} step {} is outside the vocabulary of {}", b.ids[pos], pos / b.steps, pos % b.steps, self.cfg.vocab));
        }
        if let Some(row) = b.lengths.iter().position(|&l| l == 0 || l as usize > b.steps) {
            return bad(format!("row {row} has length {}; lengths must be in 1..={}", b.lengths[row], b.steps));
        }
        if let Some(row) = b.labels.iter().position(|&l| l != IGNORE_LABEL && l as usize >= self.cfg.classes) {
            return bad(format!("row {row} has label {} but the model has {} classes", b.labels[row], self.cfg.classes));
        }
        if let Some(d) = &b.domain_labels {
            if self.cfg.domains == 0 {
                return bad("domain labels given but the model has no domain head".into());
            }
            if d.len() != b.batch || d.iter().any(|&l| l as usize >= self.cfg.domains) {
                return bad(format!("domain labels must be {} values below {}", b.batch, self.cfg.domains));
            }
        }
        Ok(())
    }

    fn build_plan(&self, ctx: &GpuContext, batch: usize, steps: usize, kind: PlanKind) -> Result<Plan> {
        let cfg = self.cfg;
        let st = &self.store;
        let (f, c) = (cfg.features(), cfg.classes);
        let w = View::whole;
        let mut s = Schedule::default();
        s.push(gather(ctx, batch, steps, cfg.embed, w(&self.ids), st.view("embedding.weight")?, w(&self.x))?);
        s.extend(self.lstm.forward(ctx, st, w(&self.x), w(&self.lengths), batch, steps)?);
        let pool = PoolParams::new(batch, steps, cfg.hidden, cfg.lstm().dirs(), cfg.pooling);
        s.push(pool_forward(ctx, pool, w(&self.lengths), w(self.lstm.output()), w(&self.features))?);
        // Dropout only in training plans; the heads read `head_in` and write their gradient to `d_head_in`.
        let drop = kind != PlanKind::Infer && self.dropout > 0.0;
        let (head_in, d_head_in) = if drop { (&self.dropped, &self.d_dropped) } else { (&self.features, &self.d_features) };
        let drop_params = DropoutParams::new(batch * f, self.dropout, self.seed, 0);
        let mut dropout_ops = Vec::new();
        if drop {
            dropout_ops.push(s.push(dropout(ctx, drop_params, w(&self.features), w(&self.dropped))?));
        }
        let head = Gemm::new(batch, c, f).b_transposed();
        s.push(gemm(ctx, head, w(head_in), st.view("fc.weight")?, w(&self.logits), &[st.view("fc.bias")?])?);
        let dann = cfg.domains > 0;
        if dann {
            let dom = Gemm::new(batch, cfg.domains, f).b_transposed();
            s.push(gemm(ctx, dom, w(head_in), st.view("domain.weight")?, w(&self.domain_logits), &[st.view("domain.bias")?])?);
        }
        let mut plan = Plan { schedule: s, scatter: None, adam: None, grl: None, dropout: dropout_ops };
        if kind == PlanKind::Infer {
            return Ok(plan);
        }
        let s = &mut plan.schedule;
        s.push(cross_entropy(ctx, batch, c, SLOT_LOSS, 1.0, w(&self.logits), w(&self.labels), w(&self.d_logits), w(&self.stats))?);
        if dann {
            s.push(cross_entropy(ctx, batch, cfg.domains, SLOT_DOMAIN, 1.0, w(&self.domain_logits), w(&self.domain_labels),
                                 w(&self.d_domain_logits), w(&self.stats))?);
        }
        // Head backward: dW = dlogitsᵀ·input, db = Σ rows, d_input = dlogits·W.
        let heads: &[(&str, &wgpu::Buffer, usize, &wgpu::Buffer)] = if dann {
            &[("fc", &self.d_logits, c, d_head_in), ("domain", &self.d_domain_logits, cfg.domains, &self.d_domain_features)]
        } else {
            &[("fc", &self.d_logits, c, d_head_in)]
        };
        for &(name, d_out, classes, d_in) in heads {
            let dw = Gemm::new(classes, f, batch).a_transposed().accumulate(true);
            s.push(gemm(ctx, dw, w(d_out), w(head_in), st.grad_view(&format!("{name}.weight"))?, &[])?);
            s.push(column_sum(ctx, batch, classes, true, w(d_out), st.grad_view(&format!("{name}.bias"))?)?);
            let df = Gemm::new(batch, f, classes);
            s.push(gemm(ctx, df, w(d_out), st.view(&format!("{name}.weight"))?, w(d_in), &[])?);
        }
        if dann {
            plan.grl = Some(s.push(grad_reverse(ctx, batch * f, self.grl_lambda, w(&self.d_domain_features), w(d_head_in))?));
        }
        if drop {
            plan.dropout.push(s.push(dropout(ctx, drop_params, w(&self.d_dropped), w(&self.d_features))?));
        }
        s.push(pool_backward(ctx, pool, w(&self.lengths), w(&self.d_features), w(self.lstm.output()), w(self.lstm.output_grad()))?);
        s.extend(self.lstm.backward(ctx, st, w(&self.x), w(&self.lengths), Some(w(&self.dx)), batch, steps)?);
        let seg = SegmentViews { offsets: w(&self.seg_offsets), positions: w(&self.seg_positions), tokens: w(&self.seg_tokens) };
        plan.scatter = Some(s.push(scatter_add(ctx, cfg.embed, 0, &seg, w(&self.dx), st.grad_view("embedding.weight")?)?));
        if kind == PlanKind::Train {
            let n = st.total_len();
            if self.optimizer.max_grad_norm > 0.0 {
                s.push(sum_squares(ctx, n, SLOT_NORM, w(&st.grads), w(&self.stats))?);
            }
            let p = AdamParams::new(&self.optimizer, n, st.entries().len(), SLOT_NORM, 1, self.optimizer.lr);
            plan.adam = Some(s.push(adam_step(ctx, p, &st.adam_views(w(&self.stats)))?));
        }
        Ok(plan)
    }

    /// Records the plan for this shape and kind unless it is cached; returns its key.
    fn ensure_plan(&mut self, ctx: &GpuContext, batch: usize, steps: usize, kind: PlanKind) -> Result<(usize, usize, PlanKind)> {
        let key = (batch, steps, kind);
        if !self.plans.contains_key(&key) {
            let plan = self.build_plan(ctx, batch, steps, kind)?;
            self.plans.insert(key, plan);
        }
        Ok(key)
    }

    fn write_inputs(&self, ctx: &GpuContext, b: &Batch) {
        let q = &ctx.queue;
        q.write_buffer(&self.ids, 0, bytemuck::cast_slice(&b.ids));
        q.write_buffer(&self.lengths, 0, bytemuck::cast_slice(&b.lengths));
        q.write_buffer(&self.labels, 0, bytemuck::cast_slice(&b.labels));
        if let Some(d) = &b.domain_labels {
            q.write_buffer(&self.domain_labels, 0, bytemuck::cast_slice(d));
        }
    }

    /// Work recorded per training step at this shape (dispatches, passes, submits).
    pub fn step_counts(&mut self, ctx: &GpuContext, batch: usize, steps: usize) -> Result<StepCounts> {
        let dispatches = self.train_schedule(ctx, batch, steps)?.dispatch_count();
        Ok(StepCounts { dispatches, passes: 1, submits: 1 })
    }

    /// The recorded training step at this shape (for profiling: `train_step` runs it with the
    /// batch's inputs written first).
    pub fn train_schedule(&mut self, ctx: &GpuContext, batch: usize, steps: usize) -> Result<&Schedule> {
        let key = self.ensure_plan(ctx, batch, steps, PlanKind::Train)?;
        Ok(&self.plans[&key].schedule)
    }

    /// One training step (or, with `update = false`, forward + backward only, leaving the gradients in
    /// the store). With `read = true` the stats accumulated since the last read come back.
    pub fn train_step(&mut self, ctx: &GpuContext, b: &Batch, update: bool, read: bool) -> Result<Option<StepStats>> {
        self.validate(b)?;
        let dann = self.cfg.domains > 0;
        if dann && b.domain_labels.is_none() {
            return Err(Error::InvalidInput("the model has a domain head: every batch needs domain labels".into()));
        }
        self.write_inputs(ctx, b);
        let seg = TokenSegments::build(&b.ids, &b.lengths, b.batch, b.steps);
        ctx.queue.write_buffer(&self.seg_offsets, 0, bytemuck::cast_slice(&seg.offsets));
        ctx.queue.write_buffer(&self.seg_positions, 0, bytemuck::cast_slice(&seg.positions));
        ctx.queue.write_buffer(&self.seg_tokens, 0, bytemuck::cast_slice(&seg.tokens));
        if update {
            self.updates += 1;
        }
        let (updates, lambda, opt, n, tensors) =
            (self.updates, self.grl_lambda, self.optimizer, self.store.total_len(), self.store.entries().len());
        let (dropout_p, seed) = (self.dropout, self.seed);
        let kind = if update { PlanKind::Train } else { PlanKind::Gradients };
        let embed = self.cfg.embed;
        let features = self.cfg.features();
        let key = self.ensure_plan(ctx, b.batch, b.steps, kind)?;
        let plan = self.plans.get_mut(&key).expect("ensured above");
        let scatter = &mut plan.schedule.ops[plan.scatter.expect("training plans scatter")];
        scatter.workgroups = scatter_grid(embed, seg.segments());
        scatter.write_params(&ctx.queue, &EmbeddingParams { batch: 0, steps: 0, dim: embed as u32, segments: seg.segments() as u32 });
        if let Some(i) = plan.adam {
            plan.schedule.ops[i].write_params(&ctx.queue, &AdamParams::new(&opt, n, tensors, SLOT_NORM, updates, opt.lr));
        }
        for &i in &plan.dropout {
            plan.schedule.ops[i].write_params(&ctx.queue, &DropoutParams::new(b.batch * features, dropout_p, seed, updates as u32));
        }
        if let Some(i) = plan.grl {
            plan.schedule.ops[i].write_params(&ctx.queue, &GradReverseParams::new(b.batch * features, lambda));
        }

        let mut encoder = ctx.device.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("train step") });
        encoder.clear_buffer(&self.store.grads, 0, None);
        encoder.clear_buffer(self.lstm.output_grad(), 0, None);
        plan.schedule.record(&mut encoder, "train step");
        if read {
            encoder.copy_buffer_to_buffer(&self.stats, 0, &self.stats_staging, 0, STATS_LEN as u64 * 4);
            encoder.clear_buffer(&self.stats, 0, None);
        }
        ctx.queue.submit([encoder.finish()]);
        self.steps_since_read += 1;
        if !read {
            return Ok(None);
        }
        let s: Vec<f32> = read_staging(ctx, &self.stats_staging, STATS_LEN)?;
        let stats = StepStats {
            loss_sum: s[SLOT_LOSS],
            correct: s[SLOT_LOSS + 1],
            rows: s[SLOT_LOSS + 2],
            domain_loss_sum: s[SLOT_DOMAIN],
            domain_correct: s[SLOT_DOMAIN + 1],
            domain_rows: s[SLOT_DOMAIN + 2],
            grad_norm_sq: s[SLOT_NORM],
            steps: self.steps_since_read,
        };
        self.steps_since_read = 0;
        if !stats.loss_sum.is_finite() {
            return Err(Error::NonFiniteLoss { update: self.updates, value: stats.loss_sum });
        }
        Ok(Some(stats))
    }

    /// Records and submits the forward pass of `b` with a copy of the logits into `staging`.
    fn submit_forward(&mut self, ctx: &GpuContext, b: &Batch, staging: &wgpu::Buffer) -> Result<()> {
        self.validate(b)?;
        self.write_inputs(ctx, b);
        let key = self.ensure_plan(ctx, b.batch, b.steps, PlanKind::Infer)?;
        let plan = &self.plans[&key];
        let mut encoder = ctx.device.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("predict") });
        plan.schedule.record(&mut encoder, "predict");
        let bytes = (b.batch * self.cfg.classes * 4) as u64;
        encoder.copy_buffer_to_buffer(&self.logits, 0, staging, 0, bytes);
        if self.cfg.domains > 0 {
            let domain_bytes = (b.batch * self.cfg.domains * 4) as u64;
            encoder.copy_buffer_to_buffer(&self.domain_logits, 0, staging, bytes, domain_bytes);
        }
        ctx.queue.submit([encoder.finish()]);
        Ok(())
    }

    /// Logits `[batch, classes]` for a batch (labels are ignored); blocks until they are back.
    pub fn logits(&mut self, ctx: &GpuContext, b: &Batch) -> Result<Vec<f32>> {
        let staging = self.logits_staging.clone();
        self.submit_forward(ctx, b, &staging)?;
        read_staging(ctx, &staging, b.batch * self.cfg.classes)
    }

    /// Class logits `[batch, classes]` and domain logits `[batch, domains]` (DANN models).
    pub fn logits_and_domains(&mut self, ctx: &GpuContext, b: &Batch) -> Result<(Vec<f32>, Vec<f32>)> {
        let staging = self.logits_staging.clone();
        self.submit_forward(ctx, b, &staging)?;
        let mut all: Vec<f32> = read_staging(ctx, &staging, b.batch * (self.cfg.classes + self.cfg.domains))?;
        let domains = all.split_off(b.batch * self.cfg.classes);
        Ok((all, domains))
    }

    /// Submits the forward pass and returns at once; poll the result between frames with
    /// [`Pending::poll`]. Each call gets its own small staging buffer, so several can be in flight.
    pub fn submit_logits(&mut self, ctx: &GpuContext, b: &Batch) -> Result<Pending<f32>> {
        let staging = staging_buffer(ctx, "async logits", (b.batch * self.cfg.classes * 4) as u64);
        self.submit_forward(ctx, b, &staging)?;
        Ok(Pending::new(staging, b.batch * self.cfg.classes))
    }

    /// The LSTM stack, for inspection in tests and tools.
    pub fn lstm(&self) -> &LstmStack {
        &self.lstm
    }
}
