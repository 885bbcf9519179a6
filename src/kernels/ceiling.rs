//! The adapter's ceilings (shaders/ceiling.wgsl): an FMA-bound kernel and a streaming kernel, the
//! roofs that `bench` reports every kernel against.

use super::build_op;
use crate::error::Result;
use crate::gpu::{GpuContext, ShaderFamily, View, grid_1d};
use crate::graph::Op;

/// Uniform block of both entry points (the shader's `Params`).
#[repr(C)]
#[derive(Clone, Copy, Debug, bytemuck::Pod, bytemuck::Zeroable)]
pub struct CeilingParams {
    /// Threads (fma_peak) or vec4 elements (stream_triad).
    pub n: u32,
    /// Rounds of 8 vec4 FMAs per thread (fma_peak).
    pub iters: u32,
    _p: [u32; 2],
    /// The multiplier.
    pub scale: f32,
    _q: [f32; 3],
}

impl CeilingParams {
    /// `n` threads or elements, `iters` rounds.
    pub fn new(n: usize, iters: u32) -> Self {
        Self { n: n as u32, iters, _p: [0; 2], scale: 0.999, _q: [0.0; 3] }
    }
    /// Floating-point operations of `fma_peak`: 8 chains × 4 lanes × 2 per FMA per round.
    pub fn fma_flops(&self) -> f64 {
        self.n as f64 * self.iters as f64 * 64.0
    }
    /// Bytes moved by `stream_triad`: two vec4 read and one written per element.
    pub fn triad_bytes(&self) -> f64 {
        self.n as f64 * 48.0
    }
}

/// `fma_peak` over `p.n` threads; `dst` holds at least `p.n` vec4.
pub fn fma_peak(ctx: &GpuContext, p: CeilingParams, dst: View) -> Result<Op> {
    build_op(ctx, ShaderFamily::Ceiling, "fma_peak", &p, &[(2, dst)], grid_1d(p.n as usize, ShaderFamily::WG_1D))
}

/// `stream_triad` over `p.n` vec4 elements of `src` and `dst`.
pub fn stream_triad(ctx: &GpuContext, p: CeilingParams, src: View, dst: View) -> Result<Op> {
    build_op(ctx, ShaderFamily::Ceiling, "stream_triad", &p, &[(1, src), (2, dst)], grid_1d(p.n as usize, ShaderFamily::WG_1D))
}
