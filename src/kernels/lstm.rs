//! Fused LSTM layer launchers (shaders/lstm.wgsl): per direction, one dispatch per sequence or one
//! per timestep, or the steps of one in one dispatch, in one of five variants ([`LstmKernel`]).

use super::build_op;
use crate::config::Precision;
use crate::error::{Error, Result};
use crate::gpu::{GpuContext, ShaderFamily, View, grid_1d};
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
    /// The persistent variant's workgroups, each walking its share of the step grid's tiles; 0, as
    /// [`LstmParams::new`] leaves it: one per tile (as many as the step kernel launches). Unused by
    /// the other variants.
    pub groups: u32,
    /// The per-row and slice variants walk steps `step .. step_end` of the sequence (set by the
    /// launcher: [`LstmKernel::steps_per_dispatch`]); [`LstmParams::new`] sets the whole sequence.
    pub step_end: u32,
    _pad: [u32; 3],
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
            groups: 0,
            step_end: steps as u32,
            _pad: [0; 3],
        }
    }

    /// These parameters with the persistent variant's grid of `groups` workgroups.
    pub fn with_groups(self, groups: u32) -> Self {
        Self { groups, ..self }
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
    /// The persistent variant's exchange, u32 `[`[`LstmKernel::exchange_len`]`]` (unused by the
    /// others): word 0 its status, sticky (0 while every wait between timesteps was met).
    pub exchange: View<'a>,
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
    /// The step kernels' work for all timesteps in one dispatch (plus one clearing the exchange),
    /// workgroups waiting for each other between steps (`shaders/lstm_persist.wgsl`): the step
    /// variant without its T − 1 dispatch boundaries. Right only where the adapter runs all its
    /// workgroups at once, which nothing promises: each wait is bounded and one that gives up sets
    /// the exchange's status and turns the results into NaN. So it is never the fixed rule's choice;
    /// the tuner picks it only after a run on the shape met every wait and matched the step kernel
    /// ([`super::tune::persistent_failure`]). Needs H % 4 == 0 and a GPU (not a CPU driver).
    #[serde(rename = "persistent")]
    Persistent,
}

/// Loop back-edges one invocation of a per-row or slice kernel may take on a CPU driver: ¾ of
/// llvmpipe's 65535, leaving room for the loops outside the steps.
pub const CPU_LOOP_BUDGET: u32 = 49152;

/// Batch rows per workgroup of the slice kernels (the shader's `LSTM_ROWS`).
pub const SLICE_ROWS: u32 = ShaderFamily::LSTM_ROWS;

/// Batch rows per workgroup of the step kernels (the shader's `LSTM_STEP_ROWS`).
pub const STEP_ROWS: u32 = ShaderFamily::LSTM_STEP_ROWS;

impl LstmKernel {
    /// Every variant, in the order the tuner times them.
    pub const ALL: [LstmKernel; 5] = [Self::PerRow, Self::Slices, Self::SlicesSubgroup, Self::Steps, Self::Persistent];

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
            // Not on a CPU driver: llvmpipe runs a dispatch's workgroups in chunks, one after
            // another per thread, and cuts every loop short, silently, once an invocation has
            // taken 65535 back-edges, which spinning soon does: 2 to 12 workgroups stalled or met
            // their waits with wrong values (persistent_failure in src/kernels/tune.rs).
            Self::Persistent => hidden.is_multiple_of(4) && ctx.info.device_type != wgpu::DeviceType::Cpu,
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
            Self::Persistent => "persistent",
        }
    }

    /// Dispatches per direction of a sequence of `steps` at hidden size `hidden`: (forward, backward).
    pub fn dispatches(self, ctx: &GpuContext, steps: u32, hidden: u32) -> (u32, u32) {
        match self {
            Self::PerRow | Self::Slices | Self::SlicesSubgroup => {
                let n = steps.div_ceil(self.steps_per_dispatch(ctx, hidden)).max(1);
                (n, n)
            }
            Self::Steps => (steps, steps + 1),
            Self::Persistent => (2, 2),
        }
    }

    /// Most steps one dispatch of the per-row and slice variants walks: all of them on a GPU; on a
    /// CPU driver as many as keep an invocation within [`CPU_LOOP_BUDGET`] loop back-edges
    /// (llvmpipe allows 65535 in all, then silently cuts every loop short: `shaders/lstm.wgsl`).
    /// The bound per step counts each kernel's loops, forward or backward, whichever is longer.
    pub fn steps_per_dispatch(self, ctx: &GpuContext, hidden: u32) -> u32 {
        if ctx.info.device_type != wgpu::DeviceType::Cpu {
            return u32::MAX;
        }
        let unit_rounds = hidden.div_ceil(ShaderFamily::LSTM_WG);
        let per_step = match self {
            // Backward: per unit, dL/dh over the 4H gate gradients.
            Self::PerRow => unit_rounds * (4 * hidden + 2) + 8,
            // Forward: per unit, H/4 vec4 chunks; backward: the 8 rows' gate gradients, then
            // per vec4 of units H chunks of 4 gate gradients.
            _ => unit_rounds * (hidden / 4 + 1) + 8 * unit_rounds + (hidden / 4).div_ceil(ShaderFamily::LSTM_WG) * (hidden + 1) + 8,
        };
        (CPU_LOOP_BUDGET / per_step).max(1)
    }

    /// Words of the persistent variant's exchange buffer at batch `batch`, hidden size `hidden`: the
    /// status, then two step-parity regions of a batch's gate gradients `[B][4H]`.
    pub fn exchange_len(batch: usize, hidden: usize) -> usize {
        1 + 2 * batch * 4 * hidden
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
            (Self::Persistent, true) => (ShaderFamily::LstmPersist, "lstm_forward_persist", [p.groups, 1, 1]),
            (Self::Persistent, false) => (ShaderFamily::LstmPersist, "lstm_backward_persist", [p.groups, 1, 1]),
        };
        (family, entry, grid)
    }

    /// The ops of one direction: one, one per dispatch number for the step variant, or the
    /// exchange's clearing and the persistent dispatch.
    fn ops(self, forward: bool, ctx: &GpuContext, p: LstmParams, views: &[(u32, View)], exchange: View) -> Result<Schedule> {
        let mut schedule = Schedule::default();
        if self == Self::Persistent {
            let tiles = p.hidden.div_ceil(ShaderFamily::LSTM_WG) * p.batch.div_ceil(STEP_ROWS);
            let groups = if p.groups > 0 { p.groups.min(tiles) } else { tiles };
            let p = LstmParams { groups, ..p };
            let words = Self::exchange_len(p.batch as usize, p.hidden as usize);
            if exchange.size < 4 * words as u64 {
                return Err(Error::InvalidInput(format!(
                    "the persistent LSTM exchange holds {} bytes; B = {}, H = {} need {}",
                    exchange.size,
                    p.batch,
                    p.hidden,
                    4 * words
                )));
            }
            let clear_grid = grid_1d(words - 1, ShaderFamily::WG_1D);
            schedule.push(build_op(ctx, ShaderFamily::LstmPersist, "lstm_persist_clear", &p, &[(8, exchange)], clear_grid)?);
            let (family, entry, grid) = self.entry_and_grid(forward, &p);
            let views: Vec<(u32, View)> = views.iter().copied().chain([(8, exchange)]).collect();
            schedule.push(build_op(ctx, family, entry, &p, &views, grid)?);
            return Ok(schedule);
        }
        let (family, entry, grid) = self.entry_and_grid(forward, &p);
        if self == Self::Steps {
            for step in 0..if forward { p.steps } else { p.steps + 1 } {
                schedule.push(build_op(ctx, family, entry, &LstmParams { step, ..p }, views, grid)?);
            }
            return Ok(schedule);
        }
        let chunk = self.steps_per_dispatch(ctx, p.hidden);
        for step in (0..p.steps.max(1)).step_by(chunk as usize) {
            let step_end = p.steps.min(step.saturating_add(chunk));
            schedule.push(build_op(ctx, family, entry, &LstmParams { step, step_end, ..p }, views, grid)?);
        }
        Ok(schedule)
    }
}

/// The tuner's kernel ([`super::tune::lstm_kernel`]) for one direction whose activations are f16
/// where `half`.
pub fn tuned_kernel(ctx: &GpuContext, p: &LstmParams, half: bool) -> Result<LstmKernel> {
    let precision = if half { Precision::F16 } else { Precision::F32 };
    super::tune::lstm_kernel(ctx, p.batch, p.steps, p.hidden, precision)
}

/// The forward recurrence of one layer direction over the whole sequence with `kernel` (it must
/// apply: [`LstmKernel::applies`]; [`tuned_kernel`] picks one).
pub fn lstm_forward_with(kernel: LstmKernel, ctx: &GpuContext, p: LstmParams, a: &LstmForwardArgs) -> Result<Schedule> {
    let views = [(1, a.w_hh), (2, a.lengths), (3, a.gates), (4, a.states), (5, a.state0), (6, a.y)];
    kernel.ops(true, ctx, p, &views, a.exchange)
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
    /// The persistent variant's exchange, as in [`LstmForwardArgs::exchange`].
    pub exchange: View<'a>,
}

/// The backward recurrence of one layer direction, walking time in reverse, with `kernel` (as in
/// [`lstm_forward_with`]). The weight and input gradients are left to GEMMs over `dgates`.
pub fn lstm_backward_with(kernel: LstmKernel, ctx: &GpuContext, p: LstmParams, a: &LstmBackwardArgs) -> Result<Schedule> {
    let views = [(1, a.w_hh), (2, a.lengths), (3, a.states), (4, a.dy), (5, a.d_state_n), (6, a.dgates), (7, a.d_state0)];
    kernel.ops(false, ctx, p, &views, a.exchange)
}
