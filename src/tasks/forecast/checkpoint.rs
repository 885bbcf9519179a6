//! Forecaster checkpoints: tensors with PyTorch names and the model's description (shape, columns,
//! scaling statistics, windows and training settings) under metadata `lstm_transfer_forecaster`.

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
}

impl ForecasterInfo {
    /// Columns of the series the model reads (the target first): the LSTM's inputs per step are
    /// these times the fold.
    pub fn columns(&self) -> usize {
        self.config.inputs / self.forecast.fold
    }
}

const META_FORECASTER: &str = "lstm_transfer_forecaster";

/// Writes a forecaster checkpoint (PyTorch names, description in the metadata), atomically.
pub fn save_forecaster(path: &Path, ctx: &GpuContext, model: &Forecaster, info: &ForecasterInfo) -> Result<()> {
    save_model(path, &model.store.download(ctx)?, META_FORECASTER, info, None, &[])
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
    Ok((info, tensors))
}
