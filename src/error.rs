//! The library's one error type. The CLI wraps it in `anyhow` at the edge; the library never panics
//! on bad input.

use std::path::PathBuf;

/// Everything that can go wrong in lstm-transfer, each variant naming what was expected.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No adapter matched the [`AdapterChoice`](crate::AdapterChoice), or wgpu found none at all.
    #[error(
        "no GPU adapter found{detail}.\n  On Linux without a GPU install Mesa's software Vulkan driver: \
         `sudo apt-get install mesa-vulkan-drivers` (lavapipe), then run again.\n  \
         Select an adapter with LSTM_TRANSFER_BACKEND=vulkan|metal|dx12|gl and LSTM_TRANSFER_ADAPTER=<name part>; \
         `lstm-transfer info` lists what is available."
    )]
    NoAdapter {
        /// The backends and name that were asked for, or empty when any adapter was allowed.
        detail: String,
    },

    /// The adapter was found but opening a device on it failed.
    #[error("could not open a device on adapter '{adapter}': {reason}")]
    RequestDevice {
        /// The adapter's name.
        adapter: String,
        /// wgpu's error message.
        reason: String,
    },

    /// A WGSL shader did not parse or validate in naga, or wgpu rejected its pipeline.
    #[error("shader {shader} failed to {stage}: {message}")]
    Shader {
        /// The shader file, with `:entry_point` appended when a pipeline failed.
        shader: String,
        /// What failed: "parse", "validate" or "build a pipeline".
        stage: &'static str,
        /// The compiler's diagnostic, with the source location where naga gives one.
        message: String,
    },

    /// A buffer is larger than the device allows.
    #[error("buffer '{name}' needs {bytes} bytes but the device allows at most {limit} ({what}); \
             over by {} bytes — use a smaller batch, sequence length or model", bytes - limit)]
    BufferTooLarge {
        /// The buffer's label.
        name: String,
        /// Requested size in bytes.
        bytes: u64,
        /// The device limit it exceeds, in bytes.
        limit: u64,
        /// The name of that limit in `wgpu::Limits`, e.g. "max_storage_buffer_binding_size".
        what: &'static str,
    },

    /// A tensor (or its row mask) has a different shape from the one the model expects.
    #[error("tensor '{name}': expected shape {expected:?}, found {found:?}")]
    ShapeMismatch {
        /// The tensor's name.
        name: String,
        /// The shape the model expects.
        expected: Vec<usize>,
        /// The shape (or, for flat value slices, the length) that was supplied.
        found: Vec<usize>,
    },

    /// A named tensor is absent from a parameter store or a checkpoint.
    #[error("tensor '{name}' is missing{context}")]
    MissingTensor {
        /// The tensor's name.
        name: String,
        /// Where it was looked for, as a phrase starting with a space (may be empty).
        context: String,
    },

    /// Reading, writing or parsing a file failed.
    #[error("{path}: {message}")]
    File {
        /// The file concerned.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },

    /// An argument or configuration value is out of range or inconsistent; the message says which.
    #[error("invalid input: {0}")]
    InvalidInput(String),

    /// A setting is outside its allowed range (zero, negative, NaN, too large); `option` is its name
    /// as the command line and the configuration files spell it.
    #[error("invalid {option}: expected {expected}, got {found}")]
    InvalidOption {
        /// The option or field, e.g. `batch-size`.
        option: String,
        /// The allowed range, in words.
        expected: String,
        /// The value given.
        found: String,
    },

    /// The training loss read back is NaN or infinite.
    #[error("the training loss became {value} after update {update}; stopped (lower the learning rate or enable --clip)")]
    NonFiniteLoss {
        /// Number of optimizer updates made when the loss was read.
        update: u64,
        /// The loss sum accumulated since the previous read.
        value: f32,
    },

    /// A persistent LSTM kernel's workgroups did not all run at once, so a wait between timesteps
    /// gave up and the step's results are NaN (`shaders/lstm_persist.wgsl`).
    #[error(
        "the persistent LSTM kernel stalled on {adapter}: its workgroups did not all run at once, so the results are NaN; \
         pick another kernel (LSTM_TRANSFER_LSTM=steps, or --tune force to time the kernels again)"
    )]
    PersistentStalled {
        /// The adapter's name.
        adapter: String,
    },

    /// An op too long for a CPU driver's loop limit ([`crate::kernels::CPU_LOOP_LIMIT`]): its result
    /// would be cut short, silently.
    #[error(
        "{op} needs {back_edges} loop iterations in one shader invocation; {adapter} (a CPU driver) cuts every loop \
         short past 65535, silently, so it is refused: use smaller batches or sequences, or a GPU"
    )]
    CpuLoopLimit {
        /// The op and its size, e.g. `GEMM 8×8, K = 300000 (blocked)`.
        op: String,
        /// The loop back-edges one invocation would take.
        back_edges: u64,
        /// The adapter's name.
        adapter: String,
    },

    /// Mapping a buffer or waiting for the GPU failed (often a lost device).
    #[error("GPU readback failed: {0}")]
    Readback(String),
}

impl Error {
    /// An [`Error::InvalidOption`] naming the option, the allowed range and the value given.
    pub fn invalid_option(option: &str, expected: &str, found: impl std::fmt::Display) -> Self {
        Self::InvalidOption { option: option.to_string(), expected: expected.to_string(), found: found.to_string() }
    }
}

/// `Result` with [`Error`] as the default error type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
