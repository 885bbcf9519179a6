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

use crate::config::validate::{MAX_SIZE, bytes_of, check_capacity};
use crate::core::step::{Plan, PlanKey, PlanKind, SLOT_LOSS, StepCore, StepStats, UpdateTail};
use crate::error::{Error, Result};
use crate::gpu::{GpuContext, View, read_staging, staging_buffer};
use crate::graph::Schedule;
use crate::kernels::embedding::{gather, scatter_add};
use crate::kernels::loss::cross_entropy_rows;
use crate::kernels::matmul::{Gemm, gemm};
use crate::kernels::reduce::{column_sum, column_sum_strided};
use crate::nn::embedding::point_scatter;
use crate::nn::init::{Draw, init_store};
use crate::nn::{LstmConfig, LstmStack, SegmentBuffers};
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
    /// Refuses zero or oversized sizes (a vocabulary needs at least 2 tokens) and a tied decoder
    /// whose embedding and hidden sizes differ.
    pub fn validate(&self) -> Result<()> {
        if !(2..=MAX_SIZE).contains(&self.vocab) {
            return Err(Error::invalid_option("vocab", &format!("an integer in 2..={MAX_SIZE}"), self.vocab));
        }
        self.lstm().validate()?;
        if self.tie_weights && self.embed != self.hidden {
            return Err(Error::InvalidInput(format!("tied weights need embed = hidden, got {} and {}", self.embed, self.hidden)));
        }
        Ok(())
    }

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

/// Row stride of the logits: the vocabulary rounded up to a multiple of 4, so the decoder GEMMs read
/// them as vec4 (the padding columns are never written and stay zero).
fn logits_stride(vocab: usize) -> usize {
    vocab.next_multiple_of(4)
}

/// The language model on the GPU.
///
/// Loading a model trained by `lstm-transfer lm` and continuing a prompt:
///
/// ```no_run
/// use lstm_transfer::tasks::lm::{LanguageModel, SampleConfig, load_lm, sample};
/// use lstm_transfer::{AdapterChoice, GpuContext, data::Vocab};
///
/// let ctx = GpuContext::new(&AdapterChoice::from_env())?;
/// let (info, tokens, tensors) = load_lm("runs/lm.safetensors".as_ref())?;
/// let mut model = LanguageModel::new(&ctx, info.config, 1, 32, 0)?;
/// model.store.upload_all(&ctx, &tensors)?;
/// let vocab = Vocab::from_tokens(tokens)?;
/// let prompt = vocab.encode("the food was");
/// let cfg = SampleConfig { tokens: 20, temperature: 0.8, top_k: 40, seed: 1 };
/// let ids = sample(&ctx, &mut model, &prompt, &cfg, None)?;
/// println!("{}", ids.iter().map(|&i| vocab.tokens[i as usize].as_str()).collect::<Vec<_>>().join(" "));
/// # Ok::<(), lstm_transfer::Error>(())
/// ```
pub struct LanguageModel {
    /// Its shape.
    pub cfg: LanguageModelConfig,
    /// Every parameter with gradients and Adam moments.
    pub store: ParamStore,
    /// Optimizer settings, update count, stats and recorded plans.
    pub step: StepCore,
    lstm: LstmStack,
    batch: usize,
    steps_cap: usize,
    bufs: Buffers,
    segments: SegmentBuffers,
    /// The last row's logits `[V]`, read back by [`LanguageModel::next_logits`].
    next_staging: wgpu::Buffer,
}

/// Activation buffers for `batch` streams and chunks of up to `steps_cap` tokens.
struct Buffers {
    ids: wgpu::Buffer,
    targets: wgpu::Buffer,
    lengths: wgpu::Buffer,
    x: wgpu::Buffer,
    dx: wgpu::Buffer,
    logits: wgpu::Buffer,
    row_loss: wgpu::Buffer,
}

/// What recording a plan reads, borrowed apart from the step core.
struct Net<'a> {
    cfg: LanguageModelConfig,
    store: &'a ParamStore,
    lstm: &'a LstmStack,
    bufs: &'a Buffers,
    segments: &'a SegmentBuffers,
}

impl LanguageModel {
    /// A model for `batch` parallel streams and chunks of up to `steps_cap` tokens.
    pub fn new(ctx: &GpuContext, cfg: LanguageModelConfig, batch: usize, steps_cap: usize, seed: u64) -> Result<Self> {
        cfg.validate()?;
        check_capacity(batch, "bptt", steps_cap)?;
        // The embedding: small uniform values (as PyTorch's word_language_model) so a tied decoder starts calm.
        let specs = cfg.param_specs();
        let store = init_store(ctx, &specs, seed, |name| match name {
            "embedding.weight" => Draw { kind: "decoder", fan_in: 100 },
            _ => Draw { kind: name, fan_in: cfg.hidden },
        })?;
        let (b, t) = (batch, steps_cap);
        let buf = |name: &str, dims: &[usize]| ctx.storage_buffer(name, bytes_of(name, dims)?);
        let bufs = Buffers {
            ids: buf("token ids", &[b, t])?,
            targets: buf("next tokens", &[b, t])?,
            lengths: buf("lengths", &[b])?,
            x: buf("embedded x", &[t, b, cfg.embed])?,
            dx: buf("embedded dx", &[t, b, cfg.embed])?,
            logits: buf("logits", &[t, b, logits_stride(cfg.vocab)])?,
            row_loss: buf("row losses", &[t, b])?,
        };
        Ok(Self {
            lstm: LstmStack::new(ctx, cfg.lstm(), "lstm.", batch, steps_cap)?,
            segments: SegmentBuffers::new(ctx, b * t)?,
            next_staging: staging_buffer(ctx, "next logits", bytes_of("next logits", &[cfg.vocab])?),
            step: StepCore::new(ctx)?,
            bufs,
            store,
            batch,
            steps_cap,
            cfg,
        })
    }

    /// The longest chunk a step takes.
    pub fn steps_cap(&self) -> usize {
        self.steps_cap
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
    pub fn step(&mut self, ctx: &GpuContext, ids: &[u32], targets: &[u32], train: bool, read: bool) -> Result<Option<StepStats>> {
        let kind = if train { PlanKind::Train } else { PlanKind::Score };
        self.chunk(ctx, ids, targets, kind, read, None)
    }

    /// The logits `[V]` of the token after `ids` (one stream: a model made with `batch` 1). The state
    /// carries on as in [`LanguageModel::step`], so feeding one sampled token at a time generates text.
    pub fn next_logits(&mut self, ctx: &GpuContext, ids: &[u32]) -> Result<Vec<f32>> {
        if self.batch != 1 {
            return Err(Error::InvalidInput(format!("next_logits reads one stream; this model has {}", self.batch)));
        }
        let staging = self.next_staging.clone();
        self.chunk(ctx, ids, &vec![0; ids.len()], PlanKind::Infer, false, Some(&staging))?;
        read_staging(ctx, &staging, self.cfg.vocab)
    }

    /// Runs one chunk as `kind` says, carrying the final state; `logits_to` gets the last row's logits.
    fn chunk(
        &mut self,
        ctx: &GpuContext,
        ids: &[u32],
        targets: &[u32],
        kind: PlanKind,
        read: bool,
        logits_to: Option<&wgpu::Buffer>,
    ) -> Result<Option<StepStats>> {
        let b = self.batch;
        let steps = ids.len() / b;
        if steps == 0 || steps > self.steps_cap || ids.len() != b * steps || targets.len() != ids.len() {
            return Err(Error::InvalidInput(format!("a chunk must be {b} streams × 1..={} steps, with as many targets", self.steps_cap)));
        }
        if let Some(i) = ids.iter().chain(targets).position(|&id| id as usize >= self.cfg.vocab) {
            return Err(Error::InvalidInput(format!("token id at position {i} is outside the vocabulary of {}", self.cfg.vocab)));
        }
        let q = &ctx.queue;
        q.write_buffer(&self.bufs.ids, 0, bytemuck::cast_slice(ids));
        // The loss rows are time-major (row t·B + b), like the LSTM output.
        let time_major: Vec<u32> = (0..steps).flat_map(|t| (0..b).map(move |s| targets[s * steps + t])).collect();
        q.write_buffer(&self.bufs.targets, 0, bytemuck::cast_slice(&time_major));
        let lengths = vec![steps as u32; b];
        q.write_buffer(&self.bufs.lengths, 0, bytemuck::cast_slice(&lengths));
        let key = PlanKey { batch: b, steps, kind };
        let segments = if kind == PlanKind::Train { self.segments.upload(ctx, ids, &lengths, b, steps) } else { 0 };
        let net = Net { cfg: self.cfg, store: &self.store, lstm: &self.lstm, bufs: &self.bufs, segments: &self.segments };
        let plan = self.step.plan(ctx, key, |tail| net.build_plan(ctx, key, tail))?;
        if let Some(scatter) = plan.scatter {
            point_scatter(q, plan.op(scatter), self.cfg.embed, segments);
        }
        // Carry the final state: states [2][T+1][B][H] slot T → state0 [2][B][H].
        let bh = (b * self.cfg.hidden * 4) as u64;
        let (lstm, logits) = (&self.lstm, &self.bufs.logits);
        let last_row = ((steps * b - 1) * logits_stride(self.cfg.vocab) * 4) as u64;
        let row_bytes = (self.cfg.vocab * 4) as u64;
        let after = |encoder: &mut wgpu::CommandEncoder| {
            for l in 0..lstm.cfg.layers {
                let (states, state0) = (lstm.states(l, 0), lstm.initial_state(l, 0));
                encoder.copy_buffer_to_buffer(states, steps as u64 * bh, state0, 0, bh);
                encoder.copy_buffer_to_buffer(states, (2 * steps as u64 + 1) * bh, state0, bh, bh);
            }
            if let Some(staging) = logits_to {
                encoder.copy_buffer_to_buffer(logits, last_row, staging, 0, row_bytes);
            }
        };
        self.step.submit(ctx, key, &self.store, &[], after, read)
    }
}

impl Net<'_> {
    /// Records a chunk: the forward pass and the summed loss; with `Train` also the backward pass
    /// and the update tail.
    fn build_plan(&self, ctx: &GpuContext, key: PlanKey, tail: &UpdateTail) -> Result<Plan> {
        let (cfg, st, w, bufs) = (self.cfg, self.store, View::whole, self.bufs);
        let (b, steps) = (key.batch, key.steps);
        let rows = steps * b;
        let mut s = Schedule::default();
        s.push(gather(ctx, b, steps, cfg.embed, w(&bufs.ids), st.view("embedding.weight")?, w(&bufs.x))?);
        s.extend(self.lstm.forward(ctx, st, w(&bufs.x), w(&bufs.lengths), b, steps)?);
        let (v, h, ld) = (cfg.vocab, cfg.hidden, logits_stride(cfg.vocab));
        let dec = Gemm::new(rows, v, h).b_transposed().strides(h, h, ld);
        s.push(gemm(ctx, dec, self.lstm.output(), st.view(cfg.decoder_weight())?, w(&bufs.logits), &[st.view("decoder.bias")?])?);
        if key.kind == PlanKind::Infer {
            // The logits stay readable (the loss below turns them into their gradient in place).
            return Ok(Plan { schedule: s, ..Default::default() });
        }
        s.push(cross_entropy_rows(ctx, rows, v, ld, st.grad_scale / rows as f32, w(&bufs.targets), w(&bufs.logits), w(&bufs.row_loss))?);
        let stats_loss = View { buffer: tail.stats(), offset: (SLOT_LOSS * 4) as u64, size: 4, half: false };
        s.push(column_sum(ctx, rows, 1, true, w(&bufs.row_loss), stats_loss)?);
        if key.kind != PlanKind::Train {
            return Ok(Plan { schedule: s, ..Default::default() });
        }
        // Decoder backward: dW += dlogitsᵀ·y, db = Σ rows, dy = dlogits·W.
        let dw = Gemm::new(v, h, rows).a_transposed().strides(ld, h, h).accumulate(true);
        s.push(gemm(ctx, dw, w(&bufs.logits), self.lstm.output(), st.grad_view(cfg.decoder_weight())?, &[])?);
        s.push(column_sum_strided(ctx, rows, v, ld, true, w(&bufs.logits), st.grad_view("decoder.bias")?)?);
        let dy = Gemm::new(rows, h, v).strides(ld, h, h);
        s.push(gemm(ctx, dy, w(&bufs.logits), st.view(cfg.decoder_weight())?, self.lstm.output_grad(), &[])?);
        s.extend(self.lstm.backward(ctx, st, w(&bufs.x), w(&bufs.lengths), Some(w(&bufs.dx)), b, steps)?);
        let scatter = s.push(scatter_add(ctx, cfg.embed, 0, &self.segments.views(), w(&bufs.dx), st.grad_view("embedding.weight")?)?);
        let adam = tail.push(ctx, &mut s, st)?;
        Ok(Plan { schedule: s, scatter: Some(scatter), adam: Some(adam), ..Default::default() })
    }
}
