//! Fused LSTM layer launchers (shaders/lstm.wgsl): one dispatch per direction per sequence.

use super::build_op;
use crate::error::Result;
use crate::gpu::{GpuContext, ShaderFamily, View};
use crate::graph::Op;

#[repr(C)]
#[derive(Clone, Copy, Debug, bytemuck::Pod, bytemuck::Zeroable)]
pub struct LstmParams {
    pub batch: u32,
    pub steps: u32,
    pub hidden: u32,
    pub reverse: u32,
    /// Row stride of y / dy (dirs × H) and this direction's first column in it.
    pub y_stride: u32,
    pub y_col: u32,
    _pad: [u32; 2],
}

impl LstmParams {
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
    pub w_hh: View<'a>,
    pub lengths: View<'a>,
    pub gates: View<'a>,
    pub states: View<'a>,
    pub pre: View<'a>,
    pub state0: View<'a>,
    pub y: View<'a>,
}

pub fn lstm_forward(ctx: &GpuContext, p: LstmParams, a: &LstmForwardArgs) -> Result<Op> {
    let views = [(1, a.w_hh), (2, a.lengths), (3, a.gates), (4, a.states), (5, a.pre), (6, a.state0), (7, a.y)];
    build_op(ctx, ShaderFamily::Lstm, "lstm_forward", &p, &views, [p.batch, 1, 1])
}

pub struct LstmBackwardArgs<'a> {
    pub w_hh: View<'a>,
    pub lengths: View<'a>,
    pub gates: View<'a>,
    pub states: View<'a>,
    pub dy: View<'a>,
    pub d_state_n: View<'a>,
    pub dgates: View<'a>,
    pub d_state0: View<'a>,
}

pub fn lstm_backward(ctx: &GpuContext, p: LstmParams, a: &LstmBackwardArgs) -> Result<Op> {
    let views = [
        (1, a.w_hh), (2, a.lengths), (3, a.gates), (4, a.states),
        (5, a.dy), (6, a.d_state_n), (7, a.dgates), (8, a.d_state0),
    ];
    build_op(ctx, ShaderFamily::Lstm, "lstm_backward", &p, &views, [p.batch, 1, 1])
}
