//! Typed, validated settings shared by the kernels, the three tasks and the command line: the
//! optimizer, the learning-rate schedule and the pooling. Plain data (no GPU); every configuration
//! type of the library checks itself with a `validate()` built from the helpers in [`validate`].

pub mod optimizer;
pub mod pooling;
pub mod precision;
pub mod schedule;
pub mod validate;

pub use optimizer::{AdamConfig, OptimConfig, WeightDecay};
pub use pooling::Pooling;
pub use precision::Precision;
pub use schedule::{LrSchedule, ScheduleKind};
