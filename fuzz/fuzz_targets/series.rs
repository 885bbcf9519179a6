//! The time-series CSV reader: timestamps, numbers, gaps, several series in one file, covariates.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use lstm_transfer::tasks::forecast::SeriesSpec;
use lstm_transfer::tasks::forecast::data::{FillGaps, parse_series};

fuzz_target!(|data: &[u8]| {
    let Some((&knobs, content)) = data.split_first() else { return };
    let spec = SeriesSpec {
        time_col: "ds".into(),
        target_col: "y".into(),
        input_cols: if knobs & 1 != 0 { vec!["x".into()] } else { Vec::new() },
        future_cols: if knobs & 2 != 0 { vec!["f".into()] } else { Vec::new() },
        series_col: (knobs & 4 != 0).then(|| "id".into()),
        series: (knobs & 8 != 0).then(|| "A".into()),
        fill_gaps: [None, Some(FillGaps::Linear), Some(FillGaps::Previous)][(knobs >> 4) as usize % 3],
        max_gap: (knobs >> 6) as usize,
    };
    let _ = parse_series(content, Path::new("fuzz.csv"), &spec);
});
