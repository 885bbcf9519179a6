//! GEMM launcher (shaders/matmul.wgsl): C = op(A)·op(B) (+C) (+bias0 +bias1).

use super::build_op;
use crate::error::Result;
use crate::gpu::{GemmKernel, GpuContext, ShaderFamily, View};
use crate::graph::Op;

/// Shape and layout of one GEMM; see the shader header for the index formulas.
#[repr(C)]
#[derive(Clone, Copy, Debug, bytemuck::Pod, bytemuck::Zeroable)]
pub struct Gemm {
    /// Rows of C and of op(A).
    pub m: u32,
    /// Columns of C and of op(B); the length of each bias vector.
    pub n: u32,
    /// The contracted dimension: columns of op(A), rows of op(B).
    pub k: u32,
    /// Row stride of A as stored, in elements (k plain, m transposed, for dense A).
    pub lda: u32,
    /// Row stride of B as stored, in elements (n plain, k transposed, for dense B).
    pub ldb: u32,
    /// Row stride of C, in elements.
    pub ldc: u32,
    /// Element offset of A in its binding.
    pub a_off: u32,
    /// Element offset of B in its binding.
    pub b_off: u32,
    /// Element offset of C in its binding.
    pub c_off: u32,
    /// 1: A is stored `[K,M]` and used transposed.
    pub trans_a: u32,
    /// 1: B is stored `[N,K]` and used transposed.
    pub trans_b: u32,
    /// 1: add the product to the existing C instead of overwriting it.
    pub accumulate: u32,
    /// How many bias vectors (0, 1 or 2) are added to every row; set by [`gemm`].
    pub bias_count: u32,
    _pad: [u32; 3],
}

impl Gemm {
    /// `C[m,n]` = `A[m,k]` · `B[k,n]`, all dense row-major, no offsets.
    pub fn new(m: usize, n: usize, k: usize) -> Self {
        Self {
            m: m as u32,
            n: n as u32,
            k: k as u32,
            lda: k as u32,
            ldb: n as u32,
            ldc: n as u32,
            a_off: 0,
            b_off: 0,
            c_off: 0,
            trans_a: 0,
            trans_b: 0,
            accumulate: 0,
            bias_count: 0,
            _pad: [0; 3],
        }
    }
    /// A is stored `[k, m]` (use Aᵀ).
    pub fn a_transposed(mut self) -> Self {
        self.trans_a = 1;
        self.lda = self.m;
        self
    }
    /// B is stored `[n, k]` (use Bᵀ), e.g. a PyTorch weight `[out, in]`.
    pub fn b_transposed(mut self) -> Self {
        self.trans_b = 1;
        self.ldb = self.k;
        self
    }
    /// With `yes`, C += op(A)·op(B), e.g. a gradient summed over several contributions.
    pub fn accumulate(mut self, yes: bool) -> Self {
        self.accumulate = yes as u32;
        self
    }
    /// Row strides of A, B and C as stored (e.g. a buffer whose rows are padded to a multiple of 4).
    pub fn strides(mut self, lda: usize, ldb: usize, ldc: usize) -> Self {
        (self.lda, self.ldb, self.ldc) = (lda as u32, ldb as u32, ldc as u32);
        self
    }
    /// Element offsets into the bound A, B and C.
    pub fn offsets(mut self, a: usize, b: usize, c: usize) -> Self {
        (self.a_off, self.b_off, self.c_off) = (a as u32, b as u32, c as u32);
        self
    }
    /// Floating-point operations of the product, 2·m·n·k (biases and accumulation not counted).
    pub fn flops(&self) -> f64 {
        2.0 * self.m as f64 * self.n as f64 * self.k as f64
    }
}

impl Gemm {
    /// Whether the register-blocked kernel can run this product: it computes whole 8×8 blocks, so C
    /// must be at least 8×8.
    pub fn blocked_ok(&self) -> bool {
        self.m >= 8 && self.n >= 8
    }

    /// Whether the blocked kernel reads A as vec4: its leading dimension and offset are multiples of
    /// 4 and, read along M (A transposed), the rows hold M rounded up to 4 (the last block may read
    /// into that padding). Else it reads four scalars per vec4 (slower, as correct).
    pub fn a_vec4_ok(&self) -> bool {
        self.lda.is_multiple_of(4) && self.a_off.is_multiple_of(4) && (self.trans_a == 0 || self.lda >= self.m.next_multiple_of(4))
    }

    /// As [`Gemm::a_vec4_ok`] for B (read along N when B is not transposed).
    pub fn b_vec4_ok(&self) -> bool {
        self.ldb.is_multiple_of(4) && self.b_off.is_multiple_of(4) && (self.trans_b == 1 || self.ldb >= self.n.next_multiple_of(4))
    }
}

/// One GEMM dispatch with the tuner's kernel ([`super::tune::gemm_kernel`]; with tuning off, the
/// adapter's [`GpuContext::gemm_kernel`]); `biases` holds zero, one or two bias vectors of length n.
pub fn gemm(ctx: &GpuContext, g: Gemm, a: View, b: View, c: View, biases: &[View]) -> Result<Op> {
    gemm_with(ctx, super::tune::gemm_kernel(ctx, &g, [a.half, b.half, c.half])?, g, a, b, c, biases)
}

/// [`gemm`] with the kernel named: a blocked one where [`Gemm::blocked_ok`] holds, else the large
/// tiled one.
pub fn gemm_with(ctx: &GpuContext, kernel: GemmKernel, g: Gemm, a: View, b: View, c: View, biases: &[View]) -> Result<Op> {
    let dummy = ctx.storage_buffer("unused bias", 4)?;
    let g = Gemm { bias_count: biases.len() as u32, ..g };
    let bias0 = biases.first().copied().unwrap_or(View::whole(&dummy));
    let bias1 = biases.get(1).copied().unwrap_or(View::whole(&dummy));
    let kernel = if kernel.is_tiled() || g.blocked_ok() { kernel } else { GemmKernel::Tiled };
    let edge = kernel.tile_edge();
    let grid = [g.n.div_ceil(edge), g.m.div_ceil(edge), 1];
    let entry = match (kernel, g.a_vec4_ok(), g.b_vec4_ok()) {
        (GemmKernel::Tiled, ..) => "matmul",
        (GemmKernel::TiledSmall, ..) => "matmul_t32",
        (GemmKernel::Blocked, true, true) => "matmul_blocked",
        (GemmKernel::Blocked, false, true) => "matmul_blocked_sa",
        (GemmKernel::Blocked, true, false) => "matmul_blocked_sb",
        (GemmKernel::Blocked, false, false) => "matmul_blocked_sab",
        (GemmKernel::BlockedSubgroup, true, true) => "matmul_blocked_sg",
        (GemmKernel::BlockedSubgroup, false, true) => "matmul_blocked_sg_sa",
        (GemmKernel::BlockedSubgroup, true, false) => "matmul_blocked_sg_sb",
        (GemmKernel::BlockedSubgroup, false, false) => "matmul_blocked_sg_sab",
    };
    let family = if kernel == GemmKernel::BlockedSubgroup { ShaderFamily::MatmulSubgroups } else { ShaderFamily::Matmul };
    // Back-edges per invocation: the tiled kernels take per 16 of K one outer step, the staging loop
    // (16·edge / (edge/4)² rounds) and 16 inner steps, then 16 storing; the blocked ones one per 4
    // of K, then their stores.
    let k = g.k as u64;
    let back_edges = if kernel.is_tiled() {
        let tt = (edge / 4) as u64;
        k.div_ceil(16) * (1 + 16 * edge as u64 / (tt * tt) + 16) + 16
    } else {
        k.div_ceil(4) + 64
    };
    super::check_cpu_loops(ctx, back_edges, || format!("GEMM {}×{}, K = {} ({})", g.m, g.n, g.k, kernel.name()))?;
    if kernel.is_tiled() {
        return build_op(ctx, family, entry, &g, &[(1, a), (2, b), (3, c), (4, bias0), (5, bias1)], grid);
    }
    // Every blocked entry point binds both views of A and B (they share one function body).
    let views = [(1, a), (2, b), (3, c), (4, bias0), (5, bias1), (6, a), (7, b)];
    build_op(ctx, family, entry, &g, &views, grid)
}
