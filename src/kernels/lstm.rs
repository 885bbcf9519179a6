//! Fused LSTM layer launchers (shaders/lstm.wgsl): one dispatch per direction per sequence, in one
//! of two variants ([`LstmKernel`]).

use super::build_op;
use crate::error::Result;
use crate::gpu::{GpuContext, ShaderFamily, View};
use crate::graph::Op;

/// Uniform block of both LSTM entry points (the shader's `Params`).
#[repr(C)]
#[derive(Clone, Copy, Debug, bytemuck::Pod, bytemuck::Zeroable)]
pub struct LstmParams {
    /// Batch rows B of this dispatch; also sets the grid: B workgroups for the per-row kernel,
    /// ceil(B / [`SLICE_ROWS`]) for the slice kernel ([`LstmKernel`]).
    pub batch: u32,
    /// Timesteps T; also sets the state slot layout `[2][T+1][B][H]`.
    pub steps: u32,
    /// Hidden size H.
    pub hidden: u32,
    /// 1 for the reverse direction (walks t = T−1 … 0), 0 for the forward one.
    pub reverse: u32,
    /// Row stride of y / dy in elements (dirs × H).
    pub y_stride: u32,
    /// This direction's first column in y / dy: 0 forward, H reverse.
    pub y_col: u32,
    _pad: [u32; 2],
}

impl LstmParams {
    /// Parameters for one direction; `y_col` follows from `reverse` (the reverse half starts at H).
    pub fn new(batch: usize, steps: usize, hidden: usize, reverse: bool, y_stride: usize) -> Self {
        Self {
            batch: batch as u32,
            steps: steps as u32,
            hidden: hidden as u32,
            reverse: reverse as u32,
            y_stride: y_stride as u32,
            y_col: if reverse { hidden as u32 } else { 0 },
            _pad: [0; 2],
        }
    }
}

/// Buffers of one layer direction, shapes as in the shader header.
pub struct LstmForwardArgs<'a> {
    /// Recurrent weight `W_hh` `[4H,H]`, row-major, gate blocks i,f,g,o.
    pub w_hh: View<'a>,
    /// Valid steps per row, `[B]` u32; at `t >= lengths[b]` the state is carried unchanged.
    pub lengths: View<'a>,
    /// Written: gate activations `[T,B,4H]` (i,f,g,o), kept for the backward pass.
    pub gates: View<'a>,
    /// Written: h (part 0) and c (part 1) of every slot, `[2][T+1][B][H]`.
    pub states: View<'a>,
    /// Input projection `x·W_ihᵀ + b_ih + b_hh`, `[T,B,4H]`, from the preceding GEMM.
    pub pre: View<'a>,
    /// Initial state `[2][B][H]`: h0, then c0.
    pub state0: View<'a>,
    /// Written: layer output `[T,B,y_stride]`, this direction's h in columns `y_col..y_col+H`.
    pub y: View<'a>,
}

/// Which recurrence kernel runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub enum LstmKernel {
    /// One workgroup per batch row, scalar loads: any hidden size. Grid `(B,1,1)`.
    PerRow,
    /// One workgroup per [`SLICE_ROWS`] (8) batch rows, vec4 loads: each W_hh load feeds every row
    /// of the slice. Needs H % 4 == 0. Grid `(ceil(B/SLICE_ROWS),1,1)`.
    Slices,
}

/// Batch rows per workgroup of the slice kernels (the shader's `LSTM_ROWS`).
pub const SLICE_ROWS: u32 = ShaderFamily::LSTM_ROWS;

impl LstmKernel {
    /// Slices where H is a multiple of 4 and the batch fills a slice (with fewer rows a slice would
    /// compute the clamped rows for nothing: at B = 1 the per-row kernel is 4.5× faster on lavapipe);
    /// `LSTM_TRANSFER_LSTM=rows|slices` overrides the choice where the shape allows (for benchmarks).
    pub fn choose(batch: u32, hidden: u32) -> Self {
        let slices_ok = hidden.is_multiple_of(4);
        match std::env::var("LSTM_TRANSFER_LSTM").as_deref() {
            Ok("rows") => Self::PerRow,
            Ok("slices") if slices_ok => Self::Slices,
            _ if slices_ok && batch >= SLICE_ROWS => Self::Slices,
            _ => Self::PerRow,
        }
    }

    /// The entry point (forward or backward) and grid of this kernel.
    fn entry_and_grid(self, forward: bool, p: &LstmParams) -> (&'static str, [u32; 3]) {
        match (self, forward) {
            (Self::PerRow, true) => ("lstm_forward", [p.batch, 1, 1]),
            (Self::PerRow, false) => ("lstm_backward", [p.batch, 1, 1]),
            (Self::Slices, true) => ("lstm_forward_slices", [p.batch.div_ceil(SLICE_ROWS), 1, 1]),
            (Self::Slices, false) => ("lstm_backward_slices", [p.batch.div_ceil(SLICE_ROWS), 1, 1]),
        }
    }
}

/// The forward recurrence of one layer direction over the whole sequence: one dispatch.
pub fn lstm_forward(ctx: &GpuContext, p: LstmParams, a: &LstmForwardArgs) -> Result<Op> {
    lstm_forward_with(LstmKernel::choose(p.batch, p.hidden), ctx, p, a)
}

/// [`lstm_forward`] with the kernel named (the slice kernel needs H % 4 == 0).
pub fn lstm_forward_with(kernel: LstmKernel, ctx: &GpuContext, p: LstmParams, a: &LstmForwardArgs) -> Result<Op> {
    let views = [(1, a.w_hh), (2, a.lengths), (3, a.gates), (4, a.states), (5, a.pre), (6, a.state0), (7, a.y)];
    let (entry, grid) = kernel.entry_and_grid(true, &p);
    build_op(ctx, ShaderFamily::Lstm, entry, &p, &views, grid)
}

/// Buffers of one layer direction for the backward pass, shapes as in the shader header.
pub struct LstmBackwardArgs<'a> {
    /// Recurrent weight `W_hh` `[4H,H]`, as in the forward pass.
    pub w_hh: View<'a>,
    /// Valid steps per row, `[B]` u32; padded steps pass the state gradient through.
    pub lengths: View<'a>,
    /// Gate activations `[T,B,4H]` saved by the forward pass.
    pub gates: View<'a>,
    /// States `[2][T+1][B][H]` saved by the forward pass.
    pub states: View<'a>,
    /// Gradient of the layer output, `[T,B,y_stride]`; this direction reads columns `y_col..y_col+H`.
    pub dy: View<'a>,
    /// Incoming gradient of the final state `[2][B][H]`: dL/dh_n, then dL/dc_n.
    pub d_state_n: View<'a>,
    /// Written: gradients of the gate pre-activations `[T,B,4H]` (zero at padded steps).
    pub dgates: View<'a>,
    /// Written: running dL/dh, dL/dc `[2][B][H]`; ends as the gradient of the initial state.
    pub d_state0: View<'a>,
}

/// The backward recurrence of one layer direction, walking time in reverse: one dispatch. The
/// weight and input gradients are left to GEMMs over `dgates`.
pub fn lstm_backward(ctx: &GpuContext, p: LstmParams, a: &LstmBackwardArgs) -> Result<Op> {
    lstm_backward_with(LstmKernel::choose(p.batch, p.hidden), ctx, p, a)
}

/// [`lstm_backward`] with the kernel named (the slice kernel needs H % 4 == 0).
pub fn lstm_backward_with(kernel: LstmKernel, ctx: &GpuContext, p: LstmParams, a: &LstmBackwardArgs) -> Result<Op> {
    let views = [(1, a.w_hh), (2, a.lengths), (3, a.gates), (4, a.states), (5, a.dy), (6, a.d_state_n), (7, a.dgates), (8, a.d_state0)];
    let (entry, grid) = kernel.entry_and_grid(false, &p);
    build_op(ctx, ShaderFamily::Lstm, entry, &p, &views, grid)
}
