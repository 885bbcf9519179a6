//! Learning-rate schedules: a factor in `[0, 1]` applied to the base learning rate at each update.

use crate::error::{Error, Result};

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
}

impl LrSchedule {
    /// Parses `constant`, `warmup-linear` or `stlr` with the given shape options.
    pub fn parse(name: &str, warmup: f64, cut_frac: f64, ratio: f64) -> Result<Self> {
        let frac = |what: &str, v: f64| {
            if (0.0..1.0).contains(&v) { Ok(v) } else { Err(Error::InvalidInput(format!("{what} must be in [0, 1), got {v}"))) }
        };
        match name {
            "constant" => Ok(Self::Constant),
            "warmup-linear" => Ok(Self::WarmupLinear { warmup: frac("--warmup", warmup)? }),
            "stlr" | "slanted-triangular" => {
                if ratio < 1.0 {
                    return Err(Error::InvalidInput(format!("--stlr-ratio must be at least 1, got {ratio}")));
                }
                Ok(Self::SlantedTriangular { cut_frac: frac("--cut-frac", cut_frac)?, ratio })
            }
            _ => Err(Error::InvalidInput(format!("unknown schedule '{name}': expected constant, warmup-linear or stlr"))),
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
        }
    }
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
    fn bad_schedules_are_named() {
        assert!(LrSchedule::parse("cosine", 0.1, 0.1, 32.0).unwrap_err().to_string().contains("cosine"));
        assert!(LrSchedule::parse("warmup-linear", 1.5, 0.1, 32.0).unwrap_err().to_string().contains("--warmup"));
        assert_eq!(LrSchedule::parse("constant", 0.1, 0.1, 32.0).unwrap(), LrSchedule::Constant);
    }
}
