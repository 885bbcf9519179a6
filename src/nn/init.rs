//! Parameter initialisation, PyTorch's defaults, from a seeded generator (ChaCha8: the same values on
//! every platform and crate version).

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};

use crate::error::Result;
use crate::gpu::GpuContext;
use crate::params::{ParamStore, TensorMap};

/// PyTorch's default initialisation of a tensor: `embedding.*` ~ N(0,1); everything else
/// ~ U(−1/√fan_in, 1/√fan_in) — nn.LSTM uses fan_in = H, nn.Linear the layer's input size (the bound
/// of its kaiming_uniform(a=√5) weight and of its bias).
pub fn init_tensor(name: &str, len: usize, fan_in: usize, rng: &mut ChaCha8Rng) -> Vec<f32> {
    if name.starts_with("embedding") {
        return (0..len).map(|_| StandardNormal.sample(rng)).collect();
    }
    let bound = 1.0 / (fan_in.max(1) as f32).sqrt();
    (0..len).map(|_| rng.random_range(-bound..=bound)).collect()
}

/// The seeded generator that [`init_tensor`] draws from.
pub fn rng(seed: u64) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(seed)
}

/// How one tensor is drawn: as [`init_tensor`] draws `kind` (a parameter name; `embedding…` is
/// normal, anything else uniform) with this fan-in.
pub struct Draw<'a> {
    /// The name whose distribution applies.
    pub kind: &'a str,
    /// The uniform bound's fan-in.
    pub fan_in: usize,
}

/// A parameter store for `specs` with PyTorch-style values drawn in `specs` order from one generator
/// seeded `seed`; `draw(name)` says how each tensor is drawn.
pub fn init_store<'a>(
    ctx: &GpuContext,
    specs: &'a [(String, Vec<usize>)],
    seed: u64,
    draw: impl Fn(&'a str) -> Draw<'a>,
) -> Result<ParamStore> {
    let store = ParamStore::new(ctx, specs)?;
    for (name, (_, values)) in init_tensors(specs, seed, draw) {
        store.upload(ctx, &name, &values)?;
    }
    Ok(store)
}

/// The values [`init_store`] uploads, on the host (a model's initial parameters without reading
/// the GPU back).
pub fn init_tensors<'a>(specs: &'a [(String, Vec<usize>)], seed: u64, draw: impl Fn(&'a str) -> Draw<'a>) -> TensorMap {
    let mut r = rng(seed);
    let mut tensors = TensorMap::new();
    for (name, shape) in specs {
        let Draw { kind, fan_in } = draw(name);
        tensors.insert(name.clone(), (shape.clone(), init_tensor(kind, shape.iter().product(), fan_in, &mut r)));
    }
    tensors
}
