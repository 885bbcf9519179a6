// matmul.wgsl — tiled GEMM: C[M,N] = op(A)[M,K] · op(B)[K,N] (+ C if accumulate) (+ bias0[N] + bias1[N])
//
// All matrices are row-major f32 in storage buffers; element offsets and leading dimensions come in
// the uniform block, so one buffer can hold several matrices (e.g. the LSTM state sequence shifted by
// one step).
//   op(A) = A        : A[m,k] at a_off + m*lda + k     (trans_a = 0)
//   op(A) = Aᵀ       : A[m,k] at a_off + k*lda + m     (trans_a = 1, A stored [K,M])
//   op(B) = B        : B[k,n] at b_off + k*ldb + n     (trans_b = 0)
//   op(B) = Bᵀ       : B[k,n] at b_off + n*ldb + k     (trans_b = 1, B stored [N,K], e.g. a weight W[out,in])
//
// Bindings: 0 uniform Params | 1 a (read) | 2 b (read) | 3 c (read_write) | 4 bias0 (read) | 5 bias1 (read)
//   bias_count = 0, 1 or 2 says how many of bias0/bias1 are added (unused ones are bound to a dummy).
// Workgroup: 16×16 threads, each computes a 4×4 block of a 64×64 tile of C; K is walked in slices of 16
// staged in workgroup memory. Grid: (ceil(N/64), ceil(M/64), 1).

struct Params {
    m: u32, n: u32, k: u32, lda: u32,
    ldb: u32, ldc: u32, a_off: u32, b_off: u32,
    c_off: u32, trans_a: u32, trans_b: u32, accumulate: u32,
    bias_count: u32, _p0: u32, _p1: u32, _p2: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read_write> c: array<f32>;
@group(0) @binding(4) var<storage, read> bias0: array<f32>;
@group(0) @binding(5) var<storage, read> bias1: array<f32>;

const TILE: u32 = 64u;
const KT: u32 = 16u;
var<workgroup> a_tile: array<f32, 1024>; // [KT][TILE]: a_tile[kk*TILE + mm]
var<workgroup> b_tile: array<f32, 1024>; // [KT][TILE]: b_tile[kk*TILE + nn]

fn load_a(m: u32, k: u32) -> f32 {
    if (m >= p.m || k >= p.k) { return 0.0; }
    if (p.trans_a == 0u) { return a[p.a_off + m * p.lda + k]; }
    return a[p.a_off + k * p.lda + m];
}

fn load_b(k: u32, n: u32) -> f32 {
    if (k >= p.k || n >= p.n) { return 0.0; }
    if (p.trans_b == 0u) { return b[p.b_off + k * p.ldb + n]; }
    return b[p.b_off + n * p.ldb + k];
}

@compute @workgroup_size(16, 16, 1)
fn matmul(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>,
          @builtin(local_invocation_index) li: u32) {
    let row0 = wg.y * TILE;
    let col0 = wg.x * TILE;
    // acc0..acc3 hold rows row0 + y + 16i (i = 0..3), columns col0 + x + {0,16,32,48}: explicit vec4 registers
    // (a runtime-indexed array would live in memory on some compilers).
    var acc0 = vec4<f32>(0.0);
    var acc1 = vec4<f32>(0.0);
    var acc2 = vec4<f32>(0.0);
    var acc3 = vec4<f32>(0.0);

    for (var k0 = 0u; k0 < p.k; k0 += KT) {
        // 256 threads stage 1024 elements of each tile, 4 each. Pick the walk order that reads
        // memory contiguously for the operand's storage order.
        for (var r = 0u; r < 4u; r++) {
            let e = li + r * 256u;
            if (p.trans_a == 0u) {
                let mm = e / KT; let kk = e % KT;
                a_tile[kk * TILE + mm] = load_a(row0 + mm, k0 + kk);
            } else {
                let kk = e / TILE; let mm = e % TILE;
                a_tile[kk * TILE + mm] = load_a(row0 + mm, k0 + kk);
            }
            if (p.trans_b == 0u) {
                let kk = e / TILE; let nn = e % TILE;
                b_tile[kk * TILE + nn] = load_b(k0 + kk, col0 + nn);
            } else {
                let nn = e / KT; let kk = e % KT;
                b_tile[kk * TILE + nn] = load_b(k0 + kk, col0 + nn);
            }
        }
        workgroupBarrier();
        for (var kk = 0u; kk < KT; kk++) {
            let base = kk * TILE;
            let bv = vec4<f32>(b_tile[base + lid.x], b_tile[base + lid.x + 16u],
                               b_tile[base + lid.x + 32u], b_tile[base + lid.x + 48u]);
            acc0 = fma(vec4<f32>(a_tile[base + lid.y]), bv, acc0);
            acc1 = fma(vec4<f32>(a_tile[base + lid.y + 16u]), bv, acc1);
            acc2 = fma(vec4<f32>(a_tile[base + lid.y + 32u]), bv, acc2);
            acc3 = fma(vec4<f32>(a_tile[base + lid.y + 48u]), bv, acc3);
        }
        workgroupBarrier();
    }

    // Thread (x,y) owns rows row0 + y + 16i and columns col0 + x + 16j: neighbouring threads write
    // neighbouring columns.
    store_row(row0 + lid.y, col0 + lid.x, acc0);
    store_row(row0 + lid.y + 16u, col0 + lid.x, acc1);
    store_row(row0 + lid.y + 32u, col0 + lid.x, acc2);
    store_row(row0 + lid.y + 48u, col0 + lid.x, acc3);
}

// Writes acc to C[m, n + 16j] for j = 0..3, with biases and accumulation, skipping the edges.
fn store_row(m: u32, n0: u32, acc: vec4<f32>) {
    if (m >= p.m) { return; }
    for (var j = 0u; j < 4u; j++) {
        let n = n0 + 16u * j;
        if (n >= p.n) { return; }
        var v = acc[j];
        if (p.bias_count >= 1u) { v += bias0[n]; }
        if (p.bias_count >= 2u) { v += bias1[n]; }
        let idx = p.c_off + m * p.ldc + n;
        if (p.accumulate != 0u) { v += c[idx]; }
        c[idx] = v;
    }
}
