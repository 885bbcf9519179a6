// matmul.wgsl — GEMM: C[M,N] = op(A)[M,K] · op(B)[K,N] (+ C if accumulate) (+ bias0[N] + bias1[N])
//
// All matrices are row-major in storage buffers; element offsets and leading dimensions come in the
// uniform block, so one buffer can hold several matrices (e.g. the LSTM state sequence shifted by one
// step). A, B, C and the biases are tensors (src/gpu/shaders.rs): f32, or f16 pairs in a module built for them;
// the blocked kernels' vec4 and scalar views of A and B (a4, b4, a_s, b_s) are tensors too, and every
// kernel writes C through store_one, so any of A, B and C may be f16 in every kernel.
//   op(A) = A        : A[m,k] at a_off + m*lda + k     (trans_a = 0)
//   op(A) = Aᵀ       : A[m,k] at a_off + k*lda + m     (trans_a = 1, A stored [K,M])
//   op(B) = B        : B[k,n] at b_off + k*ldb + n     (trans_b = 0)
//   op(B) = Bᵀ       : B[k,n] at b_off + n*ldb + k     (trans_b = 1, B stored [N,K], e.g. a weight W[out,in])
//
// Bindings: 0 uniform Params | 1 a (read) | 2 b (read) | 3 c (read_write) | 4 bias0 (read) | 5 bias1 (read)
//   bias_count = 0, 1 or 2 says how many of bias0/bias1 are added (unused ones are bound to a dummy).
// Two kernels, same bindings; each workgroup computes one square tile of C, the grid covers C with
// them: (ceil(N/edge), ceil(M/edge), 1).
//   matmul, matmul_t32 — workgroup-memory tiling for GPUs: tiles of edge GEMM_TILE (64) and
//                    GEMM_TILE_SMALL (32), TT×TT threads (TT = edge/4: 16 and 8), each a 4×4 block
//                    (strided by TT); K is walked in slices of KT = 16 staged in workgroup memory. Any
//                    shape and layout. The small tile gives 4× the workgroups: what a large GPU needs
//                    to fill its compute units at small M·N (a batch of one); the tuner picks.
//   matmul_blocked — register blocking for CPU drivers (lavapipe), tiles of edge GEMM_TILE: BT×BT
//                    threads (BT = GEMM_TILE/8 = 8), each an 8×8 block of
//                    contiguous rows and columns, read straight from storage as vec4 (a CPU driver runs a
//                    workgroup as SIMD lanes with per-lane loads: every load must feed many FMAs, and a
//                    barrier costs more than the caches it would save). Needs M, N >= 8. An operand whose
//                    layout forbids vec4 reads (leading dimension or offset not a multiple of 4) is read as
//                    four scalars per vec4 through bindings 6 / 7 (the same buffers as 1 / 2): entry
//                    points matmul_blocked_sa (A scalar), _sb (B scalar), _sab (both). The choice is a
//                    constant argument, folded away by the compiler (a runtime flag, even a uniform
//                    one, cost 2.5× on lavapipe).

struct Params {
    m: u32, n: u32, k: u32, lda: u32,
    ldb: u32, ldc: u32, a_off: u32, b_off: u32,
    c_off: u32, trans_a: u32, trans_b: u32, accumulate: u32,
    bias_count: u32, _p0: u32, _p1: u32, _p2: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> a: tensor;
@group(0) @binding(2) var<storage, read> b: tensor;
@group(0) @binding(3) var<storage, read_write> c: tensor;
@group(0) @binding(4) var<storage, read> bias0: tensor;
@group(0) @binding(5) var<storage, read> bias1: tensor;

const KT: u32 = 16u;            // tiled: K slice staged per step
const BT: u32 = GEMM_TILE / 8u; // blocked: threads per side, each an 8×8 block
// The per-thread blocks (4×4, 8×8) are unrolled; a tiled kernel's (edge/4)² threads must fit a
// workgroup (≤ 256) and stage its KT×edge slices in whole rounds; the small tile fits the staging
// arrays, sized for the large one.
const_assert GEMM_TILE == 8u || GEMM_TILE == 16u || GEMM_TILE == 32u || GEMM_TILE == 64u;
const_assert GEMM_TILE_SMALL == 16u || GEMM_TILE_SMALL == 32u;
const_assert GEMM_TILE_SMALL < GEMM_TILE;
var<workgroup> a_tile: array<f32, KT * GEMM_TILE>; // [KT][edge]: a_tile[kk*edge + mm]
var<workgroup> b_tile: array<f32, KT * GEMM_TILE>; // [KT][edge]: b_tile[kk*edge + nn]

fn load_a(m: u32, k: u32) -> f32 {
    if (m >= p.m || k >= p.k) { return 0.0; }
    if (p.trans_a == 0u) { return a_at(p.a_off + m * p.lda + k); }
    return a_at(p.a_off + k * p.lda + m);
}

fn load_b(k: u32, n: u32) -> f32 {
    if (k >= p.k || n >= p.n) { return 0.0; }
    if (p.trans_b == 0u) { return b_at(p.b_off + k * p.ldb + n); }
    return b_at(p.b_off + n * p.ldb + k);
}

@compute @workgroup_size(GEMM_TILE / 4u, GEMM_TILE / 4u, 1)
fn matmul(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>,
          @builtin(local_invocation_index) li: u32) {
    tiled(GEMM_TILE, wg, lid, li);
}

@compute @workgroup_size(GEMM_TILE_SMALL / 4u, GEMM_TILE_SMALL / 4u, 1)
fn matmul_t32(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>,
              @builtin(local_invocation_index) li: u32) {
    tiled(GEMM_TILE_SMALL, wg, lid, li);
}

// The tiled kernel at tile edge `edge` (a constant argument, folded away), TT = edge/4 threads a side.
fn tiled(edge: u32, wg: vec3<u32>, lid: vec3<u32>, li: u32) {
    let tt = edge / 4u;
    let row0 = wg.y * edge;
    let col0 = wg.x * edge;
    // acc0..acc3 hold rows row0 + y + TT·i (i = 0..3), columns col0 + x + TT·{0,1,2,3}: explicit vec4 registers
    // (a runtime-indexed array would live in memory on some compilers).
    var acc0 = vec4<f32>(0.0);
    var acc1 = vec4<f32>(0.0);
    var acc2 = vec4<f32>(0.0);
    var acc3 = vec4<f32>(0.0);

    for (var k0 = 0u; k0 < p.k; k0 += KT) {
        // TT² threads stage the KT·edge elements of each tile (4 each at 64, 8 at 32). Pick the walk
        // order that reads memory contiguously for the operand's storage order.
        for (var r = 0u; r < KT * edge / (tt * tt); r++) {
            let e = li + r * tt * tt;
            if (p.trans_a == 0u) {
                let mm = e / KT; let kk = e % KT;
                a_tile[kk * edge + mm] = load_a(row0 + mm, k0 + kk);
            } else {
                let kk = e / edge; let mm = e % edge;
                a_tile[kk * edge + mm] = load_a(row0 + mm, k0 + kk);
            }
            if (p.trans_b == 0u) {
                let kk = e / edge; let nn = e % edge;
                b_tile[kk * edge + nn] = load_b(k0 + kk, col0 + nn);
            } else {
                let nn = e / KT; let kk = e % KT;
                b_tile[kk * edge + nn] = load_b(k0 + kk, col0 + nn);
            }
        }
        workgroupBarrier();
        for (var kk = 0u; kk < KT; kk++) {
            let base = kk * edge;
            let bv = vec4<f32>(b_tile[base + lid.x], b_tile[base + lid.x + tt],
                               b_tile[base + lid.x + 2u * tt], b_tile[base + lid.x + 3u * tt]);
            acc0 = fma(vec4<f32>(a_tile[base + lid.y]), bv, acc0);
            acc1 = fma(vec4<f32>(a_tile[base + lid.y + tt]), bv, acc1);
            acc2 = fma(vec4<f32>(a_tile[base + lid.y + 2u * tt]), bv, acc2);
            acc3 = fma(vec4<f32>(a_tile[base + lid.y + 3u * tt]), bv, acc3);
        }
        workgroupBarrier();
    }

    // Thread (x,y) owns rows row0 + y + TT·i and columns col0 + x + TT·j: neighbouring threads write
    // neighbouring columns.
    store_row(row0 + lid.y, col0 + lid.x, tt, acc0);
    store_row(row0 + lid.y + tt, col0 + lid.x, tt, acc1);
    store_row(row0 + lid.y + 2u * tt, col0 + lid.x, tt, acc2);
    store_row(row0 + lid.y + 3u * tt, col0 + lid.x, tt, acc3);
}

// Writes acc to C[m, n0 + tt·j] for j = 0..3.
fn store_row(m: u32, n0: u32, tt: u32, acc: vec4<f32>) {
    for (var j = 0u; j < 4u; j++) {
        store_one(m, n0 + tt * j, acc[j]);
    }
}

// C[m, n] = v (+ biases) (+ C[m, n] when accumulating); nothing outside C.
fn store_one(m: u32, n: u32, v: f32) {
    if (m >= p.m || n >= p.n) { return; }
    var x = v;
    if (p.bias_count >= 1u) { x += bias0_at(n); }
    if (p.bias_count >= 2u) { x += bias1_at(n); }
    let idx = p.c_off + m * p.ldc + n;
    if (p.accumulate != 0u) { x += c_at(idx); }
    c_set(idx, x);
}

// ---- register-blocked variant ----
@group(0) @binding(1) var<storage, read> a4: tensor4;
@group(0) @binding(2) var<storage, read> b4: tensor4;

// The thread's 8×8 block: lo_i = row i, columns 0-3; hi_i = row i, columns 4-7. Private variables that
// the compiler keeps in registers (an indexed array would live in memory on some compilers).
var<private> lo0: vec4<f32>; var<private> lo1: vec4<f32>; var<private> lo2: vec4<f32>; var<private> lo3: vec4<f32>;
var<private> lo4: vec4<f32>; var<private> lo5: vec4<f32>; var<private> lo6: vec4<f32>; var<private> lo7: vec4<f32>;
var<private> hi0: vec4<f32>; var<private> hi1: vec4<f32>; var<private> hi2: vec4<f32>; var<private> hi3: vec4<f32>;
var<private> hi4: vec4<f32>; var<private> hi5: vec4<f32>; var<private> hi6: vec4<f32>; var<private> hi7: vec4<f32>;

// One k of the block: the outer product of 8 values of op(A)'s column (r_lo = rows 0-3, r_hi = rows 4-7)
// and 8 values of op(B)'s row (c_lo, c_hi).
fn rank1(r_lo: vec4<f32>, r_hi: vec4<f32>, c_lo: vec4<f32>, c_hi: vec4<f32>) {
    lo0 = fma(vec4(r_lo.x), c_lo, lo0); hi0 = fma(vec4(r_lo.x), c_hi, hi0);
    lo1 = fma(vec4(r_lo.y), c_lo, lo1); hi1 = fma(vec4(r_lo.y), c_hi, hi1);
    lo2 = fma(vec4(r_lo.z), c_lo, lo2); hi2 = fma(vec4(r_lo.z), c_hi, hi2);
    lo3 = fma(vec4(r_lo.w), c_lo, lo3); hi3 = fma(vec4(r_lo.w), c_hi, hi3);
    lo4 = fma(vec4(r_hi.x), c_lo, lo4); hi4 = fma(vec4(r_hi.x), c_hi, hi4);
    lo5 = fma(vec4(r_hi.y), c_lo, lo5); hi5 = fma(vec4(r_hi.y), c_hi, hi5);
    lo6 = fma(vec4(r_hi.z), c_lo, lo6); hi6 = fma(vec4(r_hi.z), c_hi, hi6);
    lo7 = fma(vec4(r_hi.w), c_lo, lo7); hi7 = fma(vec4(r_hi.w), c_hi, hi7);
}

@group(0) @binding(6) var<storage, read> a_s: tensor;
@group(0) @binding(7) var<storage, read> b_s: tensor;

// The four elements of A (or B) as stored at [row, col..col+4]: one vec4 load where aligned, else four
// scalar loads (clamped to the buffer: what lies past a row's end is masked or never stored).
fn a_vec(row: u32, col: u32, scalar: bool) -> vec4<f32> {
    let i = p.a_off + row * p.lda + col;
    if (!scalar) { return a4_at(i / 4u); }
    let last = a_s_len() - 1u;
    return vec4<f32>(a_s_at(min(i, last)), a_s_at(min(i + 1u, last)), a_s_at(min(i + 2u, last)), a_s_at(min(i + 3u, last)));
}
fn b_vec(row: u32, col: u32, scalar: bool) -> vec4<f32> {
    let i = p.b_off + row * p.ldb + col;
    if (!scalar) { return b4_at(i / 4u); }
    let last = b_s_len() - 1u;
    return vec4<f32>(b_s_at(min(i, last)), b_s_at(min(i + 1u, last)), b_s_at(min(i + 2u, last)), b_s_at(min(i + 3u, last)));
}

// Columns kk = 0..3 of the result: slice kk of op(A) rows (m..m+4) or op(B) columns (n..n+4) at k + kk.
// Stored along k (A plain, B transposed): four vec4 along k, transposed (free: vec4 components are
// registers). Stored along m / n: one vec4 per k, rows past K clamped to row K−1. In the last step
// of a K that is not a multiple of 4 (tail = true) the values past K are zeroed in both operands.
// Which of k .. k+4 lie inside K.
fn k_mask(k: u32) -> vec4<bool> {
    return vec4<u32>(k, k + 1u, k + 2u, k + 3u) < vec4(p.k);
}
// Column c of m where keep, else zero (select, not a product: padding may hold anything, NaN too).
fn keep_columns(m: mat4x4<f32>, keep: vec4<bool>) -> mat4x4<f32> {
    let z = vec4(0.0);
    return mat4x4<f32>(select(z, m[0], keep.x), select(z, m[1], keep.y), select(z, m[2], keep.z), select(z, m[3], keep.w));
}
fn along_k_a(m: u32, k: u32, s: bool) -> mat4x4<f32> {
    return transpose(mat4x4<f32>(a_vec(m, k, s), a_vec(m + 1u, k, s), a_vec(m + 2u, k, s), a_vec(m + 3u, k, s)));
}
fn along_k_b(n: u32, k: u32, s: bool) -> mat4x4<f32> {
    return transpose(mat4x4<f32>(b_vec(n, k, s), b_vec(n + 1u, k, s), b_vec(n + 2u, k, s), b_vec(n + 3u, k, s)));
}
fn across_k_a(m: u32, k: u32, s: bool) -> mat4x4<f32> {
    let last = p.k - 1u;
    return mat4x4<f32>(a_vec(k, m, s), a_vec(min(k + 1u, last), m, s), a_vec(min(k + 2u, last), m, s), a_vec(min(k + 3u, last), m, s));
}
fn across_k_b(n: u32, k: u32, s: bool) -> mat4x4<f32> {
    let last = p.k - 1u;
    return mat4x4<f32>(b_vec(k, n, s), b_vec(min(k + 1u, last), n, s), b_vec(min(k + 2u, last), n, s), b_vec(min(k + 3u, last), n, s));
}

// Four k of the block starting at (ms, ns). a_scalar, b_scalar and tail are constants at every call.
fn k_step(ms: u32, ns: u32, k: u32, a_scalar: bool, b_scalar: bool, tail: bool) {
    var r_lo: mat4x4<f32>;
    var r_hi: mat4x4<f32>;
    var c_lo: mat4x4<f32>;
    var c_hi: mat4x4<f32>;
    if (p.trans_a == 0u) {
        r_lo = along_k_a(ms, k, a_scalar); r_hi = along_k_a(ms + 4u, k, a_scalar);
    } else {
        r_lo = across_k_a(ms, k, a_scalar); r_hi = across_k_a(ms + 4u, k, a_scalar);
    }
    if (p.trans_b == 1u) {
        c_lo = along_k_b(ns, k, b_scalar); c_hi = along_k_b(ns + 4u, k, b_scalar);
    } else {
        c_lo = across_k_b(ns, k, b_scalar); c_hi = across_k_b(ns + 4u, k, b_scalar);
    }
    k_step_with(r_lo, r_hi, c_lo, c_hi, k, tail);
}

// Four k of the block from its operands: op(A)'s rows 0-3 (a_lo) and 4-7 (a_hi), op(B)'s columns 0-3
// (b_lo) and 4-7 (b_hi); column kk of each is k + kk.
fn k_step_with(a_lo: mat4x4<f32>, a_hi: mat4x4<f32>, b_lo: mat4x4<f32>, b_hi: mat4x4<f32>, k: u32, tail: bool) {
    var r_lo = a_lo;
    var r_hi = a_hi;
    var c_lo = b_lo;
    var c_hi = b_hi;
    if (tail) {
        // Zero both operands past K: what was read there is another row's data (or a clamped copy).
        let keep = k_mask(k);
        r_lo = keep_columns(r_lo, keep);
        r_hi = keep_columns(r_hi, keep);
        c_lo = keep_columns(c_lo, keep);
        c_hi = keep_columns(c_hi, keep);
    }
    rank1(r_lo[0], r_hi[0], c_lo[0], c_hi[0]);
    rank1(r_lo[1], r_hi[1], c_lo[1], c_hi[1]);
    rank1(r_lo[2], r_hi[2], c_lo[2], c_hi[2]);
    rank1(r_lo[3], r_hi[3], c_lo[3], c_hi[3]);
}

// Writes row i of the block (from its start ms, ns) where this thread owns it: a block shifted back
// to stay inside C (see below) skips the rows and columns before (m0, n0) that another thread writes.
fn store_block_row(ms: u32, m0: u32, ns: u32, n0: u32, i: u32, l: vec4<f32>, h: vec4<f32>) {
    if (ms + i < m0) { return; }
    for (var j = 0u; j < 4u; j++) {
        if (ns + j >= n0) { store_one(ms + i, ns + j, l[j]); }
        if (ns + 4u + j >= n0) { store_one(ms + i, ns + 4u + j, h[j]); }
    }
}

@compute @workgroup_size(BT, BT, 1)
fn matmul_blocked(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    blocked(wg, lid, false, false);
}
@compute @workgroup_size(BT, BT, 1)
fn matmul_blocked_sa(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    blocked(wg, lid, true, false);
}
@compute @workgroup_size(BT, BT, 1)
fn matmul_blocked_sb(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    blocked(wg, lid, false, true);
}
@compute @workgroup_size(BT, BT, 1)
fn matmul_blocked_sab(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    blocked(wg, lid, true, true);
}

// The blocked product; a_scalar / b_scalar are constants at every call site.
fn blocked(wg: vec3<u32>, lid: vec3<u32>, a_scalar: bool, b_scalar: bool) {
    let o = block_origin(wg, lid, a_scalar, b_scalar);
    let k_full = p.k & ~3u;
    for (var k = 0u; k < k_full; k += 4u) {
        k_step(o.z, o.w, k, a_scalar, b_scalar, false);
    }
    if (k_full < p.k) {
        k_step(o.z, o.w, k_full, a_scalar, b_scalar, true);
    }
    store_block(o);
}

// The thread's block: (m0, n0) where it starts, (ms, ns) where it is read from. A block past the
// edge of C is shifted back inside it, so every load is in range without checks; where an operand
// is read as vec4 along M or N, back to end at M or N rounded up to 4 (its rows are padded that
// far), which keeps the vec4 reads aligned.
fn block_origin(wg: vec3<u32>, lid: vec3<u32>, a_scalar: bool, b_scalar: bool) -> vec4<u32> {
    let m0 = (wg.y * BT + lid.y) * 8u;
    let n0 = (wg.x * BT + lid.x) * 8u;
    let m_end = select(p.m, (p.m + 3u) & ~3u, p.trans_a == 1u && !a_scalar);
    let n_end = select(p.n, (p.n + 3u) & ~3u, p.trans_b == 0u && !b_scalar);
    return vec4<u32>(m0, n0, min(m0, m_end - 8u), min(n0, n_end - 8u));
}

// Stores the accumulated block (o from block_origin).
fn store_block(o: vec4<u32>) {
    let ms = o.z;
    let m0 = o.x;
    let ns = o.w;
    let n0 = o.y;
    store_block_row(ms, m0, ns, n0, 0u, lo0, hi0); store_block_row(ms, m0, ns, n0, 1u, lo1, hi1);
    store_block_row(ms, m0, ns, n0, 2u, lo2, hi2); store_block_row(ms, m0, ns, n0, 3u, lo3, hi3);
    store_block_row(ms, m0, ns, n0, 4u, lo4, hi4); store_block_row(ms, m0, ns, n0, 5u, lo5, hi5);
    store_block_row(ms, m0, ns, n0, 6u, lo6, hi6); store_block_row(ms, m0, ns, n0, 7u, lo7, hi7);
}
