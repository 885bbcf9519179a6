//! Domain-adversarial training (Ganin et al. 2016): labelled source rows and unlabelled target rows
//! share the feature extractor; a domain head behind the gradient-reversal layer learns to tell them
//! apart while the reversed gradient pushes the features to make that impossible.

use crate::data::Dataset;
use crate::kernels::loss::IGNORE_LABEL;

/// λ of the gradient-reversal layer at training progress `p` in [0, 1]: 2/(1+exp(−γ·p)) − 1,
/// rising from 0 to ≈1 so the adversary's noisy early gradients do not swamp the task.
pub fn lambda(progress: f64, gamma: f64) -> f32 {
    (2.0 / (1.0 + (-gamma * progress.clamp(0.0, 1.0)).exp()) - 1.0) as f32
}

/// The training set of a DANN run: the source rows (domain 0, labelled) and the target rows
/// (domain 1, labels ignored), the target repeated so both domains weigh the same.
pub fn mix_domains(source: &Dataset, target: &Dataset) -> Dataset {
    let mut s = source.clone();
    s.domains = Some(vec![0; s.len()]);
    let repeats = source.len().div_ceil(target.len().max(1)).max(1);
    let mut t = Dataset::default();
    for _ in 0..repeats {
        t.ids.extend(target.ids.iter().cloned());
    }
    t.ids.truncate(source.len().max(target.len()));
    t.labels = vec![IGNORE_LABEL; t.ids.len()];
    t.domains = Some(vec![1; t.ids.len()]);
    s.concat(&t)
}

/// Proxy A-distance from a domain classifier's held-out error ε: 2(1 − 2ε) (Ben-David et al. 2007).
/// 0 means the domains look the same to the classifier, 2 means they are fully separable.
pub fn proxy_a_distance(error: f64) -> f64 {
    2.0 * (1.0 - 2.0 * error.min(0.5))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lambda_rises_from_zero_to_one() {
        assert_eq!(lambda(0.0, 10.0), 0.0);
        assert!((lambda(1.0, 10.0) - 0.99991).abs() < 1e-4);
        assert!((lambda(0.1, 10.0) - 0.46212).abs() < 1e-4);
    }

    #[test]
    fn mixing_balances_the_domains() {
        let source = Dataset { ids: vec![vec![2]; 5], labels: vec![1; 5], domains: None };
        let target = Dataset { ids: vec![vec![3], vec![4]], labels: vec![0; 2], domains: None };
        let mixed = mix_domains(&source, &target);
        assert_eq!(mixed.len(), 10);
        assert_eq!(mixed.domains.as_ref().unwrap().iter().filter(|&&d| d == 1).count(), 5);
        assert!(mixed.labels[5..].iter().all(|&l| l == IGNORE_LABEL));
        assert_eq!(proxy_a_distance(0.5), 0.0);
        assert_eq!(proxy_a_distance(0.0), 2.0);
    }
}
