// lstm.wgsl — fused LSTM layer (one direction), forward and backward, one dispatch per sequence.
//
// Gate order along the 4H axis is PyTorch's: i, f, g, o. Sequences are time-major.
// The input projection pre = x·W_ihᵀ + b_ih + b_hh is done beforehand by one GEMM over all timesteps;
// these kernels do the sequential part: the recurrent product h_{t-1}·W_hhᵀ, the gate non-linearities
// and the state update, fused, looping over time inside the dispatch.
//
// Each workgroup owns one batch row b (rows are independent, so no grid-wide sync is needed) and its
// 64 threads stride over the H units. Between timesteps the threads exchange h (forward) or the gate
// gradients (backward) through storage memory, made visible by storageBarrier().
//
// State slots: states = [2][T+1][B][H]: part 0 holds h, part 1 holds c. The forward direction reads
// slot t and writes slot t+1 at time t (slot 0 = initial state, slot T = final state); the reverse
// direction reads slot t+1 and writes slot t (slot T = initial state, slot 0 = final state).
// Variable lengths: at t >= lengths[b] the state is carried unchanged and the gates are not used.
//
// Bindings shared by both entry points: 0 uniform Params | 1 w_hh [4H,H] | 2 lengths [B] u32
// lstm_forward:  3 gates_out (rw) [T,B,4H] activations i,f,g,o | 4 states_out (rw) |
//   5 pre [T,B,4H] | 6 state0 [2][B][H] (h0, c0) |
//   7 y (rw) [T,B,y_stride]: this direction's h at columns y_col .. y_col+H
// lstm_backward: 3 gates_in | 4 states_in | 5 dy [T,B,y_stride] (columns y_col..) |
//   6 d_state_n [2][B][H] (dL/dh_n, dL/dc_n) | 7 dgates (rw) [T,B,4H] pre-activation gate gradients |
//   8 d_state0 (rw) [2][B][H]: running dL/dh, dL/dc while walking back; ends as dL/dh0, dL/dc0
// Grid: (B, 1, 1), workgroup 64.

struct Params {
    batch: u32, steps: u32, hidden: u32, reverse: u32,
    y_stride: u32, y_col: u32, _p0: u32, _p1: u32,
}

const WG: u32 = 64u;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> w_hh: array<f32>;
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

// ---- forward ----
@group(0) @binding(3) var<storage, read_write> gates_out: array<f32>;
@group(0) @binding(4) var<storage, read_write> states_out: array<f32>;
@group(0) @binding(5) var<storage, read> pre: array<f32>;
@group(0) @binding(6) var<storage, read> state0: array<f32>;
@group(0) @binding(7) var<storage, read_write> y: array<f32>;

@compute @workgroup_size(64, 1, 1)
fn lstm_forward(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
    let b = wg.x;
    let h = p.hidden;
    let len = lengths[b];
    let first = select(0u, p.steps, p.reverse != 0u);
    for (var j = li; j < h; j += WG) {
        states_out[state_index(0u, first, b, j)] = state0[b * h + j];
        states_out[state_index(1u, first, b, j)] = state0[(p.batch + b) * h + j];
    }
    storageBarrier();
    for (var s = 0u; s < p.steps; s++) {
        let t = time_at(s);
        let src = slot_before(t);
        let dst = slot_after(t);
        let row = t * p.batch + b;
        for (var j = li; j < h; j += WG) {
            let h_prev = states_out[state_index(0u, src, b, j)];
            let c_prev = states_out[state_index(1u, src, b, j)];
            var h_new = h_prev;
            var c_new = c_prev;
            if (t < len) {
                var z = vec4<f32>(pre[row * 4u * h + j], pre[row * 4u * h + h + j],
                                  pre[row * 4u * h + 2u * h + j], pre[row * 4u * h + 3u * h + j]);
                let h_base = state_index(0u, src, b, 0u);
                for (var k = 0u; k < h; k++) {
                    let hk = states_out[h_base + k];
                    z += hk * vec4<f32>(w_hh[j * h + k], w_hh[(h + j) * h + k],
                                        w_hh[(2u * h + j) * h + k], w_hh[(3u * h + j) * h + k]);
                }
                let i_g = sigmoid(z.x);
                let f_g = sigmoid(z.y);
                let g_g = tanh_stable(z.z);
                let o_g = sigmoid(z.w);
                c_new = f_g * c_prev + i_g * g_g;
                h_new = o_g * tanh_stable(c_new);
                gates_out[row * 4u * h + j] = i_g;
                gates_out[row * 4u * h + h + j] = f_g;
                gates_out[row * 4u * h + 2u * h + j] = g_g;
                gates_out[row * 4u * h + 3u * h + j] = o_g;
            }
            states_out[state_index(0u, dst, b, j)] = h_new;
            states_out[state_index(1u, dst, b, j)] = c_new;
            y[row * p.y_stride + p.y_col + j] = h_new;
        }
        storageBarrier();
    }
}

// ---- backward ----
@group(0) @binding(3) var<storage, read> gates_in: array<f32>;
@group(0) @binding(4) var<storage, read> states_in: array<f32>;
@group(0) @binding(5) var<storage, read> dy: array<f32>;
@group(0) @binding(6) var<storage, read> d_state_n: array<f32>;
@group(0) @binding(7) var<storage, read_write> dgates: array<f32>;
@group(0) @binding(8) var<storage, read_write> d_state0: array<f32>;

@compute @workgroup_size(64, 1, 1)
fn lstm_backward(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
    let b = wg.x;
    let h = p.hidden;
    let len = lengths[b];
    // d_state0 holds the running dL/dh_t and dL/dc_t of this row while walking back in time.
    for (var j = li; j < h; j += WG) {
        d_state0[b * h + j] = d_state_n[b * h + j];
        d_state0[(p.batch + b) * h + j] = d_state_n[(p.batch + b) * h + j];
    }
    storageBarrier();
    for (var s = 0u; s < p.steps; s++) {
        // Walk the forward order backwards.
        let t = time_at(p.steps - 1u - s);
        let row = t * p.batch + b;
        let in_range = t < len;
        // Phase 1: element-wise gate gradients of this step.
        for (var j = li; j < h; j += WG) {
            let dh = d_state0[b * h + j] + dy[row * p.y_stride + p.y_col + j];
            if (!in_range) {
                // Carried state: the gradient passes through untouched; the gates had no part.
                d_state0[b * h + j] = dh;
                for (var g = 0u; g < 4u; g++) { dgates[row * 4u * h + g * h + j] = 0.0; }
                continue;
            }
            let c_prev = states_in[state_index(1u, slot_before(t), b, j)];
            let c_t = states_in[state_index(1u, slot_after(t), b, j)];
            let i_g = gates_in[row * 4u * h + j];
            let f_g = gates_in[row * 4u * h + h + j];
            let g_g = gates_in[row * 4u * h + 2u * h + j];
            let o_g = gates_in[row * 4u * h + 3u * h + j];
            let tc = tanh_stable(c_t);
            let dc = d_state0[(p.batch + b) * h + j] + dh * o_g * (1.0 - tc * tc);
            dgates[row * 4u * h + j] = dc * g_g * i_g * (1.0 - i_g);
            dgates[row * 4u * h + h + j] = dc * c_prev * f_g * (1.0 - f_g);
            dgates[row * 4u * h + 2u * h + j] = dc * i_g * (1.0 - g_g * g_g);
            dgates[row * 4u * h + 3u * h + j] = dh * tc * o_g * (1.0 - o_g);
            d_state0[(p.batch + b) * h + j] = dc * f_g;
        }
        storageBarrier();
        // Phase 2: dL/dh_{t-1} = W_hhᵀ · dgates_t (thread k reads column k: neighbours read neighbours).
        if (in_range) {
            for (var k = li; k < h; k += WG) {
                var acc = 0.0;
                for (var r = 0u; r < 4u * h; r++) {
                    acc = fma(w_hh[r * h + k], dgates[row * 4u * h + r], acc);
                }
                d_state0[b * h + k] = acc;
            }
        }
        storageBarrier();
    }
}
