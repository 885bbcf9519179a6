//! The experiment's TOML configuration: parsing, path resolution and validation.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use lstm_transfer::experiment::ExperimentConfig;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = ExperimentConfig::parse(text, Path::new("configs/fuzz.toml"));
    }
});
