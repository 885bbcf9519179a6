//! How a model's weights, gradients and activations are stored on the GPU.

/// Storage of the weights the kernels read, the parameter gradients, and the activations that scale
/// with batch × sequence length (the LSTM's gates and their gradients, each layer's output and its
/// gradient). Arithmetic is f32 either way; so are the LSTM states, the optimizer's master copy of
/// the parameters and Adam's moments (`crate::params::ParamStore`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
#[serde(rename_all = "lowercase")]
pub enum Precision {
    /// 4 bytes per value.
    #[default]
    F32,
    /// 2 bytes per value, packed two per u32 (no `shader-f16` feature needed): half the memory of
    /// those activations and half the bytes every weight read moves, rounded to f16 (11 significant
    /// bits) where stored; the weights' f16 working copy sits beside their f32 master copy.
    F16,
}

impl Precision {
    /// Bytes of `elements` values, whole u32 words.
    pub fn bytes(self, elements: usize) -> Option<u64> {
        let words = match self {
            Self::F32 => elements,
            Self::F16 => elements.div_ceil(2),
        };
        (words as u64).checked_mul(4)
    }

    /// The lowercase name used on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Self::F32 => "f32",
            Self::F16 => "f16",
        }
    }

    /// The factor every gradient is computed at (loss scaling): 1 in f32; in f16 2¹⁰, so that the
    /// activation gradients of a mean loss over hundreds of rows (1e-4 to 1e-6) lie in f16's normal
    /// range (from 6.1e-5) instead of flushing towards zero, while those seen in training (|dy| well
    /// under 1) and the parameter gradients of such a loss stay far below its largest value
    /// (65504 / 2¹⁰ = 64; a larger one is stored as 65504). The loss kernels multiply their
    /// gradient by it; Adam divides it out (`ParamStore::grad_scale`).
    pub fn grad_scale(self) -> f32 {
        match self {
            Self::F32 => 1.0,
            Self::F16 => 1024.0,
        }
    }
}
