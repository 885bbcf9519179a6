// pool.wgsl — sequence features for the classifier head, and their gradient.
//
// y is the LSTM output [T,B,F] with F = dirs*H. Three poolings, each over a row's valid steps
// t < lengths[b], chosen by the bit mask p.mode (several bits = their concatenation, in this order):
//   bit 0  last: forward columns (c < H) at t = lengths[b]-1, reverse columns (c >= H) at t = 0
//                (the reverse direction has read the whole row by then) — PyTorch's packed h_n;
//   bit 1  max:  max over t (the gradient goes to the first t reaching the max);
//   bit 2  mean: mean over t.
// features[b, k*F + c] holds pooling k (k counts the set bits below its own), width P*F.
//
// Bindings:
// pool_forward:  0 uniform Params | 1 lengths [B] | 2 y [T,B,F] | 3 features (rw) [B,P*F]
// pool_backward: 0 uniform Params | 1 lengths [B] | 2 d_features [B,P*F] | 3 dy (rw) [T,B,F] | 4 y [T,B,F]
//   (y only for the max pooling's arg max; bind any buffer when mode has no MAX bit)
//   (adds into dy; the thread of column (b,c) is the only writer of dy[·,b,c])
//   y, y_saved and dy are tensors (f32, or f16 in a module built for them; src/gpu/shaders.rs).
// Grid: grid_1d(B*F, WG_1D), workgroup WG_1D; one thread per (b, c) loops over t.

struct Params {
    batch: u32, steps: u32, hidden: u32, features: u32,
    mode: u32, _p0: u32, _p1: u32, _p2: u32,
}

const LAST: u32 = 1u;
const MAX: u32 = 2u;
const MEAN: u32 = 4u;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> lengths: array<u32>;

// Column of pooling `kind` in a features row.
fn slot(kind: u32, c: u32) -> u32 {
    return countOneBits(p.mode & (kind - 1u)) * p.features + c;
}

fn at(t: u32, b: u32, c: u32) -> u32 {
    return (t * p.batch + b) * p.features + c;
}

fn last_step(b: u32, c: u32) -> u32 {
    return select(lengths[b] - 1u, 0u, c >= p.hidden);
}

@group(0) @binding(2) var<storage, read> y: tensor;
@group(0) @binding(3) var<storage, read_write> features: array<f32>;

@compute @workgroup_size(WG_1D, 1, 1)
fn pool_forward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = linear_index(gid, nwg, WG_1D);
    if (i >= p.batch * p.features) { return; }
    let b = i / p.features;
    let c = i % p.features;
    let row = b * countOneBits(p.mode) * p.features;
    let len = lengths[b];
    if ((p.mode & LAST) != 0u) {
        features[row + slot(LAST, c)] = y_at(at(last_step(b, c), b, c));
    }
    if ((p.mode & (MAX | MEAN)) != 0u) {
        var best = y_at(at(0u, b, c));
        var sum = 0.0;
        for (var t = 0u; t < len; t++) {
            let v = y_at(at(t, b, c));
            best = max(best, v);
            sum += v;
        }
        if ((p.mode & MAX) != 0u) { features[row + slot(MAX, c)] = best; }
        if ((p.mode & MEAN) != 0u) { features[row + slot(MEAN, c)] = sum / f32(len); }
    }
}

@group(0) @binding(2) var<storage, read> d_features: array<f32>;
@group(0) @binding(3) var<storage, read_write> dy: tensor;
@group(0) @binding(4) var<storage, read> y_saved: tensor;

@compute @workgroup_size(WG_1D, 1, 1)
fn pool_backward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = linear_index(gid, nwg, WG_1D);
    if (i >= p.batch * p.features) { return; }
    let b = i / p.features;
    let c = i % p.features;
    let row = b * countOneBits(p.mode) * p.features;
    let len = lengths[b];
    if ((p.mode & LAST) != 0u) {
        let j = at(last_step(b, c), b, c);
        dy_set(j, dy_at(j) + d_features[row + slot(LAST, c)]);
    }
    if ((p.mode & MAX) != 0u) {
        // Recompute the arg max with the forward's rule: the first t holding the maximum.
        var best = y_saved_at(at(0u, b, c));
        var arg = 0u;
        for (var t = 1u; t < len; t++) {
            let v = y_saved_at(at(t, b, c));
            if (v > best) { best = v; arg = t; }
        }
        dy_set(at(arg, b, c), dy_at(at(arg, b, c)) + d_features[row + slot(MAX, c)]);
    }
    if ((p.mode & MEAN) != 0u) {
        let g = d_features[row + slot(MEAN, c)] / f32(len);
        for (var t = 0u; t < len; t++) {
            dy_set(at(t, b, c), dy_at(at(t, b, c)) + g);
        }
    }
}
