//! A stack of LSTM layers (optionally bidirectional) on the GPU: its parameter names, its activation
//! buffers and the ops of its forward and backward passes.
//!
//! Per layer l and direction d, with X the layer input `[T·B, in]` (time-major rows t·B+b):
//!   forward:  pre = X·W_ihᵀ + b_ih + b_hh   (one GEMM over all timesteps)
//!             recurrence                    (one fused dispatch for the whole sequence, or one per
//!                                            timestep: the tuner's `LstmKernel`) → gates, over pre
//!   backward: recurrence                    (likewise, reverse time) → dgates `[T·B, 4H]`, over gates
//!             dW_ih += dgatesᵀ·X, dW_hh += dgatesᵀ·H_prev, db_ih = db_hh = Σ_rows dgates,
//!             dX (+)= dgates·W_ih            (GEMMs over all timesteps)
//! so a layer costs 2 dispatches forward and 6 backward per direction, independent of T, with the
//! per-sequence kernels (on a CPU adapter a long sequence takes a few more:
//! `LstmKernel::steps_per_dispatch`); T + 1 forward and T + 6 backward with the per-timestep one.

use crate::config::Precision;
use crate::config::validate::{MAX_SIZE, bytes_of, check_size};
use crate::error::Result;
use crate::gpu::{GpuContext, View};
use crate::graph::Schedule;
use crate::kernels::lstm::{
    LstmBackwardArgs, LstmForwardArgs, LstmKernel, LstmParams, lstm_backward_with, lstm_forward_with, tuned_kernel,
};
use crate::kernels::matmul::{Gemm, gemm};
use crate::kernels::reduce::column_sum;
use crate::params::ParamStore;

/// Sizes of an LSTM stack, as in PyTorch's `nn.LSTM(input, hidden, layers, bidirectional=…)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LstmConfig {
    /// Width of the first layer's input (the embedding size E).
    pub input: usize,
    /// Hidden size H of every layer and direction.
    pub hidden: usize,
    /// Number of stacked layers (at least 1).
    pub layers: usize,
    /// Whether each layer also runs a reverse direction, doubling its output width.
    pub bidirectional: bool,
}

/// Most stacked layers accepted.
pub const MAX_LAYERS: usize = 64;

impl LstmConfig {
    /// Refuses zero or oversized widths and depths, naming the option.
    pub fn validate(&self) -> Result<()> {
        check_size("embed", self.input, MAX_SIZE)?;
        check_size("hidden", self.hidden, MAX_SIZE)?;
        check_size("layers", self.layers, MAX_LAYERS)
    }

    /// Directions per layer: 2 when bidirectional, else 1.
    pub fn dirs(&self) -> usize {
        if self.bidirectional { 2 } else { 1 }
    }

    /// Width of the stack's output (and of every layer's output): dirs × H.
    pub fn output_size(&self) -> usize {
        self.dirs() * self.hidden
    }

    /// Input width of `layer`: E for layer 0, dirs × H above it.
    pub fn layer_input(&self, layer: usize) -> usize {
        if layer == 0 { self.input } else { self.output_size() }
    }

    /// PyTorch's parameter name, e.g. `lstm.weight_hh_l1_reverse`.
    pub fn param_name(prefix: &str, kind: &str, layer: usize, reverse: bool) -> String {
        format!("{prefix}{kind}_l{layer}{}", if reverse { "_reverse" } else { "" })
    }

    /// (name, shape) of every parameter, in PyTorch's state_dict order.
    pub fn param_specs(&self, prefix: &str) -> Vec<(String, Vec<usize>)> {
        let g = 4 * self.hidden;
        let mut specs = Vec::new();
        for l in 0..self.layers {
            for d in 0..self.dirs() {
                let r = d == 1;
                specs.push((Self::param_name(prefix, "weight_ih", l, r), vec![g, self.layer_input(l)]));
                specs.push((Self::param_name(prefix, "weight_hh", l, r), vec![g, self.hidden]));
                specs.push((Self::param_name(prefix, "bias_ih", l, r), vec![g]));
                specs.push((Self::param_name(prefix, "bias_hh", l, r), vec![g]));
            }
        }
        specs
    }
}

/// Buffers of one layer direction, sized for the capacity (B, T).
struct DirectionBuffers {
    // [T,B,4H], three tensors in turn, each computed in place over the one before (shaders/lstm.wgsl):
    // the input projection + biases (GEMM) → the gate activations i,f,g,o (forward) → the gradients
    // of the gate pre-activations (backward, read by the weight, bias and input GEMMs).
    gates: wgpu::Buffer,
    states: wgpu::Buffer,    // [2][T+1][B][H] h and c in every slot
    state0: wgpu::Buffer,    // [2][B][H] initial h, c
    d_state_n: wgpu::Buffer, // [2][B][H] incoming dL/dh_n, dL/dc_n
    d_state0: wgpu::Buffer,  // [2][B][H] outgoing dL/dh0, dL/dc0
}

/// The stack's activations for batches up to (batch, steps).
pub struct LstmStack {
    /// The stack's sizes.
    pub cfg: LstmConfig,
    prefix: String,
    /// Batch capacity: the largest B the buffers hold.
    pub batch: usize,
    /// Sequence capacity: the largest T the buffers hold.
    pub steps: usize,
    /// How the gates, y and dy are stored (the context's [`GpuContext::precision`] when built).
    pub precision: Precision,
    /// Per layer: y `[T,B,dirs·H]` (layer output) and dy (its gradient).
    ys: Vec<wgpu::Buffer>,
    dys: Vec<wgpu::Buffer>,
    dirs: Vec<DirectionBuffers>, // index l*dirs + d
    /// The persistent recurrence kernel's exchange (`LstmKernel::exchange_len` words where that kernel
    /// applies), shared by every layer and direction: their dispatches run one after another, each
    /// clearing it first. Shared with the context's watch list (weakly) once a persistent kernel is
    /// recorded, so every readback checks its status while the stack lives.
    exchange: std::sync::Arc<wgpu::Buffer>,
}

impl LstmStack {
    /// Allocates the activations for batches up to (`batch`, `steps`), the gates, y and dy at the
    /// context's [`GpuContext::precision`]; parameter names start with `prefix` (e.g. `lstm.`), and
    /// the parameters themselves live in a [`ParamStore`].
    pub fn new(ctx: &GpuContext, cfg: LstmConfig, prefix: &str, batch: usize, steps: usize) -> Result<Self> {
        cfg.validate()?;
        let (b, t, h, out) = (batch, steps, cfg.hidden, cfg.output_size());
        let precision = ctx.precision();
        let buffer = |name: String, dims: &[usize]| ctx.storage_buffer(&name, bytes_of(&name, dims)?);
        // `dims` values at the stack's precision (bytes_of checks the product as f32s, the larger).
        let tensor = |name: String, dims: &[usize]| {
            let elements = (bytes_of(&name, dims)? / 4) as usize;
            ctx.storage_buffer(&name, precision.bytes(elements).expect("no larger than the f32 size bytes_of checked"))
        };
        let mut ys = Vec::new();
        let mut dys = Vec::new();
        let mut dirs = Vec::new();
        for l in 0..cfg.layers {
            ys.push(tensor(format!("lstm y l{l}"), &[t, b, out])?);
            dys.push(tensor(format!("lstm dy l{l}"), &[t, b, out])?);
            for d in 0..cfg.dirs() {
                let name = |what: &str| format!("lstm {what} l{l}d{d}");
                dirs.push(DirectionBuffers {
                    gates: tensor(name("gates"), &[t, b, 4, h])?,
                    states: buffer(name("states"), &[2, t + 1, b, h])?,
                    state0: buffer(name("state0"), &[2, b, h])?,
                    d_state_n: buffer(name("d_state_n"), &[2, b, h])?,
                    d_state0: buffer(name("d_state0"), &[2, b, h])?,
                });
            }
        }
        // One word where the persistent kernel cannot run (a CPU driver): nothing else reads it.
        let words = if LstmKernel::Persistent.applies(ctx, h as u32) { LstmKernel::exchange_len(b, h) } else { 1 };
        // An Arc so the context can watch it weakly (it checks the status word at readbacks). On
        // wasm32 a wgpu::Buffer is neither Send nor Sync, and nothing there runs on another thread.
        #[allow(clippy::arc_with_non_send_sync)]
        let exchange = std::sync::Arc::new(ctx.storage_buffer("lstm exchange", 4 * words as u64)?);
        Ok(Self { cfg, prefix: prefix.to_string(), batch, steps, precision, ys, dys, dirs, exchange })
    }

    fn name(&self, kind: &str, layer: usize, dir: usize) -> String {
        LstmConfig::param_name(&self.prefix, kind, layer, dir == 1)
    }

    fn dir(&self, layer: usize, dir: usize) -> &DirectionBuffers {
        &self.dirs[layer * self.cfg.dirs() + dir]
    }

    /// The tuner's recurrence kernel for a direction of these sizes; the persistent one has the
    /// context check this stack's exchange at every readback.
    fn kernel(&self, ctx: &GpuContext, p: &LstmParams) -> Result<LstmKernel> {
        let kernel = tuned_kernel(ctx, p, self.precision == Precision::F16)?;
        if kernel == LstmKernel::Persistent {
            ctx.watch_exchange(&self.exchange);
        }
        Ok(kernel)
    }

    /// A gates, y or dy buffer at the stack's precision.
    fn tensor<'a>(&self, buffer: &'a wgpu::Buffer) -> View<'a> {
        View::tensor(buffer, self.precision)
    }

    /// Output of the top layer, `[T,B,dirs·H]` (at the stack's precision).
    pub fn output(&self) -> View<'_> {
        self.tensor(self.ys.last().expect("an LSTM has at least one layer"))
    }

    /// Gradient of the top layer's output, to be filled (or cleared) before the backward ops run.
    pub fn output_grad(&self) -> View<'_> {
        self.tensor(self.dys.last().expect("an LSTM has at least one layer"))
    }

    /// Buffer of h (part 0) and c (part 1) for every slot of (layer, dir); see shaders/lstm.wgsl.
    pub fn states(&self, layer: usize, dir: usize) -> &wgpu::Buffer {
        &self.dir(layer, dir).states
    }

    /// Initial state `[2]``[B]``[H]` (h0 then c0) of (layer, dir); zero unless written.
    pub fn initial_state(&self, layer: usize, dir: usize) -> &wgpu::Buffer {
        &self.dir(layer, dir).state0
    }

    /// Incoming gradient of the final state `[2]``[B]``[H]`; zero unless written.
    pub fn final_state_grad(&self, layer: usize, dir: usize) -> &wgpu::Buffer {
        &self.dir(layer, dir).d_state_n
    }

    /// Gradient of the initial state `[2]``[B]``[H]` after the backward ops.
    pub fn initial_state_grad(&self, layer: usize, dir: usize) -> &wgpu::Buffer {
        &self.dir(layer, dir).d_state0
    }

    /// Forward ops for a batch of (batch, steps) ≤ capacity; x is `[T,B,input]`.
    pub fn forward(&self, ctx: &GpuContext, store: &ParamStore, x: View, lengths: View, batch: usize, steps: usize) -> Result<Schedule> {
        let cfg = self.cfg;
        let (h, rows) = (cfg.hidden, batch * steps);
        let mut s = Schedule::default();
        for l in 0..cfg.layers {
            let input = if l == 0 { x } else { self.tensor(&self.ys[l - 1]) };
            for d in 0..cfg.dirs() {
                let buf = self.dir(l, d);
                let g = Gemm::new(rows, 4 * h, cfg.layer_input(l)).b_transposed();
                let biases = [store.view(&self.name("bias_ih", l, d))?, store.view(&self.name("bias_hh", l, d))?];
                s.push(gemm(ctx, g, input, store.view(&self.name("weight_ih", l, d))?, self.tensor(&buf.gates), &biases)?);
                let p = LstmParams::new(batch, steps, h, d == 1, cfg.output_size());
                let args = LstmForwardArgs {
                    w_hh: store.view(&self.name("weight_hh", l, d))?,
                    lengths,
                    gates: self.tensor(&buf.gates),
                    states: View::whole(&buf.states),
                    state0: View::whole(&buf.state0),
                    y: self.tensor(&self.ys[l]),
                    exchange: View::whole(&self.exchange),
                };
                s.extend(lstm_forward_with(self.kernel(ctx, &p)?, ctx, p, &args)?);
            }
        }
        Ok(s)
    }

    /// Backward ops: reads `output_grad()`, adds the parameter gradients into the store's gradient
    /// buffer (which must be cleared per step) and, when `dx` is given, writes dL/dx `[T,B,input]`.
    pub fn backward(
        &self,
        ctx: &GpuContext,
        store: &ParamStore,
        x: View,
        lengths: View,
        dx: Option<View>,
        batch: usize,
        steps: usize,
    ) -> Result<Schedule> {
        let cfg = self.cfg;
        let (h, rows) = (cfg.hidden, batch * steps);
        let mut s = Schedule::default();
        for l in (0..cfg.layers).rev() {
            let input = if l == 0 { x } else { self.tensor(&self.ys[l - 1]) };
            let d_input = if l == 0 { dx } else { Some(self.tensor(&self.dys[l - 1])) };
            for d in 0..cfg.dirs() {
                let buf = self.dir(l, d);
                let w_ih = store.view(&self.name("weight_ih", l, d))?;
                let p = LstmParams::new(batch, steps, h, d == 1, cfg.output_size());
                let args = LstmBackwardArgs {
                    w_hh: store.view(&self.name("weight_hh", l, d))?,
                    lengths,
                    states: View::whole(&buf.states),
                    dy: self.tensor(&self.dys[l]),
                    d_state_n: View::whole(&buf.d_state_n),
                    dgates: self.tensor(&buf.gates),
                    d_state0: View::whole(&buf.d_state0),
                    exchange: View::whole(&self.exchange),
                };
                s.extend(lstm_backward_with(self.kernel(ctx, &p)?, ctx, p, &args)?);
                let dg = self.tensor(&buf.gates);
                let g = Gemm::new(4 * h, cfg.layer_input(l), rows).a_transposed().accumulate(true);
                s.push(gemm(ctx, g, dg, input, store.grad_view(&self.name("weight_ih", l, d))?, &[])?);
                // h_{t-1} rows: slots 0..T for the forward direction, 1..T+1 for the reverse one.
                let h_prev = if d == 1 { batch * h } else { 0 };
                let g = Gemm::new(4 * h, h, rows).a_transposed().accumulate(true).offsets(0, h_prev, 0);
                s.push(gemm(ctx, g, dg, View::whole(&buf.states), store.grad_view(&self.name("weight_hh", l, d))?, &[])?);
                for bias in ["bias_ih", "bias_hh"] {
                    s.push(column_sum(ctx, rows, 4 * h, true, dg, store.grad_view(&self.name(bias, l, d))?)?);
                }
                if let Some(d_input) = d_input {
                    let g = Gemm::new(rows, cfg.layer_input(l), 4 * h).accumulate(d > 0);
                    s.push(gemm(ctx, g, dg, w_ih, d_input, &[])?);
                }
            }
        }
        Ok(s)
    }
}
