// prelude.wgsl — helpers shared by every kernel. The host (src/gpu/shaders.rs) prepends this file
// to each kernel family before compiling, so no kernel carries its own copy. Ahead of it the host
// emits the shared constants (WG_1D, WG_REDUCE, EMBED_WG, LSTM_WG, LSTM_ROWS, LSTM_STEP_ROWS,
// GEMM_TILE, GEMM_TILE_SMALL) as `const`s generated from ShaderFamily's associated constants, which
// the launchers' grids use too.

const NONE: u32 = 0xffffffffu;

// The largest finite f16: f16 tensors store values clamped to ±F16_MAX (src/gpu/shaders.rs).
const F16_MAX: f32 = 65504.0;

fn sigmoid(x: f32) -> f32 {
    return 1.0 / (1.0 + exp(-x));
}

// tanh that cannot overflow: exp() only ever sees a non-positive argument.
// (Some drivers evaluate the builtin as (e^2x-1)/(e^2x+1) and return NaN for large |x|.)
fn tanh_stable(x: f32) -> f32 {
    let e = exp(-2.0 * abs(x));
    let t = (1.0 - e) / (1.0 + e);
    return select(-t, t, x >= 0.0);
}

// Gradients below TINY in magnitude are stored as 0 by the recurrence's backward kernels. Walking a
// long sequence back, the state gradients shrink step after step into f32's denormal range (below
// 1.2e-38), where a CPU (lavapipe) takes ~100× longer per operation: at B = 1, T = 256, H = 256 the
// slice backward took 537 ms of a 773 ms training step, 104 of 255 once flushed (results/bench). GPUs
// flush denormals anyway; a gradient of 1e-30 changes no f32 weight.
const TINY: f32 = 1e-30;
fn flush_tiny(x: f32) -> f32 { return select(x, 0.0, abs(x) < TINY); }
fn flush_tiny4(v: vec4<f32>) -> vec4<f32> { return select(v, vec4<f32>(0.0), abs(v) < vec4<f32>(TINY)); }

// Linear invocation index of a 1-D problem laid on a 2-D grid (x ≤ 65535 workgroups per dimension).
// The host side is `gpu::grid_1d`; wg_size is the kernel's workgroup size (WG_1D for all of them).
fn linear_index(gid: vec3<u32>, num_wg: vec3<u32>, wg_size: u32) -> u32 {
    return gid.x + gid.y * num_wg.x * wg_size;
}
