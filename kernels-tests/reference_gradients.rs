//! The f64 references' gradients against central finite differences (no GPU). The GPU kernels are
//! then checked against these references in gpu_kernels.rs and lstm_kernels.rs.

mod common;

use common::reference::{self as r, LstmShape};
use common::{random, rng, to_f64};

const EPS: f64 = 1e-6;

/// Central difference of `f` at every coordinate of `x`.
fn numeric_grad(x: &[f64], f: impl Fn(&[f64]) -> f64) -> Vec<f64> {
    let mut x = x.to_vec();
    (0..x.len())
        .map(|i| {
            let orig = x[i];
            x[i] = orig + EPS;
            let up = f(&x);
            x[i] = orig - EPS;
            let down = f(&x);
            x[i] = orig;
            (up - down) / (2.0 * EPS)
        })
        .collect()
}

#[track_caller]
fn assert_grad(what: &str, analytic: &[f64], numeric: &[f64]) {
    for (i, (a, n)) in analytic.iter().zip(numeric).enumerate() {
        assert!((a - n).abs() <= 1e-7 + 1e-6 * n.abs(), "{what}[{i}]: analytic {a} vs numeric {n}");
    }
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// L = Σ dy·y + Σ dstate_n·state_n for both directions, with a padded row (length 2 of 5).
#[test]
fn lstm_backward_matches_finite_differences() {
    for reverse in [false, true] {
        let sh = LstmShape { b: 3, t: 5, h: 4, reverse };
        let mut g = rng(7);
        let pre = to_f64(&random(&mut g, sh.t * sh.b * 4 * sh.h, 1.0));
        let w_hh = to_f64(&random(&mut g, 4 * sh.h * sh.h, 0.5));
        let state0 = to_f64(&random(&mut g, 2 * sh.b * sh.h, 0.5));
        let dy = to_f64(&random(&mut g, sh.t * sh.b * sh.h, 1.0));
        let d_state_n = to_f64(&random(&mut g, 2 * sh.b * sh.h, 1.0));
        let lengths = [5u32, 2, 4];
        let final_slot = if reverse { 0 } else { sh.t };
        let loss = |pre: &[f64], w_hh: &[f64], state0: &[f64]| {
            let out = r::lstm_forward(&sh, pre, w_hh, &lengths, state0);
            let mut l = dot(&out.y, &dy);
            for part in 0..2 {
                for b in 0..sh.b {
                    for j in 0..sh.h {
                        l += out.states[sh.st(part, final_slot, b, j)] * d_state_n[(part * sh.b + b) * sh.h + j];
                    }
                }
            }
            l
        };
        let fwd = r::lstm_forward(&sh, &pre, &w_hh, &lengths, &state0);
        let (dgates, d_state0) = r::lstm_backward(&sh, &w_hh, &lengths, &fwd, &dy, &d_state_n);
        assert_grad(&format!("dpre reverse={reverse}"), &dgates, &numeric_grad(&pre, |p| loss(p, &w_hh, &state0)));
        assert_grad(&format!("dstate0 reverse={reverse}"), &d_state0, &numeric_grad(&state0, |s| loss(&pre, &w_hh, s)));
        // dW_hh = Σ_t dgates_tᵀ · h_{t-1}: the GEMM the GPU backward runs after the fused kernel.
        let h_prev_slot = |t: usize| sh.before(t);
        let mut dw = vec![0.0; 4 * sh.h * sh.h];
        for t in 0..sh.t {
            for b in 0..sh.b {
                for rr in 0..4 * sh.h {
                    for k in 0..sh.h {
                        dw[rr * sh.h + k] += dgates[(t * sh.b + b) * 4 * sh.h + rr] * fwd.states[sh.st(0, h_prev_slot(t), b, k)];
                    }
                }
            }
        }
        assert_grad(&format!("dW_hh reverse={reverse}"), &dw, &numeric_grad(&w_hh, |w| loss(&pre, w, &state0)));
    }
}

#[test]
fn cross_entropy_gradient_matches_finite_differences() {
    let (rows, cols) = (5, 3);
    let logits = to_f64(&random(&mut rng(3), rows * cols, 2.0));
    let labels = [0u32, 2, u32::MAX, 1, 2];
    let (_, d, _) = r::cross_entropy(&logits, &labels, rows, cols);
    assert_grad("d_logits", &d, &numeric_grad(&logits, |z| r::cross_entropy(z, &labels, rows, cols).0));
}

#[test]
fn mse_gradient_matches_finite_differences() {
    let mut g = rng(4);
    let pred = to_f64(&random(&mut g, 7, 1.0));
    let target = to_f64(&random(&mut g, 7, 1.0));
    let (_, d) = r::mse(&pred, &target);
    assert_grad("d_pred", &d, &numeric_grad(&pred, |p| r::mse(p, &target).0));
}

/// L = Σ w·(A·Bᵀ): dA = w·B, dB = wᵀ·A — the products the backward GEMMs compute.
#[test]
fn matmul_gradients_match_finite_differences() {
    let (m, n, k) = (3, 4, 5);
    let mut g = rng(5);
    let a = to_f64(&random(&mut g, m * k, 1.0));
    let b = to_f64(&random(&mut g, n * k, 1.0));
    let w = to_f64(&random(&mut g, m * n, 1.0));
    let loss = |a: &[f64], b: &[f64]| dot(&r::matmul(a, b, m, n, k, false, true), &w);
    assert_grad("dA", &r::matmul(&w, &b, m, k, n, false, false), &numeric_grad(&a, |x| loss(x, &b)));
    assert_grad("dB", &r::matmul(&w, &a, n, k, m, true, false), &numeric_grad(&b, |x| loss(&a, x)));
}

/// Gather's gradient is the scatter-add: L = Σ w·gather(table).
#[test]
fn embedding_scatter_add_is_the_gather_gradient() {
    let (v, b, t, e) = (6, 2, 3, 4);
    let ids = [1u32, 5, 1, 0, 2, 2];
    let lengths = [3u32, 3];
    let mut g = rng(6);
    let table = to_f64(&random(&mut g, v * e, 1.0));
    let w = to_f64(&random(&mut g, t * b * e, 1.0));
    let analytic = r::scatter_add(&ids, &lengths, &w, v, b, t, e);
    assert_grad("d_table", &analytic, &numeric_grad(&table, |tb| dot(&r::gather(&ids, tb, b, t, e), &w)));
}

/// Softmax of the references agrees with the cross-entropy gradient: d = (p − onehot)/n.
#[test]
fn softmax_matches_cross_entropy_gradient() {
    let logits = to_f64(&random(&mut rng(8), 6, 3.0));
    let p = r::softmax(&logits, 2, 3);
    let (_, d, _) = r::cross_entropy(&logits, &[1, 0], 2, 3);
    for i in 0..6 {
        let onehot = if i == 1 || i == 3 { 1.0 } else { 0.0 };
        assert!((d[i] - (p[i] - onehot) / 2.0).abs() < 1e-12);
    }
}

/// Every pooling (and their concatenation): L = Σ w·pool(y), with a padded row.
#[test]
fn pooling_gradients_match_finite_differences() {
    use r::PoolKind::{Last, Max, Mean};
    let (bn, tn, h) = (2, 4, 3);
    let f = 2 * h;
    let lengths = [4u32, 2];
    let mut g = rng(9);
    let y = to_f64(&random(&mut g, tn * bn * f, 1.0));
    for kinds in [vec![Last], vec![Max], vec![Mean], vec![Last, Max, Mean]] {
        let w = to_f64(&random(&mut g, bn * kinds.len() * f, 1.0));
        let analytic = r::pool_backward(&y, &lengths, &w, bn, tn, h, f, &kinds);
        assert_grad(&format!("pool {kinds:?}"), &analytic, &numeric_grad(&y, |y| dot(&r::pool(y, &lengths, bn, h, f, &kinds), &w)));
    }
}
