//! Building blocks the task models are made of: the LSTM stack ([`lstm`]), the embedding's gradient
//! segments ([`embedding`]) and PyTorch-style initialisation ([`init`]).

pub mod embedding;
pub mod init;
pub mod lstm;

pub use embedding::SegmentBuffers;
pub use lstm::{LstmConfig, LstmStack};
