// dropout.wgsl — inverted dropout with a counter-based generator, so the mask needs no storage:
// the backward pass recomputes it from (seed, counter, index).
//
//   keep(i) = hash(i, counter, seed) >= threshold        threshold = round(p · 2³²)
//   forward:  out[i] = keep(i) ? x[i] · scale : 0        scale = 1 / (1 − p)
//   backward: dx[i]  = keep(i) ? dy[i] · scale : 0
// The hash is PCG's output permutation (O'Neill 2014) chained over index, counter and seed; the host
// reference (kernels-tests) implements the same function, so masks are checked bit for bit.
//
// Forward and backward are the same map (the mask times the scale), so one entry serves both.
// Bindings: dropout: 0 uniform Params | 1 input (x or dy) [N] | 2 output (rw, out or dx) [N]
// Grid: grid_1d(N, WG_1D), workgroup WG_1D.

struct Params {
    n: u32, threshold: u32, scale: f32, seed: u32,
    counter: u32, _p0: u32, _p1: u32, _p2: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> input: array<f32>;
@group(0) @binding(2) var<storage, read_write> output: array<f32>;

fn pcg(v: u32) -> u32 {
    let state = v * 747796405u + 2891336453u;
    let word = ((state >> ((state >> 28u) + 4u)) ^ state) * 277803737u;
    return (word >> 22u) ^ word;
}

fn keep(i: u32) -> bool {
    return pcg(i + pcg(p.counter + pcg(p.seed))) >= p.threshold;
}

@compute @workgroup_size(WG_1D, 1, 1)
fn dropout(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = linear_index(gid, nwg, WG_1D);
    if (i < p.n) {
        output[i] = select(0.0, input[i] * p.scale, keep(i));
    }
}
