//! Kernel launchers: one module per WGSL family. Each function checks nothing about the data (the
//! model layer does that) and returns an [`Op`] — pipeline, bind group and grid — for a schedule.
//! The `*Params` structs mirror the `Params` uniform blocks of the shaders field by field (their sizes
//! are checked against naga's layout in kernels-tests/shaders.rs). Workgroup sizes, tile and slice
//! sizes come from [`ShaderFamily`]'s constants, which are also emitted into every shader.

pub mod ceiling;
pub mod dropout;
pub mod embedding;
pub mod grad_reverse;
pub mod loss;
pub mod lstm;
pub mod matmul;
pub mod optimizer;
pub mod pool;
pub mod reduce;
pub mod tune;

use crate::error::{Error, Result};
use crate::gpu::{GpuContext, HalfBindings, ShaderFamily, View};
use crate::graph::Op;

/// Loop back-edges that llvmpipe (lavapipe, and Mesa's GL over it) lets one shader invocation take
/// over all its loops together; past them every loop stops after one iteration, and nothing says so
/// (Mesa's gallivm `LP_MAX_TGSI_LOOP_ITERATIONS`; measured: the tiled GEMM right at K = 40,000 and
/// wrong at 60,000, where it needs 21 back-edges per 16 of K).
pub const CPU_LOOP_LIMIT: u64 = 65535;

/// On a CPU adapter, refuses an op whose invocations need more than [`CPU_LOOP_LIMIT`] loop
/// back-edges (`back_edges`, counted from its kernel's loops): it would come back cut short without a
/// word. `what` names the op and its size for the error. Nothing to check on a GPU.
pub(crate) fn check_cpu_loops(ctx: &GpuContext, back_edges: u64, what: impl FnOnce() -> String) -> Result<()> {
    if ctx.info.device_type == wgpu::DeviceType::Cpu && back_edges > CPU_LOOP_LIMIT {
        return Err(Error::CpuLoopLimit { op: what(), back_edges, adapter: ctx.info.name.clone() });
    }
    Ok(())
}

/// Builds an op: binding 0 is the uniform block `params`, then `(binding, view)` pairs; the pipeline
/// reads the f16 views (`View::half`) as f16 tensors. An f16 view at a binding where no entry point
/// of the family declares a tensor is refused; one where another entry point of the family declares a
/// tensor but this one does not (lstm.wgsl's 3–5, pool.wgsl's 2–3) is not caught here: the launchers
/// pass f16 views at tensor bindings only.
pub(crate) fn build_op<P: bytemuck::Pod>(
    ctx: &GpuContext,
    family: ShaderFamily,
    entry: &'static str,
    params: &P,
    views: &[(u32, View<'_>)],
    workgroups: [u32; 3],
) -> Result<Op> {
    let half = HalfBindings(views.iter().filter(|(_, view)| view.half).fold(0, |m, (binding, _)| m | 1 << binding));
    let tensors = family.tensor_bindings();
    if half.0 & !tensors.0 != 0 {
        return Err(Error::InvalidInput(format!(
            "{}:{entry}: an f16 view at a binding that takes f32 only (f16 bindings {:#b}, tensor bindings {:#b})",
            family.file_name(),
            half.0,
            tensors.0
        )));
    }
    let pipeline = ctx.pipeline(family, half, entry)?;
    let uniform = ctx.uniform_buffer(entry, params);
    let mut entries = vec![wgpu::BindGroupEntry { binding: 0, resource: uniform.as_entire_binding() }];
    entries.extend(views.iter().map(|(binding, view)| wgpu::BindGroupEntry { binding: *binding, resource: view.binding() }));
    let bind_group = ctx.device.create_bind_group(&wgpu::BindGroupDescriptor {
        label: Some(entry),
        layout: &pipeline.get_bind_group_layout(0),
        entries: &entries,
    });
    Ok(Op { label: entry, pipeline, bind_group, workgroups, params: Some(uniform) })
}
