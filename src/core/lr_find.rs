//! The learning-rate range test (Smith 2017; fastai's `lr_find`): train for a few steps while the
//! rate grows exponentially from tiny to large, record the smoothed loss, and suggest a rate a tenth
//! of the one where the loss was lowest — before it diverges. Every task runs it with its own step.

use crate::error::{Error, Result};

/// How the range test runs.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LrFindConfig {
    /// The first rate.
    pub start: f64,
    /// The last rate.
    pub end: f64,
    /// Updates at most (the test stops early once the loss diverges).
    pub steps: usize,
}

impl Default for LrFindConfig {
    fn default() -> Self {
        Self { start: 1e-7, end: 10.0, steps: 100 }
    }
}

/// What the range test measured.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize)]
pub struct LrFind {
    /// The rate of each update.
    pub lrs: Vec<f64>,
    /// The loss of each update, smoothed (exponential average, β = 0.98, bias-corrected): what the
    /// plot shows and what divergence is judged by.
    pub losses: Vec<f64>,
    /// The loss of each update as read back.
    pub raw: Vec<f64>,
    /// A tenth of the rate where a centred 5-update average of the raw loss is lowest (the
    /// exponential average lags behind the rate, so its minimum lies too far right).
    pub suggestion: f64,
}

/// Smoothing of the recorded loss.
const BETA: f64 = 0.98;
/// The test stops once the smoothed loss exceeds this many times its minimum.
const DIVERGED: f64 = 4.0;

/// Runs the range test: `step(i, lr)` trains update `i` at rate `lr` and returns its loss (read back).
pub fn lr_find(cfg: LrFindConfig, mut step: impl FnMut(usize, f32) -> Result<f64>) -> Result<LrFind> {
    if !(cfg.start > 0.0 && cfg.end > cfg.start && cfg.steps >= 2) {
        return Err(Error::InvalidInput(format!("the range test needs 0 < start < end and 2+ steps, got {cfg:?}")));
    }
    let ratio = (cfg.end / cfg.start).powf(1.0 / (cfg.steps - 1) as f64);
    let mut found = LrFind::default();
    let (mut average, mut best) = (0.0, f64::INFINITY);
    for i in 0..cfg.steps {
        let lr = cfg.start * ratio.powi(i as i32);
        let loss = match step(i, lr as f32) {
            Ok(loss) if loss.is_finite() => loss,
            // A rate so large the loss overflows ends the test, as a diverging one does.
            Ok(_) | Err(Error::NonFiniteLoss { .. }) => break,
            Err(e) => return Err(e),
        };
        average = BETA * average + (1.0 - BETA) * loss;
        let smoothed = average / (1.0 - BETA.powi(i as i32 + 1));
        found.lrs.push(lr);
        found.losses.push(smoothed);
        found.raw.push(loss);
        best = best.min(smoothed);
        if i > 0 && smoothed > DIVERGED * best {
            break;
        }
    }
    let centred = |i: usize| {
        let window = &found.raw[i.saturating_sub(2)..(i + 3).min(found.raw.len())];
        window.iter().sum::<f64>() / window.len() as f64
    };
    let lowest = (0..found.raw.len()).min_by(|&a, &b| centred(a).total_cmp(&centred(b)));
    let lowest = lowest.ok_or_else(|| Error::InvalidInput("the range test diverged at its first step: lower its start".into()))?;
    found.suggestion = found.lrs[lowest] / 10.0;
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bowl_shaped_loss_suggests_a_tenth_of_its_bottom() {
        // Loss as a function of log10(lr): lowest at 1e-2, diverging above 1.
        let loss = |lr: f32| {
            let x = (lr as f64).log10() + 2.0;
            if x > 2.5 { f64::INFINITY } else { 1.0 + x * x }
        };
        let found = lr_find(LrFindConfig { start: 1e-6, end: 100.0, steps: 200 }, |_, lr| Ok(loss(lr))).unwrap();
        assert!(found.lrs.len() < 200, "stopped once the loss diverged");
        assert!(found.suggestion > 1e-4 && found.suggestion < 1e-2, "suggestion {}", found.suggestion);
        assert!(found.lrs.windows(2).all(|w| w[1] > w[0]));
    }

    #[test]
    fn bad_ranges_are_refused() {
        assert!(lr_find(LrFindConfig { start: 1.0, end: 0.1, steps: 10 }, |_, _| Ok(1.0)).is_err());
    }
}
