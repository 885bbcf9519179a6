//! Safetensors I/O shared by every task's checkpoints: f32 tensors with PyTorch names and string
//! metadata, written atomically; read back as f32 whatever the float type (F16, BF16, F64 are
//! converted). Each task stores its description as one JSON metadata entry under its own key
//! ([`save_model`], [`read_info`]); a vocabulary, when there is one, under `vocab`.

use std::collections::HashMap;
use std::path::Path;

use safetensors::SafeTensors;
use safetensors::tensor::{Dtype, TensorView};

use crate::error::{Error, Result};
use crate::fsutil::{read_file, write_atomic};
use crate::params::{NamedTensor, TensorMap};

/// Metadata key of the vocabulary (a JSON array of tokens; id = position).
pub const META_VOCAB: &str = "vocab";

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

/// Writes a model: its tensors, its description as JSON under `key`, the vocabulary (if any) and
/// `extra` metadata entries, atomically.
pub fn save_model(
    path: &Path,
    tensors: &[NamedTensor],
    key: &str,
    info: &impl serde::Serialize,
    vocab: Option<&[String]>,
    extra: &[(&str, String)],
) -> Result<()> {
    let json_err = |e: serde_json::Error| Error::File { path: path.to_path_buf(), message: format!("metadata '{key}': {e}") };
    let mut metadata = HashMap::from([(key.to_string(), serde_json::to_string(info).map_err(json_err)?)]);
    if let Some(vocab) = vocab {
        metadata.insert(META_VOCAB.to_string(), serde_json::to_string(vocab).map_err(json_err)?);
    }
    metadata.extend(extra.iter().map(|(k, v)| (k.to_string(), v.clone())));
    save_tensors(path, tensors, metadata)
}

/// Reads every tensor of a safetensors file as f32, with its metadata. Integer tensors (e.g. token
/// ids in a test file) are not parameters and are skipped; a `module.` prefix (DataParallel) is removed.
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
            _ => continue,
        };
        let name = name.strip_prefix("module.").unwrap_or(&name).to_string();
        tensors.insert(name, (view.shape().to_vec(), values));
    }
    Ok((tensors, header.metadata().clone().unwrap_or_default()))
}

/// The JSON metadata entry `key` of `path`, parsed; `what` names the kind of checkpoint that has it
/// (for the error when it is missing).
pub fn read_info<T: serde::de::DeserializeOwned>(path: &Path, metadata: &HashMap<String, String>, key: &str, what: &str) -> Result<T> {
    let err = |message: String| Error::File { path: path.to_path_buf(), message };
    let text = metadata.get(key).ok_or_else(|| err(format!("no '{key}' metadata: not {what}")))?;
    serde_json::from_str(text).map_err(|e| err(format!("metadata '{key}': {e}")))
}

/// The vocabulary in the metadata of `path`, if it has one.
pub fn read_vocab(path: &Path, metadata: &HashMap<String, String>) -> Result<Option<Vec<String>>> {
    match metadata.get(META_VOCAB) {
        Some(_) => read_info(path, metadata, META_VOCAB, "a model with a vocabulary").map(Some),
        None => Ok(None),
    }
}

/// Checks that every (name, shape) of `specs` is in `tensors` with that shape, naming the file and the
/// first tensor that is missing or has another shape.
pub fn check_shapes(path: &Path, tensors: &TensorMap, specs: &[(String, Vec<usize>)]) -> Result<()> {
    for (name, shape) in specs {
        let problem = match tensors.get(name) {
            None => Error::MissingTensor { name: name.clone(), context: String::new() },
            Some((found, _)) if found != shape => {
                Error::ShapeMismatch { name: name.clone(), expected: shape.clone(), found: found.clone() }
            }
            _ => continue,
        };
        return Err(Error::File { path: path.to_path_buf(), message: problem.to_string() });
    }
    Ok(())
}
