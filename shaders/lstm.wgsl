// lstm.wgsl — fused LSTM layer (one direction), forward and backward: one dispatch per sequence
// (per-row and slice variants) or one per timestep (step variants, at the end).
//
// The per-row and slice kernels walk the steps p.step .. p.step_end of the walk (forward: time order;
// backward: reverse time order), so a sequence may take several dispatches in a row: each resumes
// from the states (forward) or the running state gradients (backward) the one before left in
// memory, and only the first (p.step = 0) loads the initial ones. A CPU driver needs that: llvmpipe
// (lavapipe) lets one shader invocation take at most 65535 loop back-edges in all, then silently
// cuts every loop short (kernels-tests/lstm_kernels.rs, a long sequence), so the host splits a
// sequence there (LstmKernel::steps_per_dispatch). A GPU takes it in one dispatch.
//
// Gate order along the 4H axis is PyTorch's: i, f, g, o. Sequences are time-major.
// The input projection pre = x·W_ihᵀ + b_ih + b_hh is done beforehand by one GEMM over all timesteps;
// these kernels do the sequential part: the recurrent product h_{t-1}·W_hhᵀ, the gate non-linearities
// and the state update, fused, looping over time inside the dispatch.
//
// lstm_forward / lstm_backward: each workgroup owns one batch row b (rows are independent, so no
// grid-wide sync is needed) and its LSTM_WG threads stride over the H units (the `_slices` variants
// at the end own LSTM_ROWS rows per workgroup). Between timesteps the threads exchange h (forward)
// or the gate gradients (backward) through storage memory, made visible by storageBarrier().
//
// State slots: states = [2][T+1][B][H]: part 0 holds h, part 1 holds c. The forward direction reads
// slot t and writes slot t+1 at time t (slot 0 = initial state, slot T = final state); the reverse
// direction reads slot t+1 and writes slot t (slot T = initial state, slot 0 = final state).
// Variable lengths: at t >= lengths[b] the state is carried unchanged and the gates are not used.
//
// One [T,B,4H] buffer per layer direction serves three tensors in turn, each computed in place over
// the one before: the GEMM's pre-activations pre = x·W_ihᵀ + b_ih + b_hh, which the forward pass
// replaces by the gate activations i,f,g,o (at valid steps), which the backward pass replaces by the
// gradients of the pre-activations. Every kernel's thread reads a (row, unit)'s four entries and
// writes the same four, which no other thread reads in that step, so in place is race-free and
// takes a third of the memory of three buffers.
//
// w_hh (and its vec4 view w_hh4), gates_out / dgates (and its vec4 view dgates4), y and dy are tensors
// (src/gpu/shaders.rs): f32, or f16 pairs in a module built for them, in every variant. The states stay f32.
//
// Bindings shared by both entry points: 0 uniform Params | 1 w_hh [4H,H] | 2 lengths [B] u32
// lstm_forward:  3 gates_out (rw) [T,B,4H] pre-activations in, activations out | 4 states_out (rw) |
//   5 state0 [2][B][H] (h0, c0) | 6 y (rw) [T,B,y_stride]: this direction's h at columns y_col .. y_col+H
// lstm_backward: 3 states_in | 4 dy [T,B,y_stride] (columns y_col..) | 5 d_state_n [2][B][H]
//   (dL/dh_n, dL/dc_n) | 6 dgates (rw) [T,B,4H] activations in, pre-activation gradients out |
//   7 d_state0 (rw) [2][B][H]: running dL/dh, dL/dc while walking back; ends as dL/dh0, dL/dc0
// Grid: (B, 1, 1) for lstm_forward / lstm_backward, (ceil(B/LSTM_ROWS), 1, 1) for the `_slices`
// variants, (ceil(H/LSTM_WG), ceil(B/LSTM_STEP_ROWS), 1) for the `_step` variants (one dispatch per
// timestep, `step` in the uniform block; `step_end` unused); workgroup LSTM_WG for all six.

struct Params {
    batch: u32, steps: u32, hidden: u32, reverse: u32,
    y_stride: u32, y_col: u32, step: u32, groups: u32,
    step_end: u32, _p0: u32, _p1: u32, _p2: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> w_hh: tensor;
@group(0) @binding(2) var<storage, read> lengths: array<u32>;

fn time_at(s: u32) -> u32 {
    return select(s, p.steps - 1u - s, p.reverse != 0u);
}
fn slot_before(t: u32) -> u32 { return select(t, t + 1u, p.reverse != 0u); }
fn slot_after(t: u32) -> u32 { return select(t + 1u, t, p.reverse != 0u); }
// Index of h (part 0) or c (part 1) of unit j, row b, in slot s.
fn state_index(part: u32, s: u32, b: u32, j: u32) -> u32 {
    return ((part * (p.steps + 1u) + s) * p.batch + b) * p.hidden + j;
}

// The cell, shared by both variants. Forward: gate activations (i, f, g, o) from the pre-activations z.
fn gate_activations(z: vec4<f32>) -> vec4<f32> {
    return vec4<f32>(sigmoid(z.x), sigmoid(z.y), tanh_stable(z.z), sigmoid(z.w));
}

// Backward of one unit at one valid step, from its gates, c_{t-1}, c_t, dL/dh_t and the dL/dc_t carried
// from the step after.
struct CellGrad {
    dgates: vec4<f32>, // dL/d pre-activations of i, f, g, o
    dc_prev: f32,      // dL/dc_{t-1}
}

fn cell_backward(gates: vec4<f32>, c_prev: f32, c_t: f32, dh: f32, dc_next: f32) -> CellGrad {
    let i_g = gates.x;
    let f_g = gates.y;
    let g_g = gates.z;
    let o_g = gates.w;
    let tc = tanh_stable(c_t);
    let dc = dc_next + dh * o_g * (1.0 - tc * tc);
    let dgates = vec4<f32>(dc * g_g * i_g * (1.0 - i_g), dc * c_prev * f_g * (1.0 - f_g),
                           dc * i_g * (1.0 - g_g * g_g), dh * tc * o_g * (1.0 - o_g));
    return CellGrad(dgates, dc * f_g);
}

// ---- forward ----
@group(0) @binding(3) var<storage, read_write> gates_out: tensor; // pre-activations in, activations out
@group(0) @binding(4) var<storage, read_write> states_out: array<f32>;
@group(0) @binding(5) var<storage, read> state0: array<f32>;
@group(0) @binding(6) var<storage, read_write> y: tensor;

@compute @workgroup_size(LSTM_WG, 1, 1)
fn lstm_forward(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
    let b = wg.x;
    let h = p.hidden;
    let len = lengths[b];
    let first = select(0u, p.steps, p.reverse != 0u);
    if (p.step == 0u) {
        for (var j = li; j < h; j += LSTM_WG) {
            states_out[state_index(0u, first, b, j)] = state0[b * h + j];
            states_out[state_index(1u, first, b, j)] = state0[(p.batch + b) * h + j];
        }
    }
    storageBarrier();
    for (var s = p.step; s < p.step_end; s++) {
        let t = time_at(s);
        let src = slot_before(t);
        let dst = slot_after(t);
        let row = t * p.batch + b;
        for (var j = li; j < h; j += LSTM_WG) {
            let h_prev = states_out[state_index(0u, src, b, j)];
            let c_prev = states_out[state_index(1u, src, b, j)];
            var h_new = h_prev;
            var c_new = c_prev;
            if (t < len) {
                var z = vec4<f32>(gates_out_at(row * 4u * h + j), gates_out_at(row * 4u * h + h + j),
                                  gates_out_at(row * 4u * h + 2u * h + j), gates_out_at(row * 4u * h + 3u * h + j));
                let h_base = state_index(0u, src, b, 0u);
                for (var k = 0u; k < h; k++) {
                    let hk = states_out[h_base + k];
                    z += hk * vec4<f32>(w_hh_at(j * h + k), w_hh_at((h + j) * h + k),
                                        w_hh_at((2u * h + j) * h + k), w_hh_at((3u * h + j) * h + k));
                }
                let a = gate_activations(z);
                c_new = a.y * c_prev + a.x * a.z;
                h_new = a.w * tanh_stable(c_new);
                gates_out_set(row * 4u * h + j, a.x);
                gates_out_set(row * 4u * h + h + j, a.y);
                gates_out_set(row * 4u * h + 2u * h + j, a.z);
                gates_out_set(row * 4u * h + 3u * h + j, a.w);
            }
            states_out[state_index(0u, dst, b, j)] = h_new;
            states_out[state_index(1u, dst, b, j)] = c_new;
            y_set(row * p.y_stride + p.y_col + j, h_new);
        }
        storageBarrier();
    }
}

// ---- backward ----
@group(0) @binding(3) var<storage, read> states_in: array<f32>;
@group(0) @binding(4) var<storage, read> dy: tensor;
@group(0) @binding(5) var<storage, read> d_state_n: array<f32>;
@group(0) @binding(6) var<storage, read_write> dgates: tensor; // activations in, their gradients out
@group(0) @binding(7) var<storage, read_write> d_state0: array<f32>;

@compute @workgroup_size(LSTM_WG, 1, 1)
fn lstm_backward(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
    let b = wg.x;
    let h = p.hidden;
    let len = lengths[b];
    // d_state0 holds the running dL/dh_t and dL/dc_t of this row while walking back in time.
    if (p.step == 0u) {
        for (var j = li; j < h; j += LSTM_WG) {
            d_state0[b * h + j] = d_state_n[b * h + j];
            d_state0[(p.batch + b) * h + j] = d_state_n[(p.batch + b) * h + j];
        }
    }
    storageBarrier();
    for (var s = p.step; s < p.step_end; s++) {
        // Walk the forward order backwards.
        let t = time_at(p.steps - 1u - s);
        let row = t * p.batch + b;
        let in_range = t < len;
        // Phase 1: element-wise gate gradients of this step.
        for (var j = li; j < h; j += LSTM_WG) {
            let dh = d_state0[b * h + j] + dy_at(row * p.y_stride + p.y_col + j);
            if (!in_range) {
                // Carried state: the gradient passes through untouched; the gates had no part.
                d_state0[b * h + j] = flush_tiny(dh);
                for (var g = 0u; g < 4u; g++) { dgates_set(row * 4u * h + g * h + j, 0.0); }
                continue;
            }
            let c_prev = states_in[state_index(1u, slot_before(t), b, j)];
            let c_t = states_in[state_index(1u, slot_after(t), b, j)];
            let base = row * 4u * h + j;
            let gates = vec4<f32>(dgates_at(base), dgates_at(base + h), dgates_at(base + 2u * h), dgates_at(base + 3u * h));
            let g = cell_backward(gates, c_prev, c_t, dh, d_state0[(p.batch + b) * h + j]);
            let dg = flush_tiny4(g.dgates);
            dgates_set(base, dg.x);
            dgates_set(base + h, dg.y);
            dgates_set(base + 2u * h, dg.z);
            dgates_set(base + 3u * h, dg.w);
            d_state0[(p.batch + b) * h + j] = flush_tiny(g.dc_prev);
        }
        storageBarrier();
        // Phase 2: dL/dh_{t-1} = W_hhᵀ · dgates_t (thread k reads column k: neighbours read neighbours).
        if (in_range) {
            for (var k = li; k < h; k += LSTM_WG) {
                var acc = 0.0;
                for (var r = 0u; r < 4u * h; r++) {
                    acc = fma(w_hh_at(r * h + k), dgates_at(row * 4u * h + r), acc);
                }
                d_state0[b * h + k] = flush_tiny(acc);
            }
        }
        storageBarrier();
    }
}

// ---- batch-slice variants: one workgroup per LSTM_ROWS batch rows, vec4 reads (H a multiple of 4) ----
// Same bindings, shapes and state layout as above; W_hh, the states, dgates and d_state0 are read as
// vec4 (the same buffers, viewed as arrays of vec4). Each workgroup owns rows b0 .. b0+LSTM_ROWS of
// the batch, so every W_hh element it loads feeds LSTM_ROWS rows instead of one: the recurrent product
// of a step is a [LSTM_ROWS,H]·[H,4H] block product, accumulated in registers as matrices whose
// columns are the rows (indexed by constants only: a runtime index would move them to memory).
// Threads write single components of vec4 elements (scalar stores); no two threads write the same
// component.
// Grid: (ceil(B/LSTM_ROWS), 1, 1), workgroup LSTM_WG. Rows past B are read clamped and never written.

// The bodies below are unrolled for 8 rows: two vec4 halves (lo, hi) of accumulators.
const_assert LSTM_ROWS == 8u;

@group(0) @binding(1) var<storage, read> w_hh4: tensor4;            // [4H][H/4]
@group(0) @binding(4) var<storage, read_write> states_out4: array<vec4<f32>>; // [2][T+1][B][H/4]

// Where h (part 0) of slot s starts for rows b0 .. b0+4 (clamped to the batch), in vec4 units.
fn h_rows(s: u32, b0: u32) -> vec4<u32> {
    let b = min(vec4<u32>(b0) + vec4<u32>(0u, 1u, 2u, 3u), vec4<u32>(p.batch - 1u));
    return ((vec4<u32>(s * p.batch) + b) * p.hidden) / 4u;
}

fn set_state(part: u32, s: u32, b: u32, j: u32, v: f32) {
    let i = state_index(part, s, b, j);
    states_out4[i / 4u][i % 4u] = v;
}

fn get_state(part: u32, s: u32, b: u32, j: u32) -> f32 {
    let i = state_index(part, s, b, j);
    return states_out4[i / 4u][i % 4u];
}

// Gates and state update of unit j, row b (skipped past the batch), given the recurrent part z of its
// four gate pre-activations (i, f, g, o).
fn finish_unit(src: u32, dst: u32, t: u32, b: u32, j: u32, z: vec4<f32>) {
    if (b >= p.batch) { return; }
    let h = p.hidden;
    let row = t * p.batch + b;
    let h_prev = get_state(0u, src, b, j);
    let c_prev = get_state(1u, src, b, j);
    var h_new = h_prev;
    var c_new = c_prev;
    if (t < lengths[b]) {
        let base = row * 4u * h + j;
        let a = gate_activations(z + vec4<f32>(gates_out_at(base), gates_out_at(base + h), gates_out_at(base + 2u * h), gates_out_at(base + 3u * h)));
        c_new = a.y * c_prev + a.x * a.z;
        h_new = a.w * tanh_stable(c_new);
        gates_out_set(base, a.x);
        gates_out_set(base + h, a.y);
        gates_out_set(base + 2u * h, a.z);
        gates_out_set(base + 3u * h, a.w);
    }
    set_state(0u, dst, b, j, h_new);
    set_state(1u, dst, b, j, c_new);
    y_set(row * p.y_stride + p.y_col + j, h_new);
}

// Copies the initial state of the slice's rows into slot `first` (threads stride over the units).
fn slice_initial_state(b0: u32, first: u32, li: u32) {
    let h = p.hidden;
    for (var r = 0u; r < min(LSTM_ROWS, p.batch - b0); r++) {
        for (var j = li; j < h; j += LSTM_WG) {
            set_state(0u, first, b0 + r, j, state0[(b0 + r) * h + j]);
            set_state(1u, first, b0 + r, j, state0[(p.batch + b0 + r) * h + j]);
        }
    }
}

// The recurrent parts of unit j's four gate pre-activations for the slice's 8 rows: column half,
// component r = row b0 + 4·half + r.
struct SliceZ { i: mat2x4<f32>, f: mat2x4<f32>, g: mat2x4<f32>, o: mat2x4<f32> }

// z plus unit j's W_hh at units 4kc..4kc+4 (w_row: where its four gate rows start, in vec4) times
// the 8 rows' h there (columns of h_lo: rows 0..3, of h_hi: rows 4..7).
fn add_recurrent(z: SliceZ, w_row: vec4<u32>, kc: u32, h_lo: mat4x4<f32>, h_hi: mat4x4<f32>) -> SliceZ {
    let w_i = w_hh4_at(w_row.x + kc);
    let w_f = w_hh4_at(w_row.y + kc);
    let w_g = w_hh4_at(w_row.z + kc);
    let w_o = w_hh4_at(w_row.w + kc);
    return SliceZ(z.i + mat2x4<f32>(w_i * h_lo, w_i * h_hi), z.f + mat2x4<f32>(w_f * h_lo, w_f * h_hi),
                  z.g + mat2x4<f32>(w_g * h_lo, w_g * h_hi), z.o + mat2x4<f32>(w_o * h_lo, w_o * h_hi));
}

// finish_unit for unit j of the slice's 8 rows. Constant indices only: a runtime index would push the
// accumulators out of registers.
fn finish_slice(src: u32, dst: u32, t: u32, b0: u32, j: u32, z: SliceZ) {
    finish_unit(src, dst, t, b0, j, vec4(z.i[0].x, z.f[0].x, z.g[0].x, z.o[0].x));
    finish_unit(src, dst, t, b0 + 1u, j, vec4(z.i[0].y, z.f[0].y, z.g[0].y, z.o[0].y));
    finish_unit(src, dst, t, b0 + 2u, j, vec4(z.i[0].z, z.f[0].z, z.g[0].z, z.o[0].z));
    finish_unit(src, dst, t, b0 + 3u, j, vec4(z.i[0].w, z.f[0].w, z.g[0].w, z.o[0].w));
    finish_unit(src, dst, t, b0 + 4u, j, vec4(z.i[1].x, z.f[1].x, z.g[1].x, z.o[1].x));
    finish_unit(src, dst, t, b0 + 5u, j, vec4(z.i[1].y, z.f[1].y, z.g[1].y, z.o[1].y));
    finish_unit(src, dst, t, b0 + 6u, j, vec4(z.i[1].z, z.f[1].z, z.g[1].z, z.o[1].z));
    finish_unit(src, dst, t, b0 + 7u, j, vec4(z.i[1].w, z.f[1].w, z.g[1].w, z.o[1].w));
}

@compute @workgroup_size(LSTM_WG, 1, 1)
fn lstm_forward_slices(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
    let b0 = wg.x * LSTM_ROWS;
    let h = p.hidden;
    let q = h / 4u;
    let first = select(0u, p.steps, p.reverse != 0u);
    if (p.step == 0u) { slice_initial_state(b0, first, li); }
    storageBarrier();
    for (var s = p.step; s < p.step_end; s++) {
        let t = time_at(s);
        let src = slot_before(t);
        let dst = slot_after(t);
        for (var j = li; j < h; j += LSTM_WG) {
            let hl = h_rows(src, b0);
            let hh = h_rows(src, b0 + 4u);
            let w_row = vec4<u32>(j, h + j, 2u * h + j, 3u * h + j) * q;
            var z = SliceZ();
            for (var kc = 0u; kc < q; kc++) {
                let h_lo = mat4x4<f32>(states_out4[hl.x + kc], states_out4[hl.y + kc], states_out4[hl.z + kc], states_out4[hl.w + kc]);
                let h_hi = mat4x4<f32>(states_out4[hh.x + kc], states_out4[hh.y + kc], states_out4[hh.z + kc], states_out4[hh.w + kc]);
                z = add_recurrent(z, w_row, kc, h_lo, h_hi);
            }
            finish_slice(src, dst, t, b0, j, z);
        }
        storageBarrier();
    }
}

@group(0) @binding(6) var<storage, read_write> dgates4: tensor4;  // [T,B,4H/4]
@group(0) @binding(7) var<storage, read_write> d_state4: array<vec4<f32>>; // [2][B][H/4]

fn d_state_at(part: u32, b: u32, j: u32) -> f32 {
    let i = (part * p.batch + b) * p.hidden + j;
    return d_state4[i / 4u][i % 4u];
}

// Stores a running state gradient (flushed below TINY, as every gradient the backward stores).
fn set_d_state(part: u32, b: u32, j: u32, v: f32) {
    let i = (part * p.batch + b) * p.hidden + j;
    d_state4[i / 4u][i % 4u] = flush_tiny(v);
}

fn set_dgate(row: u32, col: u32, v: f32) {
    let i = row * 4u * p.hidden + col;
    dgates4_put(i, flush_tiny(v));
}

// The gate activation at (row, col) the forward pass left where its gradient goes.
fn saved_gate(row: u32, col: u32) -> f32 {
    let i = row * 4u * p.hidden + col;
    return dgates4_get(i);
}

// dL/dh_{t-1} of row b at units 4kc..4kc+4, where the row is in the batch and t is a valid step
// (at padded steps phase 1 already carried dL/dh through).
fn set_dh_prev(t: u32, b: u32, kc: u32, v: vec4<f32>) {
    if (b < p.batch && t < lengths[b]) {
        d_state4[(b * p.hidden) / 4u + kc] = flush_tiny4(v);
    }
}

// Starts the slice's running dL/dh, dL/dc from d_state_n (threads stride over the units).
fn slice_initial_d_state(b0: u32, li: u32) {
    let h = p.hidden;
    for (var r = 0u; r < min(LSTM_ROWS, p.batch - b0); r++) {
        for (var j = li; j < h; j += LSTM_WG) {
            set_d_state(0u, b0 + r, j, d_state_n[(b0 + r) * h + j]);
            set_d_state(1u, b0 + r, j, d_state_n[(p.batch + b0 + r) * h + j]);
        }
    }
}

// Gate gradients of unit j, row b at time t, from dL/dh_t (dy included) and the dL/dc_t carried from
// the step after: writes dgates (zero at a padded step) and the running dL/dh (passed through at a
// padded step; at a valid one the W_hhᵀ product replaces it later) and dL/dc_{t−1} into d_state.
fn unit_gate_grads(t: u32, b: u32, j: u32, dh: f32, dc: f32) {
    let h = p.hidden;
    let row = t * p.batch + b;
    set_d_state(0u, b, j, dh);
    if (t >= lengths[b]) {
        // Carried state: the gradient passes through untouched; the gates had no part.
        set_d_state(1u, b, j, dc);
        for (var g = 0u; g < 4u; g++) { set_dgate(row, g * h + j, 0.0); }
        return;
    }
    let c_prev = states_in[state_index(1u, slot_before(t), b, j)];
    let c_t = states_in[state_index(1u, slot_after(t), b, j)];
    let gates = vec4<f32>(saved_gate(row, j), saved_gate(row, h + j), saved_gate(row, 2u * h + j), saved_gate(row, 3u * h + j));
    let g = cell_backward(gates, c_prev, c_t, dh, dc);
    set_dgate(row, j, g.dgates.x);
    set_dgate(row, h + j, g.dgates.y);
    set_dgate(row, 2u * h + j, g.dgates.z);
    set_dgate(row, 3u * h + j, g.dgates.w);
    set_d_state(1u, b, j, g.dc_prev);
}

// Phase 1 of a backward step at time t: element-wise gate gradients, per row of the slice and unit.
fn slice_gate_grads(t: u32, b0: u32, li: u32) {
    let h = p.hidden;
    for (var r = 0u; r < min(LSTM_ROWS, p.batch - b0); r++) {
        let b = b0 + r;
        let row = t * p.batch + b;
        for (var j = li; j < h; j += LSTM_WG) {
            unit_gate_grads(t, b, j, d_state_at(0u, b, j) + dy_at(row * p.y_stride + p.y_col + j), d_state_at(1u, b, j));
        }
    }
}

// set_dh_prev for units 4kc..4kc+4 of the slice's 8 rows (column r of lo: row b0+r; of hi: b0+4+r).
// Constant indices only (see finish_slice).
fn set_dh_prev_slice(t: u32, b0: u32, kc: u32, lo: mat4x4<f32>, hi: mat4x4<f32>) {
    set_dh_prev(t, b0, kc, lo[0]); set_dh_prev(t, b0 + 1u, kc, lo[1]);
    set_dh_prev(t, b0 + 2u, kc, lo[2]); set_dh_prev(t, b0 + 3u, kc, lo[3]);
    set_dh_prev(t, b0 + 4u, kc, hi[0]); set_dh_prev(t, b0 + 5u, kc, hi[1]);
    set_dh_prev(t, b0 + 6u, kc, hi[2]); set_dh_prev(t, b0 + 7u, kc, hi[3]);
}

@compute @workgroup_size(LSTM_WG, 1, 1)
fn lstm_backward_slices(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
    let b0 = wg.x * LSTM_ROWS;
    let h = p.hidden;
    let q = h / 4u;
    let last = p.batch - 1u;
    if (p.step == 0u) { slice_initial_d_state(b0, li); }
    storageBarrier();
    for (var s = p.step; s < p.step_end; s++) {
        let t = time_at(p.steps - 1u - s);
        slice_gate_grads(t, b0, li);
        storageBarrier();
        // Phase 2: dL/dh_{t-1}[r, 4kc..4kc+4] = Σ_q dgates_t[r, q] · W_hh[q, 4kc..4kc+4], q over 4H in
        // chunks of 4: wm's columns are W_hh rows q..q+4 at those units, d_r the row's 4 gate gradients.
        // The slice's rows of dgates_t (clamped to the batch), in vec4 units.
        let row_lo = (vec4<u32>(t * p.batch) + min(vec4<u32>(b0) + vec4<u32>(0u, 1u, 2u, 3u), vec4<u32>(last))) * h;
        let row_hi = (vec4<u32>(t * p.batch) + min(vec4<u32>(b0) + vec4<u32>(4u, 5u, 6u, 7u), vec4<u32>(last))) * h;
        for (var kc = li; kc < q; kc += LSTM_WG) {
            var acc_lo = mat4x4<f32>(); // column r: row b0+r
            var acc_hi = mat4x4<f32>(); // column r: row b0+4+r
            for (var qc = 0u; qc < h; qc++) {
                let wm = mat4x4<f32>(w_hh4_at((4u * qc) * q + kc), w_hh4_at((4u * qc + 1u) * q + kc),
                                     w_hh4_at((4u * qc + 2u) * q + kc), w_hh4_at((4u * qc + 3u) * q + kc));
                acc_lo += wm * mat4x4<f32>(dgates4_at(row_lo.x + qc), dgates4_at(row_lo.y + qc),
                                           dgates4_at(row_lo.z + qc), dgates4_at(row_lo.w + qc));
                acc_hi += wm * mat4x4<f32>(dgates4_at(row_hi.x + qc), dgates4_at(row_hi.y + qc),
                                           dgates4_at(row_hi.z + qc), dgates4_at(row_hi.w + qc));
            }
            set_dh_prev_slice(t, b0, kc, acc_lo, acc_hi);
        }
        storageBarrier();
    }
}

// ---- step variants: one dispatch per timestep, the 4H gate units spread over many workgroups ----
// For a GPU with many compute units: the kernels above loop over time inside one workgroup per
// batch row (or slice), so at B = 64 only 8–64 workgroups run. Here each dispatch does one timestep
// (dispatches in one compute pass are ordered by wgpu's barriers, which are the grid-wide sync), and
// its grid covers every (unit, batch-row group): workgroup (x, y) owns units x·LSTM_WG .. +LSTM_WG
// and rows y·LSTM_STEP_ROWS .. +LSTM_STEP_ROWS; each thread one unit for LSTM_STEP_ROWS rows, so each W_hh load
// feeds LSTM_STEP_ROWS rows. Needs H % 4 == 0 (vec4 views, as the slice variants). Same bindings, shapes
// and state layout as above; rows past B are read clamped and never written.
//
// lstm_forward_step, dispatch s = 0 .. T−1 (p.step = s) does time t = time_at(s): the rows' h_{t−1}
// (from state0 at s = 0) is staged in workgroup memory STEP_KC4 vec4 at a time; thread j reads its
// four W_hh rows as vec4 along k and finishes unit j (finish_unit). At s = 0 it also writes the
// initial state of its units into the first slot.
// lstm_backward_step, dispatch s = 0 .. T (p.step = s; T + 1 dispatches) walks time backwards: at
// s ≥ 1 thread k first forms dL/dh of its unit from the step done by dispatch s − 1,
// Σ_q W_hh[q, k] · dgates[q] (thread k reads column k: neighbours read neighbours), with those
// dgates rows staged in workgroup memory; then, for s < T, the cell backward of time time_at(T−1−s).
// Dispatch T only forms dL/dh_0.

// Batch rows per thread: the components of the vec4 accumulators.
const_assert LSTM_STEP_ROWS == 4u;
const STEP_KC4: u32 = 64u;   // forward: vec4 chunks of h_{t−1} staged per row (256 units)
const STEP_QC: u32 = 256u;   // backward: gate columns of dgates staged per round
var<workgroup> h_stage: array<vec4<f32>, LSTM_STEP_ROWS * STEP_KC4>; // [row][kc]: h[b0+row, 4kc .. 4kc+4]
var<workgroup> dg_stage: array<vec4<f32>, STEP_QC>;             // [q]: dgates[row b0+r, q] in component r

// The helpers below are shared with the persistent kernels (lstm_persist.wgsl), which differ only in
// where they read the previous step's h (forward) or gate gradients (backward) from.

// Step 0 only: copies the initial state of unit j, rows b0 .. b0+4, into slot `src`.
fn step_initial_state(src: u32, b0: u32, j: u32) {
    let h = p.hidden;
    if (j >= h) { return; }
    for (var r = 0u; r < LSTM_STEP_ROWS; r++) {
        let b = b0 + r;
        if (b < p.batch) {
            set_state(0u, src, b, j, state0[b * h + j]);
            set_state(1u, src, b, j, state0[(p.batch + b) * h + j]);
        }
    }
}

// h_{t−1} of row b (clamped to the batch) at units 4kc .. 4kc+4 at step 0: the initial state.
fn step_h0(b: u32, kc: u32) -> vec4<f32> {
    let i = b * p.hidden + 4u * kc;
    return vec4<f32>(state0[i], state0[i + 1u], state0[i + 2u], state0[i + 3u]);
}

// The recurrent parts of unit j's four gate pre-activations; component r: row b0 + r.
struct StepZ { i: vec4<f32>, f: vec4<f32>, g: vec4<f32>, o: vec4<f32> }

// Adds the products of unit j's W_hh rows with the n staged chunks of h, units 4·c0 .. 4·(c0+n).
fn step_add_chunk(z0: StepZ, j: u32, c0: u32, n: u32) -> StepZ {
    let h = p.hidden;
    let w_row = vec4<u32>(j, h + j, 2u * h + j, 3u * h + j) * (h / 4u);
    var z = z0;
    for (var kc = 0u; kc < n; kc++) {
        // Column r of hm: row b0 + r's h at units 4(c0+kc) .. +4; w·hm = the four rows' dot products.
        let hm = mat4x4<f32>(h_stage[kc], h_stage[STEP_KC4 + kc], h_stage[2u * STEP_KC4 + kc], h_stage[3u * STEP_KC4 + kc]);
        z.i += w_hh4_at(w_row.x + c0 + kc) * hm;
        z.f += w_hh4_at(w_row.y + c0 + kc) * hm;
        z.g += w_hh4_at(w_row.z + c0 + kc) * hm;
        z.o += w_hh4_at(w_row.w + c0 + kc) * hm;
    }
    return z;
}

// finish_unit for the four rows (constant indices only: see finish_slice).
fn step_finish(src: u32, dst: u32, t: u32, b0: u32, j: u32, z: StepZ) {
    finish_unit(src, dst, t, b0, j, vec4(z.i.x, z.f.x, z.g.x, z.o.x));
    finish_unit(src, dst, t, b0 + 1u, j, vec4(z.i.y, z.f.y, z.g.y, z.o.y));
    finish_unit(src, dst, t, b0 + 2u, j, vec4(z.i.z, z.f.z, z.g.z, z.o.z));
    finish_unit(src, dst, t, b0 + 3u, j, vec4(z.i.w, z.f.w, z.g.w, z.o.w));
}

@compute @workgroup_size(LSTM_WG, 1, 1)
fn lstm_forward_step(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
    let h = p.hidden;
    let q = h / 4u;
    let j = wg.x * LSTM_WG + li;
    let b0 = wg.y * LSTM_STEP_ROWS;
    let t = time_at(p.step);
    let src = slot_before(t);
    let dst = slot_after(t);
    let first = p.step == 0u;
    if (first) { step_initial_state(src, b0, j); }
    var z = StepZ();
    for (var c0 = 0u; c0 < q; c0 += STEP_KC4) {
        for (var e = li; e < LSTM_STEP_ROWS * STEP_KC4; e += LSTM_WG) {
            let b = min(b0 + e / STEP_KC4, p.batch - 1u);
            let kc = c0 + e % STEP_KC4;
            var v = vec4<f32>(0.0);
            if (kc < q && first) {
                v = step_h0(b, kc);
            } else if (kc < q) {
                v = states_out4[state_index(0u, src, b, 4u * kc) / 4u];
            }
            h_stage[e] = v;
        }
        workgroupBarrier();
        if (j < h) { z = step_add_chunk(z, j, c0, min(STEP_KC4, q - c0)); }
        workgroupBarrier();
    }
    if (j < h) { step_finish(src, dst, t, b0, j, z); }
}

// Adds Σ_q W_hh[q, k] · dgates[q] over the n staged gate columns q0 .. q0+n to unit k's four rows
// (thread k reads column k: neighbours read neighbours).
fn step_add_dh_chunk(acc: vec4<f32>, k: u32, q0: u32, n: u32) -> vec4<f32> {
    var out = acc;
    for (var qq = 0u; qq < n; qq++) {
        out = fma(vec4<f32>(w_hh_at((q0 + qq) * p.hidden + k)), dg_stage[qq], out);
    }
    return out;
}

// dL/dh of unit k carried into the next step from the product `acc` of the step done (`t_done`)
// where that step was valid, else the gradient passed through unchanged (d_state part 0).
fn step_dh_out(acc: vec4<f32>, t_done: u32, b0: u32, k: u32) -> vec4<f32> {
    var out = vec4<f32>(0.0);
    for (var r = 0u; r < LSTM_STEP_ROWS; r++) {
        let b = min(b0 + r, p.batch - 1u);
        out[r] = select(d_state_at(0u, b, k), acc[r], t_done < lengths[b]);
    }
    return out;
}

// dL/dh of unit k for the four rows, carried into time `t` from the step done before it (`t_done`,
// walked by the previous dispatch), with those dgates rows staged in workgroup memory.
fn step_dh_carry(t_done: u32, b0: u32, k: u32, li: u32) -> vec4<f32> {
    let h = p.hidden;
    var acc = vec4<f32>(0.0);
    for (var q0 = 0u; q0 < 4u * h; q0 += STEP_QC) {
        for (var e = li; e < STEP_QC; e += LSTM_WG) {
            var v = vec4<f32>(0.0);
            if (q0 + e < 4u * h) {
                for (var r = 0u; r < LSTM_STEP_ROWS; r++) {
                    let b = min(b0 + r, p.batch - 1u);
                    v[r] = dgates4_get((t_done * p.batch + b) * 4u * h + q0 + e);
                }
            }
            dg_stage[e] = v;
        }
        workgroupBarrier();
        if (k < h) { acc = step_add_dh_chunk(acc, k, q0, min(STEP_QC, 4u * h - q0)); }
        workgroupBarrier();
    }
    if (k >= h) { return vec4<f32>(0.0); }
    return step_dh_out(acc, t_done, b0, k);
}

// Step 0 only: dL/dh_n (part 0) or dL/dc_n (part 1) of unit k for the four rows (clamped).
fn step_initial_carry(part: u32, b0: u32, k: u32) -> vec4<f32> {
    var out = vec4<f32>(0.0);
    for (var r = 0u; r < LSTM_STEP_ROWS; r++) {
        out[r] = d_state_n[(part * p.batch + min(b0 + r, p.batch - 1u)) * p.hidden + k];
    }
    return out;
}

// The running dL/dc of unit k for the four rows (clamped).
fn step_dc_carry(b0: u32, k: u32) -> vec4<f32> {
    var out = vec4<f32>(0.0);
    for (var r = 0u; r < LSTM_STEP_ROWS; r++) {
        out[r] = d_state_at(1u, min(b0 + r, p.batch - 1u), k);
    }
    return out;
}

// Backward step s of unit k, rows b0 .. b0+4 in the batch, from the carried dL/dh and dL/dc: the
// cell backward of time time_at(T−1−s), or at s = T the gradient of the initial state.
fn step_unit_grads(s: u32, b0: u32, k: u32, dh_carry: vec4<f32>, dc_carry: vec4<f32>) {
    for (var r = 0u; r < LSTM_STEP_ROWS; r++) {
        let b = b0 + r;
        if (b >= p.batch) { break; }
        if (s == p.steps) {
            // After the last step: what is carried is the gradient of the initial state.
            set_d_state(0u, b, k, dh_carry[r]);
            set_d_state(1u, b, k, dc_carry[r]);
            continue;
        }
        let t = time_at(p.steps - 1u - s);
        unit_gate_grads(t, b, k, dh_carry[r] + dy_at((t * p.batch + b) * p.y_stride + p.y_col + k), dc_carry[r]);
    }
}

@compute @workgroup_size(LSTM_WG, 1, 1)
fn lstm_backward_step(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
    let k = wg.x * LSTM_WG + li;
    let b0 = wg.y * LSTM_STEP_ROWS;
    let s = p.step;
    if (s == 0u) {
        if (k < p.hidden) { step_unit_grads(s, b0, k, step_initial_carry(0u, b0, k), step_initial_carry(1u, b0, k)); }
        return;
    }
    // Every thread takes part in staging, whether or not it owns a unit (the barriers).
    let dh_carry = step_dh_carry(time_at(p.steps - s), b0, k, li);
    if (k < p.hidden) { step_unit_grads(s, b0, k, dh_carry, step_dc_carry(b0, k)); }
}
