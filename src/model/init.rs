//! Parameter initialisation, PyTorch's defaults, from a seeded generator (ChaCha8: the same values on
//! every platform and crate version).

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};

/// Values for a tensor named like PyTorch's modules: `embedding.weight` ~ N(0,1); LSTM tensors
/// ~ U(−1/√H, 1/√H); Linear weight and bias ~ U(−1/√in, 1/√in) (the bound of kaiming_uniform(a=√5)).
pub fn init_tensor(name: &str, shape: &[usize], hidden: usize, rng: &mut ChaCha8Rng) -> Vec<f32> {
    let n: usize = shape.iter().product();
    if name.starts_with("embedding") {
        return (0..n).map(|_| StandardNormal.sample(rng)).collect();
    }
    let fan_in = if name.contains("lstm.") {
        hidden
    } else if shape.len() == 2 {
        shape[1]
    } else {
        // A Linear bias: the fan-in is not in its shape; the caller passes it as `hidden`.
        hidden
    };
    let bound = 1.0 / (fan_in.max(1) as f32).sqrt();
    (0..n).map(|_| rng.random_range(-bound..=bound)).collect()
}

pub fn rng(seed: u64) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(seed)
}
