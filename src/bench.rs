//! Benchmarks shared by `lstm-transfer bench` and `cargo bench`: the adapter's ceilings (an
//! FMA-bound and a streaming kernel), then per shape GEMM, LSTM forward and forward+backward and a
//! full classifier training step, timed by wall clock around submit + wait (median of the repeats
//! after one warm-up) and, where the adapter has timestamp queries, by GPU timestamps around the
//! pass; every row is also given as a share of the FMA ceiling (a roofline). A per-kernel profile of
//! the training step times each dispatch in a pass of its own.

use web_time::Instant;

use crate::config::{Pooling, Precision};
use crate::data::Batch;
use crate::error::Result;
use crate::gpu::{GemmKernel, GpuContext, GpuTimer, TuneMode, View};
use crate::graph::Schedule;
use crate::kernels::ceiling::{CeilingParams, fma_peak, stream_triad};
use crate::kernels::lstm::LstmKernel;
use crate::kernels::matmul::{Gemm, gemm};
use crate::kernels::tune;
use crate::nn::{LstmConfig, LstmStack};
use crate::params::ParamStore;
use crate::tasks::classify::{Classifier, ClassifierConfig};

/// Batch, sequence length, embedding (input) size, hidden size.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Shape {
    /// Batch size B.
    pub b: usize,
    /// Sequence length T.
    pub t: usize,
    /// Embedding (LSTM input) size E.
    pub e: usize,
    /// Hidden size H.
    pub h: usize,
}

/// The shapes benchmarked by default: a typical batch, a wider model on longer sequences, and a
/// single sequence (latency).
pub const STANDARD_SHAPES: [Shape; 3] =
    [Shape { b: 64, t: 64, e: 128, h: 256 }, Shape { b: 32, t: 128, e: 128, h: 512 }, Shape { b: 1, t: 256, e: 128, h: 256 }];

/// One measured benchmark at one shape.
#[derive(Clone, Debug, serde::Serialize)]
pub struct BenchRow {
    /// The shape benchmarked.
    pub shape: Shape,
    /// Which benchmark, e.g. "lstm forward".
    pub what: &'static str,
    /// Median wall-clock milliseconds per run: recording, submit and waiting for the GPU.
    pub wall_ms: f64,
    /// Median GPU milliseconds from timestamp queries, where the adapter supports them.
    pub gpu_ms: Option<f64>,
    /// Floating-point operations per run (exact for the GEMM, estimated for the others).
    pub flops: f64,
    /// Estimated bytes moved per run (for GB/s).
    pub bytes: f64,
    /// Compute dispatches per run.
    pub dispatches: usize,
    /// Compute passes per run.
    pub passes: usize,
    /// Queue submissions per run.
    pub submits: usize,
    /// Tokens (B·T) per second of wall time.
    pub tokens_per_second: f64,
    /// GFLOP/s as a percentage of the adapter's measured FMA ceiling.
    pub pct_of_fma_ceiling: f64,
    /// Storage bytes the benchmark allocated on the GPU for this row's buffers (model, gradients,
    /// optimizer state and activations for the training step).
    pub gpu_bytes: u64,
}

impl BenchRow {
    fn best_ms(&self) -> f64 {
        self.gpu_ms.unwrap_or(self.wall_ms)
    }
    /// GFLOP/s, over the GPU time where measured, else the wall time.
    pub fn gflops(&self) -> f64 {
        self.flops / self.best_ms() / 1e6
    }
    /// GB/s, over the GPU time where measured, else the wall time.
    pub fn gbs(&self) -> f64 {
        self.bytes / self.best_ms() / 1e6
    }
}

/// The adapter's measured ceilings.
#[derive(Clone, Copy, Debug, serde::Serialize)]
pub struct Ceilings {
    /// GFLOP/s of `fma_peak` (independent vec4 FMA chains, no memory traffic).
    pub fma_gflops: f64,
    /// GB/s of `stream_triad` (two vec4 streams read, one written).
    pub stream_gbs: f64,
}

/// Which kernel variants run at one shape (see `kernels::matmul`, `kernels::lstm` and, for how they
/// are chosen, `kernels::tune`).
#[derive(Clone, Copy, Debug, serde::Serialize)]
pub struct KernelChoice {
    /// The GEMM kernel of the input projection x·W_ihᵀ (the blocked one falls back to tiled where
    /// alignment fails).
    pub gemm: GemmKernel,
    /// The LSTM recurrence kernel at this batch and hidden size.
    pub lstm: LstmKernel,
}

/// Time of one kernel (entry point) in the per-kernel profile of the classifier training step.
#[derive(Clone, Debug, serde::Serialize)]
pub struct KernelTime {
    /// The shape profiled.
    pub shape: Shape,
    /// Entry point name.
    pub kernel: &'static str,
    /// Dispatches of this kernel per run.
    pub calls: usize,
    /// GPU milliseconds, all its dispatches together.
    pub ms: f64,
}

/// Everything one shape's benchmark measured.
#[derive(Clone, Debug, serde::Serialize)]
pub struct ShapeBench {
    /// The kernels chosen at this shape.
    pub kernels: KernelChoice,
    /// One row per benchmark.
    pub rows: Vec<BenchRow>,
    /// Per-kernel GPU time of the classifier training step (empty without timestamp queries).
    pub profile: Vec<KernelTime>,
}

/// Measures the FMA and streaming ceilings, growing the work until a run takes at least 20 ms.
pub fn measure_ceilings(ctx: &GpuContext, repeats: usize) -> Result<Ceilings> {
    let mut timer = GpuTimer::new(ctx, 1);
    let ms_of = |schedule: &Schedule, timer: &mut Option<GpuTimer>| -> Result<f64> {
        let (wall, gpu) = time_schedule(ctx, schedule, repeats, timer)?;
        Ok(gpu.unwrap_or(wall))
    };
    let mut threads = 1usize << 14;
    let fma_gflops = loop {
        let p = CeilingParams::new(threads, 1024);
        let dst = ctx.storage_buffer("ceiling dst", (threads * 16) as u64)?;
        let schedule = Schedule { ops: vec![fma_peak(ctx, p, View::whole(&dst))?] };
        let ms = ms_of(&schedule, &mut timer)?;
        if ms >= 20.0 || threads >= 1 << 22 {
            break p.fma_flops() / ms / 1e6;
        }
        threads *= 8;
    };
    // 4 Mi vec4 per stream (64 MiB each, within every adapter's binding limit), 8 passes over them.
    let n = 1usize << 22;
    let (src, dst) = (ctx.storage_buffer("ceiling src", (n * 16) as u64)?, ctx.storage_buffer("ceiling dst", (n * 16) as u64)?);
    let p = CeilingParams::new(n, 0);
    let ops = (0..8).map(|_| stream_triad(ctx, p, View::whole(&src), View::whole(&dst))).collect::<Result<Vec<_>>>()?;
    let ms = ms_of(&Schedule { ops }, &mut timer)?;
    Ok(Ceilings { fma_gflops, stream_gbs: 8.0 * p.triad_bytes() / ms / 1e6 })
}

/// GPU time per kernel of `schedule`, each dispatch timed in a pass of its own (one run after a
/// warm-up). Empty where the adapter has no timestamp queries.
fn profile_kernels(ctx: &GpuContext, shape: Shape, schedule: &Schedule) -> Result<Vec<KernelTime>> {
    let Some(mut timer) = GpuTimer::new(ctx, schedule.dispatch_count() as u32) else {
        return Ok(Vec::new());
    };
    let mut out: Vec<KernelTime> = Vec::new();
    for run in 0..2 {
        let mut encoder = ctx.device.create_command_encoder(&Default::default());
        let labels = schedule.record_profiled(&mut encoder, &mut timer);
        timer.resolve(&mut encoder);
        ctx.queue.submit([encoder.finish()]);
        let times = timer.read_ms(ctx)?;
        if run == 0 {
            continue;
        }
        for (kernel, ms) in labels.into_iter().zip(times) {
            match out.iter_mut().find(|k| k.kernel == kernel) {
                Some(k) => {
                    k.calls += 1;
                    k.ms += ms;
                }
                None => out.push(KernelTime { shape, kernel, calls: 1, ms }),
            }
        }
    }
    out.sort_by(|a, b| b.ms.total_cmp(&a.ms));
    Ok(out)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

/// Median wall-clock and (where timed) GPU milliseconds of `schedule` (one pass, one submit per run)
/// over `repeats` runs after a warm-up.
fn time_schedule(ctx: &GpuContext, schedule: &Schedule, repeats: usize, timer: &mut Option<GpuTimer>) -> Result<(f64, Option<f64>)> {
    let runs = schedule.time_runs(ctx, repeats + 1, timer)?.split_off(1);
    let gpu: Vec<f64> = runs.iter().filter_map(|r| r.1).collect();
    Ok((median(runs.iter().map(|r| r.0).collect()), (!gpu.is_empty()).then(|| median(gpu))))
}

/// Runs every benchmark at `shape`; `ceilings` turn GFLOP/s into a share of the FMA roof.
pub fn bench_shape(ctx: &GpuContext, s: Shape, repeats: usize, ceilings: &Ceilings) -> Result<ShapeBench> {
    let (mut rows, work) = bench_layer(ctx, s, repeats, ceilings)?;
    let (step, profile) = bench_train_step(ctx, s, repeats, ceilings, work)?;
    rows.push(step);
    let input_gemm = Gemm::new(s.b * s.t, 4 * s.h, s.e).b_transposed();
    // The input projection reads the embedded tokens (f32) and W_ih, and writes the gates (both at
    // the model's precision).
    let f16 = ctx.precision() == Precision::F16;
    let kernels = KernelChoice {
        gemm: tune::gemm_kernel(ctx, &input_gemm, [false, f16, f16])?,
        lstm: tune::lstm_kernel(ctx, s.b as u32, s.t as u32, s.h as u32, ctx.precision())?,
    };
    Ok(ShapeBench { kernels, rows, profile })
}

/// FLOPs and bytes of one LSTM layer's forward pass at a shape (a training step does about 3×).
#[derive(Clone, Copy)]
struct LayerWork {
    flops: f64,
    bytes: f64,
}

/// The input-projection GEMM and one LSTM layer (forward, forward + backward), each timed alone.
fn bench_layer(ctx: &GpuContext, s: Shape, repeats: usize, ceilings: &Ceilings) -> Result<(Vec<BenchRow>, LayerWork)> {
    let mut timer = GpuTimer::new(ctx, 1);
    let (rows, g4) = (s.b * s.t, 4 * s.h);
    let tokens = (s.b * s.t) as f64;
    let mut out = Vec::new();
    let start_bytes = ctx.storage_bytes_allocated();
    let mut row = |what, schedule: &Schedule, flops: f64, bytes: f64| -> Result<()> {
        let (wall_ms, gpu_ms) = time_schedule(ctx, schedule, repeats, &mut timer)?;
        let gflops = flops / gpu_ms.unwrap_or(wall_ms) / 1e6;
        out.push(BenchRow {
            shape: s,
            what,
            wall_ms,
            gpu_ms,
            flops,
            bytes,
            dispatches: schedule.dispatch_count(),
            passes: 1,
            submits: 1,
            tokens_per_second: tokens / wall_ms * 1e3,
            pct_of_fma_ceiling: 100.0 * gflops / ceilings.fma_gflops,
            gpu_bytes: ctx.storage_bytes_allocated() - start_bytes,
        });
        Ok(())
    };
    // Input projection GEMM: [T·B, E] × [4H, E]ᵀ.
    let a = ctx.storage_buffer("bench x", (rows * s.e * 4) as u64)?;
    let w = ctx.storage_buffer("bench w", (g4 * s.e * 4) as u64)?;
    let c = ctx.storage_buffer("bench pre", (rows * g4 * 4) as u64)?;
    let spec = Gemm::new(rows, g4, s.e).b_transposed();
    let gemm_schedule = Schedule { ops: vec![gemm(ctx, spec, View::whole(&a), View::whole(&w), View::whole(&c), &[])?] };
    let gemm_bytes = 4.0 * (rows * s.e + g4 * s.e + rows * g4) as f64;
    row("gemm x·W_ihᵀ", &gemm_schedule, spec.flops(), gemm_bytes)?;

    // One LSTM layer: forward, then forward + backward.
    let cfg = LstmConfig { input: s.e, hidden: s.h, layers: 1, bidirectional: false };
    let store = ParamStore::new(ctx, &cfg.param_specs(""))?;
    let stack = LstmStack::new(ctx, cfg, "", s.b, s.t)?;
    let lengths = ctx.storage_buffer_init("bench lengths", &vec![s.t as u32; s.b])?;
    let dx = ctx.storage_buffer("bench dx", (rows * s.e * 4) as u64)?;
    let fwd = stack.forward(ctx, &store, View::whole(&a), View::whole(&lengths), s.b, s.t)?;
    let fwd_flops = spec.flops() + 2.0 * (rows * g4 * s.h) as f64;
    // Bytes: x, W_ih, W_hh once; pre, gates, states, y written and (pre) read once; the weights, pre,
    // gates and y at the context's precision (2 bytes each in f16), x and the states in f32.
    let act = if ctx.precision() == Precision::F16 { 2.0 } else { 4.0 };
    let fwd_bytes = 4.0 * (rows * s.e + rows * 2 * s.h) as f64 + act * (g4 * (s.e + s.h) + rows * (3 * g4 + s.h)) as f64;
    row("lstm forward", &fwd, fwd_flops, fwd_bytes)?;
    let mut both = stack.forward(ctx, &store, View::whole(&a), View::whole(&lengths), s.b, s.t)?;
    both.extend(stack.backward(ctx, &store, View::whole(&a), View::whole(&lengths), Some(View::whole(&dx)), s.b, s.t)?);
    row("lstm forward+backward", &both, 3.0 * fwd_flops, 3.0 * fwd_bytes)?;

    Ok((out, LayerWork { flops: fwd_flops, bytes: fwd_bytes }))
}

/// A whole classifier training step (embedding of 10k tokens, 2 classes), timed by wall clock, with
/// its per-kernel GPU times.
fn bench_train_step(
    ctx: &GpuContext,
    s: Shape,
    repeats: usize,
    ceilings: &Ceilings,
    layer: LayerWork,
) -> Result<(BenchRow, Vec<KernelTime>)> {
    let tokens = (s.b * s.t) as f64;
    let model_start = ctx.storage_bytes_allocated();
    let cfg = ClassifierConfig {
        vocab: 10_000,
        embed: s.e,
        hidden: s.h,
        layers: 1,
        bidirectional: false,
        classes: 2,
        domains: 0,
        pooling: Pooling::Last,
    };
    let mut model = Classifier::new(ctx, cfg, s.b, s.t, 0)?;
    let batch = Batch {
        batch: s.b,
        steps: s.t,
        ids: (0..s.b * s.t).map(|i| (i * 7919 % 10_000) as u32).collect(),
        lengths: vec![s.t as u32; s.b],
        labels: (0..s.b).map(|i| (i % 2) as u32).collect(),
        domain_labels: None,
    };
    let counts = model.step_counts(ctx, s.b, s.t)?;
    let mut times = Vec::new();
    for i in 0..=repeats {
        let start = Instant::now();
        model.train_step(ctx, &batch, true, true)?;
        if i > 0 {
            times.push(start.elapsed().as_secs_f64() * 1e3);
        }
    }
    let wall_ms = median(times);
    let profile = profile_kernels(ctx, s, model.train_schedule(ctx, s.b, s.t)?)?;
    let params = model.store.total_len() as f64;
    let flops = 3.0 * layer.flops;
    let row = BenchRow {
        shape: s,
        what: "classifier train step",
        wall_ms,
        gpu_ms: None,
        flops,
        bytes: 3.0 * layer.bytes + 4.0 * 4.0 * params,
        dispatches: counts.dispatches,
        passes: counts.passes,
        submits: counts.submits,
        tokens_per_second: tokens / wall_ms * 1e3,
        pct_of_fma_ceiling: 100.0 * flops / wall_ms / 1e6 / ceilings.fma_gflops,
        gpu_bytes: ctx.storage_bytes_allocated() - model_start,
    };
    Ok((row, profile))
}

/// The tables printed by `lstm-transfer bench` and `cargo bench`.
pub fn format_report(ctx: &GpuContext, ceilings: &Ceilings, shapes: &[ShapeBench]) -> String {
    let mut s = format!("adapter: {}\nprecision: {}\n", ctx.adapter_line(), ctx.precision().name());
    s += &format!("ceilings: FMA {:.1} GFLOP/s (fma_peak), memory {:.1} GB/s (stream_triad)\n\n", ceilings.fma_gflops, ceilings.stream_gbs);
    s += "| B | T | E | H | what | kernels | wall ms | GPU ms | GFLOP/s | % FMA roof | GB/s | dispatches / passes / submits | tokens/s | GPU MiB |\n";
    s += "|---:|---:|---:|---:|---|---|---:|---:|---:|---:|---:|---|---:|---:|\n";
    for sb in shapes {
        let kernels = format!("gemm {}, lstm {}", sb.kernels.gemm.name(), sb.kernels.lstm.name());
        for r in &sb.rows {
            let gpu = r.gpu_ms.map(|v| format!("{v:.3}")).unwrap_or_else(|| "-".into());
            s += &format!(
                "| {} | {} | {} | {} | {} | {} | {:.3} | {} | {:.2} | {:.1}% | {:.2} | {} / {} / {} | {:.0} | {:.1} |\n",
                r.shape.b,
                r.shape.t,
                r.shape.e,
                r.shape.h,
                r.what,
                kernels,
                r.wall_ms,
                gpu,
                r.gflops(),
                r.pct_of_fma_ceiling,
                r.gbs(),
                r.dispatches,
                r.passes,
                r.submits,
                r.tokens_per_second,
                r.gpu_bytes as f64 / (1 << 20) as f64
            );
        }
    }
    s += &format_tuning(ctx);
    let profiled: Vec<&ShapeBench> = shapes.iter().filter(|sb| !sb.profile.is_empty()).collect();
    if !profiled.is_empty() {
        s += "\nper-kernel GPU time of the classifier training step (each dispatch in a pass of its own):\n\n";
        s += "| B | T | E | H | kernel | dispatches | ms | share |\n|---:|---:|---:|---:|---|---:|---:|---:|\n";
        for sb in profiled {
            let total: f64 = sb.profile.iter().map(|k| k.ms).sum();
            for k in &sb.profile {
                s += &format!(
                    "| {} | {} | {} | {} | {} | {} | {:.3} | {:.1}% |\n",
                    k.shape.b,
                    k.shape.t,
                    k.shape.e,
                    k.shape.h,
                    k.kernel,
                    k.calls,
                    k.ms,
                    100.0 * k.ms / total
                );
            }
        }
    }
    s
}

/// The tuner's records on this adapter: each shape's candidates with their times, the winner first
/// marked. Says so where tuning is off.
pub fn format_tuning(ctx: &GpuContext) -> String {
    if ctx.tuning().mode() == TuneMode::Off {
        return "\ntuning: off (a fixed rule per adapter type picks each kernel)\n".into();
    }
    let prefix = tune::cache_key(ctx, "");
    let mut s = format!(
        "\ntuning ({:?}; cache {}): each candidate's best time at the tuned size, ms (screening: {} steps, {} GEMM rows)\n\n",
        ctx.tuning().mode(),
        cache_name(ctx),
        tune::SCREEN_STEPS,
        tune::SCREEN_ROWS
    );
    s += "| shape | winner | candidates |\n|---|---|---|\n";
    for (key, record) in ctx.tuning().records() {
        let Some(shape) = key.strip_prefix(&prefix) else { continue };
        let candidates: Vec<String> = record
            .candidates
            .iter()
            .map(|c| match (&c.failed, c.ms) {
                (Some(why), _) => format!("{} failed: {why}", c.variant),
                (None, Some(ms)) => format!("{} {ms:.3}", c.variant),
                (None, None) => format!("{} dropped at screening ({:.3} there)", c.variant, c.screen_ms),
            })
            .collect();
        s += &format!("| {shape} | {} | {} |\n", record.winner, candidates.join(", "));
    }
    s
}

fn cache_name(ctx: &GpuContext) -> String {
    ctx.tuning().path().map(|p| p.display().to_string()).unwrap_or_else(|| "none".into())
}
