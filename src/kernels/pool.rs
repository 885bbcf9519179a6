//! Sequence features for the classifier head (shaders/pool.wgsl).

use super::build_op;
use crate::error::{Error, Result};
use crate::gpu::{grid_1d, GpuContext, ShaderFamily, View};
use crate::graph::Op;

/// How the LSTM outputs of a row become one feature vector.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Pooling {
    /// The hidden state at the last valid step (reverse direction: at t = 0) — PyTorch's h_n.
    #[default]
    Last,
    /// Element-wise max over the valid steps.
    Max,
    /// Mean over the valid steps.
    Mean,
    /// `[last, max, mean]` side by side (ULMFiT's concat pooling): 3× the width.
    Concat,
}

impl Pooling {
    /// The shader's bit mask (bit 0 last, bit 1 max, bit 2 mean).
    fn mode(self) -> u32 {
        match self {
            Self::Last => 1,
            Self::Max => 2,
            Self::Mean => 4,
            Self::Concat => 7,
        }
    }

    /// Feature vectors per row (the head's input is `parts × dirs × H` wide).
    pub fn parts(self) -> usize {
        self.mode().count_ones() as usize
    }

    /// The lowercase name used on the command line and in configs (inverse of `from_str`).
    pub fn name(self) -> &'static str {
        match self {
            Self::Last => "last",
            Self::Max => "max",
            Self::Mean => "mean",
            Self::Concat => "concat",
        }
    }
}

impl std::str::FromStr for Pooling {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "last" => Ok(Self::Last),
            "max" => Ok(Self::Max),
            "mean" => Ok(Self::Mean),
            "concat" => Ok(Self::Concat),
            _ => Err(Error::InvalidInput(format!("unknown pooling '{s}': expected last, max, mean or concat"))),
        }
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
            mode: pooling.mode(),
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
