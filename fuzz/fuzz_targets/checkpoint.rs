//! Checkpoint loading: the safetensors header, the tensors, and every metadata description (a
//! classifier, a language model as a transfer source, a training state, a forecaster). Any input
//! must give a checkpoint or an error, never a panic.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use lstm_transfer::config::Pooling;
use lstm_transfer::tasks::classify::checkpoint::parse_train_state;
use lstm_transfer::tasks::forecast::checkpoint::parse_forecaster;
use lstm_transfer::transfer::source::parse_source;

fuzz_target!(|data: &[u8]| {
    let path = Path::new("fuzz.safetensors");
    let _ = parse_source(data, path, None);
    let _ = parse_source(data, path, Some(Pooling::Concat));
    let _ = parse_train_state(data, path);
    let _ = parse_forecaster(data, path);
});
