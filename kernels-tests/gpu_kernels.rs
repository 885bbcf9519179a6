//! Every GPU kernel against its f64 reference on seeded random inputs, with sizes that do not divide
//! the workgroup sizes (64, 256, GEMM tiles of 64).

mod common;

use common::reference as r;
use common::*;
use lstm_transfer::config::{AdamConfig, Pooling, WeightDecay};
use lstm_transfer::gpu::GemmKernel;
use lstm_transfer::gpu::View;
use lstm_transfer::kernels::dropout::{DropoutParams, dropout};
use lstm_transfer::kernels::embedding::{SegmentViews, TokenSegments, gather, scatter_add};
use lstm_transfer::kernels::grad_reverse::grad_reverse;
use lstm_transfer::kernels::loss::{IGNORE_LABEL, cross_entropy, cross_entropy_rows, mse, softmax_rows};
use lstm_transfer::kernels::matmul::{Gemm, gemm_with};
use lstm_transfer::kernels::optimizer::{AdamParams, adam_step};
use lstm_transfer::kernels::pool::{PoolParams, pool_backward, pool_forward};
use lstm_transfer::kernels::reduce::{column_sum, column_sum_strided, sum_squares};
use lstm_transfer::params::ParamStore;

const ATOL: f64 = 1e-5;
const RTOL: f64 = 1e-5;

/// Every GEMM kernel the adapter runs, every transposition, biases and accumulation, at sizes that
/// are not multiples of the 64 tiles or the 8×8 blocks: (44, 84, 20) lets the blocked kernels read
/// every operand as vec4; (44, 84, 19) and (37, 70, 19) make them read some or all operands as
/// scalars, with a K tail.
#[test]
fn matmul_all_transpositions_with_bias_and_accumulate() {
    for (m, n, k) in [(44, 84, 20), (44, 84, 19), (37, 70, 19)] {
        for kernel in gemm_kernels() {
            for (ta, tb) in [(false, false), (false, true), (true, false), (true, true)] {
                check_gemm(kernel, m, n, k, ta, tb);
            }
        }
    }
}

/// llvmpipe's loop limit (65535 back-edges per invocation, then every loop is cut short silently): on
/// a CPU adapter a GEMM is right up to the limit and refused past it, naming its size. The tiled
/// kernel takes 21 back-edges per 16 of K and 16 storing: K = 49,904 is the last it runs (65,515),
/// 49,920 the first it refuses. On a GPU both run and must be right.
#[test]
fn gemm_is_right_up_to_a_cpu_drivers_loop_limit_and_refused_past_it() {
    let ctx = gpu();
    let cpu = ctx.info.device_type == lstm_transfer::wgpu::DeviceType::Cpu;
    let (m, n) = (8, 8);
    for (k, within) in [(49_904, true), (49_920, false)] {
        let mut g = rng(7);
        let a = random(&mut g, m * k, 1.0);
        let b = random(&mut g, k * n, 1.0);
        let (ab, bb, cb) = (buffer_f32(ctx, &transpose(&a, m, k)), buffer_f32(ctx, &b), zeros(ctx, m * n));
        let op = gemm_with(ctx, GemmKernel::Tiled, Gemm::new(m, n, k).a_transposed(), whole(&ab), whole(&bb), whole(&cb), &[]);
        if cpu && !within {
            let err = op.err().expect("refused past the limit").to_string();
            assert!(err.contains("GEMM 8×8, K = 49920 (tiled)") && err.contains("65535"), "{err}");
            continue;
        }
        run(ctx, vec![op.unwrap()]);
        // A sum of 50,000 products in f32: the tolerance is the rounding of such a sum, far below the
        // error of a sum cut short (tens).
        let want = r::matmul(&to_f64(&a), &to_f64(&b), m, n, k, false, false);
        assert_close(&format!("tiled GEMM K = {k}"), &read(ctx, &cb, m * n), &want, 1e-2, 1e-4);
    }
}

fn check_gemm(kernel: GemmKernel, m: usize, n: usize, k: usize, ta: bool, tb: bool) {
    let ctx = gpu();
    let mut g = rng(1);
    let a = random(&mut g, m * k, 1.0);
    let b = random(&mut g, k * n, 1.0);
    let c0 = random(&mut g, m * n, 1.0);
    let bias0 = random(&mut g, n, 1.0);
    let bias1 = random(&mut g, n, 1.0);
    // The same values laid out for each transposition.
    let a_store = if ta { transpose(&a, m, k) } else { a.clone() };
    let b_store = if tb { transpose(&b, k, n) } else { b.clone() };
    let (ab, bb, cb) = (buffer_f32(ctx, &a_store), buffer_f32(ctx, &b_store), buffer_f32(ctx, &c0));
    let (b0, b1) = (buffer_f32(ctx, &bias0), buffer_f32(ctx, &bias1));
    let mut spec = Gemm::new(m, n, k).accumulate(true);
    if ta {
        spec = spec.a_transposed();
    }
    if tb {
        spec = spec.b_transposed();
    }
    run(ctx, vec![gemm_with(ctx, kernel, spec, whole(&ab), whole(&bb), whole(&cb), &[whole(&b0), whole(&b1)]).unwrap()]);
    let mut want = r::matmul(&to_f64(&a), &to_f64(&b), m, n, k, false, false);
    for i in 0..m {
        for j in 0..n {
            want[i * n + j] += c0[i * n + j] as f64 + bias0[j] as f64 + bias1[j] as f64;
        }
    }
    let runs = match kernel {
        tiled if tiled.is_tiled() => tiled.name().into(),
        blocked => format!("{blocked:?}, vec4 reads of A {} B {}", spec.a_vec4_ok(), spec.b_vec4_ok()),
    };
    assert_close(&format!("matmul ({m},{n},{k}) ta={ta} tb={tb} {runs}"), &read(ctx, &cb, m * n), &want, ATOL, RTOL);
}

/// Rows padded past M, N and K (as the language model's logits are, to a multiple of 4), the padding
/// filled with NaN: the blocked kernel reads some of it (vec4 reads stay aligned) but never lets it
/// into C. A is [K, M] transposed with M = 42, B is [K, N] with N = 30, K = 19.
#[test]
fn blocked_gemm_over_padded_rows() {
    let ctx = gpu();
    let (m, n, k, lda, ldb, ldc) = (42, 30, 19, 44, 32, 32);
    let mut g = rng(4);
    let a = random(&mut g, m * k, 1.0);
    let b = random(&mut g, k * n, 1.0);
    let pad = |x: &[f32], rows: usize, cols: usize, ld: usize| -> Vec<f32> {
        (0..rows).flat_map(|r| (0..ld).map(move |c| if c < cols { x[r * cols + c] } else { f32::NAN })).collect()
    };
    let a_store = pad(&transpose(&a, m, k), k, m, lda);
    let b_store = pad(&b, k, n, ldb);
    let (ab, bb) = (buffer_f32(ctx, &a_store), buffer_f32(ctx, &b_store));
    let spec = Gemm::new(m, n, k).a_transposed().strides(lda, ldb, ldc);
    assert!(spec.a_vec4_ok() && spec.b_vec4_ok(), "padded rows are read as vec4");
    let want = r::matmul(&to_f64(&a), &to_f64(&b), m, n, k, false, false);
    for kernel in gemm_kernels().into_iter().filter(|k| !k.is_tiled()) {
        let cb = zeros(ctx, m * ldc);
        run(ctx, vec![gemm_with(ctx, kernel, spec, whole(&ab), whole(&bb), whole(&cb), &[]).unwrap()]);
        let got: Vec<f32> = read(ctx, &cb, m * ldc).chunks(ldc).flat_map(|r| r[..n].to_vec()).collect();
        assert_close(&format!("padded {kernel:?} matmul"), &got, &want, ATOL, RTOL);
    }
}

/// Which reads the blocked kernel vectorises: the cases above cover both paths of both operands.
#[test]
fn blocked_gemm_reads_vec4_where_the_layout_allows() {
    let all = |g: Gemm| (g.blocked_ok(), g.a_vec4_ok(), g.b_vec4_ok());
    assert_eq!(all(Gemm::new(44, 84, 20)), (true, true, true));
    assert_eq!(all(Gemm::new(44, 84, 20).a_transposed().b_transposed()), (true, true, true));
    assert_eq!(all(Gemm::new(44, 84, 19).a_transposed()), (true, true, true), "a K tail read across rows");
    assert_eq!(all(Gemm::new(44, 84, 19)), (true, false, true), "rows of 19 are not vec4-aligned");
    assert_eq!(all(Gemm::new(37, 70, 19).a_transposed()), (true, false, false), "M and N read along rows of 37 and 70");
    assert_eq!(all(Gemm::new(37, 70, 19).a_transposed().strides(40, 72, 70)), (true, true, true), "rows padded to 40 and 72");
    assert_eq!(all(Gemm::new(44, 84, 20).offsets(2, 0, 0)), (true, false, true), "offsets must be multiples of 4");
    assert!(!Gemm::new(4, 84, 20).blocked_ok(), "C must hold one 8×8 block");
}

#[test]
fn matmul_with_element_offsets() {
    let ctx = gpu();
    // (5, 3, 66) at offsets (7, 3, 2): tiled only; (12, 16, 8) at (8, 4, 2): blocked with vec4 reads;
    // (12, 16, 9) at (7, 3, 2): blocked with scalar reads.
    for ((m, n, k), (ao, bo, co)) in [((5, 3, 66), (7, 3, 2)), ((12, 16, 8), (8, 4, 2)), ((12, 16, 9), (7, 3, 2))] {
        for kernel in gemm_kernels() {
            let mut g = rng(2);
            let a = random(&mut g, ao + m * k, 1.0);
            let b = random(&mut g, bo + k * n, 1.0);
            let (ab, bb, cb) = (buffer_f32(ctx, &a), buffer_f32(ctx, &b), zeros(ctx, co + m * n));
            let spec = Gemm::new(m, n, k).offsets(ao, bo, co);
            run(ctx, vec![gemm_with(ctx, kernel, spec, whole(&ab), whole(&bb), whole(&cb), &[]).unwrap()]);
            let want = r::matmul(&to_f64(&a[ao..]), &to_f64(&b[bo..]), m, n, k, false, false);
            assert_close(&format!("matmul offsets {kernel:?}"), &read(ctx, &cb, co + m * n)[co..], &want, ATOL, RTOL);
        }
    }
}

#[test]
fn embedding_gather_and_deterministic_scatter_add() {
    check_embedding(false, 70);
}

/// The embedding of an f16 model: the gather reads an f16 table (copying the stored halves exactly),
/// the scatter-add sums in f32 and stores once into an f16 gradient (within f16's rounding). E odd:
/// neighbouring rows share a word of the table and of its gradient.
#[test]
fn embedding_with_an_f16_table() {
    check_embedding(true, 69);
}

/// Gather and scatter-add against the reference, twice: the scatter-add gives the same bits each run.
fn check_embedding(half: bool, e: usize) {
    let ctx = gpu();
    let (v, bn, tn) = (11, 3, 5);
    let mut g = rng(4);
    let ids: Vec<u32> = (0..bn * tn).map(|i| ((i * 7 + 3) % v) as u32).collect();
    let lengths = [5u32, 1, 3];
    let table = random(&mut g, v * e, 1.0);
    let table = if half { round_f16(&table) } else { table };
    let dx = random(&mut g, tn * bn * e, 1.0);
    let tensor = |data: &[f32]| if half { buffer_f16(ctx, data) } else { buffer_f32(ctx, data) };
    fn view(buffer: &wgpu::Buffer, half: bool) -> View<'_> {
        View { half, ..whole(buffer) }
    }
    let (ids_b, table_b, x_b) = (buffer_u32(ctx, &ids), tensor(&table), zeros(ctx, tn * bn * e));
    let seg = TokenSegments::build(&ids, &lengths, bn, tn);
    let (so, sp, stk) = (buffer_u32(ctx, &seg.offsets), buffer_u32(ctx, &seg.positions), buffer_u32(ctx, &seg.tokens));
    let dx_b = buffer_f32(ctx, &dx);
    let views = SegmentViews { offsets: whole(&so), positions: whole(&sp), tokens: whole(&stk) };
    let mut results = Vec::new();
    for _ in 0..2 {
        let d_table = tensor(&vec![0.0; v * e]);
        run(
            ctx,
            vec![
                gather(ctx, bn, tn, e, whole(&ids_b), view(&table_b, half), whole(&x_b)).unwrap(),
                scatter_add(ctx, e, seg.segments(), &views, whole(&dx_b), view(&d_table, half)).unwrap(),
            ],
        );
        results.push(read_tensor(ctx, view(&d_table, half), v * e));
    }
    let (tag, tol) = if half { (" f16", (1e-3, 1e-3)) } else { ("", (ATOL, RTOL)) };
    assert_close(&format!("gather{tag}"), &read(ctx, &x_b, tn * bn * e), &r::gather(&ids, &to_f64(&table), bn, tn, e), 0.0, 0.0);
    let want = r::scatter_add(&ids, &lengths, &to_f64(&dx), v, bn, tn, e);
    assert_close(&format!("scatter_add{tag}"), &results[0], &want, tol.0, tol.1);
    let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
    assert_eq!(bits(&results[0]), bits(&results[1]), "scatter-add must give the same bits on every run");
}

#[test]
fn every_pooling_and_its_backward() {
    use r::PoolKind::{Last, Max, Mean};
    let ctx = gpu();
    let (bn, tn, h) = (3, 4, 70);
    let f = 2 * h;
    let lengths = [4u32, 1, 3];
    let mut g = rng(5);
    let y = random(&mut g, tn * bn * f, 1.0);
    let y64 = to_f64(&y);
    for (pooling, kinds) in
        [(Pooling::Last, vec![Last]), (Pooling::Max, vec![Max]), (Pooling::Mean, vec![Mean]), (Pooling::Concat, vec![Last, Max, Mean])]
    {
        let w = kinds.len() * f;
        let dfeat = random(&mut g, bn * w, 1.0);
        let (len_b, y_b, feat_b, dfeat_b, dy_b) =
            (buffer_u32(ctx, &lengths), buffer_f32(ctx, &y), zeros(ctx, bn * w), buffer_f32(ctx, &dfeat), zeros(ctx, tn * bn * f));
        let p = PoolParams::new(bn, tn, h, 2, pooling);
        run(
            ctx,
            vec![
                pool_forward(ctx, p, whole(&len_b), whole(&y_b), whole(&feat_b)).unwrap(),
                pool_backward(ctx, p, whole(&len_b), whole(&dfeat_b), whole(&y_b), whole(&dy_b)).unwrap(),
            ],
        );
        let name = pooling.name();
        assert_close(&format!("pool {name}"), &read(ctx, &feat_b, bn * w), &r::pool(&y64, &lengths, bn, h, f, &kinds), ATOL, RTOL);
        let want_dy = r::pool_backward(&y64, &lengths, &to_f64(&dfeat), bn, tn, h, f, &kinds);
        assert_close(&format!("pool {name} backward"), &read(ctx, &dy_b, tn * bn * f), &want_dy, ATOL, RTOL);
    }
}

#[test]
fn dropout_masks_match_the_reference_bit_for_bit() {
    let ctx = gpu();
    let n = 1001;
    let x = random(&mut rng(8), n, 1.0);
    let (x_b, out_b) = (buffer_f32(ctx, &x), zeros(ctx, n));
    for (p, counter) in [(0.3f32, 0u32), (0.3, 1), (0.5, 77)] {
        let params = DropoutParams::new(n, p, 42, counter);
        run(ctx, vec![dropout(ctx, params, whole(&x_b), whole(&out_b)).unwrap()]);
        let got = read(ctx, &out_b, n);
        let want: Vec<f64> = (0..n)
            .map(|i| if r::dropout_keep(i as u32, counter, 42, params.threshold) { (x[i] * params.scale) as f64 } else { 0.0 })
            .collect();
        assert_close(&format!("dropout p={p} counter={counter}"), &got, &want, 0.0, 0.0);
        let dropped = want.iter().filter(|&&v| v == 0.0).count() as f64 / n as f64;
        assert!((dropped - p as f64).abs() < 0.05, "dropped fraction {dropped} for p = {p}");
    }
}

#[test]
fn cross_entropy_mse_and_softmax() {
    let ctx = gpu();
    let (rows, cols) = (300, 5);
    let mut g = rng(6);
    let logits = random(&mut g, rows * cols, 3.0);
    let labels: Vec<u32> = (0..rows).map(|i| if i % 7 == 3 { IGNORE_LABEL } else { (i % cols) as u32 }).collect();
    let pred = random(&mut g, 1000, 1.0);
    let target = random(&mut g, 1000, 1.0);
    let (lg, lb, dl, stats) = (buffer_f32(ctx, &logits), buffer_u32(ctx, &labels), zeros(ctx, rows * cols), zeros(ctx, 8));
    let (pb, tb, dp, probs) = (buffer_f32(ctx, &pred), buffer_f32(ctx, &target), zeros(ctx, 1000), zeros(ctx, rows * cols));
    run(
        ctx,
        vec![
            cross_entropy(ctx, rows, cols, 0, 1.0, whole(&lg), whole(&lb), whole(&dl), whole(&stats)).unwrap(),
            mse(ctx, 1000, 4, 1.0, whole(&pb), whole(&tb), whole(&dp), whole(&stats)).unwrap(),
            softmax_rows(ctx, rows, cols, whole(&lg), whole(&probs)).unwrap(),
        ],
    );
    let (loss, d, correct) = r::cross_entropy(&to_f64(&logits), &labels, rows, cols);
    let counted = labels.iter().filter(|&&l| l != IGNORE_LABEL).count() as f64;
    let (mse_loss, mse_grad) = r::mse(&to_f64(&pred), &to_f64(&target));
    let s = read(ctx, &stats, 8);
    assert_close("ce stats", &s[0..3], &[loss, correct as f64, counted], ATOL, RTOL);
    assert_close("ce d_logits", &read(ctx, &dl, rows * cols), &d, ATOL, RTOL);
    assert_close("mse loss", &s[4..5], &[mse_loss], ATOL, RTOL);
    assert_close("mse grad", &read(ctx, &dp, 1000), &mse_grad, ATOL, RTOL);
    assert_close("softmax", &read(ctx, &probs, rows * cols), &r::softmax(&to_f64(&logits), rows, cols), ATOL, RTOL);
}

/// The in-place, one-workgroup-per-row cross-entropy for large vocabularies (1000 columns: not a
/// multiple of the 256 threads), with an ignored row.
#[test]
fn cross_entropy_rows_in_place_over_a_large_vocabulary() {
    let ctx = gpu();
    // Rows padded from 1000 to 1003 elements (as the language model pads its logits); the padding
    // holds 7.0 and must come back untouched.
    let (rows, cols, stride) = (37, 1000, 1003);
    let mut g = rng(16);
    let logits = random(&mut g, rows * cols, 4.0);
    let padded: Vec<f32> =
        (0..rows).flat_map(|r| (0..stride).map(move |c| (r, c))).map(|(r, c)| if c < cols { logits[r * cols + c] } else { 7.0 }).collect();
    let labels: Vec<u32> = (0..rows).map(|i| if i == 5 { IGNORE_LABEL } else { ((i * 131) % cols) as u32 }).collect();
    let counted = labels.iter().filter(|&&l| l != IGNORE_LABEL).count();
    let (lg, lb, loss_b) = (buffer_f32(ctx, &padded), buffer_u32(ctx, &labels), zeros(ctx, rows));
    run(ctx, vec![cross_entropy_rows(ctx, rows, cols, stride, 1.0 / counted as f32, whole(&lb), whole(&lg), whole(&loss_b)).unwrap()]);
    let (_, d, _) = r::cross_entropy(&to_f64(&logits), &labels, rows, cols);
    let row_losses: Vec<f64> = (0..rows)
        .map(|i| {
            if labels[i] == IGNORE_LABEL {
                0.0
            } else {
                r::cross_entropy(&to_f64(&logits[i * cols..(i + 1) * cols]), &labels[i..=i], 1, cols).0
            }
        })
        .collect();
    assert_close("row losses", &read(ctx, &loss_b, rows), &row_losses, ATOL, RTOL);
    let got = read(ctx, &lg, rows * stride);
    let d_got: Vec<f32> = got.chunks(stride).flat_map(|r| r[..cols].to_vec()).collect();
    assert_close("in-place d_logits", &d_got, &d, ATOL, RTOL);
    let pads: Vec<f32> = got.chunks(stride).flat_map(|r| r[cols..].to_vec()).collect();
    assert!(pads.iter().all(|&v| v == 7.0), "the padding of each row is left untouched");
}

#[test]
fn column_sum_and_sum_squares() {
    let ctx = gpu();
    let (rows, cols) = (33, 300);
    let x = random(&mut rng(7), rows * cols, 1.0);
    let base = random(&mut rng(8), cols, 1.0);
    // The same values with rows padded to 303 (NaN padding: it must not be read).
    let padded: Vec<f32> = x.chunks(cols).flat_map(|r| r.iter().copied().chain([f32::NAN; 3])).collect();
    let (xb, pb) = (buffer_f32(ctx, &x), buffer_f32(ctx, &padded));
    let (out, out_strided, stats) = (buffer_f32(ctx, &base), buffer_f32(ctx, &base), zeros(ctx, 4));
    run(
        ctx,
        vec![
            column_sum(ctx, rows, cols, true, whole(&xb), whole(&out)).unwrap(),
            column_sum_strided(ctx, rows, cols, cols + 3, true, whole(&pb), whole(&out_strided)).unwrap(),
            sum_squares(ctx, rows * cols, 2, whole(&xb), whole(&stats)).unwrap(),
        ],
    );
    let want: Vec<f64> = r::column_sum(&to_f64(&x), rows, cols).iter().zip(&base).map(|(s, b)| s + *b as f64).collect();
    assert_close("column_sum", &read(ctx, &out, cols), &want, ATOL, RTOL);
    assert_close("column_sum strided", &read(ctx, &out_strided, cols), &want, ATOL, RTOL);
    let sq: f64 = x.iter().map(|&v| (v as f64) * (v as f64)).sum();
    assert_close("sum_squares", &read(ctx, &stats, 4)[2..3], &[sq], 1e-3, RTOL);
}

#[test]
fn grad_reverse_scales_by_minus_lambda() {
    let ctx = gpu();
    let n = 1000;
    let mut g = rng(9);
    let (src, dst) = (random(&mut g, n, 1.0), random(&mut g, n, 1.0));
    let (sb, db) = (buffer_f32(ctx, &src), buffer_f32(ctx, &dst));
    run(ctx, vec![grad_reverse(ctx, n, 0.3, whole(&sb), whole(&db)).unwrap()]);
    let want: Vec<f64> = dst.iter().zip(&src).map(|(d, s)| *d as f64 - 0.3 * *s as f64).collect();
    assert_close("grad_reverse", &read(ctx, &db, n), &want, ATOL, RTOL);
}

/// Two Adam(W) steps over a store of three tensors: one frozen, one with a per-row freeze mask and a
/// learning-rate scale, one plain; with global-norm clipping reading the norm from the stats buffer.
#[test]
fn adam_and_adamw_with_freeze_masks_lr_scales_and_clipping() {
    let ctx = gpu();
    for decay in [WeightDecay::L2, WeightDecay::Decoupled] {
        let specs = vec![("a".to_string(), vec![3, 70]), ("frozen".to_string(), vec![5]), ("c".to_string(), vec![301])];
        let mut store = ParamStore::new(ctx, &specs).unwrap();
        store.set_frozen("frozen", true).unwrap();
        store.set_row_mask("a", Some(vec![true, false, true])).unwrap();
        store.set_lr_scale("a", 0.5).unwrap();
        for name in ["a", "frozen", "c"] {
            store.set_weight_decay(name, 0.1).unwrap();
        }
        store.sync_options(ctx);
        let mut g = rng(10);
        let mut host: Vec<Vec<f64>> = Vec::new();
        for (name, shape) in &specs {
            let v = random(&mut g, shape.iter().product(), 1.0);
            store.upload(ctx, name, &v).unwrap();
            host.push(to_f64(&v));
        }
        let cfg = AdamConfig { lr: 0.01, decay, max_grad_norm: 1.5, ..Default::default() };
        let stats = zeros(ctx, 8);
        let mut m: Vec<Vec<f64>> = host.iter().map(|v| vec![0.0; v.len()]).collect();
        let mut v2 = m.clone();
        for step in 1..=2 {
            let grads: Vec<Vec<f32>> = specs.iter().map(|(_, s)| random(&mut g, s.iter().product(), 1.0)).collect();
            for ((name, _), gr) in specs.iter().zip(&grads) {
                let e = store.entry(name).unwrap();
                ctx.queue.write_buffer(&store.grads, e.offset as u64 * 4, bytemuck::cast_slice(gr));
            }
            let p = AdamParams::new(&cfg, store.total_len(), 3, 6, step, cfg.lr);
            run(
                ctx,
                vec![
                    sum_squares(ctx, store.total_len(), 6, View::whole(&store.grads), whole(&stats)).unwrap(),
                    adam_step(ctx, p, &store.adam_views(whole(&stats))).unwrap(),
                ],
            );
            let norm = grads.iter().flatten().map(|&x| (x as f64).powi(2)).sum::<f64>().sqrt();
            let clip = (1.5 / (norm + 1e-6)).min(1.0);
            let mode = if decay == WeightDecay::L2 { 1 } else { 2 };
            for i in 0..3 {
                let g64 = to_f64(&grads[i]);
                let (lr, rows_frozen): (f64, Vec<bool>) = match i {
                    0 => (0.005, vec![false, true, false]),
                    1 => (0.01, vec![true]),
                    _ => (0.01, vec![false]),
                };
                let row_len = host[i].len() / rows_frozen.len();
                for (row, &frozen) in rows_frozen.iter().enumerate() {
                    if frozen {
                        continue;
                    }
                    let rng_ = row * row_len..(row + 1) * row_len;
                    r::adam(
                        &mut host[i][rng_.clone()],
                        &g64[rng_.clone()],
                        &mut m[i][rng_.clone()],
                        &mut v2[i][rng_.clone()],
                        lr,
                        0.9,
                        0.999,
                        1e-8,
                        0.1,
                        mode,
                        step as i32,
                        clip,
                    );
                }
            }
        }
        let got = store.download(ctx).unwrap();
        for (i, (name, _, values)) in got.iter().enumerate() {
            assert_close(&format!("adam {decay:?} {name}"), values, &host[i], 1e-6, 1e-5);
        }
    }
}

#[test]
fn oversized_buffer_is_a_clear_error_naming_the_buffer() {
    let ctx = gpu();
    let limit = ctx.limits().max_storage_buffer_binding_size;
    let err = ctx.storage_buffer("lstm gates l0d0", limit + 1024).unwrap_err().to_string();
    assert!(err.contains("lstm gates l0d0") && err.contains("over by"), "{err}");
}

#[test]
fn bad_batches_are_rejected_with_the_reason() {
    use lstm_transfer::data::Batch;
    use lstm_transfer::tasks::classify::{Classifier, ClassifierConfig};
    let ctx = gpu();
    let cfg = ClassifierConfig {
        vocab: 10,
        embed: 4,
        hidden: 5,
        layers: 1,
        bidirectional: false,
        classes: 3,
        domains: 0,
        pooling: Pooling::Last,
    };
    let mut model = Classifier::new(ctx, cfg, 2, 3, 0).unwrap();
    let good = Batch { batch: 2, steps: 3, ids: vec![1, 2, 3, 4, 0, 0], lengths: vec![3, 1], labels: vec![0, 2], domain_labels: None };
    assert!(model.train_step(ctx, &good, true, true).unwrap().is_some());
    let cases = [
        (Batch { ids: vec![1, 2, 10, 4, 0, 0], ..good.clone() }, "outside the vocabulary"),
        (Batch { lengths: vec![0, 1], ..good.clone() }, "length 0"),
        (Batch { labels: vec![0, 3], ..good.clone() }, "3 classes"),
        (Batch { batch: 3, steps: 2, ids: vec![1; 6], lengths: vec![1; 3], labels: vec![0; 3], domain_labels: None }, "capacity"),
    ];
    for (batch, reason) in cases {
        let err = model.train_step(ctx, &batch, true, true).unwrap_err().to_string();
        assert!(err.contains(reason), "expected '{reason}' in: {err}");
    }
}
