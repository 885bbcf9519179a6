//! Forecaster checkpoints: tensors with PyTorch names and the model's description (shape, columns,
//! scaling statistics, windows and training settings) under metadata `lstm_transfer_forecaster`.
//! An ensemble keeps every member in the one file: the first under the plain names (what PyTorch
//! loads), member k ≥ 2 under `member{k}.` + the same names.

use std::path::Path;

use super::data::{Scaler, SeriesSpec};
use super::model::{Forecaster, ForecasterConfig};
use super::train::ForecastConfig;
use crate::core::checkpoint::{TensorFile, read_info, save_model};
use crate::error::{Error, Result};
use crate::gpu::GpuContext;
use crate::params::TensorMap;

/// Everything a forecaster checkpoint says besides its tensors.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ForecasterInfo {
    /// The model's shape.
    pub config: ForecasterConfig,
    /// The columns it reads.
    pub spec: SeriesSpec,
    /// The scaling statistics of the series it was trained on.
    pub scaler: Scaler,
    /// Windows and training settings.
    pub forecast: ForecastConfig,
    /// Forecasters in the ensemble, whose mean output is the forecast (1 for checkpoints written
    /// without the field); set by [`save_forecaster`].
    #[serde(default = "one_member")]
    pub members: usize,
}

fn one_member() -> usize {
    1
}

impl ForecasterInfo {
    /// Columns of the series the model reads (the target first): the LSTM's inputs per step are
    /// these times the fold.
    pub fn columns(&self) -> usize {
        self.config.inputs / self.forecast.fold
    }
}

const META_FORECASTER: &str = "lstm_transfer_forecaster";

/// Most members an ensemble checkpoint may hold.
pub const MAX_MEMBERS: usize = 64;

/// Why an ensemble checkpoint cannot be a transfer's source (`forecast --from`, `forecast-transfer`).
pub fn ensemble_as_source(members: usize) -> String {
    format!("an ensemble of {members} forecasters: transfer starts from one (train the source without --ensemble)")
}

/// The name of member `k`'s (0-based) tensor `name` in a checkpoint.
fn member_name(k: usize, name: &str) -> String {
    if k == 0 { name.to_string() } else { format!("member{}.{name}", k + 1) }
}

/// Member `k`'s (0-based) tensors of a checkpoint, under their plain names.
pub fn member_tensors(tensors: &TensorMap, k: usize) -> TensorMap {
    if k == 0 {
        return tensors.clone();
    }
    let prefix = member_name(k, "");
    tensors.iter().filter_map(|(name, t)| name.strip_prefix(&prefix).map(|plain| (plain.to_string(), t.clone()))).collect()
}

/// Writes a forecaster checkpoint (PyTorch names, description in the metadata), atomically: one
/// model, or every member of an ensemble (`info.members` is set to their count).
pub fn save_forecaster(path: &Path, ctx: &GpuContext, members: &[Forecaster], info: &ForecasterInfo) -> Result<()> {
    let mut tensors = Vec::new();
    for (k, member) in members.iter().enumerate() {
        tensors.extend(member.store.download(ctx)?.into_iter().map(|(name, shape, values)| (member_name(k, &name), shape, values)));
    }
    let info = ForecasterInfo { members: members.len(), ..info.clone() };
    save_model(path, &tensors, META_FORECASTER, &info, None, &[])
}

/// Reads a forecaster checkpoint: its description (checked) and tensors.
pub fn load_forecaster(path: &Path) -> Result<(ForecasterInfo, TensorMap)> {
    parse_forecaster(&crate::fsutil::read_file(path)?, path)
}

/// [`load_forecaster`] on bytes already read; `path` names the source in errors.
pub fn parse_forecaster(bytes: &[u8], path: &Path) -> Result<(ForecasterInfo, TensorMap)> {
    let TensorFile { tensors, metadata, .. } = TensorFile::parse(bytes, path)?;
    let info: ForecasterInfo = read_info(path, &metadata, META_FORECASTER, "a forecaster checkpoint")?;
    let folded = |_| match info.config.inputs.is_multiple_of(info.forecast.fold) {
        true => Ok(()),
        false => Err(Error::InvalidInput(format!("{} LSTM inputs are not whole steps of fold {}", info.config.inputs, info.forecast.fold))),
    };
    let checked =
        info.config.validate().and_then(|_| info.forecast.validate()).and_then(folded).and_then(|_| match &info.forecast.linear_residual {
            Some(linear) => linear.validate(info.forecast.horizon, info.columns()),
            None => Ok(()),
        });
    checked.map_err(|e| Error::File { path: path.to_path_buf(), message: format!("metadata '{META_FORECASTER}': {e}") })?;
    if info.members == 0 || info.members > MAX_MEMBERS {
        return Err(Error::File {
            path: path.to_path_buf(),
            message: format!("metadata '{META_FORECASTER}': {} members, expected 1 to {MAX_MEMBERS}", info.members),
        });
    }
    for k in 0..info.members {
        if let Some((name, _)) = info.config.param_specs().iter().find(|(name, _)| !tensors.contains_key(&member_name(k, name))) {
            let missing = member_name(k, name);
            return Err(Error::File {
                path: path.to_path_buf(),
                message: format!("no tensor '{missing}' (member {} of {})", k + 1, info.members),
            });
        }
    }
    Ok((info, tensors))
}
