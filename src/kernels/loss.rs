//! Losses and softmax (shaders/loss.wgsl). Results are added to slots of a stats buffer.

use super::build_op;
use crate::error::Result;
use crate::gpu::{GpuContext, ShaderFamily, View, grid_1d};
use crate::graph::Op;

/// Uniform block of the loss and softmax entry points (the shader's `Params`).
#[repr(C)]
#[derive(Clone, Copy, Debug, bytemuck::Pod, bytemuck::Zeroable)]
pub struct LossParams {
    /// Rows R (for `mse`, the value count n).
    pub rows: u32,
    /// Columns C: classes per row (1 for `mse`).
    pub cols: u32,
    /// First stats slot the results are added to.
    pub slot: u32,
    /// Factor applied to the gradient only; the loss added to stats is unscaled.
    pub scale: f32,
    /// `cross_entropy_rows` only: elements between row starts (≥ cols; padding is left untouched).
    pub stride: u32,
    _pad: [u32; 3],
}

impl LossParams {
    /// Dense rows (stride = cols).
    pub fn new(rows: usize, cols: usize, slot: usize, scale: f32) -> Self {
        Self { rows: rows as u32, cols: cols as u32, slot: slot as u32, scale, stride: cols as u32, _pad: [0; 3] }
    }
}

/// Label value that excludes a row from the loss (PyTorch's ignore_index).
pub const IGNORE_LABEL: u32 = u32::MAX;

/// Mean cross-entropy over rows with a label: `stats[slot..slot+3]` += (loss, correct, rows counted).
pub fn cross_entropy(
    ctx: &GpuContext,
    rows: usize,
    classes: usize,
    slot: usize,
    scale: f32,
    logits: View,
    labels: View,
    d_logits: View,
    stats: View,
) -> Result<Op> {
    let p = LossParams::new(rows, classes, slot, scale);
    build_op(ctx, ShaderFamily::Loss, "cross_entropy", &p, &[(1, logits), (2, labels), (3, d_logits), (4, stats)], [1, 1, 1])
}

/// Mean squared error over n values: `stats[slot]` += loss.
pub fn mse(ctx: &GpuContext, n: usize, slot: usize, scale: f32, pred: View, target: View, d_pred: View, stats: View) -> Result<Op> {
    let p = LossParams::new(n, 1, slot, scale);
    build_op(ctx, ShaderFamily::Loss, "mse", &p, &[(1, pred), (2, target), (3, d_pred), (4, stats)], [1, 1, 1])
}

/// Cross-entropy of many rows over a large vocabulary, in place: `logits` (rows `stride` apart, the
/// first `cols` used) becomes `scale · (softmax − onehot)` and `row_loss[r]` the row's loss (0 for an
/// ignored row).
pub fn cross_entropy_rows(
    ctx: &GpuContext,
    rows: usize,
    cols: usize,
    stride: usize,
    scale: f32,
    labels: View,
    logits: View,
    row_loss: View,
) -> Result<Op> {
    let p = LossParams { stride: stride as u32, ..LossParams::new(rows, cols, 0, scale) };
    let grid = [rows.min(65535) as u32, rows.div_ceil(65535) as u32, 1];
    build_op(ctx, ShaderFamily::Loss, "cross_entropy_rows", &p, &[(2, labels), (3, logits), (5, row_loss)], grid)
}

/// `probs[R,C]` = softmax over each row of logits.
pub fn softmax_rows(ctx: &GpuContext, rows: usize, cols: usize, logits: View, probs: View) -> Result<Op> {
    let p = LossParams::new(rows, cols, 0, 1.0);
    build_op(ctx, ShaderFamily::Loss, "softmax_rows", &p, &[(1, logits), (3, probs)], grid_1d(rows, ShaderFamily::WG_1D))
}
