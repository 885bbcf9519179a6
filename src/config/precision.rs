//! How the LSTM's activations are stored on the GPU.

/// Storage of the activations that scale with batch × sequence length (the LSTM's gates and their
/// gradients, each layer's output and its gradient). Arithmetic is f32 either way, and parameters,
/// their gradients and Adam's moments stay f32 (the master copy).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
#[serde(rename_all = "lowercase")]
pub enum Precision {
    /// 4 bytes per value.
    #[default]
    F32,
    /// 2 bytes per value, packed two per u32 (no `shader-f16` feature needed): half the memory of
    /// those activations, rounded to f16 (11 significant bits) where stored.
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
}
