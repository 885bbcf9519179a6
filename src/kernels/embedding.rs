//! Embedding gather and its deterministic scatter-add gradient (shaders/embedding.wgsl).

use super::build_op;
use crate::error::Result;
use crate::gpu::{GpuContext, ShaderFamily, View, grid_1d};
use crate::graph::Op;

/// Uniform block of both embedding entry points (the shader's `Params`).
#[repr(C)]
#[derive(Clone, Copy, Debug, bytemuck::Pod, bytemuck::Zeroable)]
pub struct EmbeddingParams {
    /// Batch rows B (gather only).
    pub batch: u32,
    /// Timesteps T, the row length of `ids` (gather only).
    pub steps: u32,
    /// Embedding width E: the row length of the table, `x` and `dx`.
    pub dim: u32,
    /// Number of token segments (scatter-add only).
    pub segments: u32,
}

/// `x[T,B,E]` = `table[ids[B,T]]`.
pub fn gather(ctx: &GpuContext, batch: usize, steps: usize, dim: usize, ids: View, table: View, x: View) -> Result<Op> {
    let p = EmbeddingParams { batch: batch as u32, steps: steps as u32, dim: dim as u32, segments: 0 };
    build_op(
        ctx,
        ShaderFamily::Embedding,
        "embedding_gather",
        &p,
        &[(1, ids), (2, table), (3, x)],
        grid_1d(batch * steps * dim, ShaderFamily::WG_1D),
    )
}

/// The scatter-add grid for `segments` distinct tokens: `(ceil(dim / EMBED_WG), segments, 1)`.
pub fn scatter_grid(dim: usize, segments: usize) -> [u32; 3] {
    [(dim as u32).div_ceil(ShaderFamily::EMBED_WG), segments as u32, 1]
}

/// Buffers of the token-grouped position list built by [`TokenSegments`].
pub struct SegmentViews<'a> {
    /// `[U+1]` u32: segment u covers `positions[offsets[u]..offsets[u+1]]`.
    pub offsets: View<'a>,
    /// `[N]` u32: rows `t·B+b` of `dx`, grouped by token.
    pub positions: View<'a>,
    /// `[U]` u32: the token id of each segment.
    pub tokens: View<'a>,
}

/// `d_table[tok]` += Σ `dx[positions of tok]`. The number of segments changes per batch: update the
/// op's params and grid with [`EmbeddingParams`] and [`scatter_grid`] before each step.
pub fn scatter_add(ctx: &GpuContext, dim: usize, segments: usize, seg: &SegmentViews, dx: View, d_table: View) -> Result<Op> {
    let p = EmbeddingParams { batch: 0, steps: 0, dim: dim as u32, segments: segments as u32 };
    let views = [(1, seg.offsets), (2, seg.positions), (3, seg.tokens), (4, dx), (5, d_table)];
    build_op(ctx, ShaderFamily::Embedding, "embedding_scatter_add", &p, &views, scatter_grid(dim, segments))
}

/// Positions grouped by token, host-side (CSR): what the scatter-add kernel walks.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TokenSegments {
    /// Start of each segment in `positions`, plus the total count at the end (length U+1).
    pub offsets: Vec<u32>,
    /// Time-major row `t·B+b` of every valid position, sorted by (token, row).
    pub positions: Vec<u32>,
    /// The distinct tokens in ascending order, one per segment (length U).
    pub tokens: Vec<u32>,
}

impl TokenSegments {
    /// Groups the valid positions (t < `lengths[b]`) of `ids` `[B,T]` by token. Positions are rows of the
    /// time-major activations: t*B + b. Sorting is stable, so each token's positions stay in order.
    pub fn build(ids: &[u32], lengths: &[u32], batch: usize, steps: usize) -> Self {
        let mut pairs: Vec<(u32, u32)> = Vec::with_capacity(ids.len());
        for b in 0..batch {
            for t in 0..(lengths[b] as usize).min(steps) {
                pairs.push((ids[b * steps + t], (t * batch + b) as u32));
            }
        }
        pairs.sort_by_key(|&(tok, pos)| (tok, pos));
        let mut seg = Self::default();
        for (i, &(tok, pos)) in pairs.iter().enumerate() {
            if i == 0 || pairs[i - 1].0 != tok {
                seg.offsets.push(i as u32);
                seg.tokens.push(tok);
            }
            seg.positions.push(pos);
        }
        seg.offsets.push(pairs.len() as u32);
        seg
    }

    /// Number of segments U (distinct tokens among the valid positions).
    pub fn segments(&self) -> usize {
        self.tokens.len()
    }
}
