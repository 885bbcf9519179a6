//! The host-side graph: kernels as data, recorded into as few passes and submits as possible.
//!
//! An [`Op`] is one dispatch: a cached pipeline, a bind group built once, a grid and (optionally) its
//! uniform parameter block. A [`Schedule`] is an ordered list of ops recorded into a single compute
//! pass; wgpu inserts the barriers between dependent dispatches inside the pass.

use web_time::Instant;

use crate::error::Result;
use crate::gpu::{GpuContext, GpuTimer};

/// One dispatch, ready to record: built by the launchers in [`crate::kernels`].
pub struct Op {
    /// The kernel's entry-point name (also the label of its pipeline and bind group).
    pub label: &'static str,
    pub(crate) pipeline: wgpu::ComputePipeline,
    pub(crate) bind_group: wgpu::BindGroup,
    /// Workgroup counts (x, y, z); may be changed between steps (a zero skips the op).
    pub workgroups: [u32; 3],
    pub(crate) params: Option<wgpu::Buffer>,
}

impl Op {
    /// Rewrites the op's uniform parameters (staged by the queue, applied at the next submit).
    pub fn write_params<T: bytemuck::Pod>(&self, queue: &wgpu::Queue, value: &T) {
        if let Some(buffer) = &self.params {
            queue.write_buffer(buffer, 0, bytemuck::bytes_of(value));
        }
    }

    fn record(&self, pass: &mut wgpu::ComputePass<'_>) {
        pass.set_pipeline(&self.pipeline);
        pass.set_bind_group(0, &self.bind_group, &[]);
        let [x, y, z] = self.workgroups;
        pass.dispatch_workgroups(x, y, z);
    }
}

/// Ops in execution order.
#[derive(Default)]
pub struct Schedule {
    /// The ops, dispatched in this order.
    pub ops: Vec<Op>,
}

impl Schedule {
    /// Appends `op` and returns its index, for rewriting its params or grid later.
    pub fn push(&mut self, op: Op) -> usize {
        self.ops.push(op);
        self.ops.len() - 1
    }

    /// Appends all of `other`'s ops, after this schedule's.
    pub fn extend(&mut self, other: Schedule) {
        self.ops.extend(other.ops);
    }

    /// Dispatches that actually run (ops with an empty grid are skipped).
    pub fn dispatch_count(&self) -> usize {
        self.ops.iter().filter(|op| op.workgroups.iter().all(|&n| n > 0)).count()
    }

    /// Records every op into one compute pass.
    pub fn record(&self, encoder: &mut wgpu::CommandEncoder, label: &str) {
        self.record_pass(encoder, label, None);
    }

    /// Records every op into one compute pass with GPU timestamps at its start and end.
    pub fn record_timed_pass(&self, encoder: &mut wgpu::CommandEncoder, label: &str, timer: &mut GpuTimer) {
        self.record_pass(encoder, label, timer.next_pass());
    }

    /// Records every op in a pass of its own with timestamps around it (for a per-kernel profile:
    /// the extra passes cost time, so the total is not the schedule's time). Returns the labels of the
    /// timed ops in order; the timer needs one slot per op.
    pub fn record_profiled(&self, encoder: &mut wgpu::CommandEncoder, timer: &mut GpuTimer) -> Vec<&'static str> {
        let running = self.ops.iter().filter(|op| op.workgroups.iter().all(|&n| n > 0));
        running
            .map(|op| {
                let mut pass =
                    encoder.begin_compute_pass(&wgpu::ComputePassDescriptor { label: Some(op.label), timestamp_writes: timer.next_pass() });
                op.record(&mut pass);
                op.label
            })
            .collect()
    }

    /// Runs the schedule `runs` times (one pass, one submit and a wait each) and returns the
    /// wall-clock milliseconds and, with a timer, the GPU milliseconds of each run. Callers discard a
    /// first run where it compiles pipelines (drivers such as lavapipe compile on first dispatch).
    pub fn time_runs(&self, ctx: &GpuContext, runs: usize, timer: &mut Option<GpuTimer>) -> Result<Vec<(f64, Option<f64>)>> {
        let mut times = Vec::with_capacity(runs);
        for _ in 0..runs {
            let mut encoder = ctx.device.create_command_encoder(&Default::default());
            let start = Instant::now();
            match timer.as_mut() {
                Some(t) => {
                    self.record_timed_pass(&mut encoder, "timed", t);
                    t.resolve(&mut encoder);
                }
                None => self.record(&mut encoder, "timed"),
            }
            ctx.queue.submit([encoder.finish()]);
            ctx.wait_idle()?;
            let wall_ms = start.elapsed().as_secs_f64() * 1e3;
            let gpu_ms = match timer.as_mut() {
                Some(t) => t.read_ms(ctx)?.first().copied(),
                None => None,
            };
            times.push((wall_ms, gpu_ms));
        }
        Ok(times)
    }

    fn record_pass(&self, encoder: &mut wgpu::CommandEncoder, label: &str, timestamps: Option<wgpu::ComputePassTimestampWrites<'_>>) {
        let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor { label: Some(label), timestamp_writes: timestamps });
        for op in self.ops.iter().filter(|op| op.workgroups.iter().all(|&n| n > 0)) {
            op.record(&mut pass);
        }
    }
}

/// Work recorded for one training step, as reported by `bench` and the training log.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StepCounts {
    /// Compute dispatches that run.
    pub dispatches: usize,
    /// Compute passes recorded.
    pub passes: usize,
    /// Queue submissions.
    pub submits: usize,
}
