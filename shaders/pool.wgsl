// pool.wgsl — sequence features for the classifier head, and their gradient.
//
// features[b, c] = y[t(b,c), b, c] with F = dirs*H columns: forward columns (c < H) take the last
// valid step t = lengths[b]-1, reverse columns (c >= H) take t = 0 (the reverse direction has read the
// whole row by then). This matches PyTorch's packed-sequence h_n.
//
// Bindings:
// pool_last:          0 uniform Params | 1 lengths [B] | 2 y [T,B,F] | 3 features (rw) [B,F]
// pool_last_backward: 0 uniform Params | 1 lengths [B] | 2 d_features [B,F] | 3 dy (rw) [T,B,F]
//   (adds into dy; each (b,c) hits a single element, so there is one writer per element)
// Grid: grid_1d(B*F), workgroup 256.

struct Params {
    batch: u32, steps: u32, hidden: u32, features: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> lengths: array<u32>;

fn source_index(i: u32) -> u32 {
    let b = i / p.features;
    let c = i % p.features;
    let t = select(lengths[b] - 1u, 0u, c >= p.hidden);
    return (t * p.batch + b) * p.features + c;
}

@group(0) @binding(2) var<storage, read> y: array<f32>;
@group(0) @binding(3) var<storage, read_write> features: array<f32>;

@compute @workgroup_size(256, 1, 1)
fn pool_last(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = linear_index(gid, nwg, 256u);
    if (i >= p.batch * p.features) { return; }
    features[i] = y[source_index(i)];
}

@group(0) @binding(2) var<storage, read> d_features: array<f32>;
@group(0) @binding(3) var<storage, read_write> dy: array<f32>;

@compute @workgroup_size(256, 1, 1)
fn pool_last_backward(@builtin(global_invocation_id) gid: vec3<u32>,
                      @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = linear_index(gid, nwg, 256u);
    if (i >= p.batch * p.features) { return; }
    let j = source_index(i);
    dy[j] = dy[j] + d_features[i];
}
