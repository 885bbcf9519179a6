//! Parity with PyTorch: the tensors in fixtures/golden (copied from ../shared/golden, see its README)
//! were written by torch.nn.LSTM / the LSTMClassifier and computed in f64. Everything runs through the
//! same GPU path training uses (LstmStack, Classifier::train_step). Outputs must match within 1e-5,
//! gradients and Adam results within 1e-4 (absolute + relative).
//!
//! The suite runs again in f16 (`Precision::F16`: the weights the kernels read, the gates, layer
//! outputs, their gradients and the parameter gradients rounded to 11 significant bits, a relative
//! error of at most 2⁻¹¹ ≈ 4.9e-4 per store, gradients computed at the store's loss scaling; Adam
//! updates the f32 master copy). Outputs are compared element-wise within 1e-3 (two roundings' worth
//! at magnitude 1; measured up to 1.8e-4 on outputs and states, 7.7e-4 on a loss). Gradients, many of
//! whose elements are far below 1e-3, are compared as whole tensors by their relative L2 error
//! ‖got − want‖ / ‖want‖ ≤ 5e-3 (about ten roundings along the backward chain; measured up to
//! 7.6e-4), and the three Adam steps by the update they made, (after − before), within 2e-2 in
//! relative L2: Adam divides each gradient by its own running magnitude, so where a gradient's
//! steps nearly cancel its rounding error is magnified. Measured up to 1.85e-2, on the reverse
//! direction's W_hh of the bidirectional classifier (no update of the other sign; 5.6e-4 there when
//! the weights were read in f32, 2.3e-3 the largest then): the closest margin of the suite, reported
//! by `KERNELS_TESTS_PRINT_ERRORS=1 cargo test --test pytorch_parity -- --nocapture`.

mod common;

use std::collections::HashMap;

use common::*;
use lstm_transfer::GpuContext;
use lstm_transfer::config::{AdamConfig, Pooling};
use lstm_transfer::data::Batch;
use lstm_transfer::gpu::View;
use lstm_transfer::nn::{LstmConfig, LstmStack};
use lstm_transfer::params::ParamStore;
use lstm_transfer::tasks::classify::{Classifier, ClassifierConfig};

/// How results are compared: outputs element-wise (absolute + relative `out`); gradients and Adam
/// results element-wise (`grad`) in f32, by relative L2 error in f16 (`grad`, and `adam` on the updates).
#[derive(Clone, Copy)]
struct Tol {
    out: f64,
    grad: f64,
    adam: f64,
    f16: bool,
}

const F32: Tol = Tol { out: 1e-5, grad: 1e-4, adam: 1e-4, f16: false };
const F16: Tol = Tol { out: 1e-3, grad: 5e-3, adam: 2e-2, f16: true };

impl Tol {
    fn grad(&self, what: &str, got: &[f32], want: &[f64]) {
        if self.f16 {
            assert_rel_l2(what, got, want, self.grad);
        } else {
            assert_close(what, got, want, self.grad, self.grad);
        }
    }

    /// Parameters after Adam steps from `before`: their values in f32, the updates in f16.
    fn adam(&self, what: &str, got: &[f32], want: &[f64], before: &[f32]) {
        if self.f16 {
            let update: Vec<f32> = got.iter().zip(before).map(|(a, b)| a - b).collect();
            let want: Vec<f64> = want.iter().zip(before).map(|(a, &b)| a - b as f64).collect();
            if std::env::var_os("KERNELS_TESTS_PRINT_ERRORS").is_some() {
                let flips = update.iter().zip(&want).filter(|(g, w)| (**g as f64) * **w < 0.0).count();
                eprintln!("measured: {what}: {flips} of {} updates of the other sign", want.len());
            }
            assert_rel_l2(&format!("{what} (update)"), &update, &want, self.adam);
        } else {
            assert_close(what, got, want, self.adam, self.adam);
        }
    }
}

/// [B,T,X] batch-first → [T,B,X] time-major, and back.
fn to_time_major<T: Copy>(x: &[T], b: usize, t: usize, w: usize) -> Vec<T> {
    let mut out = Vec::with_capacity(x.len());
    for tt in 0..t {
        for bb in 0..b {
            out.extend_from_slice(&x[(bb * t + tt) * w..(bb * t + tt + 1) * w]);
        }
    }
    out
}

fn to_batch_first<T: Copy>(x: &[T], b: usize, t: usize, w: usize) -> Vec<T> {
    let mut out = Vec::with_capacity(x.len());
    for bb in 0..b {
        for tt in 0..t {
            out.extend_from_slice(&x[(tt * b + bb) * w..(tt * b + bb + 1) * w]);
        }
    }
    out
}

fn check_lstm_file(ctx: &GpuContext, tol: Tol, file: &str, with_state: bool) {
    let gold = Golden::load(file);
    let (b, t, e, h, layers) = (3, 5, 8, 16, 2);
    let cfg = LstmConfig { input: e, hidden: h, layers, bidirectional: false };
    let store = ParamStore::new(ctx, &cfg.param_specs("")).unwrap();
    for entry in store.entries() {
        store.upload(ctx, &entry.name, &gold.f32(&entry.name)).unwrap();
    }
    let stack = LstmStack::new(ctx, cfg, "", b, t).unwrap();
    let x = buffer_f32(ctx, &to_time_major(&gold.f32("input"), b, t, e));
    let dx = zeros(ctx, t * b * e);
    let lengths = buffer_u32(ctx, &[t as u32; 3]);
    if with_state {
        let (h0, c0) = (gold.f32("h0"), gold.f32("c0"));
        for l in 0..layers {
            let s0: Vec<f32> = [&h0[l * b * h..(l + 1) * b * h], &c0[l * b * h..(l + 1) * b * h]].concat();
            ctx.queue.write_buffer(stack.initial_state(l, 0), 0, bytemuck::cast_slice(&s0));
        }
    }
    run(ctx, stack.forward(ctx, &store, whole(&x), whole(&lengths), b, t).unwrap().ops);

    let y = read_tensor(ctx, stack.output(), t * b * h);
    assert_close(&format!("{file} output"), &to_batch_first(&y, b, t, h), gold.get("output"), tol.out, tol.out);
    let mut h_n = Vec::new();
    let mut c_n = Vec::new();
    for l in 0..layers {
        let states = read(ctx, stack.states(l, 0), 2 * (t + 1) * b * h);
        h_n.extend_from_slice(&states[t * b * h..(t + 1) * b * h]);
        c_n.extend_from_slice(&states[(2 * t + 1) * b * h..(2 * t + 2) * b * h]);
    }
    assert_close(&format!("{file} h_n"), &h_n, gold.get("h_n"), tol.out, tol.out);
    assert_close(&format!("{file} c_n"), &c_n, gold.get("c_n"), tol.out, tol.out);
    let sq = |v: &[f32]| v.iter().map(|&x| (x as f64).powi(2)).sum::<f64>();
    let loss = sq(&y) + if with_state { sq(&h_n) + sq(&c_n) } else { 0.0 };
    assert_close(&format!("{file} loss"), &[loss as f32], gold.get("loss"), tol.out, tol.out);

    // Backward of loss = Σ output² (+ Σ h_n² + Σ c_n²).
    // As a loss kernel would, at the store's loss scaling (download_grads divides it out; dx and the
    // initial-state gradients are divided below).
    let scale = store.grad_scale;
    let dy: Vec<f32> = y.iter().map(|v| 2.0 * v * scale).collect();
    write_tensor(ctx, stack.output_grad(), &dy);
    if with_state {
        for l in 0..layers {
            let dsn: Vec<f32> =
                [&h_n[l * b * h..(l + 1) * b * h], &c_n[l * b * h..(l + 1) * b * h]].concat().iter().map(|v| 2.0 * v * scale).collect();
            ctx.queue.write_buffer(stack.final_state_grad(l, 0), 0, bytemuck::cast_slice(&dsn));
        }
    }
    run(ctx, stack.backward(ctx, &store, whole(&x), whole(&lengths), Some(whole(&dx)), b, t).unwrap().ops);
    for (name, _, grad) in store.download_grads(ctx).unwrap() {
        tol.grad(&format!("{file} grad.{name}"), &grad, gold.get(&format!("grad.{name}")));
    }
    let unscale = |v: Vec<f32>| v.into_iter().map(|x| x / scale).collect::<Vec<_>>();
    let dx = to_batch_first(&unscale(read(ctx, &dx, t * b * e)), b, t, e);
    tol.grad(&format!("{file} grad.input"), &dx, gold.get("grad.input"));
    if with_state {
        let (mut dh0, mut dc0) = (Vec::new(), Vec::new());
        for l in 0..layers {
            let d = unscale(read(ctx, stack.initial_state_grad(l, 0), 2 * b * h));
            dh0.extend_from_slice(&d[..b * h]);
            dc0.extend_from_slice(&d[b * h..]);
        }
        tol.grad(&format!("{file} grad.h0"), &dh0, gold.get("grad.h0"));
        tol.grad(&format!("{file} grad.c0"), &dc0, gold.get("grad.c0"));
    }
}

#[test]
fn lstm_two_layers_zero_state_matches_pytorch() {
    check_lstm_file(gpu(), F32, "lstm_2layer", false);
    check_lstm_file(gpu_f16(), F16, "lstm_2layer", false);
}

#[test]
fn lstm_two_layers_given_state_matches_pytorch() {
    check_lstm_file(gpu(), F32, "lstm_2layer_state", true);
    check_lstm_file(gpu_f16(), F16, "lstm_2layer_state", true);
}

struct ClassifierCase {
    gold: Golden,
    cfg: ClassifierConfig,
    batch: Batch,
}

fn classifier_case(file: &str) -> ClassifierCase {
    let gold = Golden::load(file);
    let bidirectional = gold.tensors.contains_key("lstm.weight_ih_l0_reverse");
    let layers = if bidirectional { 1 } else { 2 };
    let cfg = ClassifierConfig { vocab: 50, embed: 8, hidden: 16, layers, bidirectional, classes: 4, domains: 0, pooling: Pooling::Last };
    let (b, t) = (gold.shape("tokens")[0], gold.shape("tokens")[1]);
    let batch = Batch {
        batch: b,
        steps: t,
        ids: gold.u32("tokens"),
        lengths: gold.u32("lengths"),
        labels: gold.u32("labels"),
        domain_labels: Some(gold.u32("domain_labels")),
    };
    ClassifierCase { gold, cfg, batch }
}

impl ClassifierCase {
    fn model(&self, ctx: &GpuContext, domains: usize) -> Classifier {
        let cfg = ClassifierConfig { domains, ..self.cfg };
        let mut model = Classifier::new(ctx, cfg, self.batch.batch, self.batch.steps, 0).unwrap();
        let params: HashMap<String, (Vec<usize>, Vec<f32>)> =
            model.store.entries().iter().map(|e| (e.name.clone(), (self.gold.shape(&e.name).to_vec(), self.gold.f32(&e.name)))).collect();
        model.load_params(ctx, &params).unwrap();
        model
    }

    fn batch(&self, dann: bool) -> Batch {
        Batch { domain_labels: if dann { self.batch.domain_labels.clone() } else { None }, ..self.batch.clone() }
    }
}

fn check_classifier_gradients(ctx: &GpuContext, tol: Tol, file: &str) {
    let case = classifier_case(file);
    let mut model = case.model(ctx, 0);
    let batch = case.batch(false);
    let logits = model.logits(ctx, &batch).unwrap();
    assert_close(&format!("{file} logits"), &logits, case.gold.get("logits"), tol.out, tol.out);
    let stats = model.train_step(ctx, &batch, false, true).unwrap().unwrap();
    assert_close(&format!("{file} loss"), &[stats.loss_sum], case.gold.get("loss"), tol.out, tol.out);
    for (name, _, grad) in model.store.download_grads(ctx).unwrap() {
        tol.grad(&format!("{file} grad.{name}"), &grad, case.gold.get(&format!("grad.{name}")));
    }
}

fn check_classifier_adam(ctx: &GpuContext, tol: Tol, file: &str, frozen_embedding: bool) {
    let case = classifier_case(file);
    let mut model = case.model(ctx, 0);
    model.step.set_optimizer(AdamConfig { lr: 1e-2, ..Default::default() });
    if frozen_embedding {
        model.store.set_frozen("embedding.weight", true).unwrap();
        model.store.sync_options(ctx);
    }
    let batch = case.batch(false);
    for _ in 0..3 {
        model.train_step(ctx, &batch, true, false).unwrap();
    }
    let prefix = if frozen_embedding { "adam3_frozen_embedding" } else { "adam3" };
    for (name, _, values) in model.store.download(ctx).unwrap() {
        let before = case.gold.f32(&name);
        tol.adam(&format!("{file} {prefix}.{name}"), &values, case.gold.get(&format!("{prefix}.{name}")), &before);
    }
}

fn check_dann(ctx: &GpuContext, tol: Tol, file: &str) {
    let case = classifier_case(file);
    let mut model = case.model(ctx, 2);
    model.grl_lambda = 0.3;
    let stats = model.train_step(ctx, &case.batch(true), false, true).unwrap().unwrap();
    let loss = stats.loss_sum + stats.domain_loss_sum;
    assert_close(&format!("{file} dann.loss"), &[loss], case.gold.get("dann.loss"), tol.out, tol.out);
    for (name, _, grad) in model.store.download_grads(ctx).unwrap() {
        tol.grad(&format!("{file} dann.grad.{name}"), &grad, case.gold.get(&format!("dann.grad.{name}")));
    }
}

#[test]
fn classifier_logits_loss_and_gradients_match_pytorch() {
    for (ctx, tol) in [(gpu(), F32), (gpu_f16(), F16)] {
        check_classifier_gradients(ctx, tol, "classifier");
        check_classifier_gradients(ctx, tol, "classifier_bidirectional");
    }
}

#[test]
fn classifier_three_adam_steps_match_pytorch() {
    for (ctx, tol) in [(gpu(), F32), (gpu_f16(), F16)] {
        for file in ["classifier", "classifier_bidirectional"] {
            check_classifier_adam(ctx, tol, file, false);
            check_classifier_adam(ctx, tol, file, true);
        }
    }
}

#[test]
fn dann_gradient_reversal_matches_pytorch() {
    for (ctx, tol) in [(gpu(), F32), (gpu_f16(), F16)] {
        check_dann(ctx, tol, "classifier");
        check_dann(ctx, tol, "classifier_bidirectional");
    }
}

/// The store's views are what the kernels bind: every tensor starts at an aligned offset.
#[test]
fn parameter_views_are_aligned() {
    let ctx = gpu();
    let case = classifier_case("classifier");
    let model = case.model(ctx, 2);
    let align = ctx.limits().min_storage_buffer_offset_alignment as u64;
    for e in model.store.entries() {
        let v: View = model.store.view(&e.name).unwrap();
        assert_eq!(v.offset % align, 0, "{} at byte offset {}", e.name, v.offset);
    }
}
