//! Learning-rate schedules: a factor in `[0, 1]` applied to the base learning rate at each update.

use super::validate::check_finite_range;
use crate::error::Result;

/// The schedules by name, as the command line spells them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
pub enum ScheduleKind {
    /// The base rate throughout.
    #[default]
    Constant,
    /// Linear warm-up over `--warmup` of the updates, then linear decay to 0.
    WarmupLinear,
    /// Slanted triangular (ULMFiT): `--cut-frac`, `--stlr-ratio`.
    #[cfg_attr(feature = "cli", value(alias = "slanted-triangular"))]
    Stlr,
    /// Linear warm-up over `--warmup` of the updates, then a half-cosine down to 0.
    Cosine,
    /// One-cycle (Smith 2018, PyTorch's `OneCycleLR`): a half-cosine rise from base/25 to base over
    /// `--warmup` of the updates, then a half-cosine fall to base/250,000.
    OneCycle,
}

/// How the learning rate changes over a run.
#[derive(Clone, Copy, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum LrSchedule {
    /// The base rate throughout.
    #[default]
    Constant,
    /// Linear warm-up from 0 over the first `warmup` fraction of the updates, then linear decay to 0.
    WarmupLinear {
        /// Fraction of all updates spent warming up, in `[0, 1)`.
        warmup: f64,
    },
    /// Slanted triangular (Howard & Ruder 2018, ULMFiT): a short linear rise over the first `cut_frac` of
    /// the updates, a long linear fall; the rate goes from base/`ratio` up to base and back down.
    SlantedTriangular {
        /// Fraction of all updates spent rising, in `[0, 1)`.
        cut_frac: f64,
        /// Peak rate over lowest rate, at least 1 (ULMFiT uses 32).
        ratio: f64,
    },
    /// Linear warm-up over the first `warmup` fraction, then cosine annealing to 0.
    Cosine {
        /// Fraction of all updates spent warming up, in `[0, 1)`.
        warmup: f64,
    },
    /// One-cycle: half-cosine rise from base/[`ONE_CYCLE_DIV`] to base over the first `warmup`
    /// fraction, half-cosine fall to base/([`ONE_CYCLE_DIV`]·[`ONE_CYCLE_FINAL_DIV`]).
    OneCycle {
        /// Fraction of all updates spent rising, in `[0, 1)` (PyTorch's `pct_start`, 0.3 there).
        warmup: f64,
    },
}

/// One-cycle's start: base / 25 (PyTorch's `div_factor`).
pub const ONE_CYCLE_DIV: f64 = 25.0;
/// One-cycle's end: start / 10⁴ (PyTorch's `final_div_factor`).
pub const ONE_CYCLE_FINAL_DIV: f64 = 1e4;

/// `from` at p = 0 to `to` at p = 1 along a half cosine.
fn cosine_between(from: f64, to: f64, p: f64) -> f64 {
    to + (from - to) * 0.5 * (1.0 + (std::f64::consts::PI * p.clamp(0.0, 1.0)).cos())
}

impl LrSchedule {
    /// The schedule of `kind` with the given shape options (each checked).
    pub fn new(kind: ScheduleKind, warmup: f64, cut_frac: f64, ratio: f64) -> Result<Self> {
        let schedule = match kind {
            ScheduleKind::Constant => Self::Constant,
            ScheduleKind::WarmupLinear => Self::WarmupLinear { warmup },
            ScheduleKind::Stlr => Self::SlantedTriangular { cut_frac, ratio },
            ScheduleKind::Cosine => Self::Cosine { warmup },
            ScheduleKind::OneCycle => Self::OneCycle { warmup },
        };
        schedule.validate()?;
        Ok(schedule)
    }

    /// Refuses fractions outside `[0, 1)` and an STLR ratio below 1 (or NaN).
    pub fn validate(&self) -> Result<()> {
        match *self {
            Self::Constant => Ok(()),
            Self::WarmupLinear { warmup } | Self::Cosine { warmup } | Self::OneCycle { warmup } => {
                check_finite_range("warmup", warmup, 0.0, 1.0)
            }
            Self::SlantedTriangular { cut_frac, ratio } => {
                check_finite_range("cut-frac", cut_frac, 0.0, 1.0)?;
                check_finite_range("stlr-ratio", ratio, 1.0, f64::MAX)
            }
        }
    }

    /// Factor for update `step` (0-based) of `total`.
    pub fn factor(&self, step: u64, total: u64) -> f64 {
        let total = total.max(1) as f64;
        let t = step as f64;
        match *self {
            Self::Constant => 1.0,
            Self::WarmupLinear { warmup } => {
                let w = (warmup * total).floor();
                if t < w { (t + 1.0) / w } else { ((total - t) / (total - w).max(1.0)).clamp(0.0, 1.0) }
            }
            Self::SlantedTriangular { cut_frac, ratio } => {
                let cut = (total * cut_frac).floor().max(1.0);
                let p = if t < cut { t / cut } else { 1.0 - (t - cut) / (cut * (1.0 / cut_frac.max(1e-9) - 1.0)).max(1.0) };
                (1.0 + p.max(0.0) * (ratio - 1.0)) / ratio
            }
            Self::Cosine { warmup } => {
                let w = (warmup * total).floor();
                if t < w { (t + 1.0) / w } else { cosine_between(1.0, 0.0, (t - w) / (total - w).max(1.0)) }
            }
            Self::OneCycle { warmup } => {
                let (w, start) = ((warmup * total).floor(), 1.0 / ONE_CYCLE_DIV);
                if t < w {
                    cosine_between(start, 1.0, t / w)
                } else {
                    cosine_between(1.0, start / ONE_CYCLE_FINAL_DIV, (t - w) / (total - w).max(1.0))
                }
            }
        }
    }
}

/// λ of the gradient-reversal layer (DANN, Ganin et al. 2016) at training progress `p` in [0, 1]:
/// 2/(1+exp(−γ·p)) − 1, rising from 0 to ≈1 so the adversary's noisy early gradients do not swamp the task.
pub fn grl_lambda(progress: f64, gamma: f64) -> f32 {
    (2.0 / (1.0 + (-gamma * progress.clamp(0.0, 1.0)).exp()) - 1.0) as f32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warmup_rises_then_decays_to_zero() {
        let s = LrSchedule::WarmupLinear { warmup: 0.1 };
        let f: Vec<f64> = (0..100).map(|t| s.factor(t, 100)).collect();
        assert!((f[0] - 0.1).abs() < 1e-12 && (f[9] - 1.0).abs() < 1e-12);
        assert!((f[10] - 1.0).abs() < 1e-12);
        assert!(f[99] > 0.0 && f[99] < 0.02);
        assert!(f.windows(2).skip(10).all(|w| w[1] < w[0]));
    }

    #[test]
    fn slanted_triangular_matches_the_ulmfit_formula() {
        let s = LrSchedule::SlantedTriangular { cut_frac: 0.1, ratio: 32.0 };
        // T = 1000, cut = 100: t = 0 → 1/32, t = 100 → 1, t = 1000 → back to 1/32.
        assert!((s.factor(0, 1000) - 1.0 / 32.0).abs() < 1e-12);
        assert!((s.factor(100, 1000) - 1.0).abs() < 1e-12);
        assert!((s.factor(1000, 1000) - 1.0 / 32.0).abs() < 1e-12);
        let p: f64 = 1.0 - 450.0 / 900.0;
        assert!((s.factor(550, 1000) - (1.0 + p * 31.0) / 32.0).abs() < 1e-12);
    }

    #[test]
    fn cosine_warms_up_then_anneals_to_zero() {
        let s = LrSchedule::Cosine { warmup: 0.1 };
        let f: Vec<f64> = (0..=100).map(|t| s.factor(t, 100)).collect();
        assert!((f[0] - 0.1).abs() < 1e-12 && (f[10] - 1.0).abs() < 1e-12);
        assert!((f[55] - 0.5).abs() < 1e-12, "half-way down at the middle of the decay: {}", f[55]);
        assert!(f[100].abs() < 1e-12 && f.windows(2).skip(10).all(|w| w[1] <= w[0]));
    }

    #[test]
    fn one_cycle_rises_from_a_25th_and_ends_far_below() {
        let s = LrSchedule::OneCycle { warmup: 0.3 };
        let f: Vec<f64> = (0..=1000).map(|t| s.factor(t, 1000)).collect();
        assert!((f[0] - 1.0 / 25.0).abs() < 1e-12 && (f[300] - 1.0).abs() < 1e-12);
        assert!((f[1000] - 1.0 / 25.0 / 1e4).abs() < 1e-15);
        assert!(f[..=300].windows(2).all(|w| w[1] >= w[0]) && f[300..].windows(2).all(|w| w[1] <= w[0]));
    }

    #[test]
    fn lambda_rises_from_zero_to_one() {
        assert_eq!(grl_lambda(0.0, 10.0), 0.0);
        assert!((grl_lambda(1.0, 10.0) - 0.99991).abs() < 1e-4);
        assert!((grl_lambda(0.1, 10.0) - 0.46212).abs() < 1e-4);
    }

    #[test]
    fn bad_schedules_are_named() {
        let err = LrSchedule::new(ScheduleKind::WarmupLinear, 1.5, 0.1, 32.0).unwrap_err().to_string();
        assert!(err.contains("warmup") && err.contains("1.5"), "{err}");
        assert!(LrSchedule::new(ScheduleKind::Stlr, 0.1, 0.1, 0.5).unwrap_err().to_string().contains("stlr-ratio"));
        assert!(LrSchedule::new(ScheduleKind::Stlr, 0.1, f64::NAN, 32.0).is_err());
        assert_eq!(LrSchedule::new(ScheduleKind::Constant, 0.1, 0.1, 32.0).unwrap(), LrSchedule::Constant);
    }
}
