//! Models built from the kernels: the LSTM stack and the text classifier around it.

pub mod classifier;
pub mod forecaster;
pub mod init;
pub mod language_model;
pub mod lstm;

pub use classifier::{Batch, Classifier, ClassifierConfig, StepStats};
pub use forecaster::{Forecaster, ForecasterConfig, Windows};
pub use language_model::{LanguageModel, LanguageModelConfig};
pub use lstm::{LstmConfig, LstmStack};
