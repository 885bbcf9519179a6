// lstm_persist.wgsl — the persistent LSTM recurrence, compiled after lstm.wgsl: the step kernels'
// work (lstm.wgsl, end) for all timesteps in one dispatch, the workgroups waiting for each other
// between steps instead of the dispatch boundary doing it. It saves T − 1 dispatches and their
// barriers per direction, which on a GPU at a small batch cost more than the step itself.
//
// Vulkan (and so WGSL) promises no forward progress across workgroups: a workgroup waiting for
// another that the driver has not started (more workgroups than run at once, e.g. a CPU driver's
// few threads) would wait forever. So every wait is bounded: after about a million polls of one word
// the wait gives up, sets the status word and poisons what it returns with NaN, and every later
// wait gives up at once. A run whose status word is set afterwards is wrong; the tuner only picks
// this kernel after a run on the shape left it 0 and matched the step kernel (src/kernels/tune.rs),
// never the fixed rule. It does
// not run on CPU drivers: llvmpipe (lavapipe) runs a dispatch's workgroups in chunks, one after
// another per thread, and lets an invocation take 65535 loop back-edges in all, after which every
// loop is cut short silently; spinning exhausts that (a wait then seems met, with a wrong value).
//
// WGSL's atomics are relaxed and storageBarrier() orders a workgroup only, so a flag cannot publish
// plain stores to other workgroups. Each exchanged value is therefore its own atomic word carrying
// its step: the f32's two low mantissa bits are replaced by tag(s) = 1 + s mod 3 (never 0, so a
// cleared word never matches; a stale word from step s − 2 never matches either, as two steps
// apart differ mod 3). A reader polls a word until it carries the tag it waits for. The values the
// recurrence reads are so rounded by at most 3 units in the last place of f32 (2^-21 relative).
// Within a workgroup, a workgroupBarrier() at the top of each step makes sure its own threads have
// written their previous step before any of them polls (a CPU driver runs the threads of a
// workgroup in turn between barriers).
//
// Bindings: those of lstm_forward_step / lstm_backward_step (lstm.wgsl header), plus
//   8 xchg (rw) atomic u32 [1 + 2·B·4H]: word 0 the status (0 = every wait was met), then two
//   regions by step parity: forward h [B][H] per region, backward dgates [B][4H] per region.
// lstm_persist_clear zeroes the exchange words of the batch (not the status) before each persistent
// dispatch.
// Grid: (p.groups, 1, 1) for lstm_forward_persist / lstm_backward_persist, workgroup LSTM_WG; each
// workgroup walks the step kernels' tiles (ceil(H/LSTM_WG) unit blocks × ceil(B/LSTM_STEP_ROWS)
// row groups) w, w + groups, … at every step. grid_1d(2·B·4H, WG_1D) for lstm_persist_clear.

@group(0) @binding(8) var<storage, read_write> xchg: array<atomic<u32>>;

// A wait polls its word PERSIST_POLLS times per round, checking the status word between rounds, for
// at most PERSIST_ROUNDS rounds (about a million polls, far beyond a step's time on any GPU).
const PERSIST_POLLS: u32 = 256u;
const PERSIST_ROUNDS: u32 = 4096u;

fn persist_tag(s: u32) -> u32 { return 1u + s % 3u; }

// Publishes value v of exchange word i, written at step s.
fn persist_put(i: u32, s: u32, v: f32) {
    atomicStore(&xchg[1u + i], (bitcast<u32>(v) & ~3u) | persist_tag(s));
}

// The value of exchange word i written at step s, once it is there; NaN where the wait gave up.
fn persist_get(i: u32, s: u32) -> f32 {
    let tag = persist_tag(s);
    var v = 0u;
    var met = false;
    for (var round = 0u; round < PERSIST_ROUNDS && !met; round++) {
        if (atomicLoad(&xchg[0]) != 0u) { break; } // another wait gave up: so does this one
        for (var n = 0u; n < PERSIST_POLLS; n++) {
            v = atomicLoad(&xchg[1u + i]);
            if ((v & 3u) == tag) {
                met = true;
                break;
            }
        }
    }
    if (!met) {
        atomicStore(&xchg[0], 1u);
        v = v | 0x7fc00000u; // a quiet NaN, whatever v held
    }
    return bitcast<f32>(v & ~3u);
}

// Tiles of the step grid: unit blocks × row groups.
fn persist_unit_blocks() -> u32 { return (p.hidden + LSTM_WG - 1u) / LSTM_WG; }
fn persist_tiles() -> u32 { return persist_unit_blocks() * ((p.batch + LSTM_STEP_ROWS - 1u) / LSTM_STEP_ROWS); }

// Forward exchange word of h[b, j] in step s's region.
fn persist_h_word(s: u32, b: u32, j: u32) -> u32 { return ((s % 2u) * p.batch + b) * p.hidden + j; }

@compute @workgroup_size(LSTM_WG, 1, 1)
fn lstm_forward_persist(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
    let h = p.hidden;
    let q = h / 4u;
    let blocks = persist_unit_blocks();
    let tiles = persist_tiles();
    for (var s = 0u; s < p.steps; s++) {
        workgroupBarrier();
        let t = time_at(s);
        let src = slot_before(t);
        let dst = slot_after(t);
        for (var tile = wg.x; tile < tiles; tile += p.groups) {
            let j = (tile % blocks) * LSTM_WG + li;
            let b0 = (tile / blocks) * LSTM_STEP_ROWS;
            if (s == 0u) { step_initial_state(src, b0, j); }
            var z = StepZ();
            for (var c0 = 0u; c0 < q; c0 += STEP_KC4) {
                for (var e = li; e < LSTM_STEP_ROWS * STEP_KC4; e += LSTM_WG) {
                    let b = min(b0 + e / STEP_KC4, p.batch - 1u);
                    let kc = c0 + e % STEP_KC4;
                    var v = vec4<f32>(0.0);
                    if (kc < q && s == 0u) {
                        v = step_h0(b, kc);
                    } else if (kc < q) {
                        let w = persist_h_word(s - 1u, b, 4u * kc);
                        v = vec4<f32>(persist_get(w, s - 1u), persist_get(w + 1u, s - 1u), persist_get(w + 2u, s - 1u), persist_get(w + 3u, s - 1u));
                    }
                    h_stage[e] = v;
                }
                workgroupBarrier();
                if (j < h) { z = step_add_chunk(z, j, c0, min(STEP_KC4, q - c0)); }
                workgroupBarrier();
            }
            if (j < h) {
                step_finish(src, dst, t, b0, j, z);
                for (var b = b0; b < min(b0 + LSTM_STEP_ROWS, p.batch); b++) {
                    persist_put(persist_h_word(s, b, j), s, get_state(0u, dst, b, j));
                }
            }
        }
    }
}

// Backward exchange word of dgates[b, col] in step s's region.
fn persist_dg_word(s: u32, b: u32, col: u32) -> u32 { return ((s % 2u) * p.batch + b) * 4u * p.hidden + col; }

@compute @workgroup_size(LSTM_WG, 1, 1)
fn lstm_backward_persist(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
    let h = p.hidden;
    let blocks = persist_unit_blocks();
    let tiles = persist_tiles();
    for (var s = 0u; s <= p.steps; s++) {
        workgroupBarrier();
        for (var tile = wg.x; tile < tiles; tile += p.groups) {
            let k = (tile % blocks) * LSTM_WG + li;
            let b0 = (tile / blocks) * LSTM_STEP_ROWS;
            var dh_carry = vec4<f32>(0.0);
            if (s == 0u) {
                if (k < h) { dh_carry = step_initial_carry(0u, b0, k); }
            } else {
                // step_dh_carry, reading the gate gradients of step s − 1 from the exchange.
                var acc = vec4<f32>(0.0);
                for (var q0 = 0u; q0 < 4u * h; q0 += STEP_QC) {
                    for (var e = li; e < STEP_QC; e += LSTM_WG) {
                        var v = vec4<f32>(0.0);
                        if (q0 + e < 4u * h) {
                            for (var r = 0u; r < LSTM_STEP_ROWS; r++) {
                                v[r] = persist_get(persist_dg_word(s - 1u, min(b0 + r, p.batch - 1u), q0 + e), s - 1u);
                            }
                        }
                        dg_stage[e] = v;
                    }
                    workgroupBarrier();
                    if (k < h) { acc = step_add_dh_chunk(acc, k, q0, min(STEP_QC, 4u * h - q0)); }
                    workgroupBarrier();
                }
                if (k < h) { dh_carry = step_dh_out(acc, time_at(p.steps - s), b0, k); }
            }
            if (k < h) {
                var dc_carry = vec4<f32>(0.0);
                if (s == 0u) { dc_carry = step_initial_carry(1u, b0, k); } else { dc_carry = step_dc_carry(b0, k); }
                step_unit_grads(s, b0, k, dh_carry, dc_carry);
                if (s < p.steps) {
                    let row = time_at(p.steps - 1u - s) * p.batch;
                    for (var b = b0; b < min(b0 + LSTM_STEP_ROWS, p.batch); b++) {
                        for (var g = 0u; g < 4u; g++) {
                            persist_put(persist_dg_word(s, b, g * h + k), s, saved_gate(row + b, g * h + k));
                        }
                    }
                }
            }
        }
    }
}

@compute @workgroup_size(WG_1D, 1, 1)
fn lstm_persist_clear(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = linear_index(gid, nwg, WG_1D);
    if (i < 2u * p.batch * 4u * p.hidden) { atomicStore(&xchg[1u + i], 0u); }
}
