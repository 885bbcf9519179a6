//! The device side of the embedding gradient: the token-grouped position lists the scatter-add
//! kernel walks, rebuilt from each batch's tokens (shared by the classifier and the language model).

use crate::error::Result;
use crate::gpu::{GpuContext, View};
use crate::graph::Op;
use crate::kernels::embedding::{EmbeddingParams, SegmentViews, TokenSegments, scatter_grid};

/// Buffers for the segments of up to `rows` token positions: offsets `[rows+1]`, positions `[rows]`
/// and tokens `[rows]`, u32 each.
pub struct SegmentBuffers {
    offsets: wgpu::Buffer,
    positions: wgpu::Buffer,
    tokens: wgpu::Buffer,
}

impl SegmentBuffers {
    /// Room for `rows` positions (batch × steps).
    pub fn new(ctx: &GpuContext, rows: usize) -> Result<Self> {
        let bytes = |n: usize| crate::config::validate::bytes_of("segments", &[n]);
        Ok(Self {
            offsets: ctx.storage_buffer("segment offsets", bytes(rows + 1)?)?,
            positions: ctx.storage_buffer("segment positions", bytes(rows)?)?,
            tokens: ctx.storage_buffer("segment tokens", bytes(rows)?)?,
        })
    }

    /// The views the scatter-add op binds.
    pub fn views(&self) -> SegmentViews<'_> {
        SegmentViews { offsets: View::whole(&self.offsets), positions: View::whole(&self.positions), tokens: View::whole(&self.tokens) }
    }

    /// Uploads the segments of a `[batch, steps]` id matrix with its row lengths; returns how many
    /// there are (for [`point_scatter`]).
    pub fn upload(&self, ctx: &GpuContext, ids: &[u32], lengths: &[u32], batch: usize, steps: usize) -> usize {
        let seg = TokenSegments::build(ids, lengths, batch, steps);
        let q = &ctx.queue;
        q.write_buffer(&self.offsets, 0, bytemuck::cast_slice(&seg.offsets));
        q.write_buffer(&self.positions, 0, bytemuck::cast_slice(&seg.positions));
        q.write_buffer(&self.tokens, 0, bytemuck::cast_slice(&seg.tokens));
        seg.segments()
    }
}

/// Points a recorded scatter-add op (`dim` wide) at the `segments` just uploaded: its parameters and
/// grid follow each batch's distinct tokens.
pub fn point_scatter(queue: &wgpu::Queue, scatter: &mut Op, dim: usize, segments: usize) {
    scatter.workgroups = scatter_grid(dim, segments);
    scatter.write_params(queue, &EmbeddingParams { batch: 0, steps: 0, dim: dim as u32, segments: segments as u32 });
}
