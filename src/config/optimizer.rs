//! The optimizer's settings: Adam / AdamW hyper-parameters and the gradient clip.

use super::validate::{check_finite_range, check_positive_f32};
use crate::error::Result;

/// How weight decay is applied.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WeightDecay {
    /// No weight decay.
    #[default]
    None,
    /// Adam's L2 penalty: g += wd·p (PyTorch `Adam(weight_decay=…)`).
    L2,
    /// Decoupled: p -= lr·wd·p (PyTorch `AdamW`).
    Decoupled,
}

/// Adam hyper-parameters shared by every tensor (per-tensor options live in the parameter store).
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct AdamConfig {
    /// Learning rate; a schedule scales the configured base rate per update.
    pub lr: f32,
    /// Decay rate of the first moment (mean of gradients).
    pub beta1: f32,
    /// Decay rate of the second moment (mean of squared gradients).
    pub beta2: f32,
    /// Added to the bias-corrected √v in the denominator.
    pub eps: f32,
    /// How the per-tensor weight decay is applied.
    pub decay: WeightDecay,
    /// Clip the global gradient norm to this value (0 = no clipping).
    pub max_grad_norm: f32,
}

impl Default for AdamConfig {
    fn default() -> Self {
        Self { lr: 1e-3, beta1: 0.9, beta2: 0.999, eps: 1e-8, decay: WeightDecay::None, max_grad_norm: 0.0 }
    }
}

impl AdamConfig {
    /// Refuses a learning rate that is not a positive finite number, betas outside `[0, 1)`, a
    /// non-positive epsilon and a negative or non-finite clip.
    pub fn validate(&self) -> Result<()> {
        check_positive_f32("lr", self.lr)?;
        check_finite_range("beta1", self.beta1 as f64, 0.0, 1.0)?;
        check_finite_range("beta2", self.beta2 as f64, 0.0, 1.0)?;
        check_positive_f32("eps", self.eps)?;
        if !(self.max_grad_norm.is_finite() && self.max_grad_norm >= 0.0) {
            return Err(crate::Error::invalid_option("clip", "a finite number >= 0 (0: off)", self.max_grad_norm));
        }
        Ok(())
    }
}

/// Everything about the updates that the three tasks share: Adam's settings (learning rate, clip,
/// decay mode), the weight decay of every tensor and the learning-rate schedule over the run.
/// Flattened into each task's configuration (its fields sit beside the task's own).
///
/// ```
/// use lstm_transfer::config::{LrSchedule, OptimConfig};
///
/// let mut optim = OptimConfig::adam(1e-3, 1.0);
/// optim.schedule = LrSchedule::Cosine { warmup: 0.1 };
/// optim.validate()?;
/// assert!((optim.lr_at(0, 100) - 1e-4).abs() < 1e-9, "warming up: a tenth of the way");
/// assert!((optim.lr_at(10, 100) - 1e-3).abs() < 1e-9, "the peak after the warm-up");
/// assert!(optim.lr_at(99, 100) < 1e-5, "annealed");
/// # Ok::<(), lstm_transfer::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct OptimConfig {
    /// Adam / AdamW settings; `lr` is the base rate the schedule scales.
    pub optimizer: AdamConfig,
    /// Weight decay of every tensor (L2 or decoupled per `optimizer.decay`).
    #[serde(default)]
    pub weight_decay: f32,
    /// Factor on `optimizer.lr` per update, over all the run's updates.
    #[serde(default)]
    pub schedule: super::LrSchedule,
}

impl OptimConfig {
    /// Adam at `lr` with clipping at `clip`, no weight decay, a constant rate.
    pub fn adam(lr: f32, clip: f32) -> Self {
        Self { optimizer: AdamConfig { lr, max_grad_norm: clip, ..Default::default() }, weight_decay: 0.0, schedule: Default::default() }
    }

    /// Refuses a bad rate, clip, decay or schedule, naming the option.
    pub fn validate(&self) -> Result<()> {
        self.optimizer.validate()?;
        super::validate::check_non_negative("weight-decay", self.weight_decay as f64)?;
        self.schedule.validate()
    }

    /// The learning rate of update `step` (0-based) of `total`.
    pub fn lr_at(&self, step: u64, total: u64) -> f64 {
        self.optimizer.lr as f64 * self.schedule.factor(step, total)
    }
}
