//! The library's one error type. The CLI wraps it in `anyhow` at the edge; the library never panics
//! on bad input.

use std::path::PathBuf;

/// Everything that can go wrong in lstm-transfer, each variant naming what was expected.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(
        "no GPU adapter found{detail}.\n  On Linux without a GPU install Mesa's software Vulkan driver: \
         `sudo apt-get install mesa-vulkan-drivers` (lavapipe), then run again.\n  \
         Select an adapter with LSTM_TRANSFER_BACKEND=vulkan|metal|dx12|gl and LSTM_TRANSFER_ADAPTER=<name part>; \
         `lstm-transfer info` lists what is available."
    )]
    NoAdapter { detail: String },

    #[error("could not open a device on adapter '{adapter}': {reason}")]
    RequestDevice { adapter: String, reason: String },

    #[error("shader {shader} failed to {stage}: {message}")]
    Shader { shader: String, stage: &'static str, message: String },

    #[error("buffer '{name}' needs {bytes} bytes but the device allows at most {limit} ({what}); \
             over by {} bytes — use a smaller batch, sequence length or model", bytes - limit)]
    BufferTooLarge { name: String, bytes: u64, limit: u64, what: &'static str },

    #[error("tensor '{name}': expected shape {expected:?}, found {found:?}")]
    ShapeMismatch { name: String, expected: Vec<usize>, found: Vec<usize> },

    #[error("tensor '{name}' is missing{context}")]
    MissingTensor { name: String, context: String },

    #[error("{path}: {message}")]
    File { path: PathBuf, message: String },

    #[error("invalid input: {0}")]
    InvalidInput(String),

    #[error("the training loss became {value} after update {update}; stopped (lower the learning rate or enable --clip)")]
    NonFiniteLoss { update: u64, value: f32 },

    #[error("GPU readback failed: {0}")]
    Readback(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
