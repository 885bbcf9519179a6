//! Adam / AdamW over the flat parameter store (shaders/optimizer.wgsl).

use super::build_op;
use crate::config::{AdamConfig, WeightDecay};
use crate::error::Result;
use crate::gpu::{GpuContext, ShaderFamily, View, grid_1d};
use crate::graph::Op;

/// Uniform block of `adam_step` (the shader's `Params`).
#[repr(C)]
#[derive(Clone, Copy, Debug, bytemuck::Pod, bytemuck::Zeroable)]
pub struct AdamParams {
    /// Length of the flat store in elements, alignment padding included (one thread each).
    pub n_total: u32,
    /// Rows in the tensor table.
    pub n_tensors: u32,
    /// 0 none, 1 L2 (Adam), 2 decoupled (AdamW); see [`WeightDecay`].
    pub decay_mode: u32,
    /// Stats slot holding the squared global gradient norm, read when `max_norm > 0`.
    pub norm_slot: u32,
    /// Learning rate of this update, before each tensor's `lr_scale`.
    pub lr: f32,
    /// First-moment decay β1.
    pub beta1: f32,
    /// Second-moment decay β2.
    pub beta2: f32,
    /// Denominator epsilon.
    pub eps: f32,
    /// Bias correction 1 − β1^t.
    pub bc1: f32,
    /// Bias correction 1 − β2^t.
    pub bc2: f32,
    /// Global gradient-norm clip (0 = no clipping).
    pub max_norm: f32,
    /// The factor the stored gradients carry (loss scaling, [`crate::params::ParamStore::grad_scale`]);
    /// divided out before clipping and the update.
    pub grad_scale: f32,
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
            grad_scale: 1.0,
        }
    }

    /// These parameters for gradients stored at `grad_scale` × their value.
    pub fn with_grad_scale(self, grad_scale: f32) -> Self {
        Self { grad_scale, ..self }
    }
}

/// One row of the tensor table (mirrors the shader's TensorEntry).
#[repr(C)]
#[derive(Clone, Copy, Debug, bytemuck::Pod, bytemuck::Zeroable)]
pub struct TensorEntry {
    /// Element offset of the tensor in the flat store (the table is sorted by it).
    pub offset: u32,
    /// Number of elements.
    pub len: u32,
    /// Nonzero: no update, no moment update, no weight decay.
    pub frozen: u32,
    /// Factor on the learning rate (discriminative fine-tuning).
    pub lr_scale: f32,
    /// Decay coefficient, applied as [`AdamParams::decay_mode`] says.
    pub weight_decay: f32,
    /// Elements per row, for the row mask (`len` / rows).
    pub row_len: u32,
    /// Index of the tensor's first row in the row-mask buffer, or `u32::MAX` for no row mask.
    pub mask_offset: u32,
    /// Padding to 32 bytes; always 0.
    pub _pad: u32,
}

/// Buffers bound by [`adam_step`]; `params`, `grads`, `m` and `v` share the store's layout.
pub struct AdamViews<'a> {
    /// The tensor table, `[n_tensors]` [`TensorEntry`].
    pub tensors: View<'a>,
    /// Per-row trainable flags (u32, nonzero = trainable) of every row-masked tensor.
    pub row_mask: View<'a>,
    /// Stats buffer whose `norm_slot` holds the squared gradient norm.
    pub stats: View<'a>,
    /// Parameter values, updated in place.
    pub params: View<'a>,
    /// Gradients, read only (f32, or f16 for an f16 model).
    pub grads: View<'a>,
    /// First moments, updated in place.
    pub m: View<'a>,
    /// Second moments, updated in place.
    pub v: View<'a>,
    /// An f16 model's working copy of the parameters (f16), written from each updated value.
    pub work: Option<View<'a>>,
}

/// One Adam / AdamW update of the whole store in a single dispatch, grid `grid_1d(n_total)`; with a
/// working copy, `adam_step_work` also writes it.
pub fn adam_step(ctx: &GpuContext, p: AdamParams, v: &AdamViews) -> Result<Op> {
    let mut views = vec![(1, v.tensors), (2, v.row_mask), (3, v.stats), (4, v.params), (5, v.grads), (6, v.m), (7, v.v)];
    let entry = match v.work {
        Some(work) => {
            views.push((8, work));
            "adam_step_work"
        }
        None => "adam_step",
    };
    build_op(ctx, ShaderFamily::Optimizer, entry, &p, &views, grid_1d(p.n_total as usize, ShaderFamily::WG_1D))
}
