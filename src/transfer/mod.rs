//! The transfer layer: carries a source model's parameters into a target model's parameter store;
//! the methods' training settings are one [`recipe`]. Every method goes through [`apply`]:
//!
//! 1. **init** — copy every tensor (vocabulary rows aligned, a fresh head when the classes differ),
//!    then fine-tune everything;
//! 2. **freeze** — copy the tensors matching `copy` patterns, freeze the source-known embedding rows
//!    or the tensors matching `freeze` patterns; **ulmfit** adds gradual unfreezing and discriminative
//!    rates (the classifier's [`crate::tasks::classify::finetune`]) under a slanted triangular schedule;
//! 3. **hetero** — a target of another width, depth, embedding size or directionality, mapped by
//!    [`hetero::map_parameters`] (Net2Net widening is function-preserving);
//! 4. **dann** — init plus a domain head trained behind the gradient-reversal layer ([`dann`]).
//!
//! Sources are classifier checkpoints, PyTorch state_dicts or language models ([`source`]).
//!
//! Parameter-init transfer from Rust: plan the target (its vocabulary aligned to the source's),
//! build it, copy the source in, and train it with the method's recipe.
//!
//! ```no_run
//! use lstm_transfer::data::{ReadOptions, encode_rows, read_table, tokenize};
//! use lstm_transfer::tasks::classify::{Classifier, TrainConfig};
//! use lstm_transfer::transfer::{self, Method, Recipe, TransferOptions, load_source};
//! use lstm_transfer::{AdapterChoice, GpuContext};
//!
//! let ctx = GpuContext::new(&AdapterChoice::from_env())?;
//! let source = load_source("runs/movies.safetensors".as_ref(), None)?;
//! let rows = read_table("yelp.tsv".as_ref(), &ReadOptions::default())?.rows;
//! let labels = source.info.labels.clone();
//! let texts: Vec<Vec<String>> = rows.iter().map(|r| tokenize(&r.text)).collect();
//! let plan = transfer::plan_target(&source, &texts, &labels, 1, 30_000)?;
//! let mut cfg = TrainConfig::default();
//! Recipe::new(Method::Init).apply(&mut cfg, plan.aligned.coverage.source_tokens);
//! let model = Classifier::new(&ctx, plan.config, cfg.batch_size, cfg.max_len, 0)?;
//! let options = TransferOptions { copy: vec!["*".into()], exclude: plan.exclude, seed: 0 };
//! let report = transfer::apply(&ctx, &model, &source, &plan.aligned.rows, &options)?;
//! println!("copied {:?}, fresh {:?}", report.copied, report.fresh);
//! let data = encode_rows(&rows, &plan.aligned.vocab, &labels, "yelp.tsv".as_ref())?;
//! // … then train_classifier(&ctx, &mut model, …, &cfg, …) as in `Classifier`'s example.
//! # let _ = (data, model);
//! # Ok::<(), lstm_transfer::Error>(())
//! ```

pub mod check;
pub mod dann;
pub mod hetero;
pub mod recipe;
pub mod source;
pub mod subword;

use std::collections::HashMap;

pub use recipe::{Method, Recipe};
pub use source::load_source;

use crate::data::Vocab;
use crate::error::{Error, Result};
use crate::gpu::GpuContext;
use crate::params::pattern_matches;
use crate::tasks::classify::checkpoint::{Checkpoint, TOKENIZER};
use crate::tasks::classify::{Classifier, ClassifierConfig};

/// How much of the target's text the source vocabulary covers.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Coverage {
    /// Tokens carried over from the source vocabulary (specials included).
    pub source_tokens: usize,
    /// Target tokens the source did not know (fresh rows).
    pub new_tokens: usize,
    /// Share of the target's token occurrences whose token the source knew.
    pub covered_occurrences: f64,
    /// New tokens whose rows were induced from the source's subwords ([`AlignedVocab::start_new_rows`]).
    #[serde(default)]
    pub induced_tokens: usize,
}

/// What a new target token's embedding row starts from.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
#[serde(rename_all = "kebab-case")]
pub enum NewWords {
    /// The target's fresh initialisation: the token learns only from the target's labels.
    Fresh,
    /// A row induced from the source's subwords when the token shares character n-grams with the
    /// source's words ([`subword`]); otherwise fresh.
    #[default]
    Subword,
}

/// Where a target embedding row comes from.
#[derive(Clone, Debug, PartialEq)]
pub enum RowSource {
    /// The source's row of this id (a token both vocabularies hold).
    Source(usize),
    /// A row in the source's embedding space induced from the source's subwords
    /// ([`AlignedVocab::start_new_rows`]); mapped into the target like a source row.
    Induced(Vec<f32>),
    /// The target's fresh initialisation (a new token).
    Fresh,
}

/// A target vocabulary aligned with the source's: the source's tokens first (same ids, so their rows
/// copy over), then target tokens the source did not know.
pub struct AlignedVocab {
    /// The target vocabulary: the source tokens, then the new target tokens, most frequent first.
    pub vocab: Vocab,
    /// Where each target row comes from: the source's rows, then fresh (or induced) new tokens.
    pub rows: Vec<RowSource>,
    /// How much of the target text the source tokens cover.
    pub coverage: Coverage,
}

impl AlignedVocab {
    /// Starts the new tokens' rows as `new_words` says: with [`NewWords::Subword`], each new token
    /// whose character n-grams the source has gets a row induced from the source's embedding
    /// ([`subword`]); tokens sharing no n-gram with the source stay fresh. Returns how many were
    /// induced.
    pub fn start_new_rows(&mut self, source: &Checkpoint, new_words: NewWords) -> Result<usize> {
        if new_words == NewWords::Fresh || !self.rows.contains(&RowSource::Fresh) {
            return Ok(0);
        }
        let source_tokens = source.vocab.as_deref().ok_or_else(|| Error::InvalidInput("the source model has no vocabulary".into()))?;
        let (shape, embedding) = source
            .tensors
            .get("embedding.weight")
            .ok_or_else(|| Error::InvalidInput("the source model has no embedding.weight to induce rows from".into()))?;
        let dim = shape[1];
        // The specials <pad> and <unk> are not words.
        let words: Vec<usize> = (2..source_tokens.len()).collect();
        let table = subword::SubwordTable::fit(source_tokens, embedding, dim, &words);
        let mut induced = 0;
        for (row, token) in self.rows.iter_mut().zip(&self.vocab.tokens) {
            if *row == RowSource::Fresh
                && let Some(v) = table.induce(token)
            {
                *row = RowSource::Induced(v);
                induced += 1;
            }
        }
        self.coverage.induced_tokens = induced;
        Ok(induced)
    }
}

/// Aligns a target vocabulary with `source` (new tokens: seen `min_freq` times, up to `max_size` in all).
pub fn align_vocab(source: &[String], target_texts: &[Vec<String>], min_freq: usize, max_size: usize) -> Result<AlignedVocab> {
    let base = Vocab::from_tokens(source.to_vec())?;
    let mut counts: HashMap<&str, usize> = HashMap::new();
    let (mut total, mut known) = (0usize, 0usize);
    for text in target_texts {
        for t in text {
            total += 1;
            if base.id(t) != crate::data::UNK {
                known += 1;
            } else {
                *counts.entry(t.as_str()).or_default() += 1;
            }
        }
    }
    let mut new: Vec<(&str, usize)> = counts.into_iter().filter(|&(_, c)| c >= min_freq).collect();
    new.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    new.truncate(max_size.saturating_sub(source.len()));
    let mut tokens = source.to_vec();
    tokens.extend(new.iter().map(|(t, _)| t.to_string()));
    let rows = (0..tokens.len()).map(|i| if i < source.len() { RowSource::Source(i) } else { RowSource::Fresh }).collect();
    let coverage = Coverage {
        source_tokens: source.len(),
        new_tokens: new.len(),
        covered_occurrences: if total == 0 { 0.0 } else { known as f64 / total as f64 },
        induced_tokens: 0,
    };
    Ok(AlignedVocab { vocab: Vocab::from_tokens(tokens)?, rows, coverage })
}

/// Which tensors to copy and freeze.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct TransferOptions {
    /// Patterns of target tensors that take the source's values (default: all).
    pub copy: Vec<String>,
    /// Patterns of target tensors that never do (e.g. `fc.*` when the labels differ).
    pub exclude: Vec<String>,
    /// Seeds the random choices of heterogeneous mapping (copied units, split shares).
    pub seed: u64,
}

impl Default for TransferOptions {
    fn default() -> Self {
        Self { copy: vec!["*".into()], exclude: Vec::new(), seed: 0 }
    }
}

/// What [`apply`] did.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct TransferReport {
    /// One line per mapping decision.
    pub notes: Vec<String>,
    /// Tensors that took source values.
    pub copied: Vec<String>,
    /// Tensors left at the target's fresh initialisation.
    pub fresh: Vec<String>,
}

/// The target side of a transfer, decided before any GPU work.
pub struct TargetPlan {
    /// The target vocabulary (source tokens first) and the source row of each target row.
    pub aligned: AlignedVocab,
    /// The source's shape with the target's vocabulary and classes (no domain head); callers change
    /// the shape for `hetero` and add the domain head for `dann`.
    pub config: ClassifierConfig,
    /// Patterns never copied: the head when the labels differ.
    pub exclude: Vec<String>,
    /// Whether the head carries over (same labels in the same order).
    pub head_kept: bool,
    /// What was decided, one line each (coverage, a fresh head).
    pub notes: Vec<String>,
}

/// Plans a target for `source` from the target's token lists and label names.
pub fn plan_target(source: &Checkpoint, texts: &[Vec<String>], labels: &[String], min_freq: usize, max_vocab: usize) -> Result<TargetPlan> {
    let source_vocab = source.vocab.as_ref().ok_or_else(|| {
        Error::InvalidInput("the source model has no vocabulary (a plain state_dict?): a transfer to text data needs one".into())
    })?;
    let aligned = align_vocab(source_vocab, texts, min_freq, max_vocab)?;
    let c = &aligned.coverage;
    let mut notes = vec![format!(
        "vocabulary: {} source tokens + {} new target tokens; the source covers {:.1}% of the target's token occurrences",
        c.source_tokens,
        c.new_tokens,
        100.0 * c.covered_occurrences
    )];
    if source.info.tokenizer != TOKENIZER {
        notes.push(format!(
            "warning: the source tokenized text as '{}', the target uses '{}': few tokens will match",
            source.info.tokenizer, TOKENIZER
        ));
    }
    let head_kept = labels == source.info.labels;
    let mut exclude = Vec::new();
    if !head_kept {
        notes.push(format!("labels {:?} → {:?}: the head starts fresh", source.info.labels, labels));
        exclude.push("fc.*".to_string());
    }
    let config = ClassifierConfig { vocab: aligned.vocab.len(), classes: labels.len(), domains: 0, ..source.info.config };
    Ok(TargetPlan { aligned, config, exclude, head_kept, notes })
}

/// Writes the source's parameters into a freshly built `target` (whose configuration may differ, see
/// [`hetero`]); `rows` says where each target vocabulary row comes from. What the source does not provide
/// (new tokens' rows, new units) keeps or is mapped from the target's initial draw, recomputed on the
/// host: nothing is read back, so this runs in a browser too.
pub fn apply(
    ctx: &GpuContext,
    target: &Classifier,
    source: &Checkpoint,
    rows: &[RowSource],
    opts: &TransferOptions,
) -> Result<TransferReport> {
    if !target.is_pristine() {
        return Err(Error::InvalidInput(
            "transfer::apply writes a source into a freshly built target: this one has loaded parameters or trained".into(),
        ));
    }
    let fresh = target.initial_params();
    let (mapped, notes, from_source) = hetero::map_parameters(&source.info.config, &target.cfg, &source.tensors, &fresh, rows, opts.seed)?;
    let mut report = TransferReport { notes, ..Default::default() };
    for entry in target.store.entries() {
        let matches = |patterns: &[String]| patterns.iter().any(|p| pattern_matches(p, &entry.name));
        let wanted = matches(&opts.copy) && !matches(&opts.exclude);
        if wanted && from_source.contains(&entry.name) {
            target.store.upload(ctx, &entry.name, &mapped[&entry.name].1)?;
            report.copied.push(entry.name.clone());
        } else {
            report.fresh.push(entry.name.clone());
        }
    }
    Ok(report)
}
