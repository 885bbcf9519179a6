//! Autotuning: the first time a kernel shape runs on an adapter, time every variant that applies and
//! keep the fastest ([`crate::gpu::Tuning`] holds and persists the results, keyed by adapter and
//! shape). What is tuned:
//! - the LSTM recurrence ([`LstmKernel`]: per row, batch slices with or without subgroup sharing, one
//!   dispatch per timestep), forward and backward of one direction timed together, keyed by batch
//!   (rounded up to a power of two), hidden size and sequence length (rounded up to a power of two,
//!   at most [`TUNE_STEPS`]), timed at the first such batch's own length (at most [`TUNE_STEPS`]);
//! - the GEMM ([`GemmKernel`]: tiled with 64- or 32-edge tiles, register-blocked with or without
//!   subgroup sharing), keyed by M, N and K (each rounded up to a power of two), the transpositions
//!   and whether the blocked kernels can read each operand as vec4, timed at the first such
//!   product's own shape.
//!
//! Each shape is raced in two rounds on scratch buffers (zeros: the kernels' speed does not depend on
//! the values). Screening: every candidate compiles and runs once at a small instance of the shape
//! (at most [`SCREEN_STEPS`] steps, [`SCREEN_ROWS`] GEMM rows); one more than [`SCREEN_FACTOR`]×
//! slower than the best is dropped there, so a hopeless variant costs one short run (on a CPU driver
//! the per-row recurrence at B = 64 takes seconds per run). The rest run [`TUNE_REPEATS`] times at
//! the tuned size, and the best time counts: GPU timestamps where the adapter has them, else the wall
//! clock around submit and wait. The screening size alone could mislead: how a variant's time grows
//! with the sequence need not be the same for all (the step kernel pays a fixed cost per dispatch; on
//! lavapipe at B = 1, H = 256 the four grow 13–17× from 16 to 256 steps:
//! results/bench/cpu-loop-limit/tuning.json).
//!
//! With [`TuneMode::Off`] (the library's default) nothing is timed and a fixed rule per adapter type
//! picks ([`LstmKernel::choose`], [`GemmKernel::for_adapter`]); `LSTM_TRANSFER_LSTM` /
//! `LSTM_TRANSFER_GEMM` pin a variant past the tuner. Every variant computes the same function, to
//! rounding (the tests check each one against the reference), so a tuned run may differ from an
//! untuned one in the last bits only.

use super::lstm::{LstmBackwardArgs, LstmForwardArgs, LstmKernel, LstmParams, lstm_backward_with, lstm_forward_with};
use super::matmul::{Gemm, gemm_with};
use crate::error::Result;
use rand::Rng;

use crate::config::Precision;
use crate::gpu::{Candidate, GemmKernel, GpuContext, GpuTimer, TuneMode, TuneRecord, View, adapter_key, f16_words, read_buffer};
use crate::graph::Schedule;

/// Timed runs per surviving candidate at the tuned size.
pub const TUNE_REPEATS: usize = 2;

/// Longest sequence the recurrence is timed at (longer ones share its record).
pub const TUNE_STEPS: u32 = 256;

/// Steps of the recurrence's screening round.
pub const SCREEN_STEPS: u32 = 16;

/// Rows (M) of the GEMM's screening round.
pub const SCREEN_ROWS: u32 = 256;

/// A candidate this many times slower than the best at screening is not timed at the tuned size.
pub const SCREEN_FACTOR: f64 = 2.5;

/// The recurrence kernel for a batch of `batch` rows × `steps` steps at hidden size `hidden`, its
/// activations (gates, y, dy) stored at `precision`.
pub fn lstm_kernel(ctx: &GpuContext, batch: u32, steps: u32, hidden: u32, precision: Precision) -> Result<LstmKernel> {
    if let Some(kernel) = LstmKernel::forced(ctx, hidden) {
        return Ok(kernel);
    }
    let fallback = LstmKernel::choose(ctx, batch, hidden);
    let candidates: Vec<LstmKernel> = LstmKernel::ALL.into_iter().filter(|k| k.applies(ctx, hidden)).collect();
    if ctx.tuning().mode() == TuneMode::Off || candidates.len() < 2 {
        return Ok(fallback);
    }
    // Timed at this batch's own length (capped), so the scratch is never larger than the model's.
    let timed = steps.min(TUNE_STEPS);
    let winner = tuned(ctx, &lstm_key(batch, tuned_steps(steps), hidden, precision), || {
        let screened = {
            let short = LstmScratch::new(ctx, batch, timed.min(SCREEN_STEPS), hidden, precision)?;
            screen(ctx, &candidates, |k| short.schedule(ctx, k), |k| short.failure(ctx, k))?
        };
        let full = LstmScratch::new(ctx, batch, timed, hidden, precision)?;
        finals(ctx, &candidates, |k| k.name(), &screened, |k| full.schedule(ctx, k), |k| full.failure(ctx, k))
    });
    Ok(winner.and_then(|w| candidates.into_iter().find(|k| k.name() == w)).unwrap_or(fallback))
}

/// The GEMM kernel for `g` with the operands A, B and C stored as f16 where `half` says so (the
/// blocked kernels are only timed where [`Gemm::blocked_ok`] holds).
pub fn gemm_kernel(ctx: &GpuContext, g: &Gemm, half: [bool; 3]) -> Result<GemmKernel> {
    if let Some(kernel) = GemmKernel::forced(ctx) {
        return Ok(kernel);
    }
    let candidates: Vec<GemmKernel> = GemmKernel::ALL.into_iter().filter(|k| k.applies(ctx) && (k.is_tiled() || g.blocked_ok())).collect();
    if ctx.tuning().mode() == TuneMode::Off || candidates.len() < 2 {
        return Ok(ctx.gemm_kernel);
    }
    let winner = tuned(ctx, &gemm_key(g, half), || {
        let (a, b, c) = (scratch(ctx, "tune a", a_len(g))?, scratch(ctx, "tune b", b_len(g))?, scratch(ctx, "tune c", c_len(g))?);
        let view = |buffer, half| View { half, ..View::whole(buffer) };
        let schedule = |kernel, g| -> Result<Schedule> {
            Ok(Schedule { ops: vec![gemm_with(ctx, kernel, g, view(&a, half[0]), view(&b, half[1]), view(&c, half[2]), &[])?] })
        };
        // The screening product: the first rows of C (the buffers hold the whole product).
        let mut short = *g;
        short.m = g.m.min(SCREEN_ROWS);
        let screened = screen(ctx, &candidates, |k| schedule(k, short), |_| Ok(None))?;
        finals(ctx, &candidates, |k| k.name(), &screened, |k| schedule(k, *g), |_| Ok(None))
    });
    Ok(winner.and_then(|w| candidates.into_iter().find(|k| k.name() == w)).unwrap_or(ctx.gemm_kernel))
}

/// The sequence length a batch of `steps` is keyed by.
pub fn tuned_steps(steps: u32) -> u32 {
    steps.next_power_of_two().min(TUNE_STEPS)
}

/// Screening: each candidate's time at the small instance `build` makes (its first run compiles the
/// pipelines; the second is timed), and why its runs cannot be used, where they cannot (`failure`,
/// asked after they ran).
fn screen<K: Copy>(
    ctx: &GpuContext,
    candidates: &[K],
    build: impl Fn(K) -> Result<Schedule>,
    failure: impl Fn(K) -> Result<Option<String>>,
) -> Result<Vec<(f64, Option<String>)>> {
    let mut timer = GpuTimer::new(ctx, 1);
    candidates.iter().map(|&k| Ok((best_of(build(k)?.time_runs(ctx, 2, &mut timer)?.split_off(1)), failure(k)?))).collect()
}

/// The final round: the candidates that did not fail screening and came within [`SCREEN_FACTOR`] of
/// its best time, timed [`TUNE_REPEATS`] times at the size `build` makes; the others are recorded as
/// dropped (or failed).
fn finals<K: Copy>(
    ctx: &GpuContext,
    candidates: &[K],
    name: impl Fn(K) -> &'static str,
    screened: &[(f64, Option<String>)],
    build: impl Fn(K) -> Result<Schedule>,
    failure: impl Fn(K) -> Result<Option<String>>,
) -> Result<Vec<Candidate>> {
    let mut timer = GpuTimer::new(ctx, 1);
    let best = screened.iter().filter(|(_, failed)| failed.is_none()).map(|s| s.0).fold(f64::INFINITY, f64::min);
    let mut out = Vec::with_capacity(candidates.len());
    for (&k, (screen_ms, failed)) in candidates.iter().zip(screened) {
        let (mut ms, mut failed) = (None, failed.clone());
        if failed.is_none() && *screen_ms <= SCREEN_FACTOR * best {
            ms = Some(best_of(build(k)?.time_runs(ctx, TUNE_REPEATS, &mut timer)?));
            failed = failure(k)?;
        }
        out.push(Candidate { variant: name(k).into(), screen_ms: *screen_ms, ms, failed });
    }
    Ok(out)
}

/// The fastest of some runs: GPU time where measured, else wall clock.
fn best_of(runs: Vec<(f64, Option<f64>)>) -> f64 {
    runs.into_iter().map(|(wall, gpu)| gpu.unwrap_or(wall)).fold(f64::INFINITY, f64::min)
}

/// The cache key of a recurrence shape on this context's adapter (`steps` as timed); " f16" ends
/// it where the activations are f16.
pub fn lstm_key(batch: u32, steps: u32, hidden: u32, precision: Precision) -> String {
    let f16 = if precision == Precision::F16 { " f16" } else { "" };
    format!("lstm B{} T{steps} H{hidden}{f16}", batch.next_power_of_two())
}

/// The cache key of a GEMM shape: M, N and K rounded up to powers of two (the weight gradients
/// contract over the batch's B·T rows, which change from batch to batch). A product the blocked
/// kernels cannot run (M or N < 8) is keyed apart ("tiled-only"): M = 5 and M = 8 round alike, and
/// neither may inherit a winner the other could not race. " f16" and the operands stored as f16
/// (e.g. "A-C") end it where any is.
pub fn gemm_key(g: &Gemm, half: [bool; 3]) -> String {
    let flag = |yes: bool, c: char| if yes { c } else { '-' };
    let f16 = if half.contains(&true) {
        format!(" f16 {}{}{}", flag(half[0], 'A'), flag(half[1], 'B'), flag(half[2], 'C'))
    } else {
        String::new()
    };
    format!(
        "gemm M{} N{} K{} {}{} {}{}{}{f16}",
        g.m.next_power_of_two(),
        g.n.next_power_of_two(),
        g.k.next_power_of_two(),
        flag(g.trans_a == 1, 'T'),
        flag(g.trans_b == 1, 'T'),
        flag(g.a_vec4_ok(), '4'),
        flag(g.b_vec4_ok(), '4'),
        if g.blocked_ok() { "" } else { " tiled-only" }
    )
}

/// The key of a shape on this context's adapter, as the cache file holds it.
pub fn cache_key(ctx: &GpuContext, shape_key: &str) -> String {
    format!("{} | {shape_key}", adapter_key(&ctx.info))
}

/// The winner's name for `key` on this adapter: cached (in cached mode), else timed by `time` and
/// saved. Where timing fails (a buffer over the device's limits, a pipeline the driver rejects), a note
/// says so and `None` leaves the choice to the fixed rule: tuning never fails a run.
fn tuned(ctx: &GpuContext, key: &str, time: impl FnOnce() -> Result<Vec<Candidate>>) -> Option<String> {
    let full_key = cache_key(ctx, key);
    if let Some(record) = ctx.tuning().get(&full_key) {
        return Some(record.winner);
    }
    match time() {
        Ok(candidates) => {
            // None only where every candidate failed (the fixed rule's kernels never fail).
            let Some(record) = TuneRecord::from_candidates(candidates) else {
                ctx.tuning().note(format!("no kernel could be timed for {key}; the fixed rule picks its kernel"));
                return None;
            };
            ctx.tuning().insert(&full_key, record.clone());
            Some(record.winner)
        }
        Err(e) => {
            ctx.tuning().note(format!("could not tune {key} ({e}); the fixed rule picks its kernel"));
            None
        }
    }
}

const STALLED: &str = "stalled: a wait between timesteps gave up (the workgroups did not all run at once)";

/// Why the persistent recurrence kernel cannot be trusted at this shape on this adapter, if it
/// cannot: it runs forward and backward once on random values beside the step kernel (the same
/// work, one dispatch per timestep), with `groups` workgroups (0: the launcher's grid), and fails
/// where one of its waits gave up or its states or state gradients differ from the step kernel's by
/// more than rounding (a wait met by a wrong value: an adapter whose atomics do not behave as the
/// kernel needs). The tuner asks this before the kernel may win.
pub fn persistent_failure(
    ctx: &GpuContext,
    batch: u32,
    steps: u32,
    hidden: u32,
    precision: Precision,
    groups: u32,
) -> Result<Option<String>> {
    let outputs = |kernel: LstmKernel| -> Result<(Vec<f32>, u32)> {
        let mut scratch = LstmScratch::new(ctx, batch, steps, hidden, precision)?;
        scratch.p = scratch.p.with_groups(groups);
        scratch.randomize(ctx, 17);
        let mut encoder = ctx.device.create_command_encoder(&Default::default());
        scratch.schedule(ctx, kernel)?.record(&mut encoder, "persistent proof");
        ctx.queue.submit([encoder.finish()]);
        let (b, t, h) = (batch as usize, steps as usize, hidden as usize);
        let mut values = read_buffer::<f32>(ctx, &scratch.states, 0, 2 * (t + 1) * b * h)?;
        values.extend(read_buffer::<f32>(ctx, &scratch.d_state, 0, 2 * b * h)?);
        Ok((values, read_buffer::<u32>(ctx, &scratch.exchange, 0, 1)?[0]))
    };
    let (want, _) = outputs(LstmKernel::Steps)?;
    let (got, status) = outputs(LstmKernel::Persistent)?;
    if status != 0 {
        return Ok(Some(STALLED.into()));
    }
    // Rounding apart, the two kernels sum in the same order; the tolerance only has to tell rounding
    // (and the exchange's 2 low bits) from a wrong value. NaN is wrong.
    let close = |w: f32, g: f32| (g - w).abs() <= 1e-3 + 1e-3 * w.abs();
    let wrong = want.iter().zip(&got).position(|(&w, &g)| !close(w, g));
    Ok(wrong.map(|i| format!("wrong: state (or state gradient) {i} is {}, the step kernel's {}", got[i], want[i])))
}

/// A zeroed f32 scratch buffer of `len` elements (at least one vec4, so every view is valid).
fn scratch(ctx: &GpuContext, label: &str, len: usize) -> Result<wgpu::Buffer> {
    ctx.scratch_buffer(label, (len.max(4) * 4) as u64)
}

/// Elements the GEMM reads from A, B and writes to C, from the offsets and strides, plus one vec4
/// (the blocked kernel reads whole vec4 rows).
fn a_len(g: &Gemm) -> usize {
    let (rows, cols) = if g.trans_a == 1 { (g.k, g.m) } else { (g.m, g.k) };
    g.a_off as usize + (rows as usize).saturating_sub(1) * g.lda as usize + cols as usize + 4
}
fn b_len(g: &Gemm) -> usize {
    let (rows, cols) = if g.trans_b == 1 { (g.n, g.k) } else { (g.k, g.n) };
    g.b_off as usize + (rows as usize).saturating_sub(1) * g.ldb as usize + cols as usize + 4
}
fn c_len(g: &Gemm) -> usize {
    g.c_off as usize + (g.m as usize).saturating_sub(1) * g.ldc as usize + g.n as usize
}

/// Scratch buffers of one layer direction at a shape, every row valid for all steps, W_hh and the
/// activations at the model's precision.
struct LstmScratch {
    p: LstmParams,
    precision: Precision,
    w_hh: wgpu::Buffer,
    lengths: wgpu::Buffer,
    gates: wgpu::Buffer, // pre-activations → activations → their gradients, in place
    states: wgpu::Buffer,
    state: wgpu::Buffer,
    y: wgpu::Buffer,
    d_state: wgpu::Buffer,
    exchange: wgpu::Buffer,
}

impl LstmScratch {
    fn new(ctx: &GpuContext, batch: u32, steps: u32, hidden: u32, precision: Precision) -> Result<Self> {
        let (b, t, h) = (batch as usize, steps as usize, hidden as usize);
        Ok(Self {
            p: LstmParams::new(b, t, h, false, h),
            precision,
            w_hh: scratch(ctx, "tune w_hh", 4 * h * h)?,
            lengths: {
                let lengths = scratch(ctx, "tune lengths", b)?;
                ctx.queue.write_buffer(&lengths, 0, bytemuck::cast_slice(&vec![steps; b]));
                lengths
            },
            gates: scratch(ctx, "tune gates", t * b * 4 * h)?,
            states: scratch(ctx, "tune states", 2 * (t + 1) * b * h)?,
            state: scratch(ctx, "tune state", 2 * b * h)?,
            y: scratch(ctx, "tune y", t * b * h)?,
            d_state: scratch(ctx, "tune d_state", 2 * b * h)?,
            exchange: scratch(ctx, "tune exchange", LstmKernel::exchange_len(b, h))?,
        })
    }

    /// Why `kernel`'s runs on these buffers cannot be used: the persistent kernel's, where one of its
    /// waits between timesteps gave up (the adapter did not run all its workgroups at once), or where
    /// [`persistent_failure`] finds it wrong at this shape.
    fn failure(&self, ctx: &GpuContext, kernel: LstmKernel) -> Result<Option<String>> {
        if kernel != LstmKernel::Persistent {
            return Ok(None);
        }
        if read_buffer::<u32>(ctx, &self.exchange, 0, 1)?[0] != 0 {
            return Ok(Some(STALLED.into()));
        }
        let p = self.p;
        persistent_failure(ctx, p.batch, p.steps, p.hidden, self.precision, 0)
    }

    /// Fills the inputs with values drawn from `seed` (at the model's precision): W_hh, the
    /// pre-activations, the initial state (also dL/dh_n, dL/dc_n) and dL/dy (y doubles as dy).
    fn randomize(&self, ctx: &GpuContext, seed: u64) {
        let mut rng = <rand_chacha::ChaCha8Rng as rand::SeedableRng>::seed_from_u64(seed);
        let (b, t, h) = (self.p.batch as usize, self.p.steps as usize, self.p.hidden as usize);
        let mut fill = |buffer: &wgpu::Buffer, len: usize, scale: f32, half: bool| {
            let values: Vec<f32> = (0..len).map(|_| rng.random_range(-scale..=scale)).collect();
            let words = if half { f16_words(&values) } else { bytemuck::cast_slice(&values).to_vec() };
            ctx.queue.write_buffer(buffer, 0, bytemuck::cast_slice(&words));
        };
        let f16 = self.precision == Precision::F16;
        fill(&self.w_hh, 4 * h * h, 0.3, f16);
        fill(&self.gates, t * b * 4 * h, 1.0, f16);
        fill(&self.state, 2 * b * h, 0.5, false);
        fill(&self.y, t * b * h, 1.0, f16);
    }

    /// Forward then backward with `kernel` (y doubles as dy, the state as h0 and as dL/dh_n).
    fn schedule(&self, ctx: &GpuContext, kernel: LstmKernel) -> Result<Schedule> {
        let w = View::whole;
        let tensor = |buffer| View::tensor(buffer, self.precision);
        let forward = LstmForwardArgs {
            w_hh: tensor(&self.w_hh),
            lengths: w(&self.lengths),
            gates: tensor(&self.gates),
            states: w(&self.states),
            state0: w(&self.state),
            y: tensor(&self.y),
            exchange: w(&self.exchange),
        };
        let backward = LstmBackwardArgs {
            w_hh: tensor(&self.w_hh),
            lengths: w(&self.lengths),
            states: w(&self.states),
            dy: tensor(&self.y),
            d_state_n: w(&self.state),
            dgates: tensor(&self.gates),
            d_state0: w(&self.d_state),
            exchange: w(&self.exchange),
        };
        let mut schedule = lstm_forward_with(kernel, ctx, self.p, &forward)?;
        schedule.extend(lstm_backward_with(kernel, ctx, self.p, &backward)?);
        Ok(schedule)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn products_the_blocked_kernels_cannot_run_are_keyed_apart() {
        // M = 5 and M = 8 round to the same power of two; only M = 8 may race the blocked kernels.
        let f32s = [false; 3];
        let (small, blocked) = (gemm_key(&Gemm::new(5, 64, 32), f32s), gemm_key(&Gemm::new(8, 64, 32), f32s));
        assert!(small.ends_with(" tiled-only") && !blocked.contains("tiled-only"), "{small} / {blocked}");
        assert_eq!(small.trim_end_matches(" tiled-only"), blocked);
    }

    #[test]
    fn f16_shapes_are_keyed_apart_from_f32_ones() {
        // The kernels' speeds differ with the bytes they move: an f16 model times its own kernels.
        assert_eq!(lstm_key(64, 64, 256, Precision::F32), "lstm B64 T64 H256");
        assert_eq!(lstm_key(64, 64, 256, Precision::F16), "lstm B64 T64 H256 f16");
        let g = Gemm::new(4096, 1024, 128).b_transposed();
        assert!(gemm_key(&g, [false, false, true]).ends_with(" f16 --C"), "{}", gemm_key(&g, [false, false, true]));
        assert!(!gemm_key(&g, [false; 3]).contains("f16"));
    }
}
