#![warn(missing_docs)]
//! lstm-transfer: train LSTM models on any GPU through wgpu and hand-written WGSL kernels, with
//! transfer learning as a first-class feature.
//!
//! Layers, bottom to top; a module imports only from layers below its own (checked by
//! `kernels-tests/layering.rs`):
//! 0. [`error`], [`fsutil`], [`config`] (typed, validated settings), [`plot`];
//! 1. [`gpu`]: adapter and device, buffers, shader sources with their shared constants, pipelines, timestamps;
//! 2. [`graph`]: ops as data, recorded into one pass per step;
//! 3. [`kernels`]: one launcher module per WGSL kernel family, each returning [`graph::Op`]s; [`params`]:
//!    the flat parameter store with per-tensor freeze flags and learning-rate scales;
//! 4. [`data`]: text tables, tokenizer, vocabulary, datasets and batches; [`nn`]: the LSTM stack, the
//!    embedding's gradient segments, initialisation;
//! 5. [`core`]: what every task shares — the step core (plans, stats, readback, update tail), the
//!    training-loop shape and checkpoint I/O;
//! 6. [`tasks`]: [`tasks::classify`], [`tasks::lm`], [`tasks::forecast`] (peers: none imports another);
//! 7. [`transfer`]: the transfer recipe, sources, parameter mapping, DANN's data;
//! 8. [`experiment`], [`bench`].
//!
//! A fourth task goes in `src/tasks/NAME/` (model on [`core::step::StepCore`], an
//! [`core::fit::EpochTask`], checkpoint metadata through [`core::checkpoint`]); a new kernel family is
//! one WGSL file in `shaders/`, a [`gpu::ShaderFamily`] entry and a launcher module in [`kernels`].

pub mod bench;
pub mod config;
pub mod core;
pub mod data;
pub mod error;
pub mod experiment;
pub mod fsutil;
pub mod gpu;
pub mod graph;
pub mod kernels;
pub mod nn;
pub mod params;
pub mod plot;
pub mod tasks;
pub mod transfer;

pub use error::{Error, Result};
pub use gpu::{AdapterChoice, GpuContext};
