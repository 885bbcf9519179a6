//! Language-model corpora: text read as tokens with `<eos>` at each line end (the Penn Treebank
//! convention: `<unk>` and `N` are already in the text), its vocabulary, and B parallel streams.

use std::path::Path;

use crate::data::Vocab;
use crate::error::{Error, Result};

/// The end-of-sentence token appended to every line.
pub const EOS: &str = "<eos>";

/// How corpus lines become tokens.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
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
    let text = crate::fsutil::read_utf8(path)?;
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
