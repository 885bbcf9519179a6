//! The classifier training loop: epochs over bucketed batches, validation, per-epoch figures.

use std::time::Instant;

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::data::{make_batches, Dataset};
use crate::error::Result;
use crate::gpu::GpuContext;
use crate::model::Classifier;

#[derive(Clone, Debug)]
pub struct TrainConfig {
    pub epochs: usize,
    pub batch_size: usize,
    pub max_len: usize,
    pub seed: u64,
    /// Read the loss back every this many steps (and at the end of each epoch).
    pub read_every: usize,
}

#[derive(Clone, Debug, Default)]
pub struct EpochLog {
    pub epoch: usize,
    pub train_loss: f64,
    pub train_accuracy: f64,
    pub valid_accuracy: f64,
    pub tokens_per_second: f64,
    pub seconds: f64,
    pub truncated_rows: usize,
}

/// Accuracy of the model on `data`.
pub fn evaluate(ctx: &GpuContext, model: &mut Classifier, data: &Dataset, batch_size: usize, max_len: usize) -> Result<f64> {
    if data.is_empty() {
        return Ok(0.0);
    }
    let (batches, _) = make_batches(data, batch_size, max_len, None);
    let mut correct = 0usize;
    let classes = model.cfg.classes;
    for b in &batches {
        let logits = model.logits(ctx, b)?;
        for (row, &label) in b.labels.iter().enumerate() {
            let z = &logits[row * classes..(row + 1) * classes];
            let best = (0..classes).fold(0, |m, c| if z[c] > z[m] { c } else { m });
            correct += (best == label as usize) as usize;
        }
    }
    Ok(correct as f64 / data.len() as f64)
}

/// Trains for `cfg.epochs`, calling `report` after each epoch.
pub fn train_classifier(ctx: &GpuContext, model: &mut Classifier, train: &Dataset, valid: &Dataset, cfg: &TrainConfig,
                        mut report: impl FnMut(&EpochLog)) -> Result<Vec<EpochLog>> {
    let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed);
    let mut logs = Vec::new();
    for epoch in 1..=cfg.epochs {
        let start = Instant::now();
        let (batches, truncated_rows) = make_batches(train, cfg.batch_size, cfg.max_len, Some(&mut rng));
        let (mut loss, mut correct, mut rows, mut steps) = (0.0f64, 0.0f64, 0.0f64, 0u32);
        let mut tokens = 0usize;
        for (i, b) in batches.iter().enumerate() {
            let read = (i + 1) % cfg.read_every.max(1) == 0 || i + 1 == batches.len();
            tokens += b.lengths.iter().map(|&l| l as usize).sum::<usize>();
            if let Some(s) = model.train_step(ctx, b, true, read)? {
                loss += s.loss_sum as f64;
                correct += s.correct as f64;
                rows += s.rows as f64;
                steps += s.steps;
            }
        }
        let seconds = start.elapsed().as_secs_f64();
        let log = EpochLog {
            epoch,
            train_loss: loss / steps.max(1) as f64,
            train_accuracy: correct / rows.max(1.0),
            valid_accuracy: evaluate(ctx, model, valid, cfg.batch_size, cfg.max_len)?,
            tokens_per_second: tokens as f64 / seconds,
            seconds,
            truncated_rows,
        };
        report(&log);
        logs.push(log);
    }
    Ok(logs)
}
