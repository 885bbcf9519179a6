#![warn(missing_docs)]
//! lstm-transfer: train LSTM models on any GPU through wgpu and hand-written WGSL kernels, with
//! transfer learning as a first-class feature.
//!
//! # In three lines
//!
//! A classifier trained with `lstm-transfer train` (or `transfer`), predicting in input order:
//!
//! ```no_run
//! let mut predictor = lstm_transfer::Predictor::load("runs/reviews.safetensors".as_ref())?;
//! let predictions = predictor.predict(&["the food was great", "the room was cold"])?;
//! println!("{} ({:.2})", predictions[0].label, predictions[0].probability());
//! # Ok::<(), lstm_transfer::Error>(())
//! ```
//!
//! A forecaster trained with `lstm-transfer forecast`, forecasting past the given history:
//!
//! ```no_run
//! let mut forecaster = lstm_transfer::ForecastPredictor::load("runs/air.safetensors".as_ref())?;
//! let history = vec![112.0, 118.0, 132.0, 129.0, 121.0, 135.0, 148.0, 148.0, 136.0, 119.0, 104.0, 118.0];
//! let next = forecaster.forecast(&history.repeat(4), 12)?;
//! # Ok::<(), lstm_transfer::Error>(())
//! ```
//!
//! Both also submit without blocking and are polled from a frame loop ([`Predictor::submit`],
//! [`ForecastPredictor::submit`]), on a context adopted from the application's own `wgpu::Device`
//! ([`GpuContext::from_device`]). Training from Rust: [`tasks::classify::Classifier`],
//! [`tasks::forecast::Forecaster`], [`transfer`] and [`experiment`] show the steps.
//!
//! # Layout
//!
//! Layers, bottom to top; a module imports only from layers below its own (checked by
//! `kernels-tests/layering.rs`, which holds the same list):
//! 0. [`error`]: the library's one error type;
//! 1. `fsutil` (the command line's file handling, not part of the API): atomic writes, bounded reads; [`config`]: typed, validated settings (optimizer,
//!    schedule, pooling) and the range checks every configuration uses;
//! 2. [`plot`]: SVG charts; [`gpu`]: adapter and device, buffers, shader sources with their shared
//!    constants, the pipeline cache, timestamps;
//! 3. [`graph`]: ops as data, recorded into one pass per step;
//! 4. [`kernels`]: one launcher module per WGSL kernel family, each returning [`graph::Op`]s;
//! 5. [`params`]: the flat parameter store with per-tensor freeze flags and learning-rate scales;
//!    [`data`]: text tables, tokenizer, vocabulary, datasets and batches;
//! 6. [`nn`]: the LSTM stack, the embedding's gradient segments, initialisation;
//! 7. [`core`]: what every task shares — the step core (plans, stats, readback, update tail), the
//!    training-loop shape and checkpoint I/O;
//! 8. [`tasks`]: [`tasks::classify`], [`tasks::lm`], [`tasks::forecast`] (peers: none imports another);
//! 9. [`transfer`]: the transfer recipe, sources, parameter mapping, DANN's data;
//! 10. [`experiment`], [`bench`](mod@bench).
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
/// Atomic writes, bounded reads and run locks for the command-line tool; hidden from the API
/// documentation because it is not meant for applications.
#[doc(hidden)]
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
pub use tasks::classify::Predictor;
pub use tasks::forecast::ForecastPredictor;
/// The wgpu this crate is built on, for applications that hand it their own device.
pub use wgpu;
