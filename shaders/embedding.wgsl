// embedding.wgsl — embedding lookup and its deterministic gradient.
//
// embedding_gather: x[t,b,:] = table[ids[b,t], :]
//   Bindings: 0 uniform Params | 1 ids [B,T] u32 (batch-first, as the data comes) | 2 table [V,E] |
//             3 x (rw) [T,B,E] (time-major, as the LSTM reads it)
//   Grid: grid_1d(T*B*E, WG_1D), workgroup WG_1D. Ids are validated on the host (< V).
//   table and d_table are tensors (src/gpu/shaders.rs): f32, or f16 pairs for an f16 model's weights.
//
// embedding_scatter_add: d_table[tok,:] += Σ dx[pos,:] over the positions holding tok.
//   The host groups the positions by token (a CSR list: segment u covers positions
//   seg_positions[seg_offsets[u] .. seg_offsets[u+1]] of token seg_tokens[u]), so each output
//   element has exactly one writer that sums in a fixed order: no atomics, the same bits every run.
//   Bindings: 0 uniform Params | 1 seg_offsets [U+1] | 2 seg_positions [N] (row t*B+b of dx) |
//             3 seg_tokens [U] | 4 dx [T*B,E] | 5 d_table (rw) [V,E]
//   Grid: (ceil(E/EMBED_WG), U, 1), workgroup EMBED_WG.

struct Params {
    batch: u32, steps: u32, dim: u32, segments: u32,
}

@group(0) @binding(0) var<uniform> p: Params;

// ---- gather ----
@group(0) @binding(1) var<storage, read> ids: array<u32>;
@group(0) @binding(2) var<storage, read> table: tensor;
@group(0) @binding(3) var<storage, read_write> x: array<f32>;

@compute @workgroup_size(WG_1D, 1, 1)
fn embedding_gather(@builtin(global_invocation_id) gid: vec3<u32>,
                    @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = linear_index(gid, nwg, WG_1D);
    if (i >= p.steps * p.batch * p.dim) { return; }
    let e = i % p.dim;
    let row = i / p.dim;          // t*B + b
    let t = row / p.batch;
    let b = row % p.batch;
    x[i] = table_at(ids[b * p.steps + t] * p.dim + e);
}

// ---- scatter-add ----
@group(0) @binding(1) var<storage, read> seg_offsets: array<u32>;
@group(0) @binding(2) var<storage, read> seg_positions: array<u32>;
@group(0) @binding(3) var<storage, read> seg_tokens: array<u32>;
@group(0) @binding(4) var<storage, read> dx: array<f32>;
@group(0) @binding(5) var<storage, read_write> d_table: tensor;

@compute @workgroup_size(EMBED_WG, 1, 1)
fn embedding_scatter_add(@builtin(global_invocation_id) gid: vec3<u32>) {
    let e = gid.x;
    let u = gid.y;
    if (e >= p.dim || u >= p.segments) { return; }
    var acc = 0.0;
    for (var q = seg_offsets[u]; q < seg_offsets[u + 1u]; q++) {
        acc += dx[seg_positions[q] * p.dim + e];
    }
    let out = seg_tokens[u] * p.dim + e;
    d_table_set(out, d_table_at(out) + acc);
}
