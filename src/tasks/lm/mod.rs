//! LSTM language models: the model ([`model`]: embedding → LSTM → decoder, optionally tied), corpora
//! and streams ([`corpus`]), training with truncated BPTT as a task of the shared loop ([`train`]) and
//! checkpoints ([`checkpoint`]) that transfer into a classifier (ULMFiT).

pub mod checkpoint;
pub mod corpus;
pub mod model;
pub mod sample;
pub mod train;

pub use checkpoint::{LmInfo, META_LM, load_lm, save_lm};
pub use corpus::{EOS, Tokenizer, batchify, corpus_vocab, read_corpus};
pub use model::{LanguageModel, LanguageModelConfig};
pub use sample::{SampleConfig, sample};
pub use train::{LmEpoch, LmRun, LmTrainConfig, perplexity, score, score_with, train_lm};
