// lstm_subgroups.wgsl — the batch-slice LSTM kernels with the operand every thread needs shared
// through subgroup broadcasts instead of loaded by every thread. Compiled after lstm.wgsl (the host
// appends this file to it: same Params, bindings, helpers and state layout) and only on adapters
// with the SUBGROUP feature and subgroups of at least 8 invocations.
//
// In lstm_forward_slices every thread of a workgroup loads the same h_{t−1} of the slice's 8 rows
// (8 vec4 per 4 units of k) beside its own 4 W_hh vec4: two thirds of its loads are repeats, and on a
// CPU driver (lavapipe runs a subgroup as SIMD lanes with a load per lane) loads are the bound. Here
// lane r of each subgroup (r = subgroup_invocation_id mod 8) loads row b0 + r's vec4 and
// subgroupBroadcast hands it to the others: 1 + 4 loads per 4 units of k instead of 8 + 4. The
// backward pass shares the slice's dgates rows in its W_hhᵀ product the same way. The lane indices
// are constants, so nothing depends on how invocations are grouped into subgroups, only on their size.
//
// Entry points: lstm_forward_slices_sg (bindings of lstm_forward), lstm_backward_slices_sg
// (bindings of lstm_backward). Grid (ceil(B/LSTM_ROWS), 1, 1), workgroup LSTM_WG. H % 4 == 0.
// Threads walk the units in rounds of LSTM_WG that every thread joins (a broadcast needs every lane);
// threads past H compute on clamped indices and write nothing.

// The 8 rows' vec4 from lanes 0..7: columns of lo are rows 0..3, of hi rows 4..7.
fn broadcast_lo(v: vec4<f32>) -> mat4x4<f32> {
    return mat4x4<f32>(subgroupBroadcast(v, 0u), subgroupBroadcast(v, 1u), subgroupBroadcast(v, 2u), subgroupBroadcast(v, 3u));
}
fn broadcast_hi(v: vec4<f32>) -> mat4x4<f32> {
    return mat4x4<f32>(subgroupBroadcast(v, 4u), subgroupBroadcast(v, 5u), subgroupBroadcast(v, 6u), subgroupBroadcast(v, 7u));
}

@compute @workgroup_size(LSTM_WG, 1, 1)
fn lstm_forward_slices_sg(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) li: u32,
                          @builtin(subgroup_invocation_id) sid: u32) {
    let b0 = wg.x * LSTM_ROWS;
    let h = p.hidden;
    let q = h / 4u;
    let first = select(0u, p.steps, p.reverse != 0u);
    if (p.step == 0u) { slice_initial_state(b0, first, li); }
    storageBarrier();
    // The row this lane loads for the others (rows past the batch clamped).
    let my_row = min(b0 + sid % 8u, p.batch - 1u);
    for (var s = p.step; s < p.step_end; s++) {
        let t = time_at(s);
        let src = slot_before(t);
        let dst = slot_after(t);
        let my_h = state_index(0u, src, my_row, 0u) / 4u;
        for (var j0 = 0u; j0 < h; j0 += LSTM_WG) {
            let j = j0 + li;
            let jc = min(j, h - 1u);
            let w_row = vec4<u32>(jc, h + jc, 2u * h + jc, 3u * h + jc) * q;
            var z = SliceZ();
            for (var kc = 0u; kc < q; kc++) {
                let mine = states_out4[my_h + kc];
                z = add_recurrent(z, w_row, kc, broadcast_lo(mine), broadcast_hi(mine));
            }
            if (j < h) {
                finish_slice(src, dst, t, b0, j, z);
            }
        }
        storageBarrier();
    }
}

@compute @workgroup_size(LSTM_WG, 1, 1)
fn lstm_backward_slices_sg(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) li: u32,
                           @builtin(subgroup_invocation_id) sid: u32) {
    let b0 = wg.x * LSTM_ROWS;
    let h = p.hidden;
    let q = h / 4u;
    if (p.step == 0u) { slice_initial_d_state(b0, li); }
    storageBarrier();
    let my_row = min(b0 + sid % 8u, p.batch - 1u);
    for (var s = p.step; s < p.step_end; s++) {
        let t = time_at(p.steps - 1u - s);
        slice_gate_grads(t, b0, li);
        storageBarrier();
        // Phase 2: dL/dh_{t-1}[r, 4kc..4kc+4] = Σ_q dgates_t[r, q] · W_hh[q, 4kc..4kc+4] (see
        // lstm_backward_slices), this lane loading row my_row's 4 gate gradients for the others.
        let my_dg = (t * p.batch + my_row) * h;
        for (var kc0 = 0u; kc0 < q; kc0 += LSTM_WG) {
            let kc = kc0 + li;
            let kcc = min(kc, q - 1u);
            var acc_lo = mat4x4<f32>();
            var acc_hi = mat4x4<f32>();
            for (var qc = 0u; qc < h; qc++) {
                let wm = mat4x4<f32>(w_hh4_at((4u * qc) * q + kcc), w_hh4_at((4u * qc + 1u) * q + kcc),
                                     w_hh4_at((4u * qc + 2u) * q + kcc), w_hh4_at((4u * qc + 3u) * q + kcc));
                let mine = dgates4_at(my_dg + qc);
                acc_lo += wm * broadcast_lo(mine);
                acc_hi += wm * broadcast_hi(mine);
            }
            if (kc < q) {
                set_dh_prev_slice(t, b0, kc, acc_lo, acc_hi);
            }
        }
        storageBarrier();
    }
}
