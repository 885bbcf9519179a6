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

use crate::config::Pooling;
use crate::config::validate::{MAX_SIZE, bytes_of, check_capacity, check_count, check_size};
use crate::core::step::{PendingStats, Plan, PlanKey, PlanKind, SLOT_DOMAIN, SLOT_LOSS, StepCore, StepStats, UpdateTail};
use crate::data::Batch;
use crate::error::{Error, Result};
use crate::gpu::{GpuContext, Pending, View, read_staging, staging_buffer};
use crate::graph::{Schedule, StepCounts};
use crate::kernels::dropout::{DropoutParams, dropout};
use crate::kernels::embedding::{gather, scatter_add};
use crate::kernels::grad_reverse::{GradReverseParams, grad_reverse};
use crate::kernels::loss::{IGNORE_LABEL, cross_entropy};
use crate::kernels::matmul::{Gemm, gemm};
use crate::kernels::pool::{PoolParams, pool_backward, pool_forward};
use crate::kernels::reduce::column_sum;
use crate::nn::embedding::point_scatter;
use crate::nn::init::{Draw, init_store, init_tensors};
use crate::nn::{LstmConfig, LstmStack, SegmentBuffers};
use crate::params::{ParamStore, TensorMap};

/// Most classes (or domains) a head may have: far above any labelled set these models serve, and low
/// enough that a wrong label column (a text read as the label) is refused at once.
pub const MAX_CLASSES: usize = 1_000;

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
    /// Refuses zero or oversized sizes, naming the field.
    pub fn validate(&self) -> Result<()> {
        check_size("vocab", self.vocab, MAX_SIZE)?;
        self.lstm().validate()?;
        check_size("classes", self.classes, MAX_CLASSES)?;
        check_count("domains", self.domains, MAX_CLASSES)
    }

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

/// The classifier on the GPU: its parameters, activation buffers for batches up to a fixed capacity,
/// and the shared step core (plans cached per (batch, steps, kind), stats, optimizer).
///
/// Training from Rust: read a table, build a vocabulary, encode, train, save.
///
/// ```no_run
/// use lstm_transfer::data::{ReadOptions, Vocab, encode_rows, label_names, read_table, split, tokenize};
/// use lstm_transfer::tasks::classify::checkpoint::{ModelInfo, TOKENIZER, save_classifier};
/// use lstm_transfer::tasks::classify::{Classifier, ClassifierConfig, TrainConfig, TrainData, TrainState, train_classifier};
/// use lstm_transfer::{AdapterChoice, GpuContext, config::Pooling};
///
/// let rows = read_table("embedded:uci_yelp".as_ref(), &ReadOptions::default())?.rows;
/// let labels = label_names(rows.iter().filter_map(|r| r.label.as_deref()));
/// let (train_idx, valid_idx) = split(rows.len(), 0.2, 0);
/// let pick = |idx: &[usize]| idx.iter().map(|&i| rows[i].clone()).collect::<Vec<_>>();
/// let (train_rows, valid_rows) = (pick(&train_idx), pick(&valid_idx));
/// let texts: Vec<Vec<String>> = train_rows.iter().map(|r| tokenize(&r.text)).collect();
/// let vocab = Vocab::build(texts.iter().map(Vec::as_slice), 1, 30_000);
/// let train = encode_rows(&train_rows, &vocab, &labels, "train".as_ref())?;
/// let valid = encode_rows(&valid_rows, &vocab, &labels, "valid".as_ref())?;
///
/// let ctx = GpuContext::new(&AdapterChoice::from_env())?;
/// let config = ClassifierConfig {
///     vocab: vocab.len(), embed: 64, hidden: 64, layers: 1, bidirectional: false,
///     classes: labels.len(), domains: 0, pooling: Pooling::Max,
/// };
/// let cfg = TrainConfig { epochs: 5, ..Default::default() };
/// let mut model = Classifier::new(&ctx, config, cfg.batch_size, cfg.max_len, 0)?;
/// let data = TrainData { train: &train, valid: &valid, labels: &labels, domain_valid: None };
/// let state = train_classifier(&ctx, &mut model, data, &cfg, TrainState::default(), &mut ())?;
/// println!("best epoch {}", state.best_epoch);
/// let info = ModelInfo { config, labels, max_len: cfg.max_len, tokenizer: TOKENIZER.into() };
/// save_classifier("runs/yelp.safetensors".as_ref(), &ctx, &model, &info, Some(&vocab.tokens))?;
/// # Ok::<(), lstm_transfer::Error>(())
/// ```
pub struct Classifier {
    /// The model's sizes (fixed at construction).
    pub cfg: ClassifierConfig,
    /// Parameters, gradients, Adam moments and per-tensor optimizer options.
    pub store: ParamStore,
    /// Optimizer settings, update count, stats and recorded plans.
    pub step: StepCore,
    /// λ of the gradient-reversal layer for the next step.
    pub grl_lambda: f32,
    lstm: LstmStack,
    bufs: Buffers,
    segments: SegmentBuffers,
    batch_cap: usize,
    steps_cap: usize,
    logits_staging: wgpu::Buffer,
    /// Drop probability on the pooled features while training (0: off).
    dropout: f32,
    /// Seeds the dropout masks (with the update count as the counter); set with the dropout rate.
    seed: u32,
    /// Seeded the initial parameters ([`Classifier::initial_params`]).
    init_seed: u64,
    /// No parameters loaded and no step trained since `new` (the store still holds the initial draw,
    /// unless written to directly).
    pristine: bool,
}

/// How [`Classifier::new`] draws each tensor: the LSTM's with fan-in H, the heads' (fc, domain) with
/// their input, the feature width.
fn draw(cfg: ClassifierConfig) -> impl Fn(&str) -> Draw<'_> {
    move |name| Draw { kind: name, fan_in: if name.starts_with("lstm.") { cfg.hidden } else { cfg.features() } }
}

/// Activation buffers, sized for the capacity (B, T).
struct Buffers {
    ids: wgpu::Buffer,
    lengths: wgpu::Buffer,
    labels: wgpu::Buffer,
    domain_labels: wgpu::Buffer,
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
}

/// What recording a plan reads: the model's parts, borrowed apart from its step core.
struct Net<'a> {
    cfg: ClassifierConfig,
    store: &'a ParamStore,
    lstm: &'a LstmStack,
    bufs: &'a Buffers,
    segments: &'a SegmentBuffers,
    dropout: f32,
    seed: u32,
    grl_lambda: f32,
}

impl Classifier {
    /// A classifier with PyTorch-style random parameters, for batches up to (batch_cap, steps_cap).
    pub fn new(ctx: &GpuContext, cfg: ClassifierConfig, batch_cap: usize, steps_cap: usize, seed: u64) -> Result<Self> {
        cfg.validate()?;
        check_capacity(batch_cap, "max-len", steps_cap)?;
        let specs = cfg.param_specs();
        let store = init_store(ctx, &specs, seed, draw(cfg))?;
        let (b, t, f) = (batch_cap, steps_cap, cfg.features());
        let buf = |name: &str, dims: &[usize]| ctx.storage_buffer(name, bytes_of(name, dims)?);
        let domains = cfg.domains.max(1);
        let bufs = Buffers {
            ids: buf("token ids", &[b, t])?,
            lengths: buf("lengths", &[b])?,
            labels: buf("labels", &[b])?,
            domain_labels: buf("domain labels", &[b])?,
            x: buf("embedded x", &[t, b, cfg.embed])?,
            dx: buf("embedded dx", &[t, b, cfg.embed])?,
            features: buf("features", &[b, f])?,
            d_features: buf("d features", &[b, f])?,
            dropped: buf("dropped features", &[b, f])?,
            d_dropped: buf("d dropped features", &[b, f])?,
            logits: buf("logits", &[b, cfg.classes])?,
            d_logits: buf("d logits", &[b, cfg.classes])?,
            domain_logits: buf("domain logits", &[b, domains])?,
            d_domain_logits: buf("d domain logits", &[b, domains])?,
            d_domain_features: buf("d domain features", &[b, f])?,
        };
        Ok(Self {
            lstm: LstmStack::new(ctx, cfg.lstm(), "lstm.", batch_cap, steps_cap)?,
            segments: SegmentBuffers::new(ctx, b * t)?,
            logits_staging: staging_buffer(ctx, "logits staging", bytes_of("logits staging", &[b, cfg.classes + cfg.domains])?),
            step: StepCore::new(ctx)?,
            bufs,
            store,
            batch_cap,
            steps_cap,
            cfg,
            grl_lambda: 0.0,
            dropout: 0.0,
            seed: 0,
            init_seed: seed,
            pristine: true,
        })
    }

    /// Whether the model is as [`Classifier::new`] built it: no parameters loaded, no step trained.
    pub fn is_pristine(&self) -> bool {
        self.pristine
    }

    /// The parameters [`Classifier::new`] drew, recomputed on the host (no readback).
    pub fn initial_params(&self) -> TensorMap {
        init_tensors(&self.cfg.param_specs(), self.init_seed, draw(self.cfg))
    }

    /// Replaces parameters by name (e.g. from a checkpoint or a PyTorch state_dict).
    pub fn load_params(&mut self, ctx: &GpuContext, tensors: &TensorMap) -> Result<()> {
        self.pristine = false;
        self.store.upload_all(ctx, tensors)
    }

    /// Sets the training dropout probability on the pooled features and the seed of its masks (the
    /// mask of update u is keyed by (seed, u)); training plans are rebuilt only when dropout is switched on or off.
    pub fn set_dropout(&mut self, p: f32, seed: u64) -> Result<()> {
        crate::config::validate::check_finite_range("dropout", p as f64, 0.0, 1.0)?;
        // The plans hold only whether dropout runs; its rate and seed are written each step.
        let switched = (p > 0.0) != (self.dropout > 0.0);
        self.dropout = p;
        self.seed = seed as u32;
        if switched {
            self.step.forget_plans(PlanKind::has_backward);
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
            return bad(format!(
                "token id {} at row {} step {} is outside the vocabulary of {}",
                b.ids[pos],
                pos / b.steps,
                pos % b.steps,
                self.cfg.vocab
            ));
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

    fn write_inputs(&self, ctx: &GpuContext, b: &Batch) {
        let q = &ctx.queue;
        q.write_buffer(&self.bufs.ids, 0, bytemuck::cast_slice(&b.ids));
        q.write_buffer(&self.bufs.lengths, 0, bytemuck::cast_slice(&b.lengths));
        q.write_buffer(&self.bufs.labels, 0, bytemuck::cast_slice(&b.labels));
        if let Some(d) = &b.domain_labels {
            q.write_buffer(&self.bufs.domain_labels, 0, bytemuck::cast_slice(d));
        }
    }

    /// Records the plan of `key` unless it is cached.
    fn ensure_plan(&mut self, ctx: &GpuContext, key: PlanKey) -> Result<&mut Plan> {
        // The parts the recording reads, borrowed apart from the step core that caches the plan.
        let net = Net {
            cfg: self.cfg,
            store: &self.store,
            lstm: &self.lstm,
            bufs: &self.bufs,
            segments: &self.segments,
            dropout: self.dropout,
            seed: self.seed,
            grl_lambda: self.grl_lambda,
        };
        self.step.plan(ctx, key, |tail| net.build_plan(ctx, key, tail))
    }

    /// Work recorded per training step at this shape (dispatches, passes, submits).
    pub fn step_counts(&mut self, ctx: &GpuContext, batch: usize, steps: usize) -> Result<StepCounts> {
        let dispatches = self.train_schedule(ctx, batch, steps)?.dispatch_count();
        Ok(StepCounts { dispatches, passes: 1, submits: 1 })
    }

    /// The recorded training step at this shape (for profiling: `train_step` runs it with the
    /// batch's inputs written first).
    pub fn train_schedule(&mut self, ctx: &GpuContext, batch: usize, steps: usize) -> Result<&Schedule> {
        Ok(&self.ensure_plan(ctx, PlanKey { batch, steps, kind: PlanKind::Train })?.schedule)
    }

    /// One training step (or, with `update = false`, forward + backward only, leaving the gradients in
    /// the store). With `read = true` the stats accumulated since the last read come back.
    pub fn train_step(&mut self, ctx: &GpuContext, b: &Batch, update: bool, read: bool) -> Result<Option<StepStats>> {
        let key = self.prepare_train_step(ctx, b, update)?;
        self.step.submit(ctx, key, &self.store, &[self.lstm.output_grad().buffer], |_| {}, read)
    }

    /// [`Classifier::train_step`] (with the update) without any wait: with `read` the stats come
    /// back as a [`PendingStats`] to poll — the training step of a browser page or a frame loop.
    pub fn submit_train_step(&mut self, ctx: &GpuContext, b: &Batch, read: bool) -> Result<Option<PendingStats>> {
        let key = self.prepare_train_step(ctx, b, true)?;
        self.step.submit_pending(ctx, key, &self.store, &[self.lstm.output_grad().buffer], read)
    }

    /// Writes the batch and this step's parameters into the training plan of its shape (recorded on
    /// first use); returns the plan's key.
    fn prepare_train_step(&mut self, ctx: &GpuContext, b: &Batch, update: bool) -> Result<PlanKey> {
        self.validate(b)?;
        self.pristine &= !update;
        if self.cfg.domains > 0 && b.domain_labels.is_none() {
            return Err(Error::InvalidInput("the model has a domain head: every batch needs domain labels".into()));
        }
        self.write_inputs(ctx, b);
        let key = PlanKey { batch: b.batch, steps: b.steps, kind: if update { PlanKind::Train } else { PlanKind::Gradients } };
        let counter = self.step.next_update(key.kind) as u32;
        let (embed, features, dropout_p, seed, lambda) = (self.cfg.embed, self.cfg.features(), self.dropout, self.seed, self.grl_lambda);
        let segments = self.segments.upload(ctx, &b.ids, &b.lengths, b.batch, b.steps);
        let plan = self.ensure_plan(ctx, key)?;
        let scatter = plan.scatter.expect("training plans scatter");
        point_scatter(&ctx.queue, plan.op(scatter), embed, segments);
        for k in 0..plan.dropout.len() {
            let i = plan.dropout[k];
            plan.op(i).write_params(&ctx.queue, &DropoutParams::new(b.batch * features, dropout_p, seed, counter));
        }
        if let Some(i) = plan.grl {
            plan.op(i).write_params(&ctx.queue, &GradReverseParams::new(b.batch * features, lambda));
        }
        Ok(key)
    }

    /// Records and submits the forward pass of `b` with a copy of the logits (and the domain logits,
    /// when `with_domains`) into `staging`.
    fn submit_forward(&mut self, ctx: &GpuContext, b: &Batch, staging: &wgpu::Buffer, with_domains: bool) -> Result<()> {
        let bytes = (b.batch * self.cfg.classes * 4) as u64;
        let domain_bytes = (b.batch * self.cfg.domains * 4) as u64;
        let (logits, domain_logits) = (self.bufs.logits.clone(), self.bufs.domain_logits.clone());
        self.submit_infer(ctx, b, |encoder| {
            encoder.copy_buffer_to_buffer(&logits, 0, staging, 0, bytes);
            if with_domains && domain_bytes > 0 {
                encoder.copy_buffer_to_buffer(&domain_logits, 0, staging, bytes, domain_bytes);
            }
        })
    }

    /// Records and submits the forward pass of `b`; `after` copies what it needs out.
    fn submit_infer(&mut self, ctx: &GpuContext, b: &Batch, after: impl FnOnce(&mut wgpu::CommandEncoder)) -> Result<()> {
        self.validate(b)?;
        self.write_inputs(ctx, b);
        let key = PlanKey { batch: b.batch, steps: b.steps, kind: PlanKind::Infer };
        self.ensure_plan(ctx, key)?;
        self.step.submit(ctx, key, &self.store, &[], after, false)?;
        Ok(())
    }

    /// The pooled features `[batch, features]` the heads read (the representation a transfer
    /// carries); blocks until they are back.
    pub fn features(&mut self, ctx: &GpuContext, b: &Batch) -> Result<Vec<f32>> {
        let len = b.batch * self.cfg.features();
        let staging = staging_buffer(ctx, "features staging", (len * 4) as u64);
        let features = self.bufs.features.clone();
        self.submit_infer(ctx, b, |encoder| encoder.copy_buffer_to_buffer(&features, 0, &staging, 0, (len * 4) as u64))?;
        read_staging(ctx, &staging, len)
    }

    /// Logits `[batch, classes]` for a batch (labels are ignored); blocks until they are back.
    pub fn logits(&mut self, ctx: &GpuContext, b: &Batch) -> Result<Vec<f32>> {
        let staging = self.logits_staging.clone();
        self.submit_forward(ctx, b, &staging, false)?;
        read_staging(ctx, &staging, b.batch * self.cfg.classes)
    }

    /// Class logits `[batch, classes]` and domain logits `[batch, domains]` (DANN models).
    pub fn logits_and_domains(&mut self, ctx: &GpuContext, b: &Batch) -> Result<(Vec<f32>, Vec<f32>)> {
        let staging = self.logits_staging.clone();
        self.submit_forward(ctx, b, &staging, true)?;
        let mut all: Vec<f32> = read_staging(ctx, &staging, b.batch * (self.cfg.classes + self.cfg.domains))?;
        let domains = all.split_off(b.batch * self.cfg.classes);
        Ok((all, domains))
    }

    /// Submits the forward pass and returns at once; poll the class logits `[batch, classes]` between
    /// frames with [`Pending::poll`]. Each call gets its own small staging buffer, sized for the
    /// class logits only, so several can be in flight.
    pub fn submit_logits(&mut self, ctx: &GpuContext, b: &Batch) -> Result<Pending<f32>> {
        let staging = staging_buffer(ctx, "async logits", (b.batch * self.cfg.classes * 4) as u64);
        self.submit_forward(ctx, b, &staging, false)?;
        Ok(Pending::new(staging, b.batch * self.cfg.classes))
    }

    /// The LSTM stack, for inspection in tests and tools.
    pub fn lstm(&self) -> &LstmStack {
        &self.lstm
    }
}

impl Net<'_> {
    /// Records the ops of `key`: the forward pass to the logits; with a backward kind also the losses,
    /// the backward pass and (training) the update tail.
    fn build_plan(&self, ctx: &GpuContext, key: PlanKey, tail: &UpdateTail) -> Result<Plan> {
        let PlanKey { batch, steps, kind } = key;
        let (cfg, st, b) = (self.cfg, self.store, self.bufs);
        let (f, c) = (cfg.features(), cfg.classes);
        let w = View::whole;
        let mut s = Schedule::default();
        s.push(gather(ctx, batch, steps, cfg.embed, w(&b.ids), st.view("embedding.weight")?, w(&b.x))?);
        s.extend(self.lstm.forward(ctx, st, w(&b.x), w(&b.lengths), batch, steps)?);
        let pool = PoolParams::new(batch, steps, cfg.hidden, cfg.lstm().dirs(), cfg.pooling);
        s.push(pool_forward(ctx, pool, w(&b.lengths), self.lstm.output(), w(&b.features))?);
        // Dropout only in training plans; the heads read `head_in` and write their gradient to `d_head_in`.
        let drop = kind != PlanKind::Infer && self.dropout > 0.0;
        let (head_in, d_head_in) = if drop { (&b.dropped, &b.d_dropped) } else { (&b.features, &b.d_features) };
        let drop_params = DropoutParams::new(batch * f, self.dropout, self.seed, 0);
        let mut dropout_ops = Vec::new();
        if drop {
            dropout_ops.push(s.push(dropout(ctx, drop_params, w(&b.features), w(&b.dropped))?));
        }
        let head = Gemm::new(batch, c, f).b_transposed();
        s.push(gemm(ctx, head, w(head_in), st.view("fc.weight")?, w(&b.logits), &[st.view("fc.bias")?])?);
        let dann = cfg.domains > 0;
        if dann {
            let dom = Gemm::new(batch, cfg.domains, f).b_transposed();
            s.push(gemm(ctx, dom, w(head_in), st.view("domain.weight")?, w(&b.domain_logits), &[st.view("domain.bias")?])?);
        }
        let mut plan = Plan { schedule: s, scatter: None, adam: None, grl: None, dropout: dropout_ops };
        if kind == PlanKind::Infer {
            return Ok(plan);
        }
        let s = &mut plan.schedule;
        s.push(cross_entropy(
            ctx,
            batch,
            c,
            SLOT_LOSS,
            self.store.grad_scale,
            w(&b.logits),
            w(&b.labels),
            w(&b.d_logits),
            w(tail.stats()),
        )?);
        if dann {
            s.push(cross_entropy(
                ctx,
                batch,
                cfg.domains,
                SLOT_DOMAIN,
                self.store.grad_scale,
                w(&b.domain_logits),
                w(&b.domain_labels),
                w(&b.d_domain_logits),
                w(tail.stats()),
            )?);
        }
        // Head backward: dW = dlogitsᵀ·input, db = Σ rows, d_input = dlogits·W.
        let heads: &[(&str, &wgpu::Buffer, usize, &wgpu::Buffer)] = if dann {
            &[("fc", &b.d_logits, c, d_head_in), ("domain", &b.d_domain_logits, cfg.domains, &b.d_domain_features)]
        } else {
            &[("fc", &b.d_logits, c, d_head_in)]
        };
        for &(name, d_out, classes, d_in) in heads {
            let dw = Gemm::new(classes, f, batch).a_transposed().accumulate(true);
            s.push(gemm(ctx, dw, w(d_out), w(head_in), st.grad_view(&format!("{name}.weight"))?, &[])?);
            s.push(column_sum(ctx, batch, classes, true, w(d_out), st.grad_view(&format!("{name}.bias"))?)?);
            let df = Gemm::new(batch, f, classes);
            s.push(gemm(ctx, df, w(d_out), st.view(&format!("{name}.weight"))?, w(d_in), &[])?);
        }
        if dann {
            plan.grl = Some(s.push(grad_reverse(ctx, batch * f, self.grl_lambda, w(&b.d_domain_features), w(d_head_in))?));
        }
        if drop {
            plan.dropout.push(s.push(dropout(ctx, drop_params, w(&b.d_dropped), w(&b.d_features))?));
        }
        s.push(pool_backward(ctx, pool, w(&b.lengths), w(&b.d_features), self.lstm.output(), self.lstm.output_grad())?);
        s.extend(self.lstm.backward(ctx, st, w(&b.x), w(&b.lengths), Some(w(&b.dx)), batch, steps)?);
        plan.scatter = Some(s.push(scatter_add(ctx, cfg.embed, 0, &self.segments.views(), w(&b.dx), st.grad_view("embedding.weight")?)?));
        if kind == PlanKind::Train {
            plan.adam = Some(tail.push(ctx, s, st)?);
        }
        Ok(plan)
    }
}
