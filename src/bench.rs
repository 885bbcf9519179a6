//! Benchmarks shared by `lstm-transfer bench` and `cargo bench`: GEMM, LSTM forward and
//! forward+backward, and a full classifier training step, per shape, timed by wall clock around
//! submit + wait (median of the repeats after one warm-up) and, where the adapter has timestamp
//! queries, by GPU timestamps around the pass.

use std::time::Instant;

use crate::error::Result;
use crate::gpu::{GpuContext, GpuTimer, View};
use crate::graph::Schedule;
use crate::kernels::matmul::{gemm, Gemm};
use crate::kernels::pool::Pooling;
use crate::model::{Batch, Classifier, ClassifierConfig, LstmConfig, LstmStack};
use crate::params::ParamStore;

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
pub const STANDARD_SHAPES: [Shape; 3] = [
    Shape { b: 64, t: 64, e: 128, h: 256 },
    Shape { b: 32, t: 128, e: 128, h: 512 },
    Shape { b: 1, t: 256, e: 128, h: 256 },
];

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
    /// Tokens (B·T) per second of wall time.
    pub tokens_per_s: f64,
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

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

/// Times `schedule` (one pass, one submit per run).
fn time_schedule(ctx: &GpuContext, schedule: &Schedule, repeats: usize, timer: &mut Option<GpuTimer>) -> Result<(f64, Option<f64>)> {
    let mut wall = Vec::new();
    let mut gpu = Vec::new();
    for i in 0..=repeats {
        let mut encoder = ctx.device.create_command_encoder(&Default::default());
        let start = Instant::now();
        match timer.as_mut() {
            Some(t) => {
                schedule.record_timed_pass(&mut encoder, "bench", t);
                t.resolve(&mut encoder);
            }
            None => schedule.record(&mut encoder, "bench"),
        }
        ctx.queue.submit([encoder.finish()]);
        ctx.wait_idle()?;
        let ms = start.elapsed().as_secs_f64() * 1e3;
        let gpu_ms = match timer.as_mut() {
            Some(t) => t.read_ms(ctx)?.first().copied(),
            None => None,
        };
        if i > 0 {
            wall.push(ms);
            gpu.extend(gpu_ms);
        }
    }
    Ok((median(wall), (!gpu.is_empty()).then(|| median(gpu))))
}

/// Runs every benchmark at `shape`.
pub fn bench_shape(ctx: &GpuContext, s: Shape, repeats: usize) -> Result<Vec<BenchRow>> {
    let mut timer = GpuTimer::new(ctx, 1);
    let (rows, g4) = (s.b * s.t, 4 * s.h);
    let tokens = (s.b * s.t) as f64;
    let mut out = Vec::new();
    let mut row = |what, schedule: &Schedule, flops: f64, bytes: f64| -> Result<()> {
        let (wall_ms, gpu_ms) = time_schedule(ctx, schedule, repeats, &mut timer)?;
        out.push(BenchRow { shape: s, what, wall_ms, gpu_ms, flops, bytes, dispatches: schedule.dispatch_count(), tokens_per_s: tokens / wall_ms * 1e3 });
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
    // Bytes: x, W_ih, W_hh once; pre, gates, states, y written and (pre) read once.
    let fwd_bytes = 4.0 * (rows * s.e + g4 * (s.e + s.h) + rows * (2 * g4 + 3 * s.h + g4)) as f64;
    row("lstm forward", &fwd, fwd_flops, fwd_bytes)?;
    let mut both = stack.forward(ctx, &store, View::whole(&a), View::whole(&lengths), s.b, s.t)?;
    both.extend(stack.backward(ctx, &store, View::whole(&a), View::whole(&lengths), Some(View::whole(&dx)), s.b, s.t)?);
    row("lstm forward+backward", &both, 3.0 * fwd_flops, 3.0 * fwd_bytes)?;

    // A whole classifier training step (embedding of 10k tokens, 2 classes).
    let cfg = ClassifierConfig { vocab: 10_000, embed: s.e, hidden: s.h, layers: 1, bidirectional: false, classes: 2, domains: 0, pooling: Pooling::Last };
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
    let params = model.store.total_len() as f64;
    out.push(BenchRow {
        shape: s,
        what: "classifier train step",
        wall_ms,
        gpu_ms: None,
        flops: 3.0 * fwd_flops,
        bytes: 3.0 * fwd_bytes + 4.0 * 4.0 * params,
        dispatches: counts.dispatches,
        tokens_per_s: tokens / wall_ms * 1e3,
    });
    Ok(out)
}

/// The table printed by `lstm-transfer bench` and `cargo bench`.
pub fn format_table(ctx: &GpuContext, rows: &[BenchRow]) -> String {
    let mut s = format!("adapter: {}\n", ctx.adapter_line());
    s += "| B | T | E | H | what | wall ms | GPU ms | GFLOP/s | GB/s | dispatches | tokens/s |\n";
    s += "|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|\n";
    for r in rows {
        let gpu = r.gpu_ms.map(|v| format!("{v:.3}")).unwrap_or_else(|| "-".into());
        s += &format!(
            "| {} | {} | {} | {} | {} | {:.3} | {} | {:.2} | {:.2} | {} | {:.0} |\n",
            r.shape.b, r.shape.t, r.shape.e, r.shape.h, r.what, r.wall_ms, gpu, r.gflops(), r.gbs(), r.dispatches, r.tokens_per_s
        );
    }
    s
}
