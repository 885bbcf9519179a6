//! Reductions (shaders/reduce.wgsl).

use super::build_op;
use crate::error::Result;
use crate::gpu::{GpuContext, ShaderFamily, View, grid_1d};
use crate::graph::Op;

/// Uniform block of both reduction entry points (the shader's `Params`).
#[repr(C)]
#[derive(Clone, Copy, Debug, bytemuck::Pod, bytemuck::Zeroable)]
pub struct ReduceParams {
    /// Rows R of the input (1 for `sum_squares`).
    pub rows: u32,
    /// Columns C of the input (for `sum_squares`, the value count n).
    pub cols: u32,
    /// `column_sum` only: 1 adds to `out`, 0 overwrites it.
    pub accumulate: u32,
    /// `sum_squares` only: index of the stats slot written.
    pub slot: u32,
    /// `column_sum` only: elements between row starts of the input (≥ cols).
    pub stride: u32,
    _pad: [u32; 3],
}

/// `out[C]` (+)= column sums of `input[R,C]` (bias gradients).
pub fn column_sum(ctx: &GpuContext, rows: usize, cols: usize, accumulate: bool, input: View, out: View) -> Result<Op> {
    column_sum_strided(ctx, rows, cols, cols, accumulate, input, out)
}

/// [`column_sum`] of an input whose rows are `stride` elements apart.
pub fn column_sum_strided(
    ctx: &GpuContext,
    rows: usize,
    cols: usize,
    stride: usize,
    accumulate: bool,
    input: View,
    out: View,
) -> Result<Op> {
    // One back-edge per row in each invocation.
    super::check_cpu_loops(ctx, rows as u64, || format!("column sum over {rows} rows"))?;
    let p =
        ReduceParams { rows: rows as u32, cols: cols as u32, accumulate: accumulate as u32, slot: 0, stride: stride as u32, _pad: [0; 3] };
    build_op(ctx, ShaderFamily::Reduce, "column_sum", &p, &[(1, input), (2, out)], grid_1d(cols, ShaderFamily::WG_1D))
}

/// `stats[slot]` = Σ input² over n values.
pub fn sum_squares(ctx: &GpuContext, n: usize, slot: usize, input: View, stats: View) -> Result<Op> {
    // One workgroup: each invocation strides over n / WG_REDUCE elements, then halves the tree.
    let back_edges = (n as u64).div_ceil(ShaderFamily::WG_REDUCE as u64) + 8;
    super::check_cpu_loops(ctx, back_edges, || format!("the gradient norm (--clip) over {n} parameters"))?;
    let p = ReduceParams { rows: 1, cols: n as u32, accumulate: 0, slot: slot as u32, stride: n as u32, _pad: [0; 3] };
    build_op(ctx, ShaderFamily::Reduce, "sum_squares", &p, &[(1, input), (2, stats)], [1, 1, 1])
}
