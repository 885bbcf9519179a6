//! Language-model data and training: a corpus read as whitespace-separated tokens with `<eos>` at
//! each line end (the Penn Treebank convention: `<unk>` and `N` are already in the text), split into
//! B parallel streams, walked in chunks of `bptt` tokens with the state carried across chunks.

use std::path::Path;
use std::time::Instant;

use crate::data::Vocab;
use crate::error::{Error, Result};
use crate::gpu::GpuContext;
use crate::model::LanguageModel;

/// Chunks between loss readbacks.
const READ_EVERY: usize = 16;

/// The end-of-sentence token appended to every line.
pub const EOS: &str = "<eos>";

/// How corpus lines become tokens.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Tokenizer {
    /// Split on whitespace, keep case (pre-tokenized corpora such as the Penn Treebank).
    Whitespace,
    /// The classifier's tokenizer (lowercase + Unicode word segmentation): an LM meant for transfer
    /// to a classifier (ULMFiT) must see text as the classifier will.
    Words,
}

impl Tokenizer {
    /// The tokens of one line.
    pub fn tokens(self, line: &str) -> Vec<String> {
        match self {
            Self::Whitespace => line.split_whitespace().map(str::to_string).collect(),
            Self::Words => crate::data::tokenize(line),
        }
    }
}

/// Tokens of a corpus file, `<eos>` after every non-empty line. A `label<TAB>text` line counts by
/// its text (so labelled classification data can serve as an LM corpus).
pub fn read_corpus(path: &Path, tokenizer: Tokenizer) -> Result<Vec<String>> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::File { path: path.into(), message: e.to_string() })?;
    let mut tokens = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let body = line.split_once('\t').map_or(line, |(_, t)| t);
        tokens.extend(tokenizer.tokens(body));
        tokens.push(EOS.to_string());
    }
    if tokens.is_empty() {
        return Err(Error::File { path: path.into(), message: "no tokens: the file is empty".into() });
    }
    Ok(tokens)
}

/// The vocabulary of a training corpus: tokens seen `min_freq` times, the `max_size` most frequent
/// (`<pad>`, `<unk>` first); the rest read as `<unk>`.
pub fn corpus_vocab(tokens: &[String], min_freq: usize, max_size: usize) -> Vocab {
    Vocab::build([tokens], min_freq, max_size)
}

/// `batch` streams of equal length (the tail that does not fill a stream is dropped, and counted).
pub fn batchify(ids: &[u32], batch: usize) -> (Vec<Vec<u32>>, usize) {
    let len = ids.len() / batch.max(1);
    ((0..batch).map(|b| ids[b * len..(b + 1) * len].to_vec()).collect(), ids.len() - len * batch)
}

/// Summed cross-entropy and predicted tokens of one pass over `streams` (training when `train`).
/// The state starts at zero and is carried across chunks.
pub fn run_epoch(ctx: &GpuContext, model: &mut LanguageModel, streams: &[Vec<u32>], bptt: usize, train: bool,
                 mut progress: impl FnMut(usize, usize, f64)) -> Result<(f64, usize)> {
    model.reset_state(ctx);
    let len = streams.first().map_or(0, Vec::len);
    let (mut loss, mut count) = (0.0, 0);
    let chunks = len.saturating_sub(1).div_ceil(bptt);
    let start = Instant::now();
    for (k, t0) in (0..len.saturating_sub(1)).step_by(bptt).enumerate() {
        let t = bptt.min(len - 1 - t0);
        let ids: Vec<u32> = streams.iter().flat_map(|s| s[t0..t0 + t].iter().copied()).collect();
        let targets: Vec<u32> = streams.iter().flat_map(|s| s[t0 + 1..t0 + 1 + t].iter().copied()).collect();
        // Read the loss back every READ_EVERY chunks and after the last: the GPU runs ahead in between.
        let read = (k + 1) % READ_EVERY == 0 || k + 1 == chunks;
        if let Some(sum) = model.step(ctx, &ids, &targets, train, read)? {
            loss += sum;
        }
        count += ids.len();
        if read {
            progress(k + 1, chunks, count as f64 / start.elapsed().as_secs_f64());
        }
    }
    Ok((loss, count))
}

/// Perplexity from a summed cross-entropy over `count` predictions.
pub fn perplexity(loss_sum: f64, count: usize) -> f64 {
    (loss_sum / count.max(1) as f64).exp()
}

/// Everything an LM checkpoint says besides its tensors.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct LmInfo {
    /// The model's shape.
    pub config: crate::model::LanguageModelConfig,
    /// How its corpus was tokenized.
    pub tokenizer: Tokenizer,
}

/// Metadata key of an LM checkpoint's description.
pub const META_LM: &str = "lstm_transfer_lm";

/// Writes an LM checkpoint: tensors, description and vocabulary (metadata `vocab`), atomically.
pub fn save_lm(path: &Path, ctx: &GpuContext, model: &LanguageModel, info: &LmInfo, vocab: &[String]) -> Result<()> {
    let metadata = [
        (META_LM.to_string(), serde_json::to_string(info).expect("LmInfo serializes")),
        ("vocab".to_string(), serde_json::to_string(vocab).expect("strings serialize")),
    ]
    .into();
    crate::checkpoint::save_tensors(path, &model.store.download(ctx)?, metadata)
}

/// Reads an LM checkpoint: its description, vocabulary and tensors.
pub fn load_lm(path: &Path) -> Result<(LmInfo, Vec<String>, crate::params::TensorMap)> {
    let (tensors, metadata) = crate::checkpoint::read_tensors(path)?;
    let err = |message: String| Error::File { path: path.to_path_buf(), message };
    let info = metadata.get(META_LM).ok_or_else(|| err(format!("no '{META_LM}' metadata: not a language-model checkpoint")))?;
    let info: LmInfo = serde_json::from_str(info).map_err(|e| err(format!("metadata '{META_LM}': {e}")))?;
    let vocab = metadata.get("vocab").ok_or_else(|| err("no vocabulary in the metadata".into()))?;
    let vocab: Vec<String> = serde_json::from_str(vocab).map_err(|e| err(format!("metadata 'vocab': {e}")))?;
    Ok((info, vocab, tensors))
}
