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
//! clock around submit and wait. The screening size alone would mislead: how a variant's time grows
//! with the sequence is not linear on every driver (on lavapipe at B = 1, H = 256, the per-row kernel's
//! forward + backward takes 266 ms at 16 steps and 497 ms at 256, the subgroup slices 167 and 2,237 ms:
//! results/bench/tuning/tuning.json).
//!
//! With [`TuneMode::Off`] (the library's default) nothing is timed and a fixed rule per adapter type
//! picks ([`LstmKernel::choose`], [`GemmKernel::for_adapter`]); `LSTM_TRANSFER_LSTM` /
//! `LSTM_TRANSFER_GEMM` pin a variant past the tuner. Every variant computes the same function, to
//! rounding (the tests check each one against the reference), so a tuned run may differ from an
//! untuned one in the last bits only.

use super::lstm::{LstmBackwardArgs, LstmForwardArgs, LstmKernel, LstmParams, lstm_backward_with, lstm_forward_with};
use super::matmul::{Gemm, gemm_with};
use crate::error::Result;
use crate::gpu::{Candidate, GemmKernel, GpuContext, GpuTimer, TuneMode, TuneRecord, View, adapter_key};
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

/// The recurrence kernel for a batch of `batch` rows × `steps` steps at hidden size `hidden`.
pub fn lstm_kernel(ctx: &GpuContext, batch: u32, steps: u32, hidden: u32) -> Result<LstmKernel> {
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
    let winner = tuned(ctx, &lstm_key(batch, tuned_steps(steps), hidden), || {
        let screen_ms = {
            let short = LstmScratch::new(ctx, batch, timed.min(SCREEN_STEPS), hidden)?;
            screen(ctx, &candidates, |k| short.schedule(ctx, k))?
        };
        let full = LstmScratch::new(ctx, batch, timed, hidden)?;
        finals(ctx, &candidates, |k| k.name(), &screen_ms, |k| full.schedule(ctx, k))
    });
    Ok(winner.and_then(|w| candidates.into_iter().find(|k| k.name() == w)).unwrap_or(fallback))
}

/// The GEMM kernel for `g` (the blocked ones are only timed where [`Gemm::blocked_ok`] holds).
pub fn gemm_kernel(ctx: &GpuContext, g: &Gemm) -> Result<GemmKernel> {
    if let Some(kernel) = GemmKernel::forced(ctx) {
        return Ok(kernel);
    }
    let candidates: Vec<GemmKernel> = GemmKernel::ALL.into_iter().filter(|k| k.applies(ctx) && (k.is_tiled() || g.blocked_ok())).collect();
    if ctx.tuning().mode() == TuneMode::Off || candidates.len() < 2 {
        return Ok(ctx.gemm_kernel);
    }
    let winner = tuned(ctx, &gemm_key(g), || {
        let (a, b, c) = (scratch(ctx, "tune a", a_len(g))?, scratch(ctx, "tune b", b_len(g))?, scratch(ctx, "tune c", c_len(g))?);
        let schedule = |kernel, g| -> Result<Schedule> {
            Ok(Schedule { ops: vec![gemm_with(ctx, kernel, g, View::whole(&a), View::whole(&b), View::whole(&c), &[])?] })
        };
        // The screening product: the first rows of C (the buffers hold the whole product).
        let mut short = *g;
        short.m = g.m.min(SCREEN_ROWS);
        let screen_ms = screen(ctx, &candidates, |k| schedule(k, short))?;
        finals(ctx, &candidates, |k| k.name(), &screen_ms, |k| schedule(k, *g))
    });
    Ok(winner.and_then(|w| candidates.into_iter().find(|k| k.name() == w)).unwrap_or(ctx.gemm_kernel))
}

/// The sequence length a batch of `steps` is keyed by.
pub fn tuned_steps(steps: u32) -> u32 {
    steps.next_power_of_two().min(TUNE_STEPS)
}

/// Screening: each candidate's time at the small instance `build` makes (its first run compiles the
/// pipelines; the second is timed).
fn screen<K: Copy>(ctx: &GpuContext, candidates: &[K], build: impl Fn(K) -> Result<Schedule>) -> Result<Vec<f64>> {
    let mut timer = GpuTimer::new(ctx, 1);
    candidates.iter().map(|&k| Ok(best_of(build(k)?.time_runs(ctx, 2, &mut timer)?.split_off(1)))).collect()
}

/// The final round: the candidates within [`SCREEN_FACTOR`] of the best screening time, timed
/// [`TUNE_REPEATS`] times at the size `build` makes; the others are recorded as dropped.
fn finals<K: Copy>(
    ctx: &GpuContext,
    candidates: &[K],
    name: impl Fn(K) -> &'static str,
    screen_ms: &[f64],
    build: impl Fn(K) -> Result<Schedule>,
) -> Result<Vec<Candidate>> {
    let mut timer = GpuTimer::new(ctx, 1);
    let best = screen_ms.iter().copied().fold(f64::INFINITY, f64::min);
    let mut out = Vec::with_capacity(candidates.len());
    for (&k, &screen_ms) in candidates.iter().zip(screen_ms) {
        let ms = if screen_ms > SCREEN_FACTOR * best { None } else { Some(best_of(build(k)?.time_runs(ctx, TUNE_REPEATS, &mut timer)?)) };
        out.push(Candidate { variant: name(k).into(), screen_ms, ms });
    }
    Ok(out)
}

/// The fastest of some runs: GPU time where measured, else wall clock.
fn best_of(runs: Vec<(f64, Option<f64>)>) -> f64 {
    runs.into_iter().map(|(wall, gpu)| gpu.unwrap_or(wall)).fold(f64::INFINITY, f64::min)
}

/// The cache key of a recurrence shape on this context's adapter (`steps` as timed).
pub fn lstm_key(batch: u32, steps: u32, hidden: u32) -> String {
    format!("lstm B{} T{steps} H{hidden}", batch.next_power_of_two())
}

/// The cache key of a GEMM shape: M, N and K rounded up to powers of two (the weight gradients
/// contract over the batch's B·T rows, which change from batch to batch). A product the blocked
/// kernels cannot run (M or N < 8) is keyed apart ("tiled-only"): M = 5 and M = 8 round alike, and
/// neither may inherit a winner the other could not race.
pub fn gemm_key(g: &Gemm) -> String {
    let flag = |yes: bool, c: char| if yes { c } else { '-' };
    format!(
        "gemm M{} N{} K{} {}{} {}{}{}",
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
            let record = TuneRecord::from_candidates(candidates).expect("the best screened candidate is always timed");
            ctx.tuning().insert(&full_key, record.clone());
            Some(record.winner)
        }
        Err(e) => {
            ctx.tuning().note(format!("could not tune {key} ({e}); the fixed rule picks its kernel"));
            None
        }
    }
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

/// Scratch buffers of one layer direction at a shape, every row valid for all steps.
struct LstmScratch {
    p: LstmParams,
    w_hh: wgpu::Buffer,
    lengths: wgpu::Buffer,
    gates: wgpu::Buffer, // pre-activations → activations → their gradients, in place
    states: wgpu::Buffer,
    state: wgpu::Buffer,
    y: wgpu::Buffer,
    d_state: wgpu::Buffer,
}

impl LstmScratch {
    fn new(ctx: &GpuContext, batch: u32, steps: u32, hidden: u32) -> Result<Self> {
        let (b, t, h) = (batch as usize, steps as usize, hidden as usize);
        Ok(Self {
            p: LstmParams::new(b, t, h, false, h),
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
        })
    }

    /// Forward then backward with `kernel` (y doubles as dy, the state as h0 and as dL/dh_n).
    fn schedule(&self, ctx: &GpuContext, kernel: LstmKernel) -> Result<Schedule> {
        let w = View::whole;
        let forward = LstmForwardArgs {
            w_hh: w(&self.w_hh),
            lengths: w(&self.lengths),
            gates: w(&self.gates),
            states: w(&self.states),
            state0: w(&self.state),
            y: w(&self.y),
        };
        let backward = LstmBackwardArgs {
            w_hh: w(&self.w_hh),
            lengths: w(&self.lengths),
            states: w(&self.states),
            dy: w(&self.y),
            d_state_n: w(&self.state),
            dgates: w(&self.gates),
            d_state0: w(&self.d_state),
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
        let (small, blocked) = (gemm_key(&Gemm::new(5, 64, 32)), gemm_key(&Gemm::new(8, 64, 32)));
        assert!(small.ends_with(" tiled-only") && !blocked.contains("tiled-only"), "{small} / {blocked}");
        assert_eq!(small.trim_end_matches(" tiled-only"), blocked);
    }
}
