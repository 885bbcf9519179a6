//! GPU timing with timestamp queries: a pair of timestamps around each timed compute pass.

use super::{GpuContext, read_buffer};
use crate::error::Result;

/// Times up to `capacity` compute passes. Exists only where the device has TIMESTAMP_QUERY.
pub struct GpuTimer {
    set: wgpu::QuerySet,
    resolve: wgpu::Buffer,
    capacity: u32,
    used: u32,
    period_ns: f64,
}

impl GpuTimer {
    /// A timer for up to `capacity` passes, or `None` when the device lacks TIMESTAMP_QUERY.
    pub fn new(ctx: &GpuContext, capacity: u32) -> Option<Self> {
        if !ctx.features().contains(wgpu::Features::TIMESTAMP_QUERY) {
            return None;
        }
        let set = ctx.device.create_query_set(&wgpu::QuerySetDescriptor {
            label: Some("pass timer"),
            ty: wgpu::QueryType::Timestamp,
            count: capacity * 2,
        });
        let resolve = ctx.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("pass timer resolve"),
            size: (capacity as u64 * 16).next_multiple_of(wgpu::QUERY_RESOLVE_BUFFER_ALIGNMENT),
            usage: wgpu::BufferUsages::QUERY_RESOLVE | wgpu::BufferUsages::COPY_SRC,
            mapped_at_creation: false,
        });
        let period_ns = ctx.queue.get_timestamp_period() as f64;
        Some(Self { set, resolve, capacity, used: 0, period_ns })
    }

    /// Timestamp writes for the next pass (begin and end), or None once the capacity is used up.
    pub fn next_pass(&mut self) -> Option<wgpu::ComputePassTimestampWrites<'_>> {
        if self.used == self.capacity {
            return None;
        }
        let i = self.used;
        self.used += 1;
        Some(wgpu::ComputePassTimestampWrites {
            query_set: &self.set,
            beginning_of_pass_write_index: Some(2 * i),
            end_of_pass_write_index: Some(2 * i + 1),
        })
    }

    /// Records the copy of the timestamps into the resolve buffer; call once at the end.
    pub fn resolve(&self, encoder: &mut wgpu::CommandEncoder) {
        if self.used > 0 {
            encoder.resolve_query_set(&self.set, 0..self.used * 2, &self.resolve, 0);
        }
    }

    /// Milliseconds of each timed pass, in order; resets the timer for reuse.
    pub fn read_ms(&mut self, ctx: &GpuContext) -> Result<Vec<f64>> {
        let ticks: Vec<u64> = read_buffer(ctx, &self.resolve, 0, self.used as usize * 2)?;
        self.used = 0;
        Ok(ticks.chunks(2).map(|p| p[1].saturating_sub(p[0]) as f64 * self.period_ns / 1e6).collect())
    }
}
