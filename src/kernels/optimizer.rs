//! Adam / AdamW over the flat parameter store (shaders/optimizer.wgsl).

use super::build_op;
use crate::error::Result;
use crate::gpu::{grid_1d, GpuContext, ShaderFamily, View};
use crate::graph::Op;

/// How weight decay is applied.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WeightDecay {
    #[default]
    None,
    /// Adam's L2 penalty: g += wd·p (PyTorch `Adam(weight_decay=…)`).
    L2,
    /// Decoupled: p -= lr·wd·p (PyTorch `AdamW`).
    Decoupled,
}

#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct AdamConfig {
    pub lr: f32,
    pub beta1: f32,
    pub beta2: f32,
    pub eps: f32,
    pub decay: WeightDecay,
    /// Clip the global gradient norm to this value (0 = no clipping).
    pub max_grad_norm: f32,
}

impl Default for AdamConfig {
    fn default() -> Self {
        Self { lr: 1e-3, beta1: 0.9, beta2: 0.999, eps: 1e-8, decay: WeightDecay::None, max_grad_norm: 0.0 }
    }
}

#[repr(C)]
#[derive(Clone, Copy, Debug, bytemuck::Pod, bytemuck::Zeroable)]
pub struct AdamParams {
    pub n_total: u32,
    pub n_tensors: u32,
    pub decay_mode: u32,
    pub norm_slot: u32,
    pub lr: f32,
    pub beta1: f32,
    pub beta2: f32,
    pub eps: f32,
    pub bc1: f32,
    pub bc2: f32,
    pub max_norm: f32,
    _pad: u32,
}

impl AdamParams {
    /// Parameters for update number `step` (1-based), bias corrections computed in f64.
    pub fn new(cfg: &AdamConfig, n_total: usize, n_tensors: usize, norm_slot: usize, step: u64, lr: f32) -> Self {
        let bc = |beta: f32| (1.0 - (beta as f64).powi(step.min(i32::MAX as u64) as i32)) as f32;
        Self {
            n_total: n_total as u32,
            n_tensors: n_tensors as u32,
            decay_mode: match cfg.decay {
                WeightDecay::None => 0,
                WeightDecay::L2 => 1,
                WeightDecay::Decoupled => 2,
            },
            norm_slot: norm_slot as u32,
            lr,
            beta1: cfg.beta1,
            beta2: cfg.beta2,
            eps: cfg.eps,
            bc1: bc(cfg.beta1),
            bc2: bc(cfg.beta2),
            max_norm: cfg.max_grad_norm,
            _pad: 0,
        }
    }
}

/// One row of the tensor table (mirrors the shader's TensorEntry).
#[repr(C)]
#[derive(Clone, Copy, Debug, bytemuck::Pod, bytemuck::Zeroable)]
pub struct TensorEntry {
    pub offset: u32,
    pub len: u32,
    pub frozen: u32,
    pub lr_scale: f32,
    pub weight_decay: f32,
    pub row_len: u32,
    pub mask_offset: u32,
    pub _pad: u32,
}

pub struct AdamViews<'a> {
    pub tensors: View<'a>,
    pub row_mask: View<'a>,
    pub stats: View<'a>,
    pub params: View<'a>,
    pub grads: View<'a>,
    pub m: View<'a>,
    pub v: View<'a>,
}

pub fn adam_step(ctx: &GpuContext, p: AdamParams, v: &AdamViews) -> Result<Op> {
    let views = [(1, v.tensors), (2, v.row_mask), (3, v.stats), (4, v.params), (5, v.grads), (6, v.m), (7, v.v)];
    build_op(ctx, ShaderFamily::Optimizer, "adam_step", &p, &views, grid_1d(p.n_total as usize, 256))
}
