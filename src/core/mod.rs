//! What the three tasks share, once: the step core ([`step`]: stats, readback, plans, the update
//! tail), the training-loop shape ([`fit`]: epochs, cadence, best epoch, early stopping, resumable
//! state) and checkpoint I/O ([`checkpoint`]: safetensors with a JSON description), and the
//! learning-rate range test ([`lr_find`]).

pub mod checkpoint;
pub mod fit;
pub mod lr_find;
pub mod step;
