// reduce.wgsl — reductions: column sums (bias gradients) and the sum of squares (global gradient norm).
//
// column_sum: out[c] (+)= Σ_r input[r*stride + c] (stride = C for a dense input). One thread per column walks the rows in order
//   (deterministic; neighbouring threads read neighbouring columns).
//   Bindings: 0 uniform Params | 1 input [R,C] | 2 out (rw) [C]; both tensors (f32, or f16 in a module
//   built for them: an f16 model's bias gradients). Grid: grid_1d(C, WG_1D), workgroup WG_1D.
//
// sum_squares: stats[slot] = Σ input[i]² over N values (the squared global norm when input is the flat
//   gradient store). One workgroup of WG_REDUCE threads, strided partial sums, fixed tree.
//   Bindings: 0 uniform Params | 1 input [N] | 2 stats (rw). Grid: (1,1,1).

struct Params {
    rows: u32, cols: u32, accumulate: u32, slot: u32,
    stride: u32, _p0: u32, _p1: u32, _p2: u32,  // stride: column_sum only
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> input: tensor;
@group(0) @binding(2) var<storage, read_write> out: tensor;

@compute @workgroup_size(WG_1D, 1, 1)
fn column_sum(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let c = linear_index(gid, nwg, WG_1D);
    if (c >= p.cols) { return; }
    var acc = 0.0;
    for (var r = 0u; r < p.rows; r++) { acc += input_at(r * p.stride + c); }
    if (p.accumulate != 0u) { acc += out_at(c); }
    out_set(c, acc);
}

var<workgroup> partial: array<f32, WG_REDUCE>;

@compute @workgroup_size(WG_REDUCE, 1, 1)
fn sum_squares(@builtin(local_invocation_index) li: u32) {
    let n = p.rows * p.cols;
    var acc = 0.0;
    for (var i = li; i < n; i += WG_REDUCE) { acc = fma(input_at(i), input_at(i), acc); }
    partial[li] = acc;
    for (var stride = WG_REDUCE / 2u; stride > 0u; stride >>= 1u) {
        workgroupBarrier();
        if (li < stride) { partial[li] += partial[li + stride]; }
    }
    if (li == 0u) { out_set(p.slot, partial[0]); }
}
