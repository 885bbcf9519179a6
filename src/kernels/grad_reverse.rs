//! Gradient reversal for domain-adversarial training (shaders/grad_reverse.wgsl).

use super::build_op;
use crate::error::Result;
use crate::gpu::{GpuContext, ShaderFamily, View, grid_1d};
use crate::graph::Op;

/// Uniform block of the gradient-reversal entry point (the shader's `Params`).
#[repr(C)]
#[derive(Clone, Copy, Debug, bytemuck::Pod, bytemuck::Zeroable)]
pub struct GradReverseParams {
    /// Number of feature values N (batch × feature width).
    pub n: u32,
    /// Reversal strength λ: the domain gradient is added scaled by −λ.
    pub lambda: f32,
    _pad: [u32; 2],
}

impl GradReverseParams {
    /// Parameters for `n` values and strength `lambda`.
    pub fn new(n: usize, lambda: f32) -> Self {
        Self { n: n as u32, lambda, _pad: [0; 2] }
    }
}

/// d_features += −λ · d_domain_features (λ can change per step: rewrite the params).
pub fn grad_reverse(ctx: &GpuContext, n: usize, lambda: f32, d_domain_features: View, d_features: View) -> Result<Op> {
    let p = GradReverseParams::new(n, lambda);
    build_op(
        ctx,
        ShaderFamily::GradReverse,
        "grad_reverse",
        &p,
        &[(1, d_domain_features), (2, d_features)],
        grid_1d(n, ShaderFamily::WG_1D),
    )
}
