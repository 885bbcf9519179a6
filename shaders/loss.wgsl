// loss.wgsl — losses with their gradients, and a row softmax (no model path runs it: `predict` takes
// the softmax of the read-back logits on the host; the kernel tests check it against the reference).
//
// Results are added into a small `stats` buffer (f32 slots) that the host reads back every few steps
// through one staging copy, never per kernel.
//
// cross_entropy: mean softmax cross-entropy over the rows whose label is not NONE (ignored rows get a
//   zero gradient, like PyTorch's ignore_index).
//   stats[slot] += mean loss, stats[slot+1] += correct predictions, stats[slot+2] += counted rows.
//   d_logits = scale * (softmax - onehot) / counted rows.
//   Bindings: 0 uniform Params | 1 logits [R,C] | 2 labels [R] u32 | 3 d_logits (rw) [R,C] | 4 stats (rw)
//   Grid: (1,1,1): one workgroup of WG_REDUCE threads strides over the rows and reduces in workgroup memory
//   (a fixed tree: the same bits every run).
//
// mse: mean squared error over N values: stats[slot] += mean((pred-target)²), d_pred = scale*2(pred-target)/N.
//   Bindings: 0 uniform Params | 1 pred [N] | 2 target [N] | 3 d_pred (rw) [N] | 4 stats (rw).
//   Grid (1,1,1): one workgroup of WG_REDUCE threads, as cross_entropy.
//
// cross_entropy_rows: softmax cross-entropy for many rows over a large vocabulary, in place: one
//   workgroup per row reduces max and Σexp over the columns, writes the row's loss (0 for an ignored
//   row) to row_loss[r], and overwrites the logits with scale * (softmax - onehot) — no second
//   [R,C] buffer. The host sums row_loss (column_sum) and passes scale = 1 / counted rows.
//   Rows are `stride` elements apart (a padded row keeps its padding untouched).
//   Bindings: 0 uniform Params | 2 labels [R] u32 | 3 logits → d_logits (rw) [R,stride] | 5 row_loss (rw) [R]
//   Grid: one workgroup per row, rows folded into (x, y) ≤ 65535 each; workgroup WG_REDUCE.
//
// softmax_rows: probs[r,:] = softmax(logits[r,:]), one thread per row (rows dense: stride C).
//   Bindings: 0 uniform Params | 1 logits [R,C] | 3 probs (rw) [R,C]. Grid: grid_1d(R, WG_1D), workgroup WG_1D.

struct Params {
    rows: u32, cols: u32, slot: u32, scale: f32,
    stride: u32, _p0: u32, _p1: u32, _p2: u32,  // stride: cross_entropy_rows only
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> input: array<f32>;
@group(0) @binding(3) var<storage, read_write> grad: array<f32>;

var<workgroup> red_a: array<f32, WG_REDUCE>;
var<workgroup> red_b: array<f32, WG_REDUCE>;

// Tree-sums red_a and red_b over the workgroup; the totals end in slot 0. Call in uniform control flow.
fn reduce_pair(li: u32) {
    for (var stride = WG_REDUCE / 2u; stride > 0u; stride >>= 1u) {
        workgroupBarrier();
        if (li < stride) {
            red_a[li] += red_a[li + stride];
            red_b[li] += red_b[li + stride];
        }
    }
    workgroupBarrier();
}

fn row_max(r: u32) -> f32 {
    var m = input[r * p.cols];
    for (var c = 1u; c < p.cols; c++) { m = max(m, input[r * p.cols + c]); }
    return m;
}

fn row_exp_sum(r: u32, m: f32) -> f32 {
    var s = 0.0;
    for (var c = 0u; c < p.cols; c++) { s += exp(input[r * p.cols + c] - m); }
    return s;
}

// ---- cross-entropy ----
@group(0) @binding(2) var<storage, read> labels: array<u32>;
@group(0) @binding(4) var<storage, read_write> stats: array<f32>;

@compute @workgroup_size(WG_REDUCE, 1, 1)
fn cross_entropy(@builtin(local_invocation_index) li: u32) {
    var counted = 0.0;
    for (var r = li; r < p.rows; r += WG_REDUCE) {
        if (labels[r] != NONE) { counted += 1.0; }
    }
    red_a[li] = counted;
    red_b[li] = 0.0;
    reduce_pair(li);
    let counted_rows = red_a[0];
    let n = max(counted_rows, 1.0);
    workgroupBarrier();

    var loss = 0.0;
    var correct = 0.0;
    for (var r = li; r < p.rows; r += WG_REDUCE) {
        let label = labels[r];
        let m = row_max(r);
        let s = row_exp_sum(r, m);
        var best = 0u;
        for (var c = 0u; c < p.cols; c++) {
            let z = input[r * p.cols + c];
            if (z > input[r * p.cols + best]) { best = c; }
            var g = 0.0;
            if (label != NONE) {
                g = exp(z - m) / s - select(0.0, 1.0, c == label);
            }
            grad[r * p.cols + c] = p.scale * g / n;
        }
        if (label != NONE) {
            loss += log(s) + m - input[r * p.cols + label];
            correct += select(0.0, 1.0, best == label);
        }
    }
    red_a[li] = loss;
    red_b[li] = correct;
    reduce_pair(li);
    if (li == 0u) {
        stats[p.slot] += red_a[0] / n;
        stats[p.slot + 1u] += red_b[0];
        stats[p.slot + 2u] += counted_rows;
    }
}

// ---- mean squared error ----
@group(0) @binding(2) var<storage, read> target_values: array<f32>;

@compute @workgroup_size(WG_REDUCE, 1, 1)
fn mse(@builtin(local_invocation_index) li: u32) {
    let n = p.rows * p.cols;
    var acc = 0.0;
    for (var i = li; i < n; i += WG_REDUCE) {
        let d = input[i] - target_values[i];
        acc += d * d;
        grad[i] = p.scale * 2.0 * d / f32(n);
    }
    red_a[li] = acc;
    red_b[li] = 0.0;
    reduce_pair(li);
    if (li == 0u) {
        stats[p.slot] += red_a[0] / f32(n);
    }
}

// ---- softmax ----
@compute @workgroup_size(WG_1D, 1, 1)
fn softmax_rows(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let r = linear_index(gid, nwg, WG_1D);
    if (r >= p.rows) { return; }
    let m = row_max(r);
    let s = row_exp_sum(r, m);
    for (var c = 0u; c < p.cols; c++) {
        grad[r * p.cols + c] = exp(input[r * p.cols + c] - m) / s;
    }
}

// ---- cross-entropy over many rows, in place ----
@group(0) @binding(5) var<storage, read_write> row_loss: array<f32>;

@compute @workgroup_size(WG_REDUCE, 1, 1)
fn cross_entropy_rows(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                      @builtin(local_invocation_index) li: u32) {
    let r = wid.x + wid.y * nwg.x;
    if (r >= p.rows) { return; } // uniform across the workgroup
    let base = r * p.stride;
    var m = -3.0e38;
    for (var c = li; c < p.cols; c += WG_REDUCE) { m = max(m, grad[base + c]); }
    red_a[li] = m;
    for (var stride = WG_REDUCE / 2u; stride > 0u; stride >>= 1u) {
        workgroupBarrier();
        if (li < stride) { red_a[li] = max(red_a[li], red_a[li + stride]); }
    }
    workgroupBarrier();
    let row_max_value = red_a[0];
    workgroupBarrier();
    var s = 0.0;
    for (var c = li; c < p.cols; c += WG_REDUCE) { s += exp(grad[base + c] - row_max_value); }
    red_a[li] = s;
    red_b[li] = 0.0;
    reduce_pair(li);
    let total = red_a[0];
    let label = labels[r];
    let counted = label != NONE;
    if (li == 0u) {
        row_loss[r] = select(0.0, log(total) + row_max_value - grad[base + min(label, p.cols - 1u)], counted);
    }
    // Every thread has read what it needs (the label's logit was read above by thread 0 before the barrier below).
    workgroupBarrier();
    for (var c = li; c < p.cols; c += WG_REDUCE) {
        let prob = exp(grad[base + c] - row_max_value) / total;
        let onehot = select(0.0, 1.0, counted && c == label);
        grad[base + c] = select(0.0, p.scale * (prob - onehot), counted);
    }
}
