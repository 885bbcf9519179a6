//! The experiment's TOML configuration. Paths are relative to the config file; `embedded:NAME` names
//! a dataset compiled into the binary.

use std::path::{Path, PathBuf};

use crate::config::Pooling;
use crate::config::validate::{MAX_SIZE, check_finite_range, check_positive_f32, check_size};
use crate::error::{Error, Result};
use crate::transfer::{Method, NewWords};

impl TryFrom<String> for Arm {
    type Error = String;
    fn try_from(name: String) -> std::result::Result<Self, String> {
        Arm::ALL
            .into_iter()
            .find(|a| a.name() == name)
            .ok_or_else(|| format!("unknown method '{name}': expected one of {}", Arm::ALL.map(Arm::name).join(", ")))
    }
}

impl From<Arm> for String {
    fn from(arm: Arm) -> String {
        arm.name().to_string()
    }
}

/// The source domain: labelled data to pretrain on, or a checkpoint already trained.
#[derive(Clone, Debug, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct SourceSpec {
    /// `label<TAB>text` files (concatenated).
    #[serde(default)]
    pub data: Vec<PathBuf>,
    /// A trained source model: used instead of training on `data` (which, if given, still feeds DANN).
    pub checkpoint: Option<PathBuf>,
    /// A language model (from `lm`, with the classifier's `words` tokenizer) for the `lm-ulmfit` method.
    pub lm_checkpoint: Option<PathBuf>,
    /// Pretraining epochs (the best by validation accuracy is kept) [default: 6].
    #[serde(default = "defaults::source_epochs")]
    pub epochs: usize,
    /// Pretraining learning rate [default: 3e-3].
    #[serde(default = "defaults::lr")]
    pub lr: f32,
    /// Occurrences a token needs in the source training text to enter the vocabulary [default: 1].
    #[serde(default = "defaults::min_freq")]
    pub min_freq: usize,
}

/// The shape of the source model (and of every target except `hetero`).
#[derive(Clone, Debug, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct ModelSpec {
    /// Embedding width [default: 64].
    #[serde(default = "defaults::width")]
    pub embed: usize,
    /// LSTM hidden size per direction [default: 64].
    #[serde(default = "defaults::width")]
    pub hidden: usize,
    /// Stacked LSTM layers [default: 1].
    #[serde(default = "defaults::one")]
    pub layers: usize,
    /// Bidirectional LSTM layers [default: false].
    #[serde(default)]
    pub bidirectional: bool,
    /// Pooling of the LSTM outputs over time [default: last].
    #[serde(default)]
    pub pooling: Pooling,
    /// Dropout on the pooled features, in pretraining and fine-tuning [default: 0].
    #[serde(default)]
    pub dropout: f32,
    /// Target hidden size of the `hetero` method (Net2Net widening) [default: 2 × hidden].
    pub hetero_hidden: Option<usize>,
}

/// Target-side training.
#[derive(Clone, Debug, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct FinetuneSpec {
    /// Fine-tuning epochs of every method except `dann` [default: 15].
    #[serde(default = "defaults::finetune_epochs")]
    pub epochs: usize,
    /// Rows per fine-tuning batch [default: 16].
    #[serde(default = "defaults::batch")]
    pub batch_size: usize,
    /// Learning rate from scratch.
    #[serde(default = "defaults::lr")]
    pub lr: f32,
    /// Learning rate of transferred models (init, freeze, hetero, dann).
    #[serde(default = "defaults::transfer_lr")]
    pub transfer_lr: f32,
    /// Tokens kept per row, in pretraining and fine-tuning [default: 64].
    #[serde(default = "defaults::max_len")]
    pub max_len: usize,
    /// Share of the n labels held out to pick the epoch (stratified).
    #[serde(default = "defaults::valid_fraction")]
    pub valid_fraction: f64,
    /// Stop fine-tuning after this many epochs without a lower validation loss (none: run every
    /// epoch; the best epoch is kept either way).
    #[serde(default)]
    pub patience: Option<usize>,
    /// DANN: epochs (each sees the source rows below and as many target rows).
    #[serde(default = "defaults::dann_epochs")]
    pub dann_epochs: usize,
    /// DANN: labelled source rows per run (a seeded sample).
    #[serde(default = "defaults::dann_source_rows")]
    pub dann_source_rows: usize,
    /// DANN: γ of the gradient reversal's schedule λ = 2/(1+exp(−γ·p)) − 1 over training progress p
    /// (small: λ rises slowly and stays below 1; large: full reversal almost at once) [default: 10].
    #[serde(default = "defaults::dann_gamma")]
    pub dann_gamma: f64,
    /// Rows of target words the source never saw, in every arm that transfers a vocabulary:
    /// "subword" (the default) induces them from the source's subwords, with the words of the
    /// target's unlabelled rows joining the vocabulary; "fresh" starts them at random and takes new
    /// words from the n labels only (and, for dann, the pool).
    #[serde(default)]
    pub new_words: NewWords,
}

/// One target domain.
#[derive(Clone, Debug, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct TargetSpec {
    /// Name of the target in logs, results and the report.
    pub name: String,
    /// A `label<TAB>text` file (or `embedded:NAME`).
    pub data: PathBuf,
    /// Fixed test rows, a stratified sample (the data's class proportions; the UCI sets are balanced); the
    /// label budgets are drawn from the rest.
    #[serde(default = "defaults::test_size")]
    pub test_size: usize,
    /// Weak labels: this share of each split's n labelled rows (training and validation alike) gets
    /// another class's label, drawn with the split's seed; the test rows keep theirs. 0 (the default)
    /// to 1 (exclusive).
    #[serde(default)]
    pub label_noise: f64,
}

/// The whole experiment.
///
/// ```no_run
/// use lstm_transfer::experiment::{self, ExperimentConfig, report};
/// use lstm_transfer::{AdapterChoice, GpuContext};
///
/// let ctx = GpuContext::new(&AdapterChoice::from_env())?;
/// // The built-in demo, or a TOML file of your own (`examples/experiment.toml`).
/// let mut cfg = ExperimentConfig::demo();
/// cfg.seeds = vec![1, 2, 3];
/// let out = std::path::Path::new("runs/my-experiment");
/// let results = experiment::run(&ctx, &cfg, out, &mut |line| println!("{line}"))?;
/// println!("{}", report::write_report(out, &results, &ctx.adapter_line())?);
/// # Ok::<(), lstm_transfer::Error>(())
/// ```
#[derive(Clone, Debug, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct ExperimentConfig {
    /// The `[source]` table.
    pub source: SourceSpec,
    /// The `[model]` table.
    #[serde(default = "defaults::model")]
    pub model: ModelSpec,
    /// The `[finetune]` table.
    #[serde(default = "defaults::finetune")]
    pub finetune: FinetuneSpec,
    /// The `[[target]]` tables.
    #[serde(rename = "target")]
    pub targets: Vec<TargetSpec>,
    /// Labelled target rows per run; 0 means all of the pool.
    pub budgets: Vec<usize>,
    /// One run per seed and (target, budget, method); a seed fixes the label sample, the
    /// validation split, the initialisation and the shuffles.
    pub seeds: Vec<u64>,
    /// Any of scratch, source-only, init, freeze, ulmfit, hetero, dann, lm-ulmfit.
    pub methods: Vec<Arm>,
    /// Run the transferability check (`transfer --check`) on each split's n labels before its runs:
    /// the report sets its figures beside the gain measured for `init` and ranks them against it.
    #[serde(default = "defaults::yes")]
    pub check: bool,
}

/// What one run of the experiment does with the source.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum Arm {
    /// No source: the baseline every other arm is compared with.
    Scratch,
    /// The source model as it is, on the target's test rows (same labels needed).
    SourceOnly,
    /// Transfer from the source classifier with a method of the shared recipe.
    Transfer(Method),
    /// ULMFiT from `source.lm_checkpoint` (a language model).
    LmUlmfit,
    /// `init`, then self-training on the target's unlabelled rows (see `self_train.rs`).
    SelfTrain,
}

impl Arm {
    /// Every arm, in the report's order.
    pub const ALL: [Arm; 9] = [
        Arm::Scratch,
        Arm::SourceOnly,
        Arm::Transfer(Method::Init),
        Arm::Transfer(Method::Freeze),
        Arm::Transfer(Method::Ulmfit),
        Arm::Transfer(Method::Hetero),
        Arm::Transfer(Method::Dann),
        Arm::LmUlmfit,
        Arm::SelfTrain,
    ];

    /// The name used in configs, logs and reports.
    pub fn name(self) -> &'static str {
        match self {
            Arm::Scratch => "scratch",
            Arm::SourceOnly => "source-only",
            Arm::Transfer(Method::Init) => "init",
            Arm::Transfer(Method::Freeze) => "freeze",
            Arm::Transfer(Method::Ulmfit) => "ulmfit",
            Arm::Transfer(Method::Hetero) => "hetero",
            Arm::Transfer(Method::Dann) => "dann",
            Arm::LmUlmfit => "lm-ulmfit",
            Arm::SelfTrain => "self-train",
        }
    }
}

mod defaults {
    use super::*;
    pub fn source_epochs() -> usize {
        6
    }
    pub fn finetune_epochs() -> usize {
        15
    }
    pub fn dann_epochs() -> usize {
        4
    }
    pub fn dann_gamma() -> f64 {
        crate::transfer::recipe::DEFAULT_GAMMA
    }
    pub fn dann_source_rows() -> usize {
        1000
    }
    pub fn lr() -> f32 {
        3e-3
    }
    pub fn transfer_lr() -> f32 {
        1e-3
    }
    pub fn min_freq() -> usize {
        1
    }
    pub fn width() -> usize {
        64
    }
    pub fn one() -> usize {
        1
    }
    pub fn yes() -> bool {
        true
    }
    pub fn batch() -> usize {
        16
    }
    pub fn max_len() -> usize {
        64
    }
    pub fn valid_fraction() -> f64 {
        0.2
    }
    pub fn test_size() -> usize {
        500
    }
    pub fn model() -> ModelSpec {
        ModelSpec { embed: 64, hidden: 64, layers: 1, bidirectional: false, pooling: Pooling::Last, dropout: 0.0, hetero_hidden: None }
    }
    pub fn finetune() -> FinetuneSpec {
        FinetuneSpec {
            epochs: finetune_epochs(),
            batch_size: batch(),
            lr: lr(),
            transfer_lr: transfer_lr(),
            max_len: max_len(),
            valid_fraction: valid_fraction(),
            patience: None,
            dann_epochs: dann_epochs(),
            dann_source_rows: dann_source_rows(),
            dann_gamma: dann_gamma(),
            new_words: NewWords::default(),
        }
    }
}

impl ExperimentConfig {
    /// Reads and checks a TOML file; relative paths become relative to its directory.
    pub fn load(path: &Path) -> Result<Self> {
        Self::parse(&crate::fsutil::read_utf8(path)?, path)
    }

    /// [`ExperimentConfig::load`] on text already read from `path` (which names it in errors and
    /// anchors its relative paths).
    pub fn parse(text: &str, path: &Path) -> Result<Self> {
        let mut cfg: Self = toml::from_str(text).map_err(|e| Error::File { path: path.into(), message: e.to_string() })?;
        let base = path.parent().unwrap_or(Path::new("."));
        let resolve = |p: &mut PathBuf| {
            if p.is_relative() && !p.to_string_lossy().starts_with("embedded:") {
                *p = base.join(&*p);
            }
        };
        cfg.source.data.iter_mut().for_each(resolve);
        cfg.source.checkpoint.iter_mut().for_each(resolve);
        cfg.source.lm_checkpoint.iter_mut().for_each(resolve);
        cfg.targets.iter_mut().for_each(|t| resolve(&mut t.data));
        cfg.validate().map_err(|e| Error::File { path: path.into(), message: e.to_string() })?;
        Ok(cfg)
    }

    /// The demo on the embedded datasets: source = UCI IMDb + Amazon sentences, target = UCI Yelp.
    /// Sized to say something within a few minutes on a software rasteriser: five seeds (so a
    /// paired 95% interval is a few points wide, not twenty), 600 fixed test sentences, two label
    /// budgets, early stopping on the validation labels, and the methods that differ most (freeze and
    /// ulmfit score like init here, hetero costs twice the time; a config file runs them all).
    pub fn demo() -> Self {
        Self {
            source: SourceSpec {
                data: vec!["embedded:uci_imdb".into(), "embedded:uci_amazon".into()],
                checkpoint: None,
                lm_checkpoint: None,
                epochs: 6,
                lr: 3e-3,
                min_freq: 1,
            },
            model: ModelSpec { pooling: Pooling::Max, ..defaults::model() },
            finetune: FinetuneSpec { epochs: 12, patience: Some(3), dann_source_rows: 300, dann_epochs: 3, ..defaults::finetune() },
            targets: vec![TargetSpec { name: "uci_yelp".into(), data: "embedded:uci_yelp".into(), test_size: 600, label_noise: 0.0 }],
            budgets: vec![50, 200],
            seeds: vec![1, 2, 3, 4, 5],
            methods: vec![Arm::Scratch, Arm::SourceOnly, Arm::Transfer(Method::Init), Arm::Transfer(Method::Dann)],
            check: true,
        }
    }

    /// Refuses missing pieces, methods without what they need, and zero, negative, NaN or
    /// oversized sizes and rates (naming the key).
    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(Error::InvalidInput(m));
        if self.source.data.is_empty() && self.source.checkpoint.is_none() {
            return bad("[source] needs `data` (files to pretrain on), `checkpoint` (a trained source), or both".into());
        }
        if self.source.data.is_empty() && self.methods.contains(&Arm::Transfer(Method::Dann)) {
            return bad(
                "the dann method trains on labelled source rows: give [source] `data` (with `checkpoint` it is not retrained)".into()
            );
        }
        if self.methods.contains(&Arm::LmUlmfit) && self.source.lm_checkpoint.is_none() {
            return bad("the lm-ulmfit method needs [source] `lm_checkpoint` (a model from `lm --tokenizer words`)".into());
        }
        if self.targets.is_empty() || self.seeds.is_empty() || self.budgets.is_empty() || self.methods.is_empty() {
            return bad("targets, budgets, seeds and methods must each have at least one entry".into());
        }
        check_size("source.epochs", self.source.epochs, MAX_SIZE)?;
        check_positive_f32("source.lr", self.source.lr)?;
        check_size("source.min_freq", self.source.min_freq, MAX_SIZE)?;
        let m = &self.model;
        for (key, value) in [("model.embed", m.embed), ("model.hidden", m.hidden), ("model.layers", m.layers)] {
            check_size(key, value, MAX_SIZE)?;
        }
        if let Some(h) = m.hetero_hidden {
            check_size("model.hetero_hidden", h, MAX_SIZE)?;
        }
        check_finite_range("model.dropout", m.dropout as f64, 0.0, 1.0)?;
        let f = &self.finetune;
        for (key, value) in [
            ("finetune.epochs", f.epochs),
            ("finetune.batch_size", f.batch_size),
            ("finetune.max_len", f.max_len),
            ("finetune.dann_epochs", f.dann_epochs),
            ("finetune.dann_source_rows", f.dann_source_rows),
        ] {
            check_size(key, value, MAX_SIZE)?;
        }
        if let Some(p) = f.patience {
            check_size("finetune.patience", p, MAX_SIZE)?;
        }
        check_positive_f32("finetune.lr", f.lr)?;
        check_positive_f32("finetune.transfer_lr", f.transfer_lr)?;
        check_finite_range("finetune.valid_fraction", f.valid_fraction, 0.0, 1.0)?;
        if !(f.dann_gamma > 0.0 && f.dann_gamma <= 1e6) {
            return bad(format!("finetune.dann_gamma must be in (0, 1e6] (0 would never reverse the gradient): {}", f.dann_gamma));
        }
        for t in &self.targets {
            check_size(&format!("target '{}' test_size", t.name), t.test_size, MAX_SIZE)?;
            check_finite_range(&format!("target '{}' label_noise", t.name), t.label_noise, 0.0, 1.0)?;
        }
        Ok(())
    }
}
