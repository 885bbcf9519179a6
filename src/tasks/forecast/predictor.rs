//! The forecaster's three-line API: load a checkpoint, give the recent history, get the next
//! values back in the series' units.
//!
//! ```no_run
//! use lstm_transfer::tasks::forecast::ForecastPredictor;
//!
//! let mut predictor = ForecastPredictor::load("runs/air.safetensors".as_ref())?;
//! let history: Vec<f64> = (0..48).map(|t| 300.0 + 50.0 * (t as f64 * 0.52).sin()).collect();
//! let next = predictor.forecast(&history, 12)?;
//! assert_eq!(next.len(), 12);
//! # Ok::<(), lstm_transfer::Error>(())
//! ```

use std::path::Path;
use std::sync::Arc;

use super::checkpoint::{ForecasterInfo, load_forecaster, member_tensors};
use super::data::{Scaler, Series};
use super::evaluate::{forecast_ahead, residual_base, window_after};
use super::model::{Forecaster, mean_output};
use crate::error::{Error, Result};
use crate::gpu::{GpuContext, Pending};

/// A forecaster (or an ensemble's members, whose mean it forecasts) loaded for prediction, with its
/// scaling and window settings, on a GPU context it shares.
pub struct ForecastPredictor {
    ctx: Arc<GpuContext>,
    members: Vec<Forecaster>,
    info: ForecasterInfo,
}

impl ForecastPredictor {
    /// Loads a checkpoint written by `forecast` on the adapter `LSTM_TRANSFER_BACKEND` /
    /// `LSTM_TRANSFER_ADAPTER` choose (the best one by default). Not in a browser, which has no
    /// files and cannot block: open a context with [`GpuContext::new_async`] and use `from_bytes`.
    #[cfg(not(target_arch = "wasm32"))]
    pub fn load(path: &Path) -> Result<Self> {
        Self::load_on(Arc::new(GpuContext::new(&crate::gpu::AdapterChoice::from_env())?), path)
    }

    /// Loads a checkpoint on a context the application already has (e.g. adopted from its own
    /// `wgpu::Device` with [`GpuContext::from_device`]).
    pub fn load_on(ctx: Arc<GpuContext>, path: &Path) -> Result<Self> {
        let (info, tensors) = load_forecaster(path)?;
        let members = (0..info.members)
            .map(|k| {
                let model = Forecaster::new(&ctx, info.config, 1, info.forecast.lstm_steps(), 0)?;
                model.load_params(&ctx, &member_tensors(&tensors, k))?;
                Ok(model)
            })
            .collect::<Result<_>>()?;
        Ok(Self { ctx, members, info })
    }

    /// What the checkpoint says: shape, columns, scaling, window and horizon.
    pub fn info(&self) -> &ForecasterInfo {
        &self.info
    }

    /// Steps forecast by one pass of the model.
    pub fn horizon(&self) -> usize {
        self.info.forecast.horizon
    }

    /// Steps of history a forecast needs (the window, or a season for a residual model if longer).
    pub fn history_len(&self) -> usize {
        self.info.forecast.history()
    }

    /// The next `steps` values after `history` (the target's recent values, oldest first, at least
    /// [`history_len`](Self::history_len)), blocking until they are back. Beyond the horizon the
    /// forecasts are fed back as inputs. A model that reads covariates needs
    /// [`forecast_series`](Self::forecast_series).
    pub fn forecast(&mut self, history: &[f64], steps: usize) -> Result<Vec<f64>> {
        let series = self.target_only(history)?;
        self.forecast_series(&series, steps)
    }

    /// [`forecast`](Self::forecast) from a series with every column the model reads (target first).
    pub fn forecast_series(&mut self, series: &Series, steps: usize) -> Result<Vec<f64>> {
        self.check(series)?;
        forecast_ahead(&self.ctx, &mut self.members, series, &self.info.scaler, &self.info.forecast, steps)
    }

    /// Submits the forecast of the next [`horizon`](Self::horizon) values after `history` and
    /// returns at once (for a frame loop: nothing waits on the GPU); poll it with
    /// [`PendingForecast::poll`].
    pub fn submit(&mut self, history: &[f64]) -> Result<PendingForecast> {
        let series = self.target_only(history)?;
        self.check(&series)?;
        let scaled = self.info.scaler.scale(&series);
        let window = window_after(&scaled, &self.info.forecast);
        let pending = self.members.iter_mut().map(|m| Ok((m.submit_predict(&self.ctx, &window)?, None))).collect::<Result<_>>()?;
        let base = residual_base(&scaled, &self.info.forecast);
        Ok(PendingForecast { ctx: self.ctx.clone(), pending, base, scaler: self.info.scaler.clone(), end: series.len() })
    }

    /// `history` as a one-column series, refused for a model that reads covariates.
    fn target_only(&self, history: &[f64]) -> Result<Series> {
        let columns = self.info.columns();
        if columns != 1 {
            return Err(Error::InvalidInput(format!(
                "this forecaster reads {columns} columns (the target and its covariates): give them all with forecast_series"
            )));
        }
        Ok(Series {
            times: (0..history.len()).map(|t| t.to_string()).collect(),
            columns: vec![self.info.spec.target_col.clone()],
            values: vec![history.to_vec()],
            filled: 0,
        })
    }

    /// Refuses a series with other columns, too little history or a value that is not finite.
    fn check(&self, series: &Series) -> Result<()> {
        let (need, inputs) = (self.history_len(), self.info.columns());
        if series.values.len() != inputs || series.values.iter().any(|c| c.len() != series.len()) {
            return Err(Error::InvalidInput(format!(
                "the forecaster reads {inputs} columns of equal length ({}); the series has {} ({})",
                self.info.spec.target_col,
                series.values.len(),
                series.columns.join(", ")
            )));
        }
        if series.len() < need {
            return Err(Error::InvalidInput(format!("a forecast needs {need} steps of history, the series has {}", series.len())));
        }
        for (column, values) in series.columns.iter().zip(&series.values) {
            if let Some(t) = values.iter().position(|v| !v.is_finite()) {
                return Err(Error::InvalidInput(format!("{column} at step {t} is {}: the history must be finite", values[t])));
            }
        }
        Ok(())
    }
}

/// A forecast submitted with [`ForecastPredictor::submit`], not yet read back.
pub struct PendingForecast {
    ctx: Arc<GpuContext>,
    /// Each member's readback, and its outputs once they arrived.
    pending: Vec<(Pending<f32>, Option<Vec<f32>>)>,
    /// The seasonal naive (scaled) each output is added to, or zeros.
    base: Vec<f64>,
    scaler: Scaler,
    /// Steps of history given: the first forecast is for this step.
    end: usize,
}

impl PendingForecast {
    /// The next `horizon` values in the series' units once the GPU is done (every member's, for an
    /// ensemble); `None` until then (never blocks).
    pub fn poll(&mut self) -> Result<Option<Vec<f64>>> {
        for (pending, out) in self.pending.iter_mut().filter(|(_, out)| out.is_none()) {
            *out = pending.poll(&self.ctx)?;
        }
        let outputs: Option<Vec<&Vec<f32>>> = self.pending.iter().map(|(_, out)| out.as_ref()).collect();
        let Some(outputs) = outputs else { return Ok(None) };
        let mean = mean_output(&outputs)?;
        let values = mean.iter().zip(&self.base).enumerate().map(|(h, (&p, b))| self.scaler.forecast_value(p as f64 + b, self.end + h));
        Ok(Some(values.collect::<Result<_>>()?))
    }
}
