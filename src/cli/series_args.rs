//! The series options `forecast` and `forecast-transfer` share: a forecaster's windows and which
//! columns of a series CSV it reads.

use clap::Args;
use lstm_transfer::tasks::forecast::SeriesSpec;
use lstm_transfer::tasks::forecast::data::{FillGaps, Scaling};

/// A forecaster's windows and how it reads them: input steps, steps forecast, season, steps per
/// LSTM step, scaling (`forecast`, `forecast-transfer`).
#[derive(Args, Clone, Copy)]
pub struct WindowArgs {
    /// Input steps per window.
    #[arg(long, default_value_t = 168)]
    pub window: usize,
    /// Steps forecast at once.
    #[arg(long, default_value_t = 24)]
    pub horizon: usize,
    /// Season length of the seasonal-naive baseline and of MASE's scale.
    #[arg(long, default_value_t = 24)]
    pub season: usize,
    /// Series steps per LSTM step: 24 on hourly data makes the LSTM read a day per step (24 inputs
    /// per column) and recur over days, not hours. Divides --window.
    #[arg(long, default_value_t = 1)]
    pub fold: usize,
    /// How values are scaled for the LSTM: zscore, or asinh (LEAR's transform of the median- and
    /// MAD-scaled values: price spikes no longer rule the squared-error loss).
    #[arg(long, value_enum, default_value_t)]
    pub scaling: Scaling,
}

/// Which columns of a series CSV to read, and how to treat its gaps (`forecast`, `forecast-transfer`).
#[derive(Args, Clone)]
pub struct SeriesColumnsArgs {
    #[arg(long, default_value = "ds")]
    pub time_col: String,
    /// The series to forecast.
    #[arg(long, default_value = "y")]
    pub target_col: String,
    /// Further input series (covariates), repeatable.
    #[arg(long = "input-col")]
    pub input_cols: Vec<String>,
    /// Covariates known --horizon steps in advance (e.g. day-ahead load forecasts), repeatable: the
    /// window's last --horizon steps read their values for the steps being forecast.
    #[arg(long = "future-col")]
    pub future_cols: Vec<String>,
    /// Column naming the series of each row (several series in one file)…
    #[arg(long)]
    pub series_col: Option<String>,
    /// Fill the missing steps of gaps (a clock that skips an hour at a daylight-saving switch, a
    /// missing day): linear (straight line) or previous (last value). Default: a gap is an error.
    #[arg(long, value_enum)]
    pub fill_gaps: Option<FillGaps>,
    /// Most missing steps one gap may have to be filled.
    #[arg(long, default_value_t = 3)]
    pub max_gap: usize,
}

impl SeriesColumnsArgs {
    /// The reader's settings for `series` of the file (None: the file holds one series).
    pub fn spec(&self, series: Option<String>) -> SeriesSpec {
        SeriesSpec {
            time_col: self.time_col.clone(),
            target_col: self.target_col.clone(),
            input_cols: self.input_cols.clone(),
            future_cols: self.future_cols.clone(),
            series_col: self.series_col.clone(),
            series,
            fill_gaps: self.fill_gaps,
            max_gap: self.max_gap,
        }
    }
}
