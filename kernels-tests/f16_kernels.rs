//! The kernels with f16 tensors (`Precision::F16`: two f16 per u32) against their f64 references:
//! the GEMMs with any operand f16, pooling and column sums, and Adam over an f16 model's store. The
//! recurrence in f16 is in lstm_kernels.rs, the embedding in gpu_kernels.rs (beside its f32 check).

mod common;

use common::reference as r;
use common::*;
use lstm_transfer::config::{AdamConfig, Pooling};
use lstm_transfer::kernels::grad_reverse::grad_reverse;
use lstm_transfer::kernels::matmul::{Gemm, gemm_with};
use lstm_transfer::kernels::optimizer::{AdamParams, adam_step};
use lstm_transfer::kernels::pool::{PoolParams, pool_backward, pool_forward};
use lstm_transfer::kernels::reduce::{column_sum, sum_squares};
use lstm_transfer::params::ParamStore;

const ATOL: f64 = 1e-5;
const RTOL: f64 = 1e-5;

/// Every GEMM kernel with f16 operands (`View::half`), every transposition, biases and accumulation,
/// at sizes off the tiles; with all three operands f16 the bias is f16 too (an f16 model's weights). The reference reads the f16 operands rounded as the kernel
/// does; an f16 C is compared within its rounding (1e-3, values up to ~5).
#[test]
fn matmul_with_f16_operands() {
    let ctx = gpu();
    // (44, 84, 20): the blocked kernels read A and B by vec4 (along and across K); (37, 69, 19): by
    // scalars, and with N odd, tiles (of other workgroups) share C's words. Each of A, B, C alone
    // f16, then all three.
    let shapes = [((44, 84, 20), [(false, false), (true, true)]), ((37, 69, 19), [(false, true), (true, false)])];
    for (((m, n, k), transpositions), kernel) in shapes.into_iter().flat_map(|s| gemm_kernels().into_iter().map(move |k| (s, k))) {
        for halves in [1u32, 2, 4, 7] {
            let (ha, hb, hc) = (halves & 1 != 0, halves & 2 != 0, halves & 4 != 0);
            for (ta, tb) in transpositions {
                let mut g = rng(11);
                let maybe = |half: bool, v: Vec<f32>| if half { round_f16(&v) } else { v };
                let a = maybe(ha, random(&mut g, m * k, 1.0));
                let b = maybe(hb, random(&mut g, k * n, 1.0));
                let c0 = maybe(hc, random(&mut g, m * n, 1.0));
                let hbias = halves == 7;
                let bias = maybe(hbias, random(&mut g, n, 1.0));
                let a_store = if ta { transpose(&a, m, k) } else { a.clone() };
                let b_store = if tb { transpose(&b, k, n) } else { b.clone() };
                let store = |half: bool, v: &[f32]| if half { buffer_f16(ctx, v) } else { buffer_f32(ctx, v) };
                let (ab, bb, cb, biasb) = (store(ha, &a_store), store(hb, &b_store), store(hc, &c0), store(hbias, &bias));
                let view = |half: bool, buf| if half { half_view(buf) } else { whole(buf) };
                let mut spec = Gemm::new(m, n, k).accumulate(true);
                if ta {
                    spec = spec.a_transposed();
                }
                if tb {
                    spec = spec.b_transposed();
                }
                let op = gemm_with(ctx, kernel, spec, view(ha, &ab), view(hb, &bb), view(hc, &cb), &[view(hbias, &biasb)]).unwrap();
                run(ctx, vec![op]);
                let mut want = r::matmul(&to_f64(&a), &to_f64(&b), m, n, k, false, false);
                for i in 0..m {
                    for j in 0..n {
                        want[i * n + j] += c0[i * n + j] as f64 + bias[j] as f64;
                    }
                }
                let tol = if hc { 1e-3 } else { ATOL };
                let what = format!("matmul {kernel:?} f16 A {ha} B {hb} C {hc} ta={ta} tb={tb}");
                assert_close(&what, &read_tensor(ctx, view(hc, &cb), m * n), &want, tol, tol);
            }
        }
    }
}

/// Pooling (forward and backward) and column sums over f16 tensors (and into one); an f16 view where
/// a kernel takes f32 only is refused rather than misread.
#[test]
fn pooling_and_column_sums_with_f16_tensors() {
    use r::PoolKind::{Last, Max, Mean};
    let ctx = gpu();
    // One direction of 91 units: 273 threads in two workgroups, and with F odd neighbouring rows
    // (other threads, some in the other workgroup) share dy's words.
    let (bn, tn, h) = (3, 4, 91);
    let f = h;
    let lengths = [4u32, 1, 3];
    let mut g = rng(12);
    let y = round_f16(&random(&mut g, tn * bn * f, 1.0));
    let dfeat = random(&mut g, bn * 3 * f, 1.0);
    let (len_b, y_b, feat_b, dfeat_b, dy_b) = (
        buffer_u32(ctx, &lengths),
        buffer_f16(ctx, &y),
        zeros(ctx, bn * 3 * f),
        buffer_f32(ctx, &dfeat),
        buffer_f16(ctx, &vec![0.0; tn * bn * f]),
    );
    let p = PoolParams::new(bn, tn, h, 1, Pooling::Concat);
    run(
        ctx,
        vec![
            pool_forward(ctx, p, whole(&len_b), half_view(&y_b), whole(&feat_b)).unwrap(),
            pool_backward(ctx, p, whole(&len_b), whole(&dfeat_b), half_view(&y_b), half_view(&dy_b)).unwrap(),
        ],
    );
    let y64 = to_f64(&y);
    let kinds = [Last, Max, Mean];
    assert_close("pool f16", &read(ctx, &feat_b, bn * 3 * f), &r::pool(&y64, &lengths, bn, h, f, &kinds), ATOL, RTOL);
    let want_dy = r::pool_backward(&y64, &lengths, &to_f64(&dfeat), bn, tn, h, f, &kinds);
    assert_close("pool f16 backward", &read_tensor(ctx, half_view(&dy_b), tn * bn * f), &want_dy, 1e-3, 1e-3);

    let (rows, cols) = (33, 71);
    let x = round_f16(&random(&mut g, rows * cols, 1.0));
    let (x_b, out_b) = (buffer_f16(ctx, &x), zeros(ctx, cols));
    run(ctx, vec![column_sum(ctx, rows, cols, false, half_view(&x_b), whole(&out_b)).unwrap()]);
    let want: Vec<f64> = (0..cols).map(|c| (0..rows).map(|r| x[r * cols + c] as f64).sum()).collect();
    assert_close("column_sum f16", &read(ctx, &out_b, cols), &want, ATOL, RTOL);

    // Into an f16 output, accumulating (an f16 model's bias gradients).
    let out0 = round_f16(&random(&mut g, cols, 1.0));
    let out_h = buffer_f16(ctx, &out0);
    run(ctx, vec![column_sum(ctx, rows, cols, true, half_view(&x_b), half_view(&out_h)).unwrap()]);
    let want: Vec<f64> = want.iter().zip(&out0).map(|(w, o)| w + *o as f64).collect();
    assert_close("column_sum into f16", &read_tensor(ctx, half_view(&out_h), cols), &want, 1e-3, 1e-3);

    let err = grad_reverse(ctx, cols, 0.5, half_view(&x_b), whole(&out_b)).err().expect("refused").to_string();
    assert!(err.contains("grad_reverse") && err.contains("f32 only"), "{err}");
}

/// An f16 model's store: its kernels read an f16 working copy and write f16 gradients at the loss
/// scale; Adam (with clipping) updates the f32 master copy from those and writes the working copy,
/// which holds every tensor, a frozen one as uploaded.
#[test]
fn adam_over_an_f16_store_updates_the_master_and_the_working_copy() {
    let ctx = gpu_f16();
    // Odd lengths: a tensor's last word is half padding.
    let specs = vec![("a".to_string(), vec![3, 71]), ("frozen".to_string(), vec![5]), ("c".to_string(), vec![301])];
    let mut store = ParamStore::new(ctx, &specs).unwrap();
    assert!(store.is_half());
    store.set_frozen("frozen", true).unwrap();
    store.sync_options(ctx);
    let mut g = rng(14);
    let scale = store.grad_scale;
    let cfg = AdamConfig { lr: 0.01, max_grad_norm: 1.5, ..Default::default() };
    let (mut host, mut grads) = (Vec::new(), Vec::new());
    for (name, shape) in &specs {
        let n = shape.iter().product();
        let v = random(&mut g, n, 1.0);
        store.upload(ctx, name, &v).unwrap();
        host.push(to_f64(&v));
        // What the kernels would store: the scaled gradient, rounded to f16.
        let stored = round_f16(&random(&mut g, n, 1.0).iter().map(|x| x * scale).collect::<Vec<_>>());
        write_tensor(ctx, store.grad_view(name).unwrap(), &stored);
        grads.push(stored.iter().map(|x| (x / scale) as f64).collect::<Vec<_>>());
    }
    let stats = zeros(ctx, 8);
    let p = AdamParams::new(&cfg, store.total_len(), 3, 6, 1, cfg.lr).with_grad_scale(scale);
    run(
        ctx,
        vec![
            sum_squares(ctx, store.total_len(), 6, store.grads_view(), whole(&stats)).unwrap(),
            adam_step(ctx, p, &store.adam_views(whole(&stats))).unwrap(),
        ],
    );
    for ((_, _, got), want) in store.download_grads(ctx).unwrap().iter().zip(&grads) {
        assert_close("download_grads f16", got, want, 0.0, 1e-7);
    }
    let norm = grads.iter().flatten().map(|x| x * x).sum::<f64>().sqrt();
    let clip = (1.5 / (norm + 1e-6)).min(1.0);
    for i in [0, 2] {
        let (mut m, mut v) = (vec![0.0; host[i].len()], vec![0.0; host[i].len()]);
        r::adam(&mut host[i], &grads[i], &mut m, &mut v, 0.01, 0.9, 0.999, 1e-8, 0.0, 0, 1, clip);
    }
    for ((name, _, master), want) in store.download(ctx).unwrap().iter().zip(&host) {
        assert_close(&format!("adam f16 master {name}"), master, want, 1e-6, 1e-5);
        let work = read_tensor(ctx, store.view(name).unwrap(), master.len());
        assert_close(&format!("adam f16 working copy {name}"), &work, &to_f64(&round_f16(master)), 0.0, 0.0);
    }
}
