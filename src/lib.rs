#![warn(missing_docs)]
//! lstm-transfer: train LSTM models on any GPU through wgpu and hand-written WGSL kernels, with
//! transfer learning as a first-class feature.
//!
//! Layers, each importing only from those below it:
//! - [`gpu`]: adapter and device, buffers, shader sources and the pipeline cache, timestamp queries;
//! - [`kernels`]: one launcher module per WGSL kernel family, each returning [`graph::Op`]s;
//! - [`graph`]: ops as data, recorded into one pass per step;
//! - [`params`]: the flat parameter store with per-tensor freeze flags and learning-rate scales;
//! - [`model`]: the LSTM stack and the text classifier.

pub mod error;
pub mod experiment;
pub mod gpu;
pub mod graph;
pub mod kernels;
pub mod lm;
pub mod model;
pub mod params;
pub mod data;
pub mod fsutil;
pub mod metrics;
pub mod plot;
pub mod schedule;
pub mod timeseries;
pub mod train;
pub mod transfer;
pub mod bench;
pub mod checkpoint;

pub use error::{Error, Result};
pub use gpu::{AdapterChoice, GpuContext};
