//! Classifier checkpoints: safetensors files with PyTorch `state_dict` names, so a model trained here
//! loads in PyTorch (`model.load_state_dict(safetensors.torch.load_file(path))`) and a state_dict
//! saved from PyTorch with `safetensors.torch.save_file` loads here.
//!
//! Tensors: `embedding.weight` `[V,E]`; `lstm.weight_ih_l{k}[_reverse]` `[4H, in]`, `lstm.weight_hh_l{k}[_reverse]`
//! `[4H,H]`, `lstm.bias_ih_l{k}[_reverse]`, `lstm.bias_hh_l{k}[_reverse]` `[4H]` (gates i,f,g,o); `fc.weight`
//! `[C,F]`, `fc.bias` `[C]`; `domain.weight`/`domain.bias` for a DANN model. The metadata holds the model
//! description (`lstm_transfer`: config, labels, max length, tokenizer) and the vocabulary (`vocab`,
//! a JSON array; id = position). A plain state_dict has no metadata: the configuration is inferred
//! from the shapes.
//!
//! The training state (`<stem>.state.safetensors` beside the model) adds the Adam moments as
//! `adam.m.<name>` / `adam.v.<name>` and the run's progress (`train_state`), for `train --resume`.
//! Every file is written atomically.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use super::model::{Classifier, ClassifierConfig};
use super::train::{TrainConfig, TrainState};
use crate::config::Pooling;
use crate::config::validate::{MAX_SIZE, check_size};
use crate::core::checkpoint::{META_VOCAB, TensorFile, read_info, read_vocab, save_model};
use crate::error::{Error, Result};
use crate::gpu::GpuContext;
use crate::params::{NamedTensor, TensorMap};

/// Everything a classifier checkpoint says about the model besides its tensors.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ModelInfo {
    /// Architecture: vocabulary, sizes, layers, directions, classes, domains and pooling.
    pub config: ClassifierConfig,
    /// Class names in label-id order.
    pub labels: Vec<String>,
    /// Longest sequence the model was trained with (longer inputs are truncated, with a count).
    pub max_len: usize,
    /// How text becomes tokens.
    pub tokenizer: String,
}

impl ModelInfo {
    /// Checks the description against itself: a valid shape, one label name per class, a positive
    /// maximum length.
    pub fn validate(&self) -> Result<()> {
        self.config.validate()?;
        check_size("max_len", self.max_len, MAX_SIZE)?;
        if self.labels.len() != self.config.classes {
            return Err(Error::InvalidInput(format!("{} label names for {} classes", self.labels.len(), self.config.classes)));
        }
        Ok(())
    }
}

/// The tokenizer every model uses today (data::tokenize).
pub const TOKENIZER: &str = "lowercase + unicode word segmentation (UAX #29)";

/// A loaded checkpoint.
#[derive(Clone, Debug)]
pub struct Checkpoint {
    /// The model description, read from the metadata or inferred from the shapes.
    pub info: ModelInfo,
    /// The vocabulary (None for a plain PyTorch state_dict, which carries none).
    pub vocab: Option<Vec<String>>,
    /// The model's parameters only, by PyTorch name, each checked against the configuration's shape.
    pub tensors: TensorMap,
    /// Tensors in the file that are not model parameters (e.g. `adam.*`, or a test file's inputs).
    pub ignored: Vec<String>,
    /// Extra metadata entries (e.g. `train_state`).
    pub metadata: HashMap<String, String>,
}

const META_MODEL: &str = "lstm_transfer";

/// The training-state file that goes with a model path: `model.safetensors` → `model.state.safetensors`.
pub fn state_path(model_path: &Path) -> PathBuf {
    let stem = model_path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "model".into());
    model_path.with_file_name(format!("{stem}.state.safetensors"))
}

/// Writes a classifier's tensors with its description, vocabulary and extra metadata, atomically.
pub fn save(path: &Path, tensors: &[NamedTensor], info: &ModelInfo, vocab: Option<&[String]>, extra: &[(&str, String)]) -> Result<()> {
    save_model(path, tensors, META_MODEL, info, vocab, extra)
}

/// Loads a classifier checkpoint or a plain PyTorch state_dict. `pooling` resolves what the shapes
/// cannot tell for a state_dict (last, max and mean pooling all give the head the same width).
pub fn load(path: &Path, pooling: Option<Pooling>) -> Result<Checkpoint> {
    from_file(path, TensorFile::read(path)?, pooling)
}

/// [`load`] on bytes already in memory; `path` names them in errors.
pub fn parse(bytes: &[u8], path: &Path, pooling: Option<Pooling>) -> Result<Checkpoint> {
    from_file(path, TensorFile::parse(bytes, path)?, pooling)
}

/// The checkpoint in a file already read: its description (from the metadata, or inferred from the
/// shapes of a plain state_dict) checked, and its parameters checked against it.
pub(crate) fn from_file(path: &Path, file: TensorFile, pooling: Option<Pooling>) -> Result<Checkpoint> {
    let file_err = |message: String| Error::File { path: path.to_path_buf(), message };
    let info = match file.metadata.get(META_MODEL) {
        Some(_) => read_info::<ModelInfo>(path, &file.metadata, META_MODEL, "a classifier checkpoint")?,
        None => {
            let config = infer_config(&file.tensors, pooling.unwrap_or_default()).map_err(|e| {
                let needed = ["embedding.weight", "lstm.weight_hh_l0", "fc.weight"];
                file.explain_missing(path, &needed, file_err(e.to_string()))
            })?;
            ModelInfo { labels: (0..config.classes).map(|c| c.to_string()).collect(), config, max_len: 512, tokenizer: TOKENIZER.into() }
        }
    };
    let vocab = read_vocab(path, &file.metadata, info.config.vocab)?;
    info.validate().map_err(|e| file_err(format!("metadata '{META_MODEL}': {e}")))?;
    let specs = info.config.param_specs();
    file.check_shapes(path, &specs)?;
    let TensorFile { mut tensors, mut metadata, .. } = file;
    let wanted: std::collections::HashSet<&str> = specs.iter().map(|(n, _)| n.as_str()).collect();
    let mut ignored: Vec<String> = tensors.keys().filter(|k| !wanted.contains(k.as_str())).cloned().collect();
    ignored.sort();
    tensors.retain(|k, _| wanted.contains(k.as_str()));
    metadata.remove(META_MODEL);
    metadata.remove(META_VOCAB);
    Ok(Checkpoint { info, vocab, tensors, ignored, metadata })
}

fn shape_of<'a>(tensors: &'a TensorMap, name: &str) -> Result<&'a [usize]> {
    tensors
        .get(name)
        .map(|(s, _)| s.as_slice())
        .ok_or_else(|| Error::MissingTensor { name: name.to_string(), context: " (needed to infer the model's dimensions)".into() })
}

fn expect_rank(name: &str, shape: &[usize], rank: usize) -> Result<()> {
    if shape.len() == rank {
        Ok(())
    } else {
        Err(Error::InvalidInput(format!("tensor '{name}' has shape {shape:?}; expected {rank} dimensions")))
    }
}

/// The classifier configuration implied by a state_dict's shapes.
pub fn infer_config(tensors: &TensorMap, pooling: Pooling) -> Result<ClassifierConfig> {
    let emb = shape_of(tensors, "embedding.weight")?;
    expect_rank("embedding.weight", emb, 2)?;
    let hh = shape_of(tensors, "lstm.weight_hh_l0")?;
    expect_rank("lstm.weight_hh_l0", hh, 2)?;
    let hidden = hh[1];
    if hh[0] != 4 * hidden {
        return Err(Error::InvalidInput(format!("tensor 'lstm.weight_hh_l0' has shape {hh:?}; expected [4·H, H]")));
    }
    let layers = (0..).take_while(|k| tensors.contains_key(&format!("lstm.weight_ih_l{k}"))).count();
    let bidirectional = tensors.contains_key("lstm.weight_ih_l0_reverse");
    let fc = shape_of(tensors, "fc.weight")?;
    expect_rank("fc.weight", fc, 2)?;
    let lstm_out = hidden * if bidirectional { 2 } else { 1 };
    let pooling = match fc[1] / lstm_out.max(1) {
        3 if fc[1] % lstm_out == 0 => Pooling::Concat,
        1 if fc[1] == lstm_out && pooling != Pooling::Concat => pooling,
        _ => {
            return Err(Error::ShapeMismatch {
                name: "fc.weight".into(),
                expected: vec![fc[0], pooling.parts() * lstm_out],
                found: fc.to_vec(),
            });
        }
    };
    let domains = match tensors.get("domain.weight") {
        Some((s, _)) => s.first().copied().unwrap_or(0),
        None => 0,
    };
    Ok(ClassifierConfig { vocab: emb[0], embed: emb[1], hidden, layers, bidirectional, classes: fc[0], domains, pooling })
}

impl Checkpoint {
    /// A classifier with this checkpoint's parameters, for batches up to (batch_cap, steps_cap).
    pub fn classifier(&self, ctx: &GpuContext, batch_cap: usize, steps_cap: usize) -> Result<Classifier> {
        let mut model = Classifier::new(ctx, self.info.config, batch_cap, steps_cap, 0)?;
        model.load_params(ctx, &self.tensors)?;
        Ok(model)
    }
}

/// Writes the model's parameters with its description and vocabulary.
pub fn save_classifier(path: &Path, ctx: &GpuContext, model: &Classifier, info: &ModelInfo, vocab: Option<&[String]>) -> Result<()> {
    save(path, &model.store.download(ctx)?, info, vocab, &[])
}

const META_STATE: &str = "train_state";
const META_CONFIG: &str = "train_config";
/// Metadata key of the fingerprint of the rows a run trains and validates on (checked by `--resume`).
pub const META_DATA: &str = "train_data";
const M_PREFIX: &str = "adam.m.";
const V_PREFIX: &str = "adam.v.";

/// A run's training state: the model as of the last completed epoch, Adam's moments, the progress
/// and the run's settings.
pub struct TrainingCheckpoint {
    /// The model: parameters, description and vocabulary.
    pub checkpoint: Checkpoint,
    /// Adam's first moments, keyed by parameter name (without the `adam.m.` prefix).
    pub m: TensorMap,
    /// Adam's second moments, keyed by parameter name (without the `adam.v.` prefix).
    pub v: TensorMap,
    /// The run's progress: epochs and updates done, best score, per-epoch logs.
    pub state: TrainState,
    /// The settings the run was started with.
    pub config: TrainConfig,
}

/// Writes the training state of `model` (parameters and moments) atomically, with the run's
/// settings and the fingerprint of its data (see [`data_fingerprint`]).
pub fn save_train_state(
    path: &Path,
    ctx: &GpuContext,
    model: &Classifier,
    info: &ModelInfo,
    vocab: Option<&[String]>,
    state: &TrainState,
    config: &TrainConfig,
    data_fingerprint: &str,
) -> Result<()> {
    let mut tensors: Vec<NamedTensor> = model.store.download(ctx)?;
    let (m, v) = model.store.download_moments(ctx)?;
    tensors.extend(m.into_iter().map(|(n, s, x)| (format!("{M_PREFIX}{n}"), s, x)));
    tensors.extend(v.into_iter().map(|(n, s, x)| (format!("{V_PREFIX}{n}"), s, x)));
    let json = |value: serde_json::Result<String>| value.map_err(|e| Error::File { path: path.to_path_buf(), message: e.to_string() });
    let extra = [
        (META_STATE, json(serde_json::to_string(state))?),
        (META_CONFIG, json(serde_json::to_string(config))?),
        (META_DATA, data_fingerprint.to_string()),
    ];
    save(path, &tensors, info, vocab, &extra)
}

/// A fingerprint of a run's rows (label and text of every training and validation row, in order): a
/// resumed run must train on the same rows, split the same way.
pub fn data_fingerprint<'a>(parts: impl IntoIterator<Item = (&'a str, &'a str)>) -> String {
    use sha2::Digest;
    let mut hash = sha2::Sha256::new();
    for (label, text) in parts {
        for field in [label, text] {
            hash.update((field.len() as u64).to_le_bytes());
            hash.update(field.as_bytes());
        }
    }
    hash.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// Reads a training state written by [`save_train_state`].
pub fn load_train_state(path: &Path) -> Result<TrainingCheckpoint> {
    parse_train_state(&crate::fsutil::read_file(path)?, path)
}

/// [`load_train_state`] on bytes already read; `path` names the source in errors.
pub fn parse_train_state(bytes: &[u8], path: &Path) -> Result<TrainingCheckpoint> {
    let mut file = TensorFile::parse(bytes, path)?;
    let file_err = |message: String| Error::File { path: path.to_path_buf(), message };
    let mut take = |prefix: &str| -> TensorMap {
        let names: Vec<String> = file.tensors.keys().filter(|k| k.starts_with(prefix)).cloned().collect();
        names
            .into_iter()
            .map(|n| {
                let t = file.tensors.remove(&n).expect("listed");
                (n[prefix.len()..].to_string(), t)
            })
            .collect()
    };
    let (m, v) = (take(M_PREFIX), take(V_PREFIX));
    let what = "a training state (they end in .state.safetensors)";
    let state: TrainState = read_info(path, &file.metadata, META_STATE, what)?;
    let config: TrainConfig = read_info(path, &file.metadata, META_CONFIG, what)?;
    config.validate().map_err(|e| file_err(format!("metadata '{META_CONFIG}': {e}")))?;
    let checkpoint = from_file(path, file, None)?;
    for (name, _) in checkpoint.info.config.param_specs() {
        if !m.contains_key(&name) || !v.contains_key(&name) {
            return Err(file_err(format!("the Adam moments of '{name}' are missing")));
        }
    }
    Ok(TrainingCheckpoint { checkpoint, m, v, state, config })
}

impl TrainingCheckpoint {
    /// Restores parameters, moments and the update count into a model of the same configuration.
    pub fn restore(&self, ctx: &GpuContext, model: &mut Classifier) -> Result<()> {
        model.load_params(ctx, &self.checkpoint.tensors)?;
        for (name, (_, m)) in &self.m {
            let (_, v) = &self.v[name];
            model.store.upload_moments(ctx, name, m, v)?;
        }
        model.step.set_updates(self.state.updates);
        Ok(())
    }
}
