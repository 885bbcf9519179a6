//! Shared test support: the GPU context (one per test binary), seeded inputs, the comparison
//! helper and the golden-file loader. `reference` holds the plain-Rust f64 kernels.
#![allow(dead_code)]

pub mod cli;
pub mod reference;

use std::collections::HashMap;
use std::sync::OnceLock;

use lstm_transfer::config::Precision;
use lstm_transfer::gpu::{GemmKernel, View, read_buffer};
pub use lstm_transfer::gpu::{f16_values, f16_words};
use lstm_transfer::graph::Op;
use lstm_transfer::{AdapterChoice, GpuContext};
use rand::{Rng, SeedableRng};

/// The GPU for this test binary. There is no skipping: without an adapter every GPU test fails,
/// with the message that says how to get one (LSTM_TRANSFER_REQUIRE_GPU=1 in CI documents that).
pub fn gpu() -> &'static GpuContext {
    static CTX: OnceLock<GpuContext> = OnceLock::new();
    CTX.get_or_init(|| match GpuContext::new(&AdapterChoice::from_env()) {
        Ok(ctx) => {
            eprintln!("adapter: {}", ctx.adapter_line());
            ctx
        }
        Err(e) => panic!(
            "GPU test without a GPU adapter (LSTM_TRANSFER_REQUIRE_GPU={:?}): {e}",
            std::env::var("LSTM_TRANSFER_REQUIRE_GPU").unwrap_or_default()
        ),
    })
}

/// A second context on the same adapter whose models store their weights (beside an f32 master
/// copy), gradients and activations as f16.
pub fn gpu_f16() -> &'static GpuContext {
    static CTX: OnceLock<GpuContext> = OnceLock::new();
    CTX.get_or_init(|| {
        GpuContext::new(&AdapterChoice::from_env())
            .unwrap_or_else(|e| panic!("GPU test without a GPU adapter: {e}"))
            .with_precision(Precision::F16)
    })
}

pub fn rng(seed: u64) -> rand_chacha::ChaCha8Rng {
    rand_chacha::ChaCha8Rng::seed_from_u64(seed)
}

/// n values uniform in [-scale, scale].
pub fn random(rng: &mut impl Rng, n: usize, scale: f32) -> Vec<f32> {
    (0..n).map(|_| rng.random_range(-scale..=scale)).collect()
}

pub fn to_f64(v: &[f32]) -> Vec<f64> {
    v.iter().map(|&x| x as f64).collect()
}

/// Asserts |a-b| <= atol + rtol·|ref| element-wise; on failure names the worst index, both values and
/// the max error.
#[track_caller]
pub fn assert_close(what: &str, got: &[f32], want: &[f64], atol: f64, rtol: f64) {
    assert_eq!(got.len(), want.len(), "{what}: length {} vs reference {}", got.len(), want.len());
    let mut worst: Option<(usize, f64)> = None;
    let mut max_err = 0.0f64;
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        let err = (g as f64 - w).abs();
        max_err = max_err.max(err);
        let excess = err - (atol + rtol * w.abs());
        // NaN counts as a mismatch.
        if (excess > 0.0 || excess.is_nan()) && worst.is_none_or(|(_, e)| excess > e) {
            worst = Some((i, excess));
        }
    }
    report_error(what, "max abs error", max_err);
    if let Some((i, _)) = worst {
        panic!("{what}: mismatch at index {i}: got {} want {} (max abs error {max_err:e}, atol {atol:e}, rtol {rtol:e})", got[i], want[i]);
    }
}

/// With KERNELS_TESTS_PRINT_ERRORS set, prints each comparison's measured error (run with
/// `--nocapture`): how the tolerances' "measured up to" figures are found.
fn report_error(what: &str, kind: &str, error: f64) {
    if std::env::var_os("KERNELS_TESTS_PRINT_ERRORS").is_some() {
        eprintln!("measured: {what}: {kind} {error:e}");
    }
}

/// Compares a whole tensor by its relative L2 error ‖got − want‖ / ‖want‖ ≤ `tol` (where an
/// element-wise tolerance cannot fit every element: results read through f16 storage); a zero `want`
/// needs a zero `got`. On failure prints the error, the tolerance and the worst element.
pub fn assert_rel_l2(what: &str, got: &[f32], want: &[f64], tol: f64) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    let diff: f64 = got.iter().zip(want).map(|(&g, &w)| (g as f64 - w).powi(2)).sum::<f64>().sqrt();
    let norm: f64 = want.iter().map(|w| w * w).sum::<f64>().sqrt();
    let error = if norm == 0.0 { diff } else { diff / norm };
    report_error(what, "relative L2 error", error);
    if error > tol || !error.is_finite() {
        let (i, _) =
            got.iter().zip(want).map(|(&g, &w)| (g as f64 - w).abs()).enumerate().fold((0, -1.0), |a, b| if b.1 > a.1 { b } else { a });
        panic!("{what}: relative L2 error {error:e} > {tol:e} (‖want‖ {norm:e}); worst at index {i}: got {} want {}", got[i], want[i]);
    }
}

/// Runs ops in one pass, one submit, and waits.
pub fn run(ctx: &GpuContext, ops: Vec<Op>) {
    let schedule = lstm_transfer::graph::Schedule { ops };
    let mut encoder = ctx.device.create_command_encoder(&Default::default());
    schedule.record(&mut encoder, "test");
    ctx.queue.submit([encoder.finish()]);
    ctx.wait_idle().unwrap();
}

pub fn buffer_f32(ctx: &GpuContext, data: &[f32]) -> wgpu::Buffer {
    ctx.storage_buffer_init("test", data).unwrap()
}

pub fn buffer_u32(ctx: &GpuContext, data: &[u32]) -> wgpu::Buffer {
    ctx.storage_buffer_init("test", data).unwrap()
}

pub fn zeros(ctx: &GpuContext, n: usize) -> wgpu::Buffer {
    ctx.storage_buffer("test", (n * 4) as u64).unwrap()
}

pub fn read(ctx: &GpuContext, buffer: &wgpu::Buffer, n: usize) -> Vec<f32> {
    read_buffer(ctx, buffer, 0, n).unwrap()
}

pub fn whole(buffer: &wgpu::Buffer) -> View<'_> {
    View::whole(buffer)
}

/// `data` rounded to f16, as a kernel reads it back from an f16 tensor.
pub fn round_f16(data: &[f32]) -> Vec<f32> {
    data.iter().map(|&v| half::f16::from_f32(v).to_f32()).collect()
}

/// An f16 tensor holding `data` (rounded), and its view.
pub fn buffer_f16(ctx: &GpuContext, data: &[f32]) -> wgpu::Buffer {
    ctx.storage_buffer_init("test f16", &f16_words(data)).unwrap()
}

pub fn half_view(buffer: &wgpu::Buffer) -> View<'_> {
    View::tensor(buffer, Precision::F16)
}

/// The first `n` values of a tensor view, f32 or f16.
pub fn read_tensor(ctx: &GpuContext, view: View, n: usize) -> Vec<f32> {
    if !view.half {
        return read_buffer(ctx, view.buffer, view.offset, n).unwrap();
    }
    f16_values(&read_buffer(ctx, view.buffer, view.offset, n.div_ceil(2)).unwrap(), n)
}

/// Writes `data` into a tensor view, f32 or f16.
pub fn write_tensor(ctx: &GpuContext, view: View, data: &[f32]) {
    if view.half {
        ctx.queue.write_buffer(view.buffer, view.offset, bytemuck::cast_slice(&f16_words(data)));
    } else {
        ctx.queue.write_buffer(view.buffer, view.offset, bytemuck::cast_slice(data));
    }
}

/// A golden file from kernels-tests/fixtures/golden (copied from PyTorch's dumps in ../shared/golden).
pub struct Golden {
    pub tensors: HashMap<String, (Vec<usize>, Vec<f64>)>,
}

impl Golden {
    pub fn load(name: &str) -> Self {
        let path = format!("{}/kernels-tests/fixtures/golden/{name}.safetensors", env!("CARGO_MANIFEST_DIR"));
        let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        let st = safetensors::SafeTensors::deserialize(&bytes).unwrap_or_else(|e| panic!("{path}: {e}"));
        let mut tensors = HashMap::new();
        for (name, view) in st.tensors() {
            let data = view.data();
            let values: Vec<f64> = match view.dtype() {
                safetensors::Dtype::F32 => data.chunks(4).map(|c| f32::from_le_bytes(c.try_into().unwrap()) as f64).collect(),
                safetensors::Dtype::I64 => data.chunks(8).map(|c| i64::from_le_bytes(c.try_into().unwrap()) as f64).collect(),
                other => panic!("{path}: tensor {name} has unexpected dtype {other:?}"),
            };
            tensors.insert(name.to_string(), (view.shape().to_vec(), values));
        }
        Self { tensors }
    }

    pub fn get(&self, name: &str) -> &[f64] {
        &self.tensors.get(name).unwrap_or_else(|| panic!("golden tensor {name} missing")).1
    }

    pub fn shape(&self, name: &str) -> &[usize] {
        &self.tensors[name].0
    }

    pub fn f32(&self, name: &str) -> Vec<f32> {
        self.get(name).iter().map(|&x| x as f32).collect()
    }

    pub fn u32(&self, name: &str) -> Vec<u32> {
        self.get(name).iter().map(|&x| x as u32).collect()
    }
}

/// Every GEMM kernel this adapter can run (the subgroup one needs subgroups of 8 or more; lavapipe
/// has them).
pub fn gemm_kernels() -> Vec<GemmKernel> {
    let kernels: Vec<GemmKernel> = GemmKernel::ALL.into_iter().filter(|k| k.applies(gpu())).collect();
    if kernels.len() < GemmKernel::ALL.len() {
        eprintln!("this adapter runs only {kernels:?}");
    }
    kernels
}

/// `x` `[rows, cols]` row-major, transposed to `[cols, rows]`.
pub fn transpose(x: &[f32], rows: usize, cols: usize) -> Vec<f32> {
    let mut t = vec![0.0; x.len()];
    for i in 0..rows {
        for j in 0..cols {
            t[j * rows + i] = x[i * cols + j];
        }
    }
    t
}
