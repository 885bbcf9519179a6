//! How the LSTM outputs over time become the heads' features.

/// How the LSTM outputs of a row become one feature vector.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
#[serde(rename_all = "lowercase")]
pub enum Pooling {
    /// The hidden state at the last valid step (reverse direction: at t = 0) — PyTorch's h_n.
    #[default]
    Last,
    /// Element-wise max over the valid steps.
    Max,
    /// Mean over the valid steps.
    Mean,
    /// `[last, max, mean]` side by side (ULMFiT's concat pooling): 3× the width.
    Concat,
}

impl Pooling {
    /// Feature vectors per row (the head's input is `parts × dirs × H` wide).
    pub fn parts(self) -> usize {
        match self {
            Self::Concat => 3,
            _ => 1,
        }
    }

    /// The lowercase name used on the command line and in configs.
    pub fn name(self) -> &'static str {
        match self {
            Self::Last => "last",
            Self::Max => "max",
            Self::Mean => "mean",
            Self::Concat => "concat",
        }
    }
}
