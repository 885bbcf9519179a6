//! Domain-adversarial training (Ganin et al. 2016): labelled source rows and target rows share the
//! feature extractor; a domain head behind the gradient-reversal layer learns to tell them apart
//! while the reversed gradient pushes the features to make that impossible. The λ schedule is
//! [`crate::config::schedule::grl_lambda`]; the proxy A-distance is in the classifier's metrics.
//! [`dann_data`] builds a run's rows, for `transfer --method dann` and the experiment alike.

use crate::data::Dataset;
use crate::kernels::loss::IGNORE_LABEL;

/// A DANN run's rows: what it trains on, and held-out rows of both domains for the domain head.
pub struct DannData {
    /// Source rows (domain 0, labelled), labelled target rows (domain 1), then unlabelled target rows
    /// (domain 1, labels ignored).
    pub train: Dataset,
    /// Held-out source rows (domain 0) and target rows (domain 1): the domain head's accuracy on
    /// them gives the proxy A-distance.
    pub domain_valid: Dataset,
}

/// `rows` with every row's domain set to `domain` (and the labels ignored when `unlabelled`).
fn in_domain(rows: &Dataset, domain: u32, unlabelled: bool) -> Dataset {
    Dataset {
        ids: rows.ids.clone(),
        labels: if unlabelled { vec![IGNORE_LABEL; rows.len()] } else { rows.labels.clone() },
        domains: Some(vec![domain; rows.len()]),
    }
}

/// Builds a DANN run's rows. The unlabelled target rows are cycled (or cut) to exactly as many rows
/// as the source has, so both domains weigh the same in the domain loss.
pub fn dann_data(
    source: &Dataset,
    target_labelled: &Dataset,
    target_unlabelled: &Dataset,
    held_source: &Dataset,
    held_target: &Dataset,
) -> DannData {
    let cycled = Dataset::unlabelled(target_unlabelled.ids.iter().cycle().take(source.len()).cloned().collect());
    let train = in_domain(source, 0, false).concat(&in_domain(target_labelled, 1, false)).concat(&in_domain(&cycled, 1, true));
    let domain_valid = in_domain(held_source, 0, false).concat(&in_domain(held_target, 1, true));
    DannData { train, domain_valid }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_domains_are_balanced_and_the_target_text_unlabelled() {
        let source = Dataset { ids: vec![vec![2]; 5], labels: vec![1; 5], domains: None };
        let unlabelled = Dataset { ids: vec![vec![3], vec![4]], labels: vec![0; 2], domains: None };
        let labelled = Dataset { ids: vec![vec![5]], labels: vec![0], domains: None };
        let d = dann_data(&source, &labelled, &unlabelled, &source, &unlabelled);
        assert_eq!(d.train.len(), 11);
        let domains = d.train.domains.as_ref().unwrap();
        assert_eq!(domains.iter().filter(|&&d| d == 1).count(), 6);
        assert_eq!(d.train.labels[5], 0, "labelled target rows keep their labels");
        assert!(d.train.labels[6..].iter().all(|&l| l == IGNORE_LABEL));
        assert_eq!(d.train.ids[6..].to_vec(), [vec![3], vec![4], vec![3], vec![4], vec![3]]);
        assert_eq!(d.domain_valid.len(), 7);
        assert!(d.domain_valid.labels[5..].iter().all(|&l| l == IGNORE_LABEL));
    }
}
