//! WGSL sources and the pipeline cache.
//!
//! Each kernel family is one file in `shaders/`; the shared prelude is prepended here: first the
//! shared constants (workgroup sizes, tile edge, rows per workgroup), generated as WGSL `const`s from
//! the associated constants of [`ShaderFamily`] below, then `shaders/prelude.wgsl`, so helpers such
//! as `sigmoid` are written once and the shaders and the launchers' dispatch grids read the same
//! numbers. Pipelines use wgpu's automatic layout (each entry point gets exactly the bindings it
//! uses) and are built once per (family, f16 bindings, entry point).
//!
//! Tensors that may be stored as f16 are declared `var<storage, ACCESS> NAME: tensor;` and read and
//! written only through `NAME_at(i) -> f32`, `NAME_set(i, v)` and `NAME_len()`; a vec4 view of one,
//! `NAME: tensor4;`, through `NAME_at(q) -> vec4<f32>` (elements 4q..4q+4), `NAME_get(i) -> f32` and
//! `NAME_put(i, v)` (element i). The host expands each declaration
//! ([`ShaderFamily::source_with`]): as `array<f32>`, or, for the bindings a module stores as f16, as
//! `u32`s holding two f16 each (`pack2x16float`; no `shader-f16` feature, so it works in a browser),
//! read with `unpack2x16float` and, when writable, as `atomic<u32>` written half by half (an
//! `atomicAnd` clears the element's 16 bits, an `atomicOr` sets them), so two threads writing the two
//! halves of one word never lose each other's. A value beyond f16's range is stored as ±65504
//! (`F16_MAX`, in the prelude; `pack2x16float` leaves out-of-range results undefined). Arithmetic
//! stays f32.

use std::collections::HashMap;
use std::sync::Mutex;

use crate::error::{Error, Result};

/// A kernel family: one WGSL file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ShaderFamily {
    /// `matmul.wgsl`: tiled GEMM with optional transposes, accumulation and up to two bias vectors.
    Matmul,
    /// `matmul_subgroups.wgsl`, compiled after `matmul.wgsl`: the blocked GEMM sharing both operands
    /// inside groups of 8 lanes. Only built on devices with the SUBGROUP feature.
    MatmulSubgroups,
    /// `lstm.wgsl`: the fused LSTM recurrence of one layer and direction, forward and backward.
    Lstm,
    /// `lstm_subgroups.wgsl`, compiled after `lstm.wgsl`: the batch-slice recurrence sharing loads
    /// through subgroup broadcasts. Only built on devices with the SUBGROUP feature.
    LstmSubgroups,
    /// `lstm_persist.wgsl`, compiled after `lstm.wgsl`: the step kernels' work for all timesteps in
    /// one dispatch, workgroups waiting for each other (boundedly) between steps.
    LstmPersist,
    /// `embedding.wgsl`: embedding gather and its deterministic gradient scatter.
    Embedding,
    /// `pool.wgsl`: last / max / mean pooling of the LSTM output over valid steps, and its gradient.
    Pool,
    /// `dropout.wgsl`: inverted dropout whose mask is recomputed from a counter-based hash.
    Dropout,
    /// `loss.wgsl`: cross-entropy and MSE with their gradients, and the row softmax.
    Loss,
    /// `reduce.wgsl`: column sums (bias gradients) and the sum of squares (gradient norm).
    Reduce,
    /// `optimizer.wgsl`: Adam / AdamW over the flat parameter store.
    Optimizer,
    /// `grad_reverse.wgsl`: the gradient reversal layer for domain-adversarial training.
    GradReverse,
    /// `ceiling.wgsl`: the adapter's FMA and streaming ceilings, for the benchmark's roofline.
    Ceiling,
}

/// Every family with its file name, for the validation test and `info`.
pub const SHADER_FAMILIES: &[ShaderFamily] = &[
    ShaderFamily::Matmul,
    ShaderFamily::MatmulSubgroups,
    ShaderFamily::Lstm,
    ShaderFamily::LstmSubgroups,
    ShaderFamily::LstmPersist,
    ShaderFamily::Embedding,
    ShaderFamily::Pool,
    ShaderFamily::Dropout,
    ShaderFamily::Loss,
    ShaderFamily::Reduce,
    ShaderFamily::Optimizer,
    ShaderFamily::GradReverse,
    ShaderFamily::Ceiling,
];

const PRELUDE: &str = include_str!("../../shaders/prelude.wgsl");

/// Defines each shared constant once, as an associated constant of [`ShaderFamily`] (what the
/// launchers in `kernels/` compute their grids with), and lists it in [`ShaderFamily::CONSTANTS`],
/// from which [`ShaderFamily::source`] emits `const NAME: u32 = VALUEu;` ahead of every shader.
macro_rules! shader_constants {
    ($($(#[$doc:meta])* $name:ident = $value:expr;)*) => {
        impl ShaderFamily {
            $($(#[$doc])* pub const $name: u32 = $value;)*
            /// Every shared constant with its WGSL name, as declared at the top of every shader.
            pub const CONSTANTS: &'static [(&'static str, u32)] = &[$((stringify!($name), Self::$name)),*];
        }
    };
}

shader_constants! {
    /// Threads per workgroup of the one-thread-per-element kernels, dispatched with
    /// `grid_1d(n, WG_1D)` (dropout, embedding gather, gradient reversal, Adam, pooling, column
    /// sums, the row softmax, the ceilings).
    WG_1D = 256;
    /// Threads per workgroup of the tree reductions (`sum_squares`, `cross_entropy`, `mse`,
    /// `cross_entropy_rows`): the size of their workgroup arrays. A power of two.
    WG_REDUCE = 256;
    /// Threads per workgroup of the embedding scatter-add, along E: grid `(ceil(E / EMBED_WG), U, 1)`.
    EMBED_WG = 64;
    /// Threads per workgroup of the LSTM recurrence kernels (they stride over the H units).
    LSTM_WG = 64;
    /// Batch rows per workgroup of the LSTM slice kernels: grid `(ceil(B / LSTM_ROWS), 1, 1)`. The
    /// kernels are unrolled for 8 (two vec4 halves; `lstm.wgsl` asserts it).
    LSTM_ROWS = 8;
    /// Batch rows per workgroup (and per thread) of the LSTM step kernels: grid
    /// `(ceil(H / LSTM_WG), ceil(B / LSTM_STEP_ROWS), 1)`. The kernels keep one vec4 component per
    /// row (`lstm.wgsl` asserts 4).
    LSTM_STEP_ROWS = 4;
    /// Edge of the square tile of C one GEMM workgroup computes (the blocked kernels and the large
    /// tiled one): grid `(ceil(N / GEMM_TILE), ceil(M / GEMM_TILE), 1)`. One of 8, 16, 32, 64
    /// (`matmul.wgsl` asserts it).
    GEMM_TILE = 64;
    /// Edge of the small tiled GEMM's tile (`matmul_t32`): 4× the workgroups of the large one, for
    /// small products on a large GPU. 32: the entry point (`matmul_t32`) and the tuner's name
    /// (`tiled-32`) say so; `matmul.wgsl` asserts it divides GEMM_TILE.
    GEMM_TILE_SMALL = 32;
}

const _: () = assert!(ShaderFamily::WG_REDUCE.is_power_of_two(), "the tree reductions halve WG_REDUCE down to 1");

impl ShaderFamily {
    /// The family's file name in `shaders/`.
    pub fn file_name(self) -> &'static str {
        match self {
            Self::Matmul => "matmul.wgsl",
            Self::MatmulSubgroups => "matmul_subgroups.wgsl",
            Self::Lstm => "lstm.wgsl",
            Self::LstmSubgroups => "lstm_subgroups.wgsl",
            Self::LstmPersist => "lstm_persist.wgsl",
            Self::Embedding => "embedding.wgsl",
            Self::Pool => "pool.wgsl",
            Self::Dropout => "dropout.wgsl",
            Self::Loss => "loss.wgsl",
            Self::Reduce => "reduce.wgsl",
            Self::Optimizer => "optimizer.wgsl",
            Self::GradReverse => "grad_reverse.wgsl",
            Self::Ceiling => "ceiling.wgsl",
        }
    }

    /// The family's own file, after the files it builds on (a subgroup variant on its base family).
    fn body(self) -> String {
        match self {
            Self::MatmulSubgroups => format!("{}\n{}", Self::Matmul.own_file(), self.own_file()),
            Self::LstmSubgroups | Self::LstmPersist => format!("{}\n{}", Self::Lstm.own_file(), self.own_file()),
            other => other.own_file().to_string(),
        }
    }

    fn own_file(self) -> &'static str {
        match self {
            Self::Matmul => include_str!("../../shaders/matmul.wgsl"),
            Self::MatmulSubgroups => include_str!("../../shaders/matmul_subgroups.wgsl"),
            Self::Lstm => include_str!("../../shaders/lstm.wgsl"),
            Self::LstmSubgroups => include_str!("../../shaders/lstm_subgroups.wgsl"),
            Self::LstmPersist => include_str!("../../shaders/lstm_persist.wgsl"),
            Self::Embedding => include_str!("../../shaders/embedding.wgsl"),
            Self::Pool => include_str!("../../shaders/pool.wgsl"),
            Self::Dropout => include_str!("../../shaders/dropout.wgsl"),
            Self::Loss => include_str!("../../shaders/loss.wgsl"),
            Self::Reduce => include_str!("../../shaders/reduce.wgsl"),
            Self::Optimizer => include_str!("../../shaders/optimizer.wgsl"),
            Self::GradReverse => include_str!("../../shaders/grad_reverse.wgsl"),
            Self::Ceiling => include_str!("../../shaders/ceiling.wgsl"),
        }
    }

    /// The complete source handed to the compiler, every tensor f32: the shared constants, the
    /// prelude, the family.
    pub fn source(self) -> String {
        self.source_with(HalfBindings::NONE)
    }

    /// [`ShaderFamily::source`] with the tensors at the bindings of `half` stored as f16.
    pub fn source_with(self, half: HalfBindings) -> String {
        let mut source = String::from("// Shared constants, generated from ShaderFamily::CONSTANTS (src/gpu/shaders.rs).\n");
        for (name, value) in Self::CONSTANTS {
            source.push_str(&format!("const {name}: u32 = {value}u;\n"));
        }
        let body: Vec<String> = self.body().lines().map(|line| expand_tensor(line, half).unwrap_or_else(|| line.to_string())).collect();
        format!("{source}\n{PRELUDE}\n{}\n", body.join("\n"))
    }

    /// The bindings the family declares as tensors (which may be stored as f16).
    pub fn tensor_bindings(self) -> HalfBindings {
        HalfBindings(self.body().lines().filter_map(tensor_declaration).fold(0, |m, t| m | 1 << t.binding))
    }

    /// Parses and validates the source with naga, without a GPU.
    pub fn validate(self) -> Result<naga::Module> {
        self.validate_with(HalfBindings::NONE)
    }

    /// [`ShaderFamily::validate`] for the source with the tensors of `half` stored as f16.
    pub fn validate_with(self, half: HalfBindings) -> Result<naga::Module> {
        let source = self.source_with(half);
        let name = if half == HalfBindings::NONE {
            self.file_name().to_string()
        } else {
            format!("{} (f16 bindings {:#b})", self.file_name(), half.0)
        };
        let module = naga::front::wgsl::parse_str(&source).map_err(|e| Error::Shader {
            shader: name.clone(),
            stage: "parse",
            message: e.emit_to_string(&source),
        })?;
        naga::valid::Validator::new(naga::valid::ValidationFlags::all(), naga::valid::Capabilities::all())
            .validate(&module)
            .map_err(|e| Error::Shader { shader: name.clone(), stage: "validate", message: e.emit_to_string(&source) })?;
        Ok(module)
    }
}

/// The bindings of a module whose tensors are stored as f16: bit n for binding n.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct HalfBindings(pub u32);

impl HalfBindings {
    /// Every tensor f32.
    pub const NONE: Self = Self(0);

    /// Whether binding `n` is stored as f16.
    pub fn has(self, binding: u32) -> bool {
        binding < 32 && self.0 & (1 << binding) != 0
    }
}

/// A `var<storage, ACCESS> NAME: tensor;` (or `tensor4;`, a vec4 view) declaration.
struct TensorDeclaration<'a> {
    /// `@group(0) @binding(N) var<storage, ACCESS>`.
    head: &'a str,
    name: &'a str,
    binding: u32,
    writable: bool,
    vec4: bool,
    comment: &'a str,
}

fn tensor_declaration(line: &str) -> Option<TensorDeclaration<'_>> {
    let (declaration, comment) = line.split_once("//").map_or((line, ""), |(d, c)| (d, c));
    let declaration = declaration.trim_end();
    let (rest, vec4) = match declaration.strip_suffix(": tensor4;") {
        Some(rest) => (rest, true),
        None => (declaration.strip_suffix(": tensor;")?, false),
    };
    let (head, name) = rest.rsplit_once(' ')?;
    let binding = head.split_once("@binding(")?.1.split_once(')')?.0.parse().ok()?;
    Some(TensorDeclaration { head, name, binding, writable: head.contains("read_write"), vec4, comment })
}

/// The WGSL of a tensor declaration line (None for any other line): the binding and its accessors.
fn expand_tensor(line: &str, half: HalfBindings) -> Option<String> {
    let declaration = tensor_declaration(line)?;
    if declaration.vec4 {
        return Some(expand_tensor4(declaration, half));
    }
    let TensorDeclaration { head, name, binding, writable, comment, .. } = declaration;
    let comment = |note: &str| trailing_comment(comment, note);
    Some(match (half.has(binding), writable) {
        (false, _) => {
            let set = if writable { format!("\nfn {name}_set(i: u32, v: f32) {{ {name}[i] = v; }}") } else { String::new() };
            format!(
                "{head} {name}: array<f32>;{}\nfn {name}_at(i: u32) -> f32 {{ return {name}[i]; }}{set}
fn {name}_len() -> u32 {{ return arrayLength(&{name}); }}",
                comment("")
            )
        }
        (true, false) => format!(
            "{head} {name}: array<u32>;{}\nfn {name}_at(i: u32) -> f32 {{ return unpack2x16float({name}[i >> 1u])[i & 1u]; }}
fn {name}_len() -> u32 {{ return 2u * arrayLength(&{name}); }}",
            comment("f16 pairs")
        ),
        (true, true) => format!(
            "{head} {name}: array<atomic<u32>>;{}
fn {name}_at(i: u32) -> f32 {{ return unpack2x16float(atomicLoad(&{name}[i >> 1u]))[i & 1u]; }}
fn {name}_len() -> u32 {{ return 2u * arrayLength(&{name}); }}
{}",
            comment("f16 pairs, written half by half"),
            half_write(name, "set")
        ),
    })
}

/// A declaration's own comment (without its `//`) and a note, as a trailing WGSL comment.
fn trailing_comment(comment: &str, note: &str) -> String {
    match (comment.trim(), note) {
        ("", "") => String::new(),
        (c, "") | ("", c) => format!(" // {c}"),
        (c, note) => format!(" // {c} ({note})"),
    }
}

/// The WGSL of a `tensor4` declaration: a vec4 view, loaded whole (`NAME_at(q)`: elements 4q..4q+4,
/// two u32 words when f16) or element by element (`NAME_get(i)`, `NAME_put(i, v)`).
fn expand_tensor4(declaration: TensorDeclaration, half: HalfBindings) -> String {
    let TensorDeclaration { head, name, binding, writable, comment: original, .. } = declaration;
    let comment = trailing_comment(original, "");
    if !half.has(binding) {
        let put = if writable { format!("\nfn {name}_put(i: u32, v: f32) {{ {name}[i / 4u][i % 4u] = v; }}") } else { String::new() };
        return format!(
            "{head} {name}: array<vec4<f32>>;{comment}
fn {name}_at(q: u32) -> vec4<f32> {{ return {name}[q]; }}
fn {name}_get(i: u32) -> f32 {{ return {name}[i / 4u][i % 4u]; }}{put}"
        );
    }
    if !writable {
        let comment = trailing_comment(original, "f16 pairs");
        return format!(
            "{head} {name}: array<u32>;{comment}
fn {name}_at(q: u32) -> vec4<f32> {{ return vec4<f32>(unpack2x16float({name}[2u * q]), unpack2x16float({name}[2u * q + 1u])); }}
fn {name}_get(i: u32) -> f32 {{ return unpack2x16float({name}[i >> 1u])[i & 1u]; }}"
        );
    }
    let comment = trailing_comment(original, "f16 pairs, written half by half");
    format!(
        "{head} {name}: array<atomic<u32>>;{comment}
fn {name}_at(q: u32) -> vec4<f32> {{
    return vec4<f32>(unpack2x16float(atomicLoad(&{name}[2u * q])), unpack2x16float(atomicLoad(&{name}[2u * q + 1u])));
}}
fn {name}_get(i: u32) -> f32 {{ return unpack2x16float(atomicLoad(&{name}[i >> 1u]))[i & 1u]; }}
{}",
        half_write(name, "put")
    )
}

/// `fn NAME_SUFFIX(i, v)`: writes element i of an f16-pair tensor, clamped to f16's range, as its
/// half of the word (an `atomicAnd` clears it, an `atomicOr` sets it: the other half is untouched).
fn half_write(name: &str, suffix: &str) -> String {
    format!(
        "fn {name}_{suffix}(i: u32, v: f32) {{
    let shift = (i & 1u) * 16u;
    atomicAnd(&{name}[i >> 1u], ~(0xffffu << shift));
    atomicOr(&{name}[i >> 1u], (pack2x16float(vec2<f32>(clamp(v, -F16_MAX, F16_MAX), 0.0)) & 0xffffu) << shift);
}}"
    )
}

#[derive(Default)]
pub(super) struct PipelineCache {
    modules: Mutex<HashMap<(ShaderFamily, HalfBindings), wgpu::ShaderModule>>,
    pipelines: Mutex<HashMap<(ShaderFamily, HalfBindings, &'static str), wgpu::ComputePipeline>>,
}

impl PipelineCache {
    pub(super) fn get(
        &self,
        device: &wgpu::Device,
        family: ShaderFamily,
        half: HalfBindings,
        entry: &'static str,
    ) -> Result<wgpu::ComputePipeline> {
        if let Some(p) = self.pipelines.lock().unwrap().get(&(family, half, entry)) {
            return Ok(p.clone());
        }
        let module = self.module(device, family, half)?;
        let descriptor = wgpu::ComputePipelineDescriptor {
            label: Some(entry),
            layout: None,
            module: &module,
            entry_point: Some(entry),
            compilation_options: Default::default(),
            cache: None,
        };
        // Natively the validation error (e.g. a limit the device lacks) comes back as an error here.
        // A browser cannot wait for it: there the device's uncaptured-error handler reports it.
        #[cfg(not(target_arch = "wasm32"))]
        let pipeline = {
            let scope = device.push_error_scope(wgpu::ErrorFilter::Validation);
            let pipeline = device.create_compute_pipeline(&descriptor);
            if let Some(err) = pollster::block_on(scope.pop()) {
                return Err(Error::Shader {
                    shader: format!("{}:{entry}", family.file_name()),
                    stage: "build a pipeline",
                    message: err.to_string(),
                });
            }
            pipeline
        };
        #[cfg(target_arch = "wasm32")]
        let pipeline = device.create_compute_pipeline(&descriptor);
        self.pipelines.lock().unwrap().insert((family, half, entry), pipeline.clone());
        Ok(pipeline)
    }

    /// Pipelines built so far.
    pub(super) fn len(&self) -> usize {
        self.pipelines.lock().unwrap().len()
    }

    fn module(&self, device: &wgpu::Device, family: ShaderFamily, half: HalfBindings) -> Result<wgpu::ShaderModule> {
        if let Some(m) = self.modules.lock().unwrap().get(&(family, half)) {
            return Ok(m.clone());
        }
        // Validate with naga first so a broken shader is reported with its source location.
        family.validate_with(half)?;
        let module = device.create_shader_module(wgpu::ShaderModuleDescriptor {
            label: Some(family.file_name()),
            source: wgpu::ShaderSource::Wgsl(family.source_with(half).into()),
        });
        self.modules.lock().unwrap().insert((family, half), module.clone());
        Ok(module)
    }
}
