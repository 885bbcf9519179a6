//! Transfer sources: a classifier checkpoint (or a plain PyTorch state_dict), or a language model
//! whose embedding and LSTM carry into a classifier (ULMFiT); its decoder is not used.

use std::collections::HashMap;
use std::path::Path;

use crate::config::Pooling;
use crate::core::checkpoint::{TensorFile, read_info, read_vocab};
use crate::error::{Error, Result};
use crate::tasks::classify::ClassifierConfig;
use crate::tasks::classify::checkpoint::{self, Checkpoint, ModelInfo, TOKENIZER};
use crate::tasks::lm::{LmInfo, META_LM, Tokenizer};

/// Loads a transfer source: a language-model checkpoint becomes a source without a head (0 classes);
/// anything else loads as a classifier checkpoint or state_dict (`pooling` as in [`checkpoint::load`]).
pub fn load_source(path: &Path, pooling: Option<Pooling>) -> Result<Checkpoint> {
    parse_source(&crate::fsutil::read_file(path)?, path, pooling)
}

/// [`load_source`] on bytes already read; `path` names the source in errors.
pub fn parse_source(bytes: &[u8], path: &Path, pooling: Option<Pooling>) -> Result<Checkpoint> {
    let file = TensorFile::parse(bytes, path)?;
    if file.metadata.contains_key(META_LM) {
        return lm_source(path, file);
    }
    checkpoint::from_file(path, file, pooling)
}

/// A language model as a transfer source.
fn lm_source(path: &Path, file: TensorFile) -> Result<Checkpoint> {
    let metadata = &file.metadata;
    let info: LmInfo = read_info(path, metadata, META_LM, "a language-model checkpoint")?;
    let file_err = |message: String| Error::File { path: path.to_path_buf(), message };
    info.config.validate().map_err(|e| file_err(format!("metadata '{META_LM}': {e}")))?;
    let c = info.config;
    let vocab =
        read_vocab(path, metadata, c.vocab)?.ok_or_else(|| file_err("a language-model checkpoint without its vocabulary".into()))?;
    let config = ClassifierConfig {
        vocab: c.vocab,
        embed: c.embed,
        hidden: c.hidden,
        layers: c.layers,
        bidirectional: false,
        classes: 0,
        domains: 0,
        pooling: Pooling::Last,
    };
    let specs: Vec<(String, Vec<usize>)> =
        config.lstm().param_specs("lstm.").into_iter().chain([("embedding.weight".to_string(), vec![c.vocab, c.embed])]).collect();
    file.check_shapes(path, &specs)?;
    let mut tensors = file.tensors;
    let ignored: Vec<String> = tensors.keys().filter(|k| k.starts_with("decoder.")).cloned().collect();
    tensors.retain(|k, _| !k.starts_with("decoder."));
    let tokenizer = match info.tokenizer {
        Tokenizer::Words => TOKENIZER.to_string(),
        Tokenizer::Whitespace => "whitespace".to_string(),
    };
    let model = ModelInfo { config, labels: Vec::new(), max_len: 512, tokenizer };
    Ok(Checkpoint { info: model, vocab: Some(vocab), tensors, ignored, metadata: HashMap::new() })
}
