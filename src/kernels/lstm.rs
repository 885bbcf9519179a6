//! Fused LSTM layer launchers (shaders/lstm.wgsl): per direction, one dispatch per sequence or one
//! per timestep, in one of three variants ([`LstmKernel`]).

use super::build_op;
use crate::error::Result;
use crate::gpu::{GpuContext, ShaderFamily, View};
use crate::graph::Schedule;

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
    /// The step variants' dispatch number (set by the launcher; unused by the others).
    pub step: u32,
    _pad: u32,
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
            step: 0,
            _pad: 0,
        }
    }
}

/// Buffers of one layer direction, shapes as in the shader header.
pub struct LstmForwardArgs<'a> {
    /// Recurrent weight `W_hh` `[4H,H]`, row-major, gate blocks i,f,g,o.
    pub w_hh: View<'a>,
    /// Valid steps per row, `[B]` u32; at `t >= lengths[b]` the state is carried unchanged.
    pub lengths: View<'a>,
    /// `[T,B,4H]`, read and written in place: on entry the input projection `x·W_ihᵀ + b_ih + b_hh`
    /// from the preceding GEMM; on exit the gate activations (i,f,g,o) at valid steps, kept for
    /// the backward pass (padded steps keep the projection, which nothing reads).
    pub gates: View<'a>,
    /// Written: h (part 0) and c (part 1) of every slot, `[2][T+1][B][H]`.
    pub states: View<'a>,
    /// Initial state `[2][B][H]`: h0, then c0.
    pub state0: View<'a>,
    /// Written: layer output `[T,B,y_stride]`, this direction's h in columns `y_col..y_col+H`.
    pub y: View<'a>,
}

/// Which recurrence kernel runs. Every variant computes the same function (to rounding); which is
/// fastest depends on the adapter and the shape, so the tuner ([`super::tune`]) times them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum LstmKernel {
    /// One workgroup per batch row, scalar loads: any hidden size. One dispatch per sequence, grid
    /// `(B,1,1)`.
    #[serde(rename = "rows")]
    PerRow,
    /// One workgroup per [`SLICE_ROWS`] (8) batch rows, vec4 loads: each W_hh load feeds every row
    /// of the slice. Needs H % 4 == 0. One dispatch per sequence, grid `(ceil(B/SLICE_ROWS),1,1)`.
    #[serde(rename = "slices")]
    Slices,
    /// [`LstmKernel::Slices`] with the h (forward) and dgates (backward) rows every thread needs
    /// loaded once per subgroup and shared by subgroup broadcasts. Needs H % 4 == 0 and the SUBGROUP
    /// feature with subgroups of at least 8 invocations.
    #[serde(rename = "slices-sg")]
    SlicesSubgroup,
    /// One dispatch per timestep (T forward, T + 1 backward), the 4H gate units of a step spread
    /// over `ceil(H/LSTM_WG)·ceil(B/STEP_ROWS)` workgroups: fills a GPU with many compute units
    /// where the other two launch a few workgroups. Needs H % 4 == 0.
    #[serde(rename = "steps")]
    Steps,
}

/// Batch rows per workgroup of the slice kernels (the shader's `LSTM_ROWS`).
pub const SLICE_ROWS: u32 = ShaderFamily::LSTM_ROWS;

/// Batch rows per workgroup of the step kernels (the shader's `LSTM_STEP_ROWS`).
pub const STEP_ROWS: u32 = ShaderFamily::LSTM_STEP_ROWS;

impl LstmKernel {
    /// Every variant, in the order the tuner times them.
    pub const ALL: [LstmKernel; 4] = [Self::PerRow, Self::Slices, Self::SlicesSubgroup, Self::Steps];

    /// The choice without timing anything: slices where H is a multiple of 4 and the batch fills a
    /// slice (with fewer rows a slice would compute the clamped rows for nothing: at B = 1 the
    /// per-row kernel is 4.5× faster on lavapipe), else per row. `LSTM_TRANSFER_LSTM=rows|slices|steps`
    /// overrides it where the shape allows ([`LstmKernel::forced`]).
    pub fn choose(ctx: &GpuContext, batch: u32, hidden: u32) -> Self {
        if let Some(forced) = Self::forced(ctx, hidden) {
            return forced;
        }
        if Self::Slices.applies(ctx, hidden) && batch >= SLICE_ROWS { Self::Slices } else { Self::PerRow }
    }

    /// The variant `LSTM_TRANSFER_LSTM` names, where it applies (benchmarks pin a variant this way,
    /// past the tuner).
    pub fn forced(ctx: &GpuContext, hidden: u32) -> Option<Self> {
        let name = std::env::var("LSTM_TRANSFER_LSTM").ok()?;
        Self::ALL.into_iter().find(|k| k.name() == name && k.applies(ctx, hidden))
    }

    /// Whether this variant can run hidden size `hidden` on this device (the vec4 views need
    /// H % 4 == 0; the subgroup variant needs subgroups of at least 8 invocations).
    pub fn applies(self, ctx: &GpuContext, hidden: u32) -> bool {
        match self {
            Self::PerRow => true,
            Self::Slices | Self::Steps => hidden.is_multiple_of(4),
            Self::SlicesSubgroup => hidden.is_multiple_of(4) && ctx.has_subgroups_of_8(),
        }
    }

    /// Short name, as the tuning cache and `bench` print it.
    pub fn name(self) -> &'static str {
        match self {
            Self::PerRow => "rows",
            Self::Slices => "slices",
            Self::SlicesSubgroup => "slices-sg",
            Self::Steps => "steps",
        }
    }

    /// Dispatches per direction of a sequence of `steps`: (forward, backward).
    pub fn dispatches(self, steps: u32) -> (u32, u32) {
        match self {
            Self::PerRow | Self::Slices | Self::SlicesSubgroup => (1, 1),
            Self::Steps => (steps, steps + 1),
        }
    }

    /// The family, entry point (forward or backward) and grid of this kernel.
    fn entry_and_grid(self, forward: bool, p: &LstmParams) -> (ShaderFamily, &'static str, [u32; 3]) {
        let slice_grid = [p.batch.div_ceil(SLICE_ROWS), 1, 1];
        let step_grid = [p.hidden.div_ceil(ShaderFamily::LSTM_WG), p.batch.div_ceil(STEP_ROWS), 1];
        let (family, entry, grid) = match (self, forward) {
            (Self::PerRow, true) => (ShaderFamily::Lstm, "lstm_forward", [p.batch, 1, 1]),
            (Self::PerRow, false) => (ShaderFamily::Lstm, "lstm_backward", [p.batch, 1, 1]),
            (Self::Slices, true) => (ShaderFamily::Lstm, "lstm_forward_slices", slice_grid),
            (Self::Slices, false) => (ShaderFamily::Lstm, "lstm_backward_slices", slice_grid),
            (Self::SlicesSubgroup, true) => (ShaderFamily::LstmSubgroups, "lstm_forward_slices_sg", slice_grid),
            (Self::SlicesSubgroup, false) => (ShaderFamily::LstmSubgroups, "lstm_backward_slices_sg", slice_grid),
            (Self::Steps, true) => (ShaderFamily::Lstm, "lstm_forward_step", step_grid),
            (Self::Steps, false) => (ShaderFamily::Lstm, "lstm_backward_step", step_grid),
        };
        (family, entry, grid)
    }

    /// The ops of one direction: one, or one per dispatch number for the step variant.
    fn ops(self, forward: bool, ctx: &GpuContext, p: LstmParams, views: &[(u32, View)]) -> Result<Schedule> {
        let (family, entry, grid) = self.entry_and_grid(forward, &p);
        let (fwd, bwd) = self.dispatches(p.steps);
        let count = if forward { fwd } else { bwd };
        let mut schedule = Schedule::default();
        for step in 0..count {
            schedule.push(build_op(ctx, family, entry, &LstmParams { step, ..p }, views, grid)?);
        }
        Ok(schedule)
    }
}

/// The forward recurrence of one layer direction over the whole sequence, with the tuner's kernel
/// ([`super::tune::lstm_kernel`]).
pub fn lstm_forward(ctx: &GpuContext, p: LstmParams, a: &LstmForwardArgs) -> Result<Schedule> {
    lstm_forward_with(super::tune::lstm_kernel(ctx, p.batch, p.steps, p.hidden)?, ctx, p, a)
}

/// [`lstm_forward`] with the kernel named (it must apply: [`LstmKernel::applies`]).
pub fn lstm_forward_with(kernel: LstmKernel, ctx: &GpuContext, p: LstmParams, a: &LstmForwardArgs) -> Result<Schedule> {
    let views = [(1, a.w_hh), (2, a.lengths), (3, a.gates), (4, a.states), (5, a.state0), (6, a.y)];
    kernel.ops(true, ctx, p, &views)
}

/// Buffers of one layer direction for the backward pass, shapes as in the shader header.
pub struct LstmBackwardArgs<'a> {
    /// Recurrent weight `W_hh` `[4H,H]`, as in the forward pass.
    pub w_hh: View<'a>,
    /// Valid steps per row, `[B]` u32; padded steps pass the state gradient through.
    pub lengths: View<'a>,
    /// States `[2][T+1][B][H]` saved by the forward pass.
    pub states: View<'a>,
    /// Gradient of the layer output, `[T,B,y_stride]`; this direction reads columns `y_col..y_col+H`.
    pub dy: View<'a>,
    /// Incoming gradient of the final state `[2][B][H]`: dL/dh_n, then dL/dc_n.
    pub d_state_n: View<'a>,
    /// `[T,B,4H]`, read and written in place: on entry the gate activations the forward pass left
    /// (its `gates`); on exit the gradients of the gate pre-activations (zero at padded steps).
    pub dgates: View<'a>,
    /// Written: running dL/dh, dL/dc `[2][B][H]`; ends as the gradient of the initial state.
    pub d_state0: View<'a>,
}

/// The backward recurrence of one layer direction, walking time in reverse, with the tuner's kernel.
/// The weight and input gradients are left to GEMMs over `dgates`.
pub fn lstm_backward(ctx: &GpuContext, p: LstmParams, a: &LstmBackwardArgs) -> Result<Schedule> {
    lstm_backward_with(super::tune::lstm_kernel(ctx, p.batch, p.steps, p.hidden)?, ctx, p, a)
}

/// [`lstm_backward`] with the kernel named (it must apply: [`LstmKernel::applies`]).
pub fn lstm_backward_with(kernel: LstmKernel, ctx: &GpuContext, p: LstmParams, a: &LstmBackwardArgs) -> Result<Schedule> {
    let views = [(1, a.w_hh), (2, a.lengths), (3, a.states), (4, a.dy), (5, a.d_state_n), (6, a.dgates), (7, a.d_state0)];
    kernel.ops(false, ctx, p, &views)
}
