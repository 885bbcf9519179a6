// grad_reverse.wgsl — the gradient-reversal layer (DANN) in the backward pass.
//
// Forward the layer is the identity, so it needs no kernel: the domain head reads the shared features
// directly. Backward it multiplies the gradient by −λ and adds it to the features' gradient:
//   d_features[i] += −λ · d_domain_features[i]
// Bindings: 0 uniform Params | 1 d_domain_features [N] | 2 d_features (rw) [N]
// Grid: grid_1d(N, WG_1D), workgroup WG_1D.

struct Params {
    n: u32, lambda: f32, _p0: u32, _p1: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> d_domain_features: array<f32>;
@group(0) @binding(2) var<storage, read_write> d_features: array<f32>;

@compute @workgroup_size(WG_1D, 1, 1)
fn grad_reverse(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = linear_index(gid, nwg, WG_1D);
    if (i >= p.n) { return; }
    d_features[i] += -p.lambda * d_domain_features[i];
}
