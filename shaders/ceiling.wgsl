// ceiling.wgsl — the adapter's own ceilings, for the benchmark's roofline: every kernel's GFLOP/s and
// GB/s is reported as a share of these two.
//
// Bindings: 0 uniform Params | 1 src (read) [n] vec4, stream_triad only | 2 dst (read_write) [n] vec4
// fma_peak:     each thread runs ITERS rounds of 8 independent vec4 FMA chains (no memory traffic; the
//               result is stored once so the compiler keeps the work). FLOPs = threads · ITERS · 8 · 4 · 2.
// stream_triad: dst[i] = src[i] · s + dst[i] over n vec4 (reads 2, writes 1 per element: 48 bytes).
// Grid: grid_1d(n, WG_1D) (ceil(n/WG_1D) capped per dimension as (x, y)), workgroup WG_1D; i = flat invocation index.

struct Params {
    n: u32, iters: u32, _p0: u32, _p1: u32,
    scale: f32, _p2: f32, _p3: f32, _p4: f32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> src: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read_write> dst: array<vec4<f32>>;

fn flat_index(wg: vec3<u32>, li: u32, groups: vec3<u32>) -> u32 {
    return (wg.y * groups.x + wg.x) * WG_1D + li;
}

@compute @workgroup_size(WG_1D, 1, 1)
fn fma_peak(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) li: u32,
            @builtin(num_workgroups) groups: vec3<u32>) {
    let i = flat_index(wg, li, groups);
    if (i >= p.n) { return; }
    let x = vec4<f32>(f32(li) * 1e-3);
    // Multiplier just under 1 and a small addend: the chains stay finite for any iteration count.
    let m = vec4<f32>(p.scale);
    var a0 = x; var a1 = x + 0.1; var a2 = x + 0.2; var a3 = x + 0.3;
    var a4 = x + 0.4; var a5 = x + 0.5; var a6 = x + 0.6; var a7 = x + 0.7;
    for (var k = 0u; k < p.iters; k++) {
        a0 = fma(a0, m, x); a1 = fma(a1, m, x); a2 = fma(a2, m, x); a3 = fma(a3, m, x);
        a4 = fma(a4, m, x); a5 = fma(a5, m, x); a6 = fma(a6, m, x); a7 = fma(a7, m, x);
    }
    dst[i] = a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7;
}

@compute @workgroup_size(WG_1D, 1, 1)
fn stream_triad(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) li: u32,
                @builtin(num_workgroups) groups: vec3<u32>) {
    let i = flat_index(wg, li, groups);
    if (i >= p.n) { return; }
    dst[i] = fma(src[i], vec4<f32>(p.scale), dst[i]);
}
