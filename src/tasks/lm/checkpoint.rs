//! Language-model checkpoints: tensors with PyTorch's word_language_model names, the model's shape
//! and tokenizer (metadata `lstm_transfer_lm`) and the vocabulary, written atomically.

use std::path::Path;

use super::corpus::Tokenizer;
use super::model::{LanguageModel, LanguageModelConfig};
use crate::core::checkpoint::{read_info, read_tensors, read_vocab, save_model};
use crate::error::{Error, Result};
use crate::gpu::GpuContext;
use crate::params::TensorMap;

/// Everything an LM checkpoint says besides its tensors.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct LmInfo {
    /// The model's shape.
    pub config: LanguageModelConfig,
    /// How its corpus was tokenized.
    pub tokenizer: Tokenizer,
}

/// Metadata key of an LM checkpoint's description.
pub const META_LM: &str = "lstm_transfer_lm";

/// Writes an LM checkpoint: tensors, description and vocabulary, atomically.
pub fn save_lm(path: &Path, ctx: &GpuContext, model: &LanguageModel, info: &LmInfo, vocab: &[String]) -> Result<()> {
    save_model(path, &model.store.download(ctx)?, META_LM, info, Some(vocab), &[])
}

/// Reads an LM checkpoint: its description (checked), vocabulary and tensors.
pub fn load_lm(path: &Path) -> Result<(LmInfo, Vec<String>, TensorMap)> {
    let (tensors, metadata) = read_tensors(path)?;
    let info: LmInfo = read_info(path, &metadata, META_LM, "a language-model checkpoint")?;
    let err = |message: String| Error::File { path: path.to_path_buf(), message };
    info.config.validate().map_err(|e| err(format!("metadata '{META_LM}': {e}")))?;
    let vocab = read_vocab(path, &metadata, info.config.vocab)?.ok_or_else(|| err("no vocabulary in the metadata".into()))?;
    Ok((info, vocab, tensors))
}
