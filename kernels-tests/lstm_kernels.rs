//! The LSTM recurrence kernels against the plain-Rust reference (kernels-tests/common/reference.rs):
//! every variant, forward and backward, both directions, f32 and f16 activations; long sequences
//! split over dispatches on a CPU driver; tiny gradients flushed; the persistent kernel's proof.

mod common;

use common::reference::{self as r, LstmShape};
use common::*;
use lstm_transfer::config::Precision;
use lstm_transfer::gpu::View;
use lstm_transfer::kernels::lstm::{LstmBackwardArgs, LstmForwardArgs, LstmKernel, LstmParams, lstm_backward_with, lstm_forward_with};
use lstm_transfer::kernels::tune;

const ATOL: f64 = 1e-5;
const RTOL: f64 = 1e-5;

/// Forward and backward of both directions, H = 70 (threads loop twice over units, the second time
/// partly), a padded row, a non-zero initial state, and y/dy shared by two directions (stride 2H).
#[test]
fn lstm_forward_and_backward_match_reference() {
    check_lstm(LstmKernel::PerRow, 5, 70, &[5, 2, 4]);
    // The slice kernel: 11 rows (a full slice of 8 and a partial one of 3), H = 68 (17 vec4 chunks,
    // threads loop twice over units), padded rows in both slices.
    check_lstm(LstmKernel::Slices, 5, 68, &[5, 2, 4, 5, 1, 3, 5, 4, 2, 5, 3]);
    // The same with subgroup broadcasts, where the adapter has subgroups of 8 or more (lavapipe: 8).
    // H = 68: the threads' second round over units covers 4 of its 64 lanes (the others compute on
    // clamped indices for the broadcasts and write nothing).
    if LstmKernel::SlicesSubgroup.applies(gpu(), 68) {
        check_lstm(LstmKernel::SlicesSubgroup, 5, 68, &[5, 2, 4, 5, 1, 3, 5, 4, 2, 5, 3]);
    } else {
        eprintln!("no subgroups of 8 or more on this adapter: the subgroup kernel cannot run here");
    }
    // The step kernel (one dispatch per timestep): the same 11 rows (groups of 4: the last holds 3)
    // and H = 68 (two workgroups of 64 units, the second with 4); then H = 260, where the forward
    // stages h in two chunks (65 vec4 > 64) and the backward the gate gradients in five rounds
    // (4H = 1040 > 256), with a row of length 0 (its gradient passes through every step).
    check_lstm(LstmKernel::Steps, 5, 68, &[5, 2, 4, 5, 1, 3, 5, 4, 2, 5, 3]);
    check_lstm(LstmKernel::Steps, 3, 260, &[3, 1, 2, 3, 0]);
    // The persistent kernel at the same shapes, one workgroup walking all 6 and 10 tiles of the step
    // grid (no adapter promises that two run at once; see the_persistent_kernel_is_proved_before_use).
    check_lstm(LstmKernel::Persistent, 5, 68, &[5, 2, 4, 5, 1, 3, 5, 4, 2, 5, 3]);
    check_lstm(LstmKernel::Persistent, 3, 260, &[3, 1, 2, 3, 0]);
}

/// Sequences long enough that one dispatch of the per-row and slice kernels would take more loop
/// back-edges than llvmpipe lets an invocation take (65535; past that it silently cuts every loop
/// short): on a CPU driver the launcher splits the walk over several dispatches, which must give
/// what one does. Padded rows end inside a chunk and before the first one ends.
#[test]
fn long_sequences_split_over_dispatches_match_reference() {
    let ctx = gpu();
    let cases = [(LstmKernel::PerRow, 70, 256), (LstmKernel::Slices, 70, 512), (LstmKernel::SlicesSubgroup, 70, 512)];
    for (kernel, tn, h) in cases.into_iter().filter(|(k, _, h)| k.applies(ctx, *h as u32)) {
        let (forward, backward) = kernel.dispatches(ctx, tn as u32, h as u32);
        if ctx.info.device_type == lstm_transfer::wgpu::DeviceType::Cpu {
            assert!(forward > 1 && backward > 1, "{kernel:?} at T = {tn}, H = {h}: one dispatch would pass llvmpipe's loop limit");
        }
        check_lstm(kernel, tn, h, &[70, 3, 69]);
    }
}

/// Gradients below 1e-30 are stored as 0 by every backward kernel (`flush_tiny`: denormals are
/// ~100× slower on a CPU): with dL/dy of 1e-32 and no final-state gradient, every gate gradient and
/// initial-state gradient comes out exactly 0, where the reference gives values of ~1e-33.
#[test]
fn tiny_gradients_are_stored_as_zero() {
    let ctx = gpu();
    let (bn, tn, h) = (2, 3, 8);
    let lengths = [3u32, 2];
    let mut g = rng(9);
    let (pre, w_hh, state0) = (random(&mut g, tn * bn * 4 * h, 1.0), random(&mut g, 4 * h * h, 0.2), random(&mut g, 2 * bn * h, 0.5));
    let dy: Vec<f32> = random(&mut g, tn * bn * h, 1.0).iter().map(|v| v * 1e-32).collect();
    for kernel in [LstmKernel::PerRow, LstmKernel::Slices, LstmKernel::Steps] {
        let (gates, w, s0, dy_b) = (buffer_f32(ctx, &pre), buffer_f32(ctx, &w_hh), buffer_f32(ctx, &state0), buffer_f32(ctx, &dy));
        let (len_b, states, y, dsn, ds0, exchange) = (
            buffer_u32(ctx, &lengths),
            zeros(ctx, 2 * (tn + 1) * bn * h),
            zeros(ctx, tn * bn * h),
            zeros(ctx, 2 * bn * h),
            zeros(ctx, 2 * bn * h),
            zeros(ctx, 4),
        );
        let p = LstmParams::new(bn, tn, h, false, h);
        let fwd = LstmForwardArgs {
            w_hh: whole(&w),
            lengths: whole(&len_b),
            gates: whole(&gates),
            states: whole(&states),
            state0: whole(&s0),
            y: whole(&y),
            exchange: whole(&exchange),
        };
        let bwd = LstmBackwardArgs {
            w_hh: whole(&w),
            lengths: whole(&len_b),
            states: whole(&states),
            dy: whole(&dy_b),
            d_state_n: whole(&dsn),
            dgates: whole(&gates),
            d_state0: whole(&ds0),
            exchange: whole(&exchange),
        };
        let mut ops = lstm_forward_with(kernel, ctx, p, &fwd).unwrap().ops;
        ops.extend(lstm_backward_with(kernel, ctx, p, &bwd).unwrap().ops);
        run(ctx, ops);
        let stored: Vec<f32> = read(ctx, &gates, tn * bn * 4 * h).into_iter().chain(read(ctx, &ds0, 2 * bn * h)).collect();
        assert!(stored.iter().all(|&v| v == 0.0), "{kernel:?}: {:?}", stored.iter().find(|&&v| v != 0.0));
    }
}

/// The tuner's proof of the persistent kernel ([`tune::persistent_failure`]: one run beside the step
/// kernel on random values) accepts it in one workgroup, at both precisions, with 12 tiles to walk;
/// with one workgroup per tile it reports what it found (on lavapipe, whose threads cannot run 12
/// workgroups side by side, a stall or a wrong value: why the kernel does not apply on CPU drivers).
#[test]
fn the_persistent_kernel_is_proved_before_use() {
    let ctx = gpu();
    for precision in [Precision::F32, Precision::F16] {
        assert_eq!(tune::persistent_failure(ctx, 13, 4, 132, precision, 1).unwrap(), None, "{precision:?}, one workgroup");
        let one_per_tile = tune::persistent_failure(ctx, 13, 4, 132, precision, 0).unwrap();
        eprintln!("persistent kernel, one workgroup per tile, {precision:?}: {}", one_per_tile.as_deref().unwrap_or("right"));
    }
}

/// Every recurrence kernel with W_hh, the gates, y and dy stored as f16 (Precision::F16), at the
/// shapes above.
#[test]
fn lstm_kernels_with_f16_weights_and_activations_match_reference() {
    let slices: &[u32] = &[5, 2, 4, 5, 1, 3, 5, 4, 2, 5, 3];
    check_lstm_at(Precision::F16, LstmKernel::PerRow, 5, 70, &[5, 2, 4]);
    check_lstm_at(Precision::F16, LstmKernel::Slices, 5, 68, slices);
    if LstmKernel::SlicesSubgroup.applies(gpu(), 68) {
        check_lstm_at(Precision::F16, LstmKernel::SlicesSubgroup, 5, 68, slices);
    }
    check_lstm_at(Precision::F16, LstmKernel::Steps, 5, 68, slices);
    check_lstm_at(Precision::F16, LstmKernel::Steps, 3, 260, &[3, 1, 2, 3, 0]);
    check_lstm_at(Precision::F16, LstmKernel::Persistent, 5, 68, slices);
}

fn check_lstm(kernel: LstmKernel, tn: usize, h: usize, lengths: &[u32]) {
    check_lstm_at(Precision::F32, kernel, tn, h, lengths);
}

/// With `Precision::F16` W_hh, the gates buffer (pre, then gates, then their gradients), y and dy are
/// f16 (as in an f16 model): the reference reads W_hh, pre and dy rounded as the kernel does, and what the kernel stores rounded
/// (gates, y) or computes from rounded values (the gate gradients read the rounded gates; dL/dh
/// reads the rounded gate gradients) is compared within f16's precision: 1e-3 for stored values
/// (two roundings' worth at magnitude 1), 4e-3 for the gradients (as the PyTorch parity suite).
fn check_lstm_at(precision: Precision, kernel: LstmKernel, tn: usize, h: usize, lengths: &[u32]) {
    let ctx = gpu();
    // The persistent kernel in one workgroup, which never waits for another.
    let groups = u32::from(kernel == LstmKernel::Persistent);
    let f16 = precision == Precision::F16;
    let (stored, grads) = if f16 { (1e-3, 4e-3) } else { (ATOL, 1e-4) };
    let tensor = |data: &[f32]| if f16 { buffer_f16(ctx, data) } else { buffer_f32(ctx, data) };
    let input = |data: Vec<f32>| if f16 { round_f16(&data) } else { data };
    let bn = lengths.len();
    let mut g = rng(3);
    // In f16 the rows of y get an odd stride (a spare column), so two rows, owned by different
    // workgroups, share a word: the half-word writes must not lose each other's.
    let y_stride = 2 * h + usize::from(f16);
    let dy_all = input(random(&mut g, tn * bn * y_stride, 1.0));
    let y_buf = tensor(&vec![0.0; tn * bn * y_stride]);
    let dy_buf = tensor(&dy_all);
    fn view(b: &wgpu::Buffer, precision: Precision) -> View<'_> {
        View::tensor(b, precision)
    }
    let len_buf = buffer_u32(ctx, lengths);
    for reverse in [false, true] {
        let sh = LstmShape { b: bn, t: tn, h, reverse };
        let pre = input(random(&mut g, tn * bn * 4 * h, 1.0));
        let w_hh = input(random(&mut g, 4 * h * h, 0.2));
        let state0 = random(&mut g, 2 * bn * h, 0.5);
        let d_state_n = random(&mut g, 2 * bn * h, 1.0);
        // One buffer holds pre, then the gates (forward, in place), then their gradients (backward).
        let (gates, w_b, s0_b, dsn_b) = (tensor(&pre), tensor(&w_hh), buffer_f32(ctx, &state0), buffer_f32(ctx, &d_state_n));
        let states = zeros(ctx, 2 * (tn + 1) * bn * h);
        let ds0 = zeros(ctx, 2 * bn * h);
        let exchange = zeros(ctx, LstmKernel::exchange_len(bn, h));
        let p = LstmParams::new(bn, tn, h, reverse, y_stride).with_groups(groups);
        let fwd = LstmForwardArgs {
            w_hh: view(&w_b, precision),
            lengths: whole(&len_buf),
            gates: view(&gates, precision),
            states: whole(&states),
            state0: whole(&s0_b),
            y: view(&y_buf, precision),
            exchange: whole(&exchange),
        };
        let bwd = LstmBackwardArgs {
            w_hh: view(&w_b, precision),
            lengths: whole(&len_buf),
            states: whole(&states),
            dy: view(&dy_buf, precision),
            d_state_n: whole(&dsn_b),
            dgates: view(&gates, precision),
            d_state0: whole(&ds0),
            exchange: whole(&exchange),
        };
        run(ctx, lstm_forward_with(kernel, ctx, p, &fwd).unwrap().ops);
        let gates_after_forward = read_tensor(ctx, view(&gates, precision), tn * bn * 4 * h);
        run(ctx, lstm_backward_with(kernel, ctx, p, &bwd).unwrap().ops);
        assert_eq!(read(ctx, &exchange, 1)[0].to_bits(), 0, "{kernel:?}: a wait between timesteps gave up");

        let want = r::lstm_forward(&sh, &to_f64(&pre), &to_f64(&w_hh), lengths, &to_f64(&state0));
        let col = if reverse { h } else { 0 };
        let dy: Vec<f64> =
            (0..tn * bn).flat_map(|row| dy_all[row * y_stride + col..row * y_stride + col + h].iter().map(|&v| v as f64)).collect();
        let (want_dg, want_ds0) = r::lstm_backward(&sh, &to_f64(&w_hh), lengths, &want, &dy, &to_f64(&d_state_n));
        let y_got: Vec<f32> =
            read_tensor(ctx, view(&y_buf, precision), tn * bn * y_stride).chunks(y_stride).flat_map(|r| r[col..col + h].to_vec()).collect();
        let tag = |what: &str| format!("lstm {kernel:?} {precision:?} B={bn} T={tn} H={h} {what} reverse={reverse}");
        // Gates are only defined (and only used) at valid steps.
        let valid = |i: usize| ((i / (4 * h)) / bn) < lengths[(i / (4 * h)) % bn] as usize;
        let gates_got: Vec<f32> = gates_after_forward.iter().enumerate().map(|(i, &v)| if valid(i) { v } else { 0.0 }).collect();
        assert_close(&tag("gates"), &gates_got, &want.gates, stored, stored);
        // The states stay f32, computed from the gates before they are stored.
        assert_close(&tag("states"), &read(ctx, &states, 2 * (tn + 1) * bn * h), &want.states, ATOL, RTOL);
        assert_close(&tag("y"), &y_got, &want.y, stored, stored);
        assert_close(&tag("dgates"), &read_tensor(ctx, view(&gates, precision), tn * bn * 4 * h), &want_dg, grads, grads);
        assert_close(&tag("d_state0"), &read(ctx, &ds0, 2 * bn * h), &want_ds0, grads, grads);
    }
}
