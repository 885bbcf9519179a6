//! The lasso on standardized features, by coordinate descent on the Gram matrix (Friedman, Hastie &
//! Tibshirani 2010, "covariance updates"), along a path of penalties with the Akaike criterion
//! picking one — as LEAR (Lago et al. 2021) picks its penalty with LassoLarsIC(criterion="aic").
//!
//! Written here rather than taken from linfa-elasticnet: that crate brings the linfa/ndarray stack
//! and an OS-seeded `rand` (the library also builds for a browser, where getrandom has no source),
//! and has no information-criterion path; the solver is the short loop below, tested against the
//! closed forms.
//!
//! Objective for one target: `(1/2n)·‖y − Xb‖² + λ‖b‖₁` with the columns of X centred and scaled to
//! unit variance and y centred. Everything the solver needs is `G = XᵀX/n` (p×p, row-major),
//! `c = Xᵀy/n` and `yᵀy/n`, so several targets on the same features share G.

/// Penalties on the path: from the smallest that zeroes every coefficient down to this share of it.
const PATH_DEPTH: f64 = 1e-3;
/// Penalties on the path (log-spaced).
const PATH_LEN: usize = 30;
/// A sweep changing no coefficient by more than this (in standardized units) ends the descent.
const TOLERANCE: f64 = 1e-7;
/// Sweeps at most per penalty.
const MAX_SWEEPS: usize = 2_000;

/// The lasso's sufficient statistics for one target over `n` samples.
pub struct LassoProblem<'a> {
    /// `XᵀX/n`, p×p, row-major.
    pub gram: &'a [f64],
    /// `Xᵀy/n`.
    pub xty: &'a [f64],
    /// `yᵀy/n`.
    pub yty: f64,
    /// Samples.
    pub n: usize,
}

/// A fitted penalty of the path.
#[derive(Clone, Debug, PartialEq)]
pub struct LassoFit {
    /// Coefficients on the standardized features.
    pub coef: Vec<f64>,
    /// The penalty λ.
    pub lambda: f64,
    /// Akaike's criterion `n·ln(RSS/n) + 2·df` (df: nonzero coefficients; Zou, Hastie & Tibshirani 2007).
    pub aic: f64,
}

impl LassoProblem<'_> {
    fn p(&self) -> usize {
        self.xty.len()
    }

    /// Minimises the objective at `lambda` from `coef` (a warm start), in place.
    pub fn descend(&self, lambda: f64, coef: &mut [f64]) {
        let p = self.p();
        // g = G·b, kept up to date as coefficients change.
        let mut g: Vec<f64> = (0..p).map(|j| (0..p).map(|k| self.gram[j * p + k] * coef[k]).sum()).collect();
        for _ in 0..MAX_SWEEPS {
            let mut largest_change: f64 = 0.0;
            for j in 0..p {
                let gjj = self.gram[j * p + j];
                if gjj <= 0.0 {
                    continue;
                }
                let rho = self.xty[j] - g[j] + gjj * coef[j];
                let new = soft_threshold(rho, lambda) / gjj;
                let delta = new - coef[j];
                if delta != 0.0 {
                    coef[j] = new;
                    for (k, gk) in g.iter_mut().enumerate() {
                        *gk += delta * self.gram[k * p + j];
                    }
                    largest_change = largest_change.max(delta.abs() * gjj.sqrt());
                }
            }
            if largest_change < TOLERANCE {
                break;
            }
        }
    }

    /// Residual sum of squares over n: `yᵀy/n − 2·bᵀc + bᵀGb`.
    pub fn rss_over_n(&self, coef: &[f64]) -> f64 {
        let p = self.p();
        let gb: f64 =
            (0..p).filter(|&j| coef[j] != 0.0).map(|j| coef[j] * (0..p).map(|k| self.gram[j * p + k] * coef[k]).sum::<f64>()).sum();
        let bc: f64 = coef.iter().zip(self.xty).map(|(b, c)| b * c).sum();
        (self.yty - 2.0 * bc + gb).max(0.0)
    }

    /// The path from the largest useful penalty down, each fit warm-started from the previous one.
    pub fn path(&self) -> Vec<LassoFit> {
        let lambda_max = self.xty.iter().fold(0.0f64, |m, c| m.max(c.abs()));
        if lambda_max == 0.0 {
            return vec![LassoFit { coef: vec![0.0; self.p()], lambda: 0.0, aic: self.aic(&vec![0.0; self.p()]) }];
        }
        let mut coef = vec![0.0; self.p()];
        (0..PATH_LEN)
            .map(|i| {
                let lambda = lambda_max * PATH_DEPTH.powf(i as f64 / (PATH_LEN - 1) as f64);
                self.descend(lambda, &mut coef);
                LassoFit { coef: coef.clone(), lambda, aic: self.aic(&coef) }
            })
            .collect()
    }

    fn aic(&self, coef: &[f64]) -> f64 {
        let df = coef.iter().filter(|b| **b != 0.0).count();
        let n = self.n as f64;
        // RSS comes from a difference of sums: near an exact fit it is rounding noise, whose log
        // would swamp 2·df. Below a millionth of the variance a fit counts as exact.
        n * self.rss_over_n(coef).max(1e-6 * self.yty).max(f64::MIN_POSITIVE).ln() + 2.0 * df as f64
    }

    /// The fit of the path with the lowest AIC among those leaving at least half the samples as
    /// degrees of freedom for the residual (with few samples, AIC keeps adding coefficients until
    /// the fit interpolates).
    pub fn best_by_aic(&self) -> LassoFit {
        let limit = self.n / 2;
        let path = self.path();
        let admissible = path.iter().filter(|f| f.coef.iter().filter(|b| **b != 0.0).count() <= limit);
        admissible.min_by(|a, b| a.aic.total_cmp(&b.aic)).unwrap_or(&path[0]).clone()
    }
}

fn soft_threshold(x: f64, lambda: f64) -> f64 {
    if x > lambda {
        x - lambda
    } else if x < -lambda {
        x + lambda
    } else {
        0.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    /// Standardized columns, centred target, and the problem's statistics.
    fn stats(x: &[Vec<f64>], y: &[f64]) -> (Vec<f64>, Vec<f64>, f64) {
        let (n, p) = (y.len(), x.len());
        let gram = (0..p * p).map(|i| (0..n).map(|t| x[i / p][t] * x[i % p][t]).sum::<f64>() / n as f64).collect();
        let xty = (0..p).map(|j| (0..n).map(|t| x[j][t] * y[t]).sum::<f64>() / n as f64).collect();
        (gram, xty, y.iter().map(|v| v * v).sum::<f64>() / n as f64)
    }

    #[test]
    fn an_orthonormal_design_soft_thresholds_and_a_tiny_penalty_is_least_squares() {
        // G = I: the lasso solution is the soft-thresholded correlation, coordinate by coordinate.
        let gram = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0];
        let xty = [0.9, -0.2, 0.05];
        let problem = LassoProblem { gram: &gram, xty: &xty, yty: 1.0, n: 50 };
        let mut coef = vec![0.0; 3];
        problem.descend(0.1, &mut coef);
        assert!((coef[0] - 0.8).abs() < 1e-12 && (coef[1] + 0.1).abs() < 1e-12 && coef[2] == 0.0, "{coef:?}");

        // Correlated columns, penalty → 0: the normal equations G·b = c hold.
        let gram = [1.0, 0.6, 0.6, 1.0];
        let xty = [0.5, 0.1];
        let problem = LassoProblem { gram: &gram, xty: &xty, yty: 1.0, n: 50 };
        let mut coef = vec![0.0; 2];
        problem.descend(1e-12, &mut coef);
        let ols = [(0.5 - 0.6 * 0.1) / (1.0 - 0.36), (0.1 - 0.6 * 0.5) / (1.0 - 0.36)];
        assert!((coef[0] - ols[0]).abs() < 1e-6 && (coef[1] - ols[1]).abs() < 1e-6, "{coef:?} vs {ols:?}");
    }

    #[test]
    fn the_akaike_choice_finds_a_sparse_truth_among_noise_columns() {
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        let (n, p) = (300, 20);
        let mut x: Vec<Vec<f64>> = (0..p).map(|_| (0..n).map(|_| rng.random_range(-1.0..1.0)).collect()).collect();
        for col in &mut x {
            let mean = col.iter().sum::<f64>() / n as f64;
            let sd = (col.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n as f64).sqrt();
            col.iter_mut().for_each(|v| *v = (*v - mean) / sd);
        }
        let mut y: Vec<f64> = (0..n).map(|t| 3.0 * x[0][t] - 2.0 * x[3][t] + 0.3 * rng.random_range(-1.0..1.0)).collect();
        let mean = y.iter().sum::<f64>() / n as f64;
        y.iter_mut().for_each(|v| *v -= mean);
        let (gram, xty, yty) = stats(&x, &y);
        let fit = LassoProblem { gram: &gram, xty: &xty, yty, n }.best_by_aic();
        assert!((fit.coef[0] - 3.0).abs() < 0.1 && (fit.coef[3] + 2.0).abs() < 0.1, "{:?}", fit.coef);
        let noise: f64 = fit.coef.iter().enumerate().filter(|(j, _)| *j != 0 && *j != 3).map(|(_, b)| b.abs()).sum();
        assert!(noise < 0.2, "the noise columns' coefficients sum to {noise}: {:?}", fit.coef);
    }
}
