//! Fine-tuning tools on a classifier's layer groups (ULMFiT, Howard & Ruder 2018): groups from the top,
//! gradual unfreezing (epoch e trains the top e groups) and discriminative learning rates (group g
//! from the top trains at lr / factor^g, factor 2.6 by default). The slanted triangular schedule is
//! [`crate::config::LrSchedule::SlantedTriangular`].

use super::model::ClassifierConfig;
use crate::nn::LstmConfig;

/// The default discriminative learning-rate factor.
pub const DEFAULT_FACTOR: f64 = 2.6;

/// Tensor names by layer group, top first: the heads, each LSTM layer from the last, the embedding.
pub fn layer_groups(cfg: &ClassifierConfig) -> Vec<Vec<String>> {
    let mut groups =
        vec![cfg.param_specs().into_iter().map(|(n, _)| n).filter(|n| n.starts_with("fc.") || n.starts_with("domain.")).collect()];
    for l in (0..cfg.layers).rev() {
        let mut group = Vec::new();
        for d in 0..cfg.lstm().dirs() {
            for kind in ["weight_ih", "weight_hh", "bias_ih", "bias_hh"] {
                group.push(LstmConfig::param_name("lstm.", kind, l, d == 1));
            }
        }
        groups.push(group);
    }
    groups.push(vec!["embedding.weight".into()]);
    groups
}

/// Index of the group holding `name` (0 = top).
pub fn group_of(cfg: &ClassifierConfig, name: &str) -> usize {
    layer_groups(cfg).iter().position(|g| g.iter().any(|n| n == name)).unwrap_or(0)
}

/// Learning-rate scale of a tensor under discriminative rates.
pub fn lr_scale(cfg: &ClassifierConfig, name: &str, factor: f64) -> f32 {
    (1.0 / factor.powi(group_of(cfg, name) as i32)) as f32
}

/// Whether gradual unfreezing leaves `name` frozen during `epoch` (1-based): epoch e trains groups 0..e.
pub fn frozen_by_schedule(cfg: &ClassifierConfig, name: &str, epoch: usize) -> bool {
    group_of(cfg, name) >= epoch
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Pooling;

    #[test]
    fn groups_run_from_the_head_down_to_the_embedding() {
        let cfg = ClassifierConfig {
            vocab: 10,
            embed: 4,
            hidden: 3,
            layers: 2,
            bidirectional: true,
            classes: 2,
            domains: 0,
            pooling: Pooling::Last,
        };
        let groups = layer_groups(&cfg);
        assert_eq!(groups.len(), 4);
        assert_eq!(groups[0], ["fc.weight", "fc.bias"]);
        assert!(groups[1].contains(&"lstm.weight_hh_l1_reverse".to_string()));
        assert_eq!(groups[3], ["embedding.weight"]);
        assert!(!frozen_by_schedule(&cfg, "fc.bias", 1) && frozen_by_schedule(&cfg, "lstm.bias_ih_l1", 1));
        assert!(!frozen_by_schedule(&cfg, "lstm.bias_ih_l1", 2) && frozen_by_schedule(&cfg, "embedding.weight", 3));
        assert!((lr_scale(&cfg, "lstm.weight_ih_l0", 2.6) - 1.0 / 6.76).abs() < 1e-6);
    }
}
