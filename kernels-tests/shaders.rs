//! Every shader family parses and validates with naga (prelude included), and every uniform struct
//! has the size of its Rust twin. No GPU needed.

use lstm_transfer::gpu::{GemmKernel, HalfBindings, SHADER_FAMILIES, ShaderFamily};
use lstm_transfer::kernels::{ceiling, dropout, embedding, grad_reverse, loss, lstm, matmul, optimizer, pool, reduce};

#[test]
fn every_shader_parses_and_validates() {
    for family in SHADER_FAMILIES {
        let module = family.validate().unwrap_or_else(|e| panic!("{e}"));
        assert!(!module.entry_points.is_empty(), "{} has no entry point", family.file_name());
        // Each family's file starts with a header comment naming itself, its bindings and grid.
        let source = family.source();
        let body = source.split_once(&format!("// {}", family.file_name())).map(|(_, b)| b);
        let body = body.unwrap_or_else(|| panic!("{} lacks its header comment", family.file_name()));
        assert!(body.contains("Bindings") || body.contains("bindings"), "{} header names no bindings", family.file_name());
        assert!(body.contains("Grid") || body.contains("grid"), "{} header names no dispatch grid", family.file_name());
    }
}

/// Every combination of a family's tensors stored as f16 compiles too (the GEMM binds any of A, B, C
/// and the biases as f16; the LSTM families W_hh and their activations; pooling its activations; the
/// reductions, the embedding and the optimizer an f16 model's weights or gradients).
#[test]
fn every_f16_tensor_combination_validates() {
    let mut families = 0;
    for family in SHADER_FAMILIES {
        let tensors = family.tensor_bindings().0;
        families += usize::from(tensors != 0);
        // Every subset of the tensor bindings' bits.
        let mut subset = tensors;
        while subset != 0 {
            family.validate_with(HalfBindings(subset)).unwrap_or_else(|e| panic!("f16 bindings {subset:#b}: {e}"));
            subset = (subset - 1) & tensors;
        }
    }
    // matmul, matmul_subgroups, lstm, lstm_subgroups, lstm_persist, embedding, pool, reduce, optimizer.
    assert_eq!(families, 9, "families declaring tensors");
}

#[test]
fn every_wgsl_file_is_registered() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/shaders");
    for entry in std::fs::read_dir(dir).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        if name == "prelude.wgsl" {
            continue;
        }
        assert!(SHADER_FAMILIES.iter().any(|f| f.file_name() == name), "shaders/{name} is not in SHADER_FAMILIES");
    }
}

/// A WGSL struct (by family and name) and the Rust type the host writes into its buffer.
struct Twin {
    family: ShaderFamily,
    wgsl: &'static str,
    rust: &'static str,
    size: usize,
}

macro_rules! twin {
    ($family:ident, $wgsl:literal, $rust:ty) => {
        Twin { family: ShaderFamily::$family, wgsl: $wgsl, rust: stringify!($rust), size: std::mem::size_of::<$rust>() }
    };
}

/// Every uniform struct of every family, plus the storage structs the host writes (TensorEntry).
/// A new kernel's uniform block must be listed here, or `uniform_structs_match_their_rust_twins` fails.
const TWINS: &[Twin] = &[
    twin!(Matmul, "Params", matmul::Gemm),
    twin!(MatmulSubgroups, "Params", matmul::Gemm),
    twin!(Lstm, "Params", lstm::LstmParams),
    twin!(LstmSubgroups, "Params", lstm::LstmParams),
    twin!(LstmPersist, "Params", lstm::LstmParams),
    twin!(Embedding, "Params", embedding::EmbeddingParams),
    twin!(Pool, "Params", pool::PoolParams),
    twin!(Dropout, "Params", dropout::DropoutParams),
    twin!(Loss, "Params", loss::LossParams),
    twin!(Reduce, "Params", reduce::ReduceParams),
    twin!(Optimizer, "Params", optimizer::AdamParams),
    twin!(Optimizer, "TensorEntry", optimizer::TensorEntry),
    twin!(GradReverse, "Params", grad_reverse::GradReverseParams),
    twin!(Ceiling, "Params", ceiling::CeilingParams),
];

/// naga's size (span) of the struct type `ty`, with its name; None for a type that is not a struct.
fn struct_span(module: &naga::Module, ty: naga::Handle<naga::Type>) -> Option<(String, u32)> {
    let t = &module.types[ty];
    match t.inner {
        naga::TypeInner::Struct { span, .. } => Some((t.name.clone().unwrap_or_default(), span)),
        _ => None,
    }
}

#[test]
fn uniform_structs_match_their_rust_twins() {
    for &family in SHADER_FAMILIES {
        let file = family.file_name();
        let module = family.validate().unwrap_or_else(|e| panic!("{e}"));
        // Every uniform binding is a struct with a listed Rust twin.
        for (_, var) in module.global_variables.iter() {
            if var.space != naga::AddressSpace::Uniform {
                continue;
            }
            let var_name = var.name.as_deref().unwrap_or("?");
            let (name, _) = struct_span(&module, var.ty)
                .unwrap_or_else(|| panic!("{file}: uniform `{var_name}` is not a struct (the host writes a Rust struct into it)"));
            assert!(
                TWINS.iter().any(|t| t.family == family && t.wgsl == name),
                "{file}: uniform struct `{name}` (var `{var_name}`) has no Rust twin listed in TWINS (kernels-tests/shaders.rs)"
            );
        }
        // Every listed twin exists in the family and has the Rust struct's size.
        for twin in TWINS.iter().filter(|t| t.family == family) {
            let span = module
                .types
                .iter()
                .find(|(_, t)| t.name.as_deref() == Some(twin.wgsl))
                .and_then(|(ty, _)| struct_span(&module, ty))
                .map(|(_, span)| span)
                .unwrap_or_else(|| panic!("{file}: no struct `{}` (listed in TWINS as the twin of {})", twin.wgsl, twin.rust));
            assert_eq!(
                span as usize, twin.size,
                "{file}: WGSL struct `{}` is {span} bytes but its Rust twin {} is {} bytes",
                twin.wgsl, twin.rust, twin.size
            );
        }
    }
}

/// The constants emitted ahead of every shader are the ones the launchers use, and the shaders
/// declare no local copy of them.
#[test]
fn shared_constants_are_emitted_once() {
    assert_eq!(lstm::SLICE_ROWS, ShaderFamily::LSTM_ROWS);
    assert_eq!(GemmKernel::Blocked.tile_edge(), ShaderFamily::GEMM_TILE);
    assert_eq!(GemmKernel::TiledSmall.tile_edge(), ShaderFamily::GEMM_TILE_SMALL);
    for &family in SHADER_FAMILIES {
        let source = family.source();
        for (name, value) in ShaderFamily::CONSTANTS {
            let decl = format!("const {name}: u32 = {value}u;");
            assert!(source.contains(&decl), "{}: `{decl}` missing", family.file_name());
            let declared = format!("const {name}:");
            assert_eq!(source.matches(&declared).count(), 1, "{}: {name} is declared more than once", family.file_name());
        }
    }
}

/// What a browser grants without asking (WebGPU's default limits, `wgpu::Limits::default()`):
/// every entry point fits them, so the engine runs in any WebGPU page (examples/web).
#[test]
fn every_entry_point_fits_webgpu_default_limits() {
    use naga::valid::{Capabilities, ValidationFlags, Validator};
    let limits = lstm_transfer::wgpu::Limits::default();
    let mut most_storage = 0;
    for family in SHADER_FAMILIES {
        let module = family.validate().unwrap_or_else(|e| panic!("{e}"));
        let info = Validator::new(ValidationFlags::all(), Capabilities::all()).validate(&module).unwrap();
        for (i, ep) in module.entry_points.iter().enumerate() {
            let uses = info.get_entry_point(i);
            let (mut storage, mut shared_bytes) = (0, 0);
            for (handle, var) in module.global_variables.iter() {
                if uses[handle].is_empty() {
                    continue;
                }
                match var.space {
                    naga::AddressSpace::Storage { .. } => storage += 1,
                    naga::AddressSpace::WorkGroup => shared_bytes += module.types[var.ty].inner.size(module.to_ctx()),
                    _ => {}
                }
            }
            let name = format!("{}:{}", family.file_name(), ep.name);
            most_storage = most_storage.max(storage);
            let [x, y, z] = ep.workgroup_size;
            assert!(
                storage <= limits.max_storage_buffers_per_shader_stage,
                "{name}: {storage} storage buffers > {}",
                limits.max_storage_buffers_per_shader_stage
            );
            assert!(
                shared_bytes <= limits.max_compute_workgroup_storage_size,
                "{name}: {shared_bytes} B of workgroup memory > {}",
                limits.max_compute_workgroup_storage_size
            );
            assert!(
                x * y * z <= limits.max_compute_invocations_per_workgroup,
                "{name}: workgroup {x}x{y}x{z} > {} invocations",
                limits.max_compute_invocations_per_workgroup
            );
            assert!(
                x <= limits.max_compute_workgroup_size_x
                    && y <= limits.max_compute_workgroup_size_y
                    && z <= limits.max_compute_workgroup_size_z,
                "{name}: workgroup {x}x{y}x{z}"
            );
        }
    }
    // Counted per entry point (a family's file declares more): the largest (the persistent LSTM
    // backward: the step kernel's 7, which read the gates in place where they write their
    // gradients, and the exchange) sits at the limit.
    assert_eq!(most_storage, 8, "the largest entry point's storage buffers");
}
