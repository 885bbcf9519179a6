//! Inverted dropout from a counter-based generator (shaders/dropout.wgsl).

use super::build_op;
use crate::error::Result;
use crate::gpu::{GpuContext, ShaderFamily, View, grid_1d};
use crate::graph::Op;

/// Uniform block of the dropout entry point (the shader's `Params`).
#[repr(C)]
#[derive(Clone, Copy, Debug, bytemuck::Pod, bytemuck::Zeroable)]
pub struct DropoutParams {
    /// Number of elements N.
    pub n: u32,
    /// An element is kept when its hash is ≥ this (round(p · 2³²)).
    pub threshold: u32,
    /// Factor for kept elements, 1 / (1 − p).
    pub scale: f32,
    /// Mask seed; with `counter` and the element index it keys each element's hash.
    pub seed: u32,
    /// Changes every step, so each step draws a fresh mask.
    pub counter: u32,
    _pad: [u32; 3],
}

impl DropoutParams {
    /// Drop probability `p` in [0, 1).
    pub fn new(n: usize, p: f32, seed: u32, counter: u32) -> Self {
        let threshold = (p as f64 * 4294967296.0).round().min(u32::MAX as f64) as u32;
        Self { n: n as u32, threshold, scale: 1.0 / (1.0 - p), seed, counter, _pad: [0; 3] }
    }
}

/// output = mask · scale · input; the same call with dy → dx is the backward pass.
pub fn dropout(ctx: &GpuContext, p: DropoutParams, input: View, output: View) -> Result<Op> {
    build_op(ctx, ShaderFamily::Dropout, "dropout", &p, &[(1, input), (2, output)], grid_1d(p.n as usize, ShaderFamily::WG_1D))
}
