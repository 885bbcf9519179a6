// optimizer.wgsl — Adam / AdamW over the whole flat parameter store in one dispatch.
//
// The store is one f32 array holding every tensor at its offset (see src/params.rs); grads, m and v
// share that layout. A small tensor table gives each tensor's range and its options:
//   frozen    — no update, no moment update, no weight decay (the transfer layer's freeze mask);
//   lr_scale  — per-tensor learning-rate factor (discriminative fine-tuning);
//   row_mask  — optional per-row freeze: row r of the tensor (rows of row_len values) is trainable
//               only where row_mask[mask_offset + r] != 0 (e.g. embedding rows known to a source model).
// Elements between tensors (alignment padding) belong to no tensor and are left alone.
//
// Update (PyTorch's formulation, bias corrections bc1 = 1-β1^t, bc2 = 1-β2^t computed on the host):
//   g = grad / grad_scale * clip;  Adam with L2 (decay_mode 1): g += wd*p;  AdamW (decay_mode 2): p -= lr*wd*p
//   m = β1 m + (1-β1) g;  v = β2 v + (1-β2) g²;  p -= (lr/bc1) * m / (sqrt(v)/sqrt(bc2) + eps)
// clip = min(1, max_norm / (sqrt(stats[norm_slot]) / grad_scale + 1e-6)) when max_norm > 0 (global-norm
// clipping; stats[norm_slot] was filled by reduce.wgsl's sum_squares earlier in the same pass).
// grad_scale: the loss scaling the stored gradients carry (1, or 1024 with f16 activations).
//
// Bindings: 0 uniform Params | 1 tensors [n_tensors] TensorEntry | 2 row_mask [*] u32 | 3 stats [*] |
//           4 params (rw) | 5 grads | 6 m (rw) | 7 v (rw) | 8 work (rw, adam_step_work only)
//   grads is a tensor (src/gpu/shaders.rs): f32, or f16 pairs for an f16 model. params, m and v are
//   always f32: params is the master copy. adam_step_work also writes each updated value into work,
//   the f16 copy of the store that an f16 model's kernels read (same layout; the host writes it on
//   every upload, so frozen elements, which no step touches, already hold their value there).
// Grid: grid_1d(n_total, WG_1D), workgroup WG_1D, for both entry points.

struct Params {
    n_total: u32, n_tensors: u32, decay_mode: u32, norm_slot: u32,
    lr: f32, beta1: f32, beta2: f32, eps: f32,
    bc1: f32, bc2: f32, max_norm: f32, grad_scale: f32,
}

struct TensorEntry {
    offset: u32, len: u32, frozen: u32, lr_scale: f32,
    weight_decay: f32, row_len: u32, mask_offset: u32, _pad: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> tensors: array<TensorEntry>;
@group(0) @binding(2) var<storage, read> row_mask: array<u32>;
@group(0) @binding(3) var<storage, read> stats: array<f32>;
@group(0) @binding(4) var<storage, read_write> params: array<f32>;
@group(0) @binding(5) var<storage, read> grads: tensor;
@group(0) @binding(6) var<storage, read_write> m1: array<f32>;
@group(0) @binding(7) var<storage, read_write> m2: array<f32>;
@group(0) @binding(8) var<storage, read_write> work: tensor;

// The tensor whose range starts at or before i (tensors are sorted by offset); binary search.
fn tensor_of(i: u32) -> u32 {
    var lo = 0u;
    var hi = p.n_tensors;
    while (hi - lo > 1u) {
        let mid = (lo + hi) / 2u;
        if (tensors[mid].offset <= i) { lo = mid; } else { hi = mid; }
    }
    return lo;
}

// Updates element i of the store; false where it belongs to no tensor or is frozen (left alone).
fn adam_update(i: u32) -> bool {
    if (i >= p.n_total) { return false; }
    let t = tensors[tensor_of(i)];
    if (i < t.offset || i >= t.offset + t.len || t.frozen != 0u) { return false; }
    if (t.mask_offset != NONE && row_mask[t.mask_offset + (i - t.offset) / t.row_len] == 0u) { return false; }

    var clip = 1.0;
    if (p.max_norm > 0.0) {
        clip = min(1.0, p.max_norm / (sqrt(stats[p.norm_slot]) / p.grad_scale + 1e-6));
    }
    let lr = p.lr * t.lr_scale;
    var w = params[i];
    var g = grads_at(i) / p.grad_scale * clip;
    if (p.decay_mode == 1u) { g += t.weight_decay * w; }
    if (p.decay_mode == 2u) { w -= lr * t.weight_decay * w; }
    let m = p.beta1 * m1[i] + (1.0 - p.beta1) * g;
    let v = p.beta2 * m2[i] + (1.0 - p.beta2) * g * g;
    m1[i] = m;
    m2[i] = v;
    params[i] = w - (lr / p.bc1) * m / (sqrt(v) / sqrt(p.bc2) + p.eps);
    return true;
}

@compute @workgroup_size(WG_1D, 1, 1)
fn adam_step(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    adam_update(linear_index(gid, nwg, WG_1D));
}

@compute @workgroup_size(WG_1D, 1, 1)
fn adam_step_work(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = linear_index(gid, nwg, WG_1D);
    if (adam_update(i)) { work_set(i, params[i]); }
}
