//! Sequence features for the classifier head (shaders/pool.wgsl).

use super::build_op;
use crate::config::Pooling;
use crate::error::Result;
use crate::gpu::{GpuContext, ShaderFamily, View, grid_1d};
use crate::graph::Op;

/// The shader's bit mask of a pooling (bit 0 last, bit 1 max, bit 2 mean).
fn mode(pooling: Pooling) -> u32 {
    match pooling {
        Pooling::Last => 1,
        Pooling::Max => 2,
        Pooling::Mean => 4,
        Pooling::Concat => 7,
    }
}

/// Uniform block of both pooling entry points (the shader's `Params`).
#[repr(C)]
#[derive(Clone, Copy, Debug, bytemuck::Pod, bytemuck::Zeroable)]
pub struct PoolParams {
    /// Batch rows B.
    pub batch: u32,
    /// Timesteps T of y.
    pub steps: u32,
    /// Hidden size H: columns `c >= H` belong to the reverse direction.
    pub hidden: u32,
    /// Width F of y: dirs × H.
    pub features: u32,
    /// Bit mask of poolings: 1 last, 2 max, 4 mean (7 = concat).
    pub mode: u32,
    _pad: [u32; 3],
}

impl PoolParams {
    /// Parameters for y `[T,B,dirs·H]` pooled with `pooling`.
    pub fn new(batch: usize, steps: usize, hidden: usize, dirs: usize, pooling: Pooling) -> Self {
        Self {
            batch: batch as u32,
            steps: steps as u32,
            hidden: hidden as u32,
            features: (hidden * dirs) as u32,
            mode: mode(pooling),
            _pad: [0; 3],
        }
    }
}

/// `features[B, P·F]` = the chosen poolings of y `[T,B,F]` over each row's valid steps.
pub fn pool_forward(ctx: &GpuContext, p: PoolParams, lengths: View, y: View, features: View) -> Result<Op> {
    let grid = grid_1d((p.batch * p.features) as usize, ShaderFamily::WG_1D);
    build_op(ctx, ShaderFamily::Pool, "pool_forward", &p, &[(1, lengths), (2, y), (3, features)], grid)
}

/// dy += the pooling's gradient of d_features (dy must be cleared first); `y` is the forward input.
pub fn pool_backward(ctx: &GpuContext, p: PoolParams, lengths: View, d_features: View, y: View, dy: View) -> Result<Op> {
    let grid = grid_1d((p.batch * p.features) as usize, ShaderFamily::WG_1D);
    build_op(ctx, ShaderFamily::Pool, "pool_backward", &p, &[(1, lengths), (2, d_features), (3, dy), (4, y)], grid)
}
