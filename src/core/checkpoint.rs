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

/// Metadata key of the checkpoint format: a number, raised whenever a description gains a field
/// that an older reader would silently ignore (and so misread the model).
pub const META_FORMAT: &str = "lstm_transfer_format";

/// The format this build writes, and the newest it reads. 1: no [`META_FORMAT`] entry (before the
/// forecaster's fold, scaling and ensemble members); 2: those, and the entry itself.
pub const FORMAT: u32 = 2;

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
    let mut bytes = safetensors::serialize(views, Some(metadata))
        .map_err(|e| Error::File { path: path.to_path_buf(), message: format!("could not serialize: {e}") })?;
    canonical_header(&mut bytes);
    write_atomic(path, &bytes)
}

/// Rewrites a serialized file's JSON header with its keys in sorted order, in place: safetensors
/// writes the metadata in hash-map order, which differs from run to run, so the same model would not
/// give the same bytes. The header keeps its length (same entries, other order; padded with spaces as
/// safetensors pads it), so the tensor offsets stay valid.
fn canonical_header(bytes: &mut [u8]) {
    let Some(len) = bytes.get(..8).map(|n| u64::from_le_bytes(n.try_into().expect("8 bytes")) as usize) else { return };
    let Some(header) = bytes.get(8..8 + len) else { return };
    // serde_json's maps are sorted by key (no `preserve_order` feature).
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(header) else { return };
    let Ok(sorted) = serde_json::to_string(&value) else { return };
    if sorted.len() <= len {
        let target = &mut bytes[8..8 + len];
        target[..sorted.len()].copy_from_slice(sorted.as_bytes());
        target[sorted.len()..].fill(b' ');
    }
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
    let mut metadata =
        HashMap::from([(key.to_string(), serde_json::to_string(info).map_err(json_err)?), (META_FORMAT.to_string(), FORMAT.to_string())]);
    if let Some(vocab) = vocab {
        metadata.insert(META_VOCAB.to_string(), serde_json::to_string(vocab).map_err(json_err)?);
    }
    metadata.extend(extra.iter().map(|(k, v)| (k.to_string(), v.clone())));
    save_tensors(path, tensors, metadata)
}

/// A safetensors file as read: its float tensors as f32 (F16, BF16 and F64 converted; a `module.`
/// prefix from DataParallel removed), its metadata, and the dtype of each tensor of another type
/// (integer tensors such as a test file's token ids are not parameters).
pub struct TensorFile {
    /// Float tensors by name.
    pub tensors: TensorMap,
    /// String metadata.
    pub metadata: HashMap<String, String>,
    /// Tensors of other types, by name, with their dtype.
    pub other_types: HashMap<String, String>,
}

impl TensorFile {
    /// Reads a safetensors file. A NaN or infinite value in any float tensor is refused, naming the
    /// tensor and the element: no command may compute with (or print) a model that holds one.
    pub fn read(path: &Path) -> Result<Self> {
        let bytes = read_file(path)?;
        Self::parse(&bytes, path)
    }

    /// [`TensorFile::read`] on bytes already read; `path` names the source in errors.
    pub fn parse(bytes: &[u8], path: &Path) -> Result<Self> {
        let file_err = |message: String| Error::File { path: path.to_path_buf(), message };
        let (_, header) = SafeTensors::read_metadata(bytes).map_err(|e| file_err(format!("not a safetensors file: {e}")))?;
        let st = SafeTensors::deserialize(bytes).map_err(|e| file_err(format!("not a safetensors file: {e}")))?;
        let mut file =
            TensorFile { tensors: TensorMap::new(), metadata: header.metadata().clone().unwrap_or_default(), other_types: HashMap::new() };
        for (name, view) in st.tensors() {
            let name = name.strip_prefix("module.").unwrap_or(&name).to_string();
            let data = view.data();
            let values: Vec<f32> = match view.dtype() {
                Dtype::F32 => data.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect(),
                Dtype::F16 => data.chunks_exact(2).map(|b| half::f16::from_le_bytes([b[0], b[1]]).to_f32()).collect(),
                Dtype::BF16 => data.chunks_exact(2).map(|b| half::bf16::from_le_bytes([b[0], b[1]]).to_f32()).collect(),
                Dtype::F64 => data.chunks_exact(8).map(|b| f64::from_le_bytes(b.try_into().expect("8 bytes")) as f32).collect(),
                other => {
                    file.other_types.insert(name, format!("{other:?}"));
                    continue;
                }
            };
            if let Some(i) = values.iter().position(|v| !v.is_finite()) {
                return Err(file_err(format!(
                    "tensor '{name}' holds {} at element {i}: a model with non-finite weights cannot be used",
                    values[i]
                )));
            }
            file.tensors.insert(name, (view.shape().to_vec(), values));
        }
        Ok(file)
    }

    /// Checks that every (name, shape) of `specs` is here with that shape, naming the file and the
    /// first tensor that is missing, has another shape, or is not a float tensor.
    pub fn check_shapes(&self, path: &Path, specs: &[(String, Vec<usize>)]) -> Result<()> {
        let names: Vec<&str> = specs.iter().map(|(n, _)| n.as_str()).collect();
        check_shapes(path, &self.tensors, specs).map_err(|e| self.explain_missing(path, &names, e))
    }

    /// `e` about a missing tensor, told as what it is when one of `names` is there with another dtype.
    pub fn explain_missing(&self, path: &Path, names: &[&str], e: Error) -> Error {
        match names.iter().find(|n| self.other_types.contains_key(**n) && !self.tensors.contains_key(**n)) {
            Some(name) => Error::File {
                path: path.to_path_buf(),
                message: format!("tensor '{name}' has dtype {}; a parameter must be F32, F16, BF16 or F64", self.other_types[*name]),
            },
            None => e,
        }
    }
}

/// The float tensors and the metadata of a safetensors file (see [`TensorFile::read`]).
pub fn read_tensors(path: &Path) -> Result<(TensorMap, HashMap<String, String>)> {
    let file = TensorFile::read(path)?;
    Ok((file.tensors, file.metadata))
}

/// The JSON metadata entry `key` of `path`, parsed; `what` names the kind of checkpoint that has it
/// (for the error when it is missing).
///
/// A checkpoint written in a newer format than [`FORMAT`] is refused: its description may hold fields
/// this build would ignore.
pub fn read_info<T: serde::de::DeserializeOwned>(path: &Path, metadata: &HashMap<String, String>, key: &str, what: &str) -> Result<T> {
    let err = |message: String| Error::File { path: path.to_path_buf(), message };
    if let Some(format) = metadata.get(META_FORMAT) {
        match format.trim().parse::<u32>() {
            Ok(n) if n <= FORMAT => {}
            Ok(n) => {
                return Err(err(format!(
                    "written in checkpoint format {n} by a newer lstm-transfer; this build reads formats up to {FORMAT}: update it to use this file"
                )));
            }
            Err(_) => return Err(err(format!("metadata '{META_FORMAT}' is '{format}', expected a format number"))),
        }
    }
    let text = metadata.get(key).ok_or_else(|| err(format!("no '{key}' metadata: not {what}")))?;
    serde_json::from_str(text).map_err(|e| err(format!("metadata '{key}': {e}")))
}

/// The vocabulary in the metadata, if any, checked against the `rows` of the model's embedding
/// (a vocabulary of another length would index past the embedding or leave rows without a token).
pub fn read_vocab(path: &Path, metadata: &HashMap<String, String>, rows: usize) -> Result<Option<Vec<String>>> {
    if !metadata.contains_key(META_VOCAB) {
        return Ok(None);
    }
    let vocab: Vec<String> = read_info(path, metadata, META_VOCAB, "a model with a vocabulary")?;
    if vocab.len() != rows {
        let message = format!("the vocabulary has {} tokens but embedding.weight has {rows} rows", vocab.len());
        return Err(Error::File { path: path.to_path_buf(), message });
    }
    Ok(Some(vocab))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_checkpoint_from_a_newer_format_is_refused_and_an_older_one_read() {
        let path = Path::new("model.safetensors");
        let info = |format: Option<&str>| {
            let mut metadata = HashMap::from([("m".to_string(), "7".to_string())]);
            if let Some(f) = format {
                metadata.insert(META_FORMAT.to_string(), f.to_string());
            }
            read_info::<u32>(path, &metadata, "m", "a model").map_err(|e| e.to_string())
        };
        assert_eq!(info(None), Ok(7), "format 1 has no entry");
        assert_eq!(info(Some(&FORMAT.to_string())), Ok(7));
        let newer = info(Some(&(FORMAT + 1).to_string())).unwrap_err();
        assert!(newer.contains("model.safetensors") && newer.contains(&format!("format {}", FORMAT + 1)), "{newer}");
        let garbled = info(Some("two")).unwrap_err();
        assert!(garbled.contains("'two', expected a format number"), "{garbled}");

        let dir = std::env::temp_dir().join(format!("lstm-transfer-format-{}", std::process::id()));
        let file = dir.join("m.safetensors");
        save_model(&file, &[("w".to_string(), vec![1], vec![1.0])], "m", &7u32, None, &[]).unwrap();
        let (_, metadata) = read_tensors(&file).unwrap();
        assert_eq!(metadata[META_FORMAT], FORMAT.to_string(), "every model is written with its format");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn the_same_tensors_and_metadata_give_the_same_bytes() {
        let dir = std::env::temp_dir().join(format!("lstm-transfer-canonical-{}", std::process::id()));
        let tensors = vec![("b".to_string(), vec![2], vec![1.0f32, 2.0]), ("a".to_string(), vec![1], vec![3.0f32])];
        let metadata: HashMap<String, String> = (0..20).map(|i| (format!("key{i}"), format!("value {i}"))).collect();
        let first = dir.join("first.safetensors");
        save_tensors(&first, &tensors, metadata.clone()).unwrap();
        let bytes = std::fs::read(&first).unwrap();
        for i in 0..5 {
            // A map built again iterates in another order; the file must not change.
            let again: HashMap<String, String> = metadata.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
            let path = dir.join(format!("again{i}.safetensors"));
            save_tensors(&path, &tensors, again).unwrap();
            assert!(std::fs::read(&path).unwrap() == bytes);
        }
        let (read, meta) = read_tensors(&first).unwrap();
        assert_eq!((read["b"].1.clone(), meta.len()), (vec![1.0, 2.0], 20));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
