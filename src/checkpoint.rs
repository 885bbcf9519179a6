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

use safetensors::tensor::{Dtype, TensorView};
use safetensors::SafeTensors;

use crate::error::{Error, Result};
use crate::fsutil::{read_file, write_atomic};
use crate::kernels::pool::Pooling;
use crate::gpu::GpuContext;
use crate::model::{Classifier, ClassifierConfig};
use crate::params::NamedTensor;
use crate::train::{TrainConfig, TrainState};

pub use crate::params::TensorMap;

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
const META_VOCAB: &str = "vocab";

/// The training-state file that goes with a model path: `model.safetensors` → `model.state.safetensors`.
pub fn state_path(model_path: &Path) -> PathBuf {
    let stem = model_path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "model".into());
    model_path.with_file_name(format!("{stem}.state.safetensors"))
}

/// Writes a classifier's tensors with its description, vocabulary and extra metadata, atomically.
pub fn save(path: &Path, tensors: &[(String, Vec<usize>, Vec<f32>)], info: &ModelInfo, vocab: Option<&[String]>,
            extra: &[(&str, String)]) -> Result<()> {
    let mut metadata = HashMap::new();
    metadata.insert(META_MODEL.to_string(), serde_json::to_string(info).expect("ModelInfo serializes"));
    if let Some(vocab) = vocab {
        metadata.insert(META_VOCAB.to_string(), serde_json::to_string(vocab).expect("strings serialize"));
    }
    for (k, v) in extra {
        metadata.insert(k.to_string(), v.clone());
    }
    save_tensors(path, tensors, metadata)
}

/// Writes f32 tensors and string metadata as safetensors, atomically.
pub fn save_tensors(path: &Path, tensors: &[NamedTensor], metadata: HashMap<String, String>) -> Result<()> {
    let views: Vec<(String, TensorView<'_>)> = tensors
        .iter()
        .map(|(name, shape, values)| {
            let view = TensorView::new(Dtype::F32, shape.clone(), bytemuck::cast_slice(values))
                .map_err(|e| Error::File { path: path.to_path_buf(), message: format!("tensor '{name}': {e}") })?;
            Ok((name.clone(), view))
        })
        .collect::<Result<_>>()?;
    let bytes = safetensors::serialize(views, Some(metadata))
        .map_err(|e| Error::File { path: path.to_path_buf(), message: format!("could not serialize: {e}") })?;
    write_atomic(path, &bytes)
}

/// Reads every tensor of a safetensors file as f32 (F16, BF16 and F64 are converted), with its metadata.
pub fn read_tensors(path: &Path) -> Result<(TensorMap, HashMap<String, String>)> {
    let bytes = read_file(path)?;
    let file_err = |message: String| Error::File { path: path.to_path_buf(), message };
    let (_, header) = SafeTensors::read_metadata(&bytes).map_err(|e| file_err(format!("not a safetensors file: {e}")))?;
    let st = SafeTensors::deserialize(&bytes).map_err(|e| file_err(format!("not a safetensors file: {e}")))?;
    let mut tensors = TensorMap::new();
    for (name, view) in st.tensors() {
        let data = view.data();
        let values: Vec<f32> = match view.dtype() {
            Dtype::F32 => data.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect(),
            Dtype::F16 => data.chunks_exact(2).map(|b| half::f16::from_le_bytes([b[0], b[1]]).to_f32()).collect(),
            Dtype::BF16 => data.chunks_exact(2).map(|b| half::bf16::from_le_bytes([b[0], b[1]]).to_f32()).collect(),
            Dtype::F64 => data.chunks_exact(8).map(|b| f64::from_le_bytes(b.try_into().expect("8 bytes")) as f32).collect(),
            // Integer tensors (e.g. token ids in a test file) are not parameters: skip them.
            _ => continue,
        };
        // DataParallel / wrapped models prefix every name with `module.`.
        let name = name.strip_prefix("module.").unwrap_or(&name).to_string();
        tensors.insert(name, (view.shape().to_vec(), values));
    }
    Ok((tensors, header.metadata().clone().unwrap_or_default()))
}

/// Loads a classifier checkpoint or a plain PyTorch state_dict. `pooling` resolves what the shapes
/// cannot tell for a state_dict (last, max and mean pooling all give the head the same width).
///
/// A language-model checkpoint (`lm`) loads as a source without a head (0 classes): its embedding and
/// LSTM transfer into a classifier (ULMFiT); the decoder is ignored.
pub fn load(path: &Path, pooling: Option<Pooling>) -> Result<Checkpoint> {
    let (tensors, metadata) = read_tensors(path)?;
    if let Some(lm) = metadata.get(crate::lm::META_LM) {
        return lm_source(path, tensors, &metadata, lm);
    }
    from_tensors(path, tensors, metadata, pooling)
}

/// Checks that every (name, shape) of `specs` is in `tensors` with that shape, naming the file and the
/// first tensor that is missing or has another shape.
fn check_shapes(path: &Path, tensors: &TensorMap, specs: &[(String, Vec<usize>)]) -> Result<()> {
    for (name, shape) in specs {
        let problem = match tensors.get(name) {
            None => Error::MissingTensor { name: name.clone(), context: String::new() },
            Some((found, _)) if found != shape => Error::ShapeMismatch { name: name.clone(), expected: shape.clone(), found: found.clone() },
            _ => continue,
        };
        return Err(Error::File { path: path.to_path_buf(), message: problem.to_string() });
    }
    Ok(())
}

/// A language model as a transfer source.
fn lm_source(path: &Path, mut tensors: TensorMap, metadata: &HashMap<String, String>, lm: &str) -> Result<Checkpoint> {
    let file_err = |message: String| Error::File { path: path.to_path_buf(), message };
    let info: crate::lm::LmInfo = serde_json::from_str(lm).map_err(|e| file_err(format!("metadata '{}': {e}", crate::lm::META_LM)))?;
    let vocab: Vec<String> = match metadata.get(META_VOCAB) {
        Some(v) => serde_json::from_str(v).map_err(|e| file_err(format!("metadata '{META_VOCAB}': {e}")))?,
        None => return Err(file_err("a language-model checkpoint without its vocabulary".into())),
    };
    let c = info.config;
    let config = ClassifierConfig { vocab: c.vocab, embed: c.embed, hidden: c.hidden, layers: c.layers, bidirectional: false, classes: 0, domains: 0, pooling: Pooling::Last };
    let ignored: Vec<String> = tensors.keys().filter(|k| k.starts_with("decoder.")).cloned().collect();
    tensors.retain(|k, _| !k.starts_with("decoder."));
    let specs: Vec<(String, Vec<usize>)> = config.lstm().param_specs("lstm.").into_iter().chain([("embedding.weight".to_string(), vec![c.vocab, c.embed])]).collect();
    check_shapes(path, &tensors, &specs)?;
    let tokenizer = match info.tokenizer {
        crate::lm::Tokenizer::Words => TOKENIZER.to_string(),
        crate::lm::Tokenizer::Whitespace => "whitespace".to_string(),
    };
    let model = ModelInfo { config, labels: Vec::new(), max_len: 512, tokenizer };
    Ok(Checkpoint { info: model, vocab: Some(vocab), tensors, ignored, metadata: HashMap::new() })
}

fn from_tensors(path: &Path, mut tensors: TensorMap, metadata: HashMap<String, String>, pooling: Option<Pooling>) -> Result<Checkpoint> {
    let file_err = |message: String| Error::File { path: path.to_path_buf(), message };
    let vocab: Option<Vec<String>> = match metadata.get(META_VOCAB) {
        Some(v) => Some(serde_json::from_str(v).map_err(|e| file_err(format!("metadata '{META_VOCAB}': {e}")))?),
        None => None,
    };
    let info = match metadata.get(META_MODEL) {
        Some(m) => serde_json::from_str::<ModelInfo>(m).map_err(|e| file_err(format!("metadata '{META_MODEL}': {e}")))?,
        None => {
            let config = infer_config(&tensors, pooling.unwrap_or_default()).map_err(|e| file_err(e.to_string()))?;
            ModelInfo { labels: (0..config.classes).map(|c| c.to_string()).collect(), config, max_len: 512, tokenizer: TOKENIZER.into() }
        }
    };
    if let Some(v) = &vocab
        && v.len() != info.config.vocab
    {
        return Err(file_err(format!("the vocabulary has {} tokens but embedding.weight has {} rows", v.len(), info.config.vocab)));
    }
    if info.labels.len() != info.config.classes {
        return Err(file_err(format!("{} label names for {} classes", info.labels.len(), info.config.classes)));
    }
    let specs = info.config.param_specs();
    check_shapes(path, &tensors, &specs)?;
    let wanted: std::collections::HashSet<&str> = specs.iter().map(|(n, _)| n.as_str()).collect();
    let mut ignored: Vec<String> = tensors.keys().filter(|k| !wanted.contains(k.as_str())).cloned().collect();
    ignored.sort();
    tensors.retain(|k, _| wanted.contains(k.as_str()));
    let mut metadata = metadata;
    metadata.remove(META_MODEL);
    metadata.remove(META_VOCAB);
    Ok(Checkpoint { info, vocab, tensors, ignored, metadata })
}

fn shape_of<'a>(tensors: &'a TensorMap, name: &str) -> Result<&'a [usize]> {
    tensors.get(name).map(|(s, _)| s.as_slice()).ok_or_else(|| Error::MissingTensor {
        name: name.to_string(),
        context: " (needed to infer the model's dimensions)".into(),
    })
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
        let model = Classifier::new(ctx, self.info.config, batch_cap, steps_cap, 0)?;
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

/// Writes the training state of `model` (parameters and moments) atomically.
pub fn save_train_state(path: &Path, ctx: &GpuContext, model: &Classifier, info: &ModelInfo, vocab: Option<&[String]>,
                        state: &TrainState, config: &TrainConfig) -> Result<()> {
    let mut tensors: Vec<NamedTensor> = model.store.download(ctx)?;
    let (m, v) = model.store.download_moments(ctx)?;
    tensors.extend(m.into_iter().map(|(n, s, x)| (format!("{M_PREFIX}{n}"), s, x)));
    tensors.extend(v.into_iter().map(|(n, s, x)| (format!("{V_PREFIX}{n}"), s, x)));
    let extra = [
        (META_STATE, serde_json::to_string(state).expect("TrainState serializes")),
        (META_CONFIG, serde_json::to_string(config).expect("TrainConfig serializes")),
    ];
    save(path, &tensors, info, vocab, &extra)
}

/// Reads a training state written by [`save_train_state`].
pub fn load_train_state(path: &Path) -> Result<TrainingCheckpoint> {
    let (mut tensors, metadata) = read_tensors(path)?;
    let file_err = |message: String| Error::File { path: path.to_path_buf(), message };
    let mut take = |prefix: &str| -> TensorMap {
        let names: Vec<String> = tensors.keys().filter(|k| k.starts_with(prefix)).cloned().collect();
        names.into_iter().map(|n| { let t = tensors.remove(&n).expect("listed"); (n[prefix.len()..].to_string(), t) }).collect()
    };
    let (m, v) = (take(M_PREFIX), take(V_PREFIX));
    let parse = |key: &str| metadata.get(key).ok_or_else(|| file_err(format!("no '{key}' metadata: not a training state (they end in .state.safetensors)")));
    let state: TrainState = serde_json::from_str(parse(META_STATE)?).map_err(|e| file_err(format!("metadata '{META_STATE}': {e}")))?;
    let config: TrainConfig = serde_json::from_str(parse(META_CONFIG)?).map_err(|e| file_err(format!("metadata '{META_CONFIG}': {e}")))?;
    let checkpoint = from_tensors(path, tensors, metadata, None)?;
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
        model.updates = self.state.updates;
        Ok(())
    }
}
