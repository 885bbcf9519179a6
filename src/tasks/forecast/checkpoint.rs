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

    /// Refuses a description whose parts disagree (they would index out of range or misread the
    /// series later), or that lacks a member's tensor.
    fn validate(&self, tensors: &TensorMap) -> Result<()> {
        self.config.validate()?;
        self.forecast.validate()?;
        let bad = |what: String| Err(Error::InvalidInput(what));
        let (fold, columns) = (self.forecast.fold, self.columns());
        if !self.config.inputs.is_multiple_of(fold) {
            return bad(format!("{} LSTM inputs are not whole steps of fold {fold}", self.config.inputs));
        }
        let spec_columns = 1 + self.spec.input_cols.len() + self.spec.future_cols.len();
        if spec_columns != columns || self.spec.future_cols.len() != self.forecast.future_cols || self.forecast.future_cols >= columns {
            return bad(format!(
                "{columns} columns read ({} LSTM inputs, fold {fold}), but the target, {} input and {} known-in-advance columns \
                 named ({} known in advance in the settings)",
                self.config.inputs,
                self.spec.input_cols.len(),
                self.spec.future_cols.len(),
                self.forecast.future_cols
            ));
        }
        let stats = [self.scaler.mean.len(), self.scaler.std.len()];
        if stats != [columns; 2] || !self.scaler.mean.iter().chain(&self.scaler.std).all(|v| v.is_finite()) {
            return bad(format!("scaling statistics for {stats:?} columns (or not finite), expected {columns}"));
        }
        if let Some(linear) = &self.forecast.linear_residual {
            linear.validate(self.forecast.horizon, columns)?;
        }
        if self.members == 0 || self.members > MAX_MEMBERS {
            return bad(format!("{} members, expected 1 to {MAX_MEMBERS}", self.members));
        }
        for k in 0..self.members {
            if let Some((name, _)) = self.config.param_specs().iter().find(|(name, _)| !tensors.contains_key(&member_name(k, name))) {
                return bad(format!("no tensor '{}' (member {} of {})", member_name(k, name), k + 1, self.members));
            }
        }
        Ok(())
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
    let prefix = member_name(k, "");
    tensors
        .iter()
        .filter_map(|(name, t)| {
            // Member 0's tensors are those without another member's prefix.
            let plain = if k == 0 { (!name.starts_with("member")).then_some(name.as_str()) } else { name.strip_prefix(&prefix) };
            plain.map(|p| (p.to_string(), t.clone()))
        })
        .collect()
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
    info.validate(&tensors).map_err(|e| Error::File { path: path.to_path_buf(), message: format!("metadata '{META_FORECASTER}': {e}") })?;
    Ok((info, tensors))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::OptimConfig;
    use crate::tasks::forecast::data::Scaling;

    /// Two members of a model reading the target and one covariate, two steps per LSTM step.
    fn info_and_tensors() -> (ForecasterInfo, TensorMap) {
        let info = ForecasterInfo {
            config: ForecasterConfig { inputs: 4, hidden: 3, layers: 1, horizon: 2 },
            spec: SeriesSpec { time_col: "ds".into(), target_col: "y".into(), input_cols: vec!["x".into()], ..Default::default() },
            scaler: Scaler { mean: vec![0.0, 1.0], std: vec![1.0, 2.0], scaling: Scaling::Asinh },
            forecast: ForecastConfig {
                window: 4,
                horizon: 2,
                season: 2,
                stride: 1,
                test_len: 2,
                valid_len: 2,
                train_len: None,
                epochs: 1,
                batch_size: 1,
                optim: OptimConfig::adam(1e-3, 1.0),
                patience: 1,
                seed: 1,
                seasonal_residual: false,
                future_cols: 0,
                linear_residual: None,
                fold: 2,
            },
            members: 2,
        };
        let tensors = (0..2)
            .flat_map(|k| {
                info.config.param_specs().into_iter().map(move |(name, shape)| {
                    let n = shape.iter().product();
                    (member_name(k, &name), (shape, vec![k as f32; n]))
                })
            })
            .collect();
        (info, tensors)
    }

    #[test]
    fn a_description_whose_parts_disagree_is_refused_naming_the_part() {
        let (info, tensors) = info_and_tensors();
        info.validate(&tensors).unwrap();
        assert_eq!(info.columns(), 2);
        // Each member's tensors under the plain names, and no other member's.
        for k in 0..2 {
            let member = member_tensors(&tensors, k);
            assert_eq!(member.len(), info.config.param_specs().len());
            assert!(member["fc.bias"].1.iter().all(|&v| v == k as f32));
        }
        let refused = |info: ForecasterInfo, tensors: &TensorMap| info.validate(tensors).unwrap_err().to_string();
        let e = refused(
            ForecasterInfo { scaler: Scaler { mean: vec![0.0], std: vec![1.0], scaling: Scaling::Zscore }, ..info.clone() },
            &tensors,
        );
        assert!(e.contains("scaling statistics for [1, 1] columns") && e.contains("expected 2"), "{e}");
        let spec = SeriesSpec { future_cols: vec!["z".into()], ..info.spec.clone() };
        let e = refused(ForecasterInfo { spec, ..info.clone() }, &tensors);
        assert!(e.contains("2 columns read") && e.contains("1 known-in-advance columns named"), "{e}");
        let e = refused(ForecasterInfo { config: ForecasterConfig { inputs: 5, ..info.config }, ..info.clone() }, &tensors);
        assert!(e.contains("5 LSTM inputs are not whole steps of fold 2"), "{e}");
        let e = refused(ForecasterInfo { members: 0, ..info.clone() }, &tensors);
        assert!(e.contains("0 members, expected 1 to 64"), "{e}");
        let e = refused(ForecasterInfo { members: 3, ..info.clone() }, &tensors);
        assert!(e.contains("no tensor 'member3.") && e.contains("member 3 of 3"), "{e}");
    }
}
