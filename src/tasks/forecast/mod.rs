//! Time-series forecasting: a regular series from a CSV ([`data`]), z-scored with statistics from the
//! training part, cut into sliding windows, an LSTM [`Forecaster`] ([`model`]) trained on them with
//! early stopping on the validation windows ([`train`]), and rolling multi-step forecasts over the
//! held-out tail scored by MAE, RMSE and MASE against the seasonal-naive forecast ([`evaluate`](mod@evaluate)).

pub mod checkpoint;
pub mod data;
pub mod evaluate;
pub mod lasso;
pub mod linear;
pub mod model;
pub mod predictor;
pub mod train;
pub mod windows;

pub use checkpoint::{ForecasterInfo, load_forecaster, save_forecaster};
pub use data::{Scaler, Series, SeriesSpec, read_series};
pub use evaluate::{ForecastMetrics, ForecastPoint, evaluate, evaluate_against};
pub use model::{Forecaster, ForecasterConfig};
pub use predictor::{ForecastPredictor, PendingForecast};
pub use train::{ExtraSeries, ForecastConfig, ForecastEpoch, ForecastRun, StartPoint, boundaries, fit, fit_with, train_origins};
pub use windows::{Windows, windows};
