// matmul_subgroups.wgsl — the register-blocked GEMM with op(A) shared across a subgroup. Compiled
// after matmul.wgsl (the host appends this file to it: same Params, bindings and helpers) and only on
// adapters with the SUBGROUP feature and subgroups of at least 8 invocations.
//
// In matmul_blocked the 8 threads of a workgroup row (same lid.y) read the same 8×4 part of op(A)
// at every step of k, each on its own: half of a thread's loads are repeats, and on a CPU driver
// (lavapipe runs a subgroup as SIMD lanes with a load per lane) loads are the bound. Here lane r of
// each aligned group of 8 lanes loads slice r of that part (one vec4) and the group hands the eight
// slices round with subgroupShuffle: 1 + 8 loads per 4 k instead of 8 + 8.
//
// That needs the 8 threads of a workgroup row to be one aligned group of 8 lanes in a subgroup, as
// they are where subgroups are cut from consecutive local invocation indices. WGSL does not promise
// it, so every subgroup checks it first (each lane's index mod 8 is its lane mod 8, and the first lane
// of its group holds the row's first index) and, where it does not hold, reads op(A) as matmul_blocked
// does: same result either way. (No `enable subgroups;` directive: naga rejects it; the device
// feature is what turns subgroups on. The tuner never runs in a browser, where Tint would want it.)
//
// Entry points: matmul_blocked_sg, _sg_sa (A read as scalars), _sg_sb (B), _sg_sab (both), the
// bindings and grid of matmul_blocked (and its _sa / _sb / _sab); workgroup (BT·BT, 1, 1).
const_assert BT == 8u; // a workgroup row is one group of 8 lanes

struct ABlock { lo: mat4x4<f32>, hi: mat4x4<f32> }

// Slice r (0..8) of op(A)'s 8 rows × 4 k at (ms, k), in the layout k_step reads it: op(A) rows
// ms + r (A stored [M,K]: one vec4 along k) or A's row k + r % 4 at columns ms + 4·(r / 4) (A stored
// [K,M], rows past K clamped as across_k_a does).
fn a_slice(ms: u32, k: u32, r: u32, a_scalar: bool) -> vec4<f32> {
    if (p.trans_a == 0u) { return a_vec(ms + r, k, a_scalar); }
    return a_vec(min(k + (r & 3u), p.k - 1u), ms + (r & 4u), a_scalar);
}

// op(A)'s part for the block at (ms, k), one slice loaded by this lane and seven from its group.
fn shared_a(ms: u32, k: u32, a_scalar: bool, sid: u32) -> ABlock {
    let mine = a_slice(ms, k, sid & 7u, a_scalar);
    let g = sid & ~7u;
    let v0 = subgroupShuffle(mine, g); let v1 = subgroupShuffle(mine, g + 1u);
    let v2 = subgroupShuffle(mine, g + 2u); let v3 = subgroupShuffle(mine, g + 3u);
    let v4 = subgroupShuffle(mine, g + 4u); let v5 = subgroupShuffle(mine, g + 5u);
    let v6 = subgroupShuffle(mine, g + 6u); let v7 = subgroupShuffle(mine, g + 7u);
    if (p.trans_a == 0u) {
        return ABlock(transpose(mat4x4<f32>(v0, v1, v2, v3)), transpose(mat4x4<f32>(v4, v5, v6, v7)));
    }
    return ABlock(mat4x4<f32>(v0, v1, v2, v3), mat4x4<f32>(v4, v5, v6, v7));
}

fn k_step_shared(ms: u32, ns: u32, k: u32, a_scalar: bool, b_scalar: bool, tail: bool, sid: u32) {
    let a = shared_a(ms, k, a_scalar, sid);
    k_step_with_a(a.lo, a.hi, ns, k, b_scalar, tail);
}

@compute @workgroup_size(BT * BT, 1, 1)
fn matmul_blocked_sg(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) li: u32,
                     @builtin(subgroup_invocation_id) sid: u32) {
    blocked_sg(wg, li, sid, false, false);
}
@compute @workgroup_size(BT * BT, 1, 1)
fn matmul_blocked_sg_sa(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) li: u32,
                        @builtin(subgroup_invocation_id) sid: u32) {
    blocked_sg(wg, li, sid, true, false);
}
@compute @workgroup_size(BT * BT, 1, 1)
fn matmul_blocked_sg_sb(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) li: u32,
                        @builtin(subgroup_invocation_id) sid: u32) {
    blocked_sg(wg, li, sid, false, true);
}
@compute @workgroup_size(BT * BT, 1, 1)
fn matmul_blocked_sg_sab(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) li: u32,
                         @builtin(subgroup_invocation_id) sid: u32) {
    blocked_sg(wg, li, sid, true, true);
}

// blocked() with op(A) shared where the subgroup's layout allows (see the header). The workgroup is
// one-dimensional (naga allows subgroup builtins only there); thread li plays matmul_blocked's
// (x, y) = (li mod BT, li / BT), so a workgroup row is 8 consecutive indices.
fn blocked_sg(wg: vec3<u32>, li: u32, sid: u32, a_scalar: bool, b_scalar: bool) {
    let o = block_origin(wg, vec3<u32>(li % BT, li / BT, 0u), a_scalar, b_scalar);
    let k_full = p.k & ~3u;
    // The shuffle runs on every lane (not behind a short-circuit `&&`: a lane must not read a lane
    // that skipped it); the vote is the same for the whole subgroup, so both loops below run in
    // subgroup-uniform control flow. Two copies of the loop rather than a flag inside it: a runtime
    // flag in the k loop costs lavapipe dearly (see matmul.wgsl).
    let group_start = subgroupShuffle(li, sid & ~7u);
    let rows_are_groups = subgroupAll(((sid & 7u) == (li & 7u)) & (group_start == (li & ~7u)));
    if (rows_are_groups) {
        for (var k = 0u; k < k_full; k += 4u) {
            k_step_shared(o.z, o.w, k, a_scalar, b_scalar, false, sid);
        }
        if (k_full < p.k) {
            k_step_shared(o.z, o.w, k_full, a_scalar, b_scalar, true, sid);
        }
    } else {
        for (var k = 0u; k < k_full; k += 4u) {
            k_step(o.z, o.w, k, a_scalar, b_scalar, false);
        }
        if (k_full < p.k) {
            k_step(o.z, o.w, k_full, a_scalar, b_scalar, true);
        }
    }
    store_block(o);
}
