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

// Linear invocation index of a 1-D problem laid on a 2-D grid (x ≤ 65535 workgroups per dimension).
// The host side is `gpu::grid_1d`; wg_size is the kernel's workgroup size (WG_1D for all of them).
fn linear_index(gid: vec3<u32>, num_wg: vec3<u32>, wg_size: u32) -> u32 {
    return gid.x + gid.y * num_wg.x * wg_size;
}
