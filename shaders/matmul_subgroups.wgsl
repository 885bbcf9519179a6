// matmul_subgroups.wgsl — the register-blocked GEMM with op(A) shared across a subgroup. Compiled
// after matmul.wgsl (the host appends this file to it: same Params, bindings and helpers) and only on
// adapters with the SUBGROUP feature and subgroups of at least 8 invocations.
//
// In matmul_blocked every thread loads its block's 8×4 part of op(A) and 8×4 part of op(B) at each
// step of k (16 vec4), though its neighbours need the same parts: on a CPU driver (lavapipe runs a
// subgroup as SIMD lanes with a load per lane) the loads are the bound. Here each aligned group of 8
// lanes holds a 2×4 patch of blocks (2 block rows, 4 block columns): the 4 lanes of a block row share
// its op(A) part, each loading 2 of its 8 vec4 slices; the 2 lanes of a block column share its op(B)
// part, each loading 4 of 8; subgroupShuffle hands the slices round. 6 loads per 4 k instead of 16.
//
// That needs each group of 8 consecutive invocation indices to be one aligned group of 8 lanes in a
// subgroup, as it is where subgroups are cut from consecutive local invocation indices. WGSL does not
// promise it, so every subgroup checks it first (each lane's index mod 8 is its lane mod 8, and the
// first lane of its group holds the group's first index) and, where it does not hold, reads its
// operands as matmul_blocked does: same result either way. (No `enable subgroups;` directive: naga
// rejects it; the device feature is what turns subgroups on. The tuner never runs in a browser, where
// Tint would want it.)
//
// Entry points: matmul_blocked_sg, _sg_sa (A read as scalars), _sg_sb (B), _sg_sab (both), the
// bindings and grid of matmul_blocked (and its _sa / _sb / _sab); workgroup (BT·BT, 1, 1).
const_assert BT == 8u; // 8 groups of 8 lanes, each a 2×4 patch of blocks

// Slice s (0..8) of op(A)'s 8 rows × 4 k at (ms, k), in the layout k_step reads it: op(A) row
// ms + s (A stored [M,K]: one vec4 along k) or A's row k + s % 4 at columns ms + 4·(s / 4) (A stored
// [K,M], rows past K clamped as across_k_a does).
fn a_slice(ms: u32, k: u32, s: u32, a_scalar: bool) -> vec4<f32> {
    if (p.trans_a == 0u) { return a_vec(ms + s, k, a_scalar); }
    return a_vec(min(k + (s & 3u), p.k - 1u), ms + (s & 4u), a_scalar);
}

// Slice s of op(B)'s 4 k × 8 columns at (k, ns), likewise (B stored [N,K]: column ns + s along k;
// [K,N]: row k + s % 4 at columns ns + 4·(s / 4)).
fn b_slice(ns: u32, k: u32, s: u32, b_scalar: bool) -> vec4<f32> {
    if (p.trans_b == 1u) { return b_vec(ns + s, k, b_scalar); }
    return b_vec(min(k + (s & 3u), p.k - 1u), ns + (s & 4u), b_scalar);
}

// The 4×4 half of an operand from its four slices: along k the slices are rows (transposed into
// columns), across k they are the columns already.
fn half_of(v0: vec4<f32>, v1: vec4<f32>, v2: vec4<f32>, v3: vec4<f32>, along_k: bool) -> mat4x4<f32> {
    let m = mat4x4<f32>(v0, v1, v2, v3);
    if (along_k) { return transpose(m); }
    return m;
}

// Four k of the block with both operands shared inside the lane's group of 8 (g: the group's first
// lane; dx, dy: this lane's place in the 2×4 patch).
fn k_step_shared(ms: u32, ns: u32, k: u32, a_scalar: bool, b_scalar: bool, tail: bool, g: u32, dx: u32, dy: u32) {
    // op(A): this lane loads slices 2dx and 2dx + 1 of its block row; slice s lives in lane
    // g + 4dy + s/2 (its first value for even s, its second for odd).
    let a0 = a_slice(ms, k, 2u * dx, a_scalar);
    let a1 = a_slice(ms, k, 2u * dx + 1u, a_scalar);
    let ar = g + 4u * dy;
    let a_lo = half_of(subgroupShuffle(a0, ar), subgroupShuffle(a1, ar), subgroupShuffle(a0, ar + 1u), subgroupShuffle(a1, ar + 1u),
                       p.trans_a == 0u);
    let a_hi = half_of(subgroupShuffle(a0, ar + 2u), subgroupShuffle(a1, ar + 2u), subgroupShuffle(a0, ar + 3u), subgroupShuffle(a1, ar + 3u),
                       p.trans_a == 0u);
    // op(B): this lane loads slices 4dy .. 4dy + 3 of its block column; slices 0-3 live in lane g + dx,
    // 4-7 in lane g + 4 + dx.
    let b0 = b_slice(ns, k, 4u * dy, b_scalar);
    let b1 = b_slice(ns, k, 4u * dy + 1u, b_scalar);
    let b2 = b_slice(ns, k, 4u * dy + 2u, b_scalar);
    let b3 = b_slice(ns, k, 4u * dy + 3u, b_scalar);
    let bl = g + dx;
    let bh = g + 4u + dx;
    let b_lo = half_of(subgroupShuffle(b0, bl), subgroupShuffle(b1, bl), subgroupShuffle(b2, bl), subgroupShuffle(b3, bl), p.trans_b == 1u);
    let b_hi = half_of(subgroupShuffle(b0, bh), subgroupShuffle(b1, bh), subgroupShuffle(b2, bh), subgroupShuffle(b3, bh), p.trans_b == 1u);
    k_step_with(a_lo, a_hi, b_lo, b_hi, k, tail);
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

// blocked() with both operands shared where the subgroup's layout allows (see the header). The
// workgroup is one-dimensional (naga allows subgroup builtins only there): index li = 8·group + lane
// plays matmul_blocked's thread (x, y) = (4·(group mod 2) + lane mod 4, 2·(group / 2) + lane / 4), so
// each group of 8 consecutive indices is a 2×4 patch of blocks.
fn blocked_sg(wg: vec3<u32>, li: u32, sid: u32, a_scalar: bool, b_scalar: bool) {
    let lane = li & 7u;
    let group = li >> 3u;
    let dx = lane & 3u;
    let dy = lane >> 2u;
    let o = block_origin(wg, vec3<u32>(4u * (group & 1u) + dx, 2u * (group >> 1u) + dy, 0u), a_scalar, b_scalar);
    let k_full = p.k & ~3u;
    // The shuffle runs on every lane (not behind a short-circuit `&&`: a lane must not read a lane
    // that skipped it); the vote is the same for the whole subgroup, so both loops below run in
    // subgroup-uniform control flow. Two copies of the loop rather than a flag inside it: a runtime
    // flag in the k loop costs lavapipe dearly (see matmul.wgsl).
    let group_start = subgroupShuffle(li, sid & ~7u);
    let rows_are_groups = subgroupAll(((sid & 7u) == lane) & (group_start == (li & ~7u)));
    if (rows_are_groups) {
        let g = sid & ~7u;
        for (var k = 0u; k < k_full; k += 4u) {
            k_step_shared(o.z, o.w, k, a_scalar, b_scalar, false, g, dx, dy);
        }
        if (k_full < p.k) {
            k_step_shared(o.z, o.w, k_full, a_scalar, b_scalar, true, g, dx, dy);
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
