//! Text data shared by the classifier and the language model: table readers (`read`), the tokenizer,
//! the vocabulary, label sets, seeded splits and length-bucketed batches. Nothing here touches the GPU.

use std::collections::HashMap;
use std::path::Path;

use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use unicode_segmentation::UnicodeSegmentation;

use crate::error::{Error, Result};
mod embedded;
mod read;
pub use embedded::{EMBEDDED, embedded, read_table};
pub use read::*;

/// One batch, host side. `ids` is `[batch, steps]` right-padded; `labels` may hold IGNORE_LABEL.
#[derive(Clone, Debug, Default)]
pub struct Batch {
    /// Rows B.
    pub batch: usize,
    /// Time steps T of the padded rows.
    pub steps: usize,
    /// Token ids, `[B, T]` row-major, right-padded.
    pub ids: Vec<u32>,
    /// Valid tokens per row, `[B]`, each in `1..=steps`.
    pub lengths: Vec<u32>,
    /// Class of each row, `[B]` (IGNORE_LABEL: no loss, not counted).
    pub labels: Vec<u32>,
    /// Domain of each row (DANN only).
    pub domain_labels: Option<Vec<u32>>,
}

/// Id of `<pad>`, which fills batch rows past their length.
pub const PAD: u32 = 0;
/// Id of `<unk>`, which stands for every token outside the vocabulary.
pub const UNK: u32 = 1;

/// Lowercase, then Unicode word segmentation (UAX #29), keeping words and numbers.
pub fn tokenize(text: &str) -> Vec<String> {
    text.to_lowercase().unicode_words().map(str::to_string).collect()
}

/// Token ↔ id, with `<pad>` = 0 and `<unk>` = 1.
///
/// ```
/// use lstm_transfer::data::{Vocab, tokenize};
///
/// let texts = [tokenize("The food was great!"), tokenize("the food was cold")];
/// let vocab = Vocab::build(texts.iter().map(Vec::as_slice), 1, 30_000);
/// let ids = vocab.encode("the food was lovely");
/// assert_eq!(ids.len(), 4);
/// assert_eq!(ids[3], 1, "an unknown token is <unk>");
/// ```
#[derive(Clone, Debug)]
pub struct Vocab {
    /// Every token, indexed by id.
    pub tokens: Vec<String>,
    index: HashMap<String, u32>,
}

impl Vocab {
    /// Tokens seen at least `min_freq` times, most frequent first (ties alphabetical), at most
    /// `max_size` entries including the two specials.
    pub fn build<'a>(texts: impl IntoIterator<Item = &'a [String]>, min_freq: usize, max_size: usize) -> Self {
        let mut counts: HashMap<&str, usize> = HashMap::new();
        for tokens in texts {
            for t in tokens {
                *counts.entry(t.as_str()).or_default() += 1;
            }
        }
        let mut ranked: Vec<(&str, usize)> = counts.into_iter().filter(|&(_, c)| c >= min_freq).collect();
        ranked.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
        let mut tokens = vec!["<pad>".to_string(), "<unk>".to_string()];
        tokens.extend(ranked.into_iter().take(max_size.saturating_sub(2)).map(|(t, _)| t.to_string()));
        let index = tokens.iter().enumerate().map(|(i, t)| (t.clone(), i as u32)).collect();
        Self { tokens, index }
    }

    /// Number of tokens, the two specials included (the embedding's row count).
    pub fn len(&self) -> usize {
        self.tokens.len()
    }

    /// True only for a vocabulary without tokens (one built by `build` always has the specials).
    pub fn is_empty(&self) -> bool {
        self.tokens.is_empty()
    }

    /// The id of `token`, or [`UNK`] when it is not in the vocabulary.
    pub fn id(&self, token: &str) -> u32 {
        self.index.get(token).copied().unwrap_or(UNK)
    }

    /// Token ids of a text (unknown words → `<unk>`).
    pub fn encode(&self, text: &str) -> Vec<u32> {
        tokenize(text).iter().map(|t| self.id(t)).collect()
    }

    /// A vocabulary from a saved token list (id = position); `<pad>` and `<unk>` must come first.
    pub fn from_tokens(tokens: Vec<String>) -> Result<Self> {
        if tokens.len() < 2 || tokens[0] != "<pad>" || tokens[1] != "<unk>" {
            return Err(Error::InvalidInput("a vocabulary must start with <pad>, <unk>".into()));
        }
        let index = tokens.iter().enumerate().map(|(i, t)| (t.clone(), i as u32)).collect();
        Ok(Self { tokens, index })
    }
}

/// Encoded examples.
#[derive(Clone, Debug, Default)]
pub struct Dataset {
    /// Token ids of each row, unpadded and of any length.
    pub ids: Vec<Vec<u32>>,
    /// Class ids; `IGNORE_LABEL` marks an unlabelled row (DANN target data).
    pub labels: Vec<u32>,
    /// Domain of each row (DANN: 0 source, 1 target); `None` outside domain-adversarial training.
    pub domains: Option<Vec<u32>>,
}

impl Dataset {
    /// Number of rows.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// True when there are no rows.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Rows without labels (each `IGNORE_LABEL`) and without domains.
    pub fn unlabelled(ids: Vec<Vec<u32>>) -> Self {
        Self { labels: vec![crate::kernels::loss::IGNORE_LABEL; ids.len()], ids, domains: None }
    }

    /// The rows at `indices`, in that order (repeats allowed).
    pub fn subset(&self, indices: &[usize]) -> Self {
        Self {
            ids: indices.iter().map(|&i| self.ids[i].clone()).collect(),
            labels: indices.iter().map(|&i| self.labels[i]).collect(),
            domains: self.domains.as_ref().map(|d| indices.iter().map(|&i| d[i]).collect()),
        }
    }

    /// Rows of `self` then rows of `other` (domains: both must have them or neither).
    pub fn concat(&self, other: &Dataset) -> Self {
        let domains = match (&self.domains, &other.domains) {
            (Some(a), Some(b)) => Some(a.iter().chain(b).copied().collect()),
            _ => None,
        };
        Self {
            ids: self.ids.iter().chain(&other.ids).cloned().collect(),
            labels: self.labels.iter().chain(&other.labels).copied().collect(),
            domains,
        }
    }

    /// Total number of tokens over all rows (before truncation).
    pub fn tokens(&self) -> usize {
        self.ids.iter().map(Vec::len).sum()
    }
}

/// Class names in id order: sorted numerically when every label is an integer ("2" before "10"),
/// otherwise alphabetically.
pub fn label_names<'a>(labels: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    let mut names: Vec<String> = labels.into_iter().map(str::to_string).collect();
    names.sort();
    names.dedup();
    if names.iter().all(|n| n.parse::<i64>().is_ok()) {
        names.sort_by_key(|n| n.parse::<i64>().expect("checked above"));
    }
    names
}

/// Tokenizes and encodes labelled rows with a vocabulary and the model's label names. A label the
/// model does not know is an error naming the file and line.
pub fn encode_rows(rows: &[TextRow], vocab: &Vocab, labels: &[String], source: &Path) -> Result<Dataset> {
    let index: HashMap<&str, u32> = labels.iter().enumerate().map(|(i, l)| (l.as_str(), i as u32)).collect();
    let mut data = Dataset::default();
    for row in rows {
        let label = row
            .label
            .as_deref()
            .ok_or_else(|| Error::File { path: source.to_path_buf(), message: format!("line {}: the row has no label", row.line) })?;
        let id = *index.get(label).ok_or_else(|| Error::File {
            path: source.to_path_buf(),
            message: format!("line {}: unknown label '{label}'; the model's labels are {}", row.line, list_some(labels, 10)),
        })?;
        data.ids.push(vocab.encode(&row.text));
        data.labels.push(id);
    }
    Ok(data)
}

/// Up to `n` items quoted and comma-separated, then how many more (error messages stay short).
pub fn list_some(items: &[String], n: usize) -> String {
    let shown: Vec<String> = items.iter().take(n).map(|s| format!("{s:?}")).collect();
    match items.len().saturating_sub(n) {
        0 => shown.join(", "),
        more => format!("{}, … and {more} more", shown.join(", ")),
    }
}

/// A seeded split: (train indices, valid indices), `valid_fraction` of the rows held out.
pub fn split(n: usize, valid_fraction: f64, seed: u64) -> (Vec<usize>, Vec<usize>) {
    let mut idx: Vec<usize> = (0..n).collect();
    idx.shuffle(&mut ChaCha8Rng::seed_from_u64(seed));
    let n_valid = ((n as f64) * valid_fraction).round() as usize;
    let valid = idx.split_off(n - n_valid.min(n));
    (idx, valid)
}

/// Batches and where their rows came from.
#[derive(Clone, Debug, Default)]
pub struct BatchPlan {
    /// The batches, padded with [`PAD`] to their longest row.
    pub batches: Vec<Batch>,
    /// Row indices (into the dataset) of each batch, in batch order.
    pub rows: Vec<Vec<usize>>,
    /// Rows longer than the maximum length (truncated; reported, never silent).
    pub truncated: usize,
}

/// Batches of up to `batch_size` rows, bucketed by length (rows of similar length together, so
/// padding is small) and shuffled when `rng` is given. Rows longer than `max_len` are truncated and
/// counted. Empty rows become one `<unk>`.
pub fn make_batches(data: &Dataset, batch_size: usize, max_len: usize, rng: Option<&mut ChaCha8Rng>) -> BatchPlan {
    let mut order: Vec<usize> = (0..data.len()).collect();
    let truncated = data.ids.iter().filter(|ids| ids.len() > max_len).count();
    let mut rng = rng;
    match rng.as_deref_mut() {
        Some(rng) => {
            order.shuffle(rng);
            // Sort within windows of 50 batches: bucketing without losing the shuffle.
            for window in order.chunks_mut(batch_size * 50) {
                window.sort_by_key(|&i| data.ids[i].len());
            }
        }
        None => order.sort_by_key(|&i| data.ids[i].len()),
    }
    let mut plan: Vec<(Batch, Vec<usize>)> = order
        .chunks(batch_size)
        .map(|rows| {
            let steps = rows.iter().map(|&i| data.ids[i].len().clamp(1, max_len)).max().unwrap_or(1);
            let mut b = Batch { batch: rows.len(), steps, ..Default::default() };
            for &i in rows {
                let ids = &data.ids[i][..data.ids[i].len().min(max_len)];
                let ids: &[u32] = if ids.is_empty() { &[UNK] } else { ids };
                b.ids.extend_from_slice(ids);
                b.ids.extend(std::iter::repeat_n(PAD, steps - ids.len()));
                b.lengths.push(ids.len() as u32);
                b.labels.push(data.labels[i]);
                if let Some(d) = &data.domains {
                    b.domain_labels.get_or_insert_with(Vec::new).push(d[i]);
                }
            }
            (b, rows.to_vec())
        })
        .collect();
    if let Some(rng) = rng {
        plan.shuffle(rng);
    }
    let (batches, rows) = plan.into_iter().unzip();
    BatchPlan { batches, rows, truncated }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokenizer_lowercases_and_splits_words() {
        assert_eq!(tokenize("Wow... Loved this place, didn't I? 10/10"), ["wow", "loved", "this", "place", "didn't", "i", "10", "10"]);
    }

    #[test]
    fn vocabulary_keeps_specials_and_frequent_tokens() {
        let texts = [tokenize("a b b c c c"), tokenize("c d")];
        let v = Vocab::build(texts.iter().map(Vec::as_slice), 2, 10);
        assert_eq!(v.tokens, ["<pad>", "<unk>", "c", "b"]);
        assert_eq!((v.id("c"), v.id("a"), v.id("zzz")), (2, UNK, UNK));
    }

    #[test]
    fn labels_sort_numerically_and_unknown_labels_name_the_line() {
        assert_eq!(label_names(["10", "2", "1", "2"]), ["1", "2", "10"]);
        assert_eq!(label_names(["neg", "pos", "neg"]), ["neg", "pos"]);
        let vocab = Vocab::build([tokenize("good bad").as_slice()], 1, 10);
        let rows = vec![
            TextRow { label: Some("pos".into()), text: "good".into(), line: 1 },
            TextRow { label: Some("meh".into()), text: "bad".into(), line: 7 },
        ];
        let err = encode_rows(&rows, &vocab, &["neg".into(), "pos".into()], Path::new("eval.tsv")).unwrap_err().to_string();
        assert!(err.contains("eval.tsv") && err.contains("line 7") && err.contains("meh"), "{err}");
    }

    #[test]
    fn batches_pad_truncate_and_count() {
        let data = Dataset { ids: vec![vec![5, 6, 7], vec![8], vec![9, 9, 9, 9, 9]], labels: vec![0, 1, 0], domains: None };
        let plan = make_batches(&data, 2, 4, None);
        let (batches, truncated) = (&plan.batches, plan.truncated);
        assert_eq!(truncated, 1);
        assert_eq!(plan.rows, [vec![1, 0], vec![2]]);
        assert_eq!(batches.len(), 2);
        assert_eq!((batches[0].steps, &batches[0].ids[..], &batches[0].lengths[..]), (3, &[8, 0, 0, 5, 6, 7][..], &[1, 3][..]));
        assert_eq!((batches[1].steps, &batches[1].lengths[..]), (4, &[4][..]));
    }

    #[test]
    fn split_is_seeded_and_complete() {
        let (a, b) = split(10, 0.3, 7);
        assert_eq!((a.len(), b.len()), (7, 3));
        assert_eq!(split(10, 0.3, 7), (a.clone(), b.clone()));
        let mut all: Vec<usize> = a.into_iter().chain(b).collect();
        all.sort();
        assert_eq!(all, (0..10).collect::<Vec<_>>());
    }
}
