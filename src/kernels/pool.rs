//! Sequence features for the classifier head (shaders/pool.wgsl).

use super::build_op;
use crate::error::Result;
use crate::gpu::{grid_1d, GpuContext, ShaderFamily, View};
use crate::graph::Op;

#[repr(C)]
#[derive(Clone, Copy, Debug, bytemuck::Pod, bytemuck::Zeroable)]
pub struct PoolParams {
    pub batch: u32,
    pub steps: u32,
    pub hidden: u32,
    pub features: u32,
}

impl PoolParams {
    pub fn new(batch: usize, steps: usize, hidden: usize, dirs: usize) -> Self {
        Self { batch: batch as u32, steps: steps as u32, hidden: hidden as u32, features: (hidden * dirs) as u32 }
    }
}

/// features[B,F] = y at each row's last valid step (forward half) and at t=0 (reverse half).
pub fn pool_last(ctx: &GpuContext, p: PoolParams, lengths: View, y: View, features: View) -> Result<Op> {
    let grid = grid_1d((p.batch * p.features) as usize, 256);
    build_op(ctx, ShaderFamily::Pool, "pool_last", &p, &[(1, lengths), (2, y), (3, features)], grid)
}

/// dy += scatter of d_features (dy must be cleared first).
pub fn pool_last_backward(ctx: &GpuContext, p: PoolParams, lengths: View, d_features: View, dy: View) -> Result<Op> {
    let grid = grid_1d((p.batch * p.features) as usize, 256);
    build_op(ctx, ShaderFamily::Pool, "pool_last_backward", &p, &[(1, lengths), (2, d_features), (3, dy)], grid)
}
