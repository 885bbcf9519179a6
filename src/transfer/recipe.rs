//! One transfer recipe for the command line and the experiment: each method with the training
//! settings it implies, so `transfer --method M` and the experiment's method `M` train alike.

use crate::config::LrSchedule;
use crate::tasks::classify::TrainConfig;
use crate::tasks::classify::finetune::DEFAULT_FACTOR;

/// How the target model starts from the source and trains.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
#[serde(rename_all = "kebab-case")]
pub enum Method {
    /// Copy every parameter, fine-tune all.
    Init,
    /// Copy every parameter; the embedding rows the source knew stay frozen (or the `--freeze` tensors).
    Freeze,
    /// ULMFiT's fine-tuning: gradual unfreezing, discriminative rates, slanted triangular schedule.
    Ulmfit,
    /// Another shape (width, depth, embedding, directions): the parameters are mapped.
    Hetero,
    /// Domain-adversarial training with a domain head on unlabelled target text.
    Dann,
}

/// γ of DANN's λ schedule by default (Ganin et al. 2016).
pub const DEFAULT_GAMMA: f64 = 10.0;

/// A method with its settings. [`Recipe::new`] gives each method's defaults; callers may change
/// the fields (the command line's `--freeze`, `--gamma`, …) before [`Recipe::apply`].
#[derive(Clone, Debug, PartialEq)]
pub struct Recipe {
    /// The method.
    pub method: Method,
    /// Tensors kept frozen throughout (patterns with `*`).
    pub freeze: Vec<String>,
    /// Freeze the embedding rows of the tokens the source knew (new tokens' rows train).
    pub freeze_known_rows: bool,
    /// Epoch e trains the top e layer groups.
    pub gradual_unfreezing: bool,
    /// Layer group g from the top trains at lr / factor^g.
    pub discriminative_lr: Option<f64>,
    /// The learning-rate schedule the method needs, if any (None: the run's own).
    pub schedule: Option<LrSchedule>,
    /// DANN: γ of the λ schedule (None for the other methods).
    pub dann_gamma: Option<f64>,
}

impl Recipe {
    /// The defaults of `method`: `freeze` freezes the source-known embedding rows; `ulmfit` unfreezes
    /// gradually with discriminative rates (factor 2.6) under a slanted triangular schedule (cut 0.1,
    /// ratio 32); `dann` trains a 2-domain head with γ = 10; `init` and `hetero` train everything.
    pub fn new(method: Method) -> Self {
        let mut r = Self {
            method,
            freeze: Vec::new(),
            freeze_known_rows: false,
            gradual_unfreezing: false,
            discriminative_lr: None,
            schedule: None,
            dann_gamma: None,
        };
        match method {
            Method::Freeze => r.freeze_known_rows = true,
            Method::Ulmfit => {
                r.gradual_unfreezing = true;
                r.discriminative_lr = Some(DEFAULT_FACTOR);
                r.schedule = Some(LrSchedule::SlantedTriangular { cut_frac: 0.1, ratio: 32.0 });
            }
            Method::Dann => r.dann_gamma = Some(DEFAULT_GAMMA),
            Method::Init | Method::Hetero => {}
        }
        r
    }

    /// Domain classes of the target's domain head (2 for DANN, else none).
    pub fn domains(&self) -> usize {
        if self.method == Method::Dann { 2 } else { 0 }
    }

    /// Writes the recipe into a run's settings; `source_vocab` is how many embedding rows came from
    /// the source (the aligned vocabulary puts them first).
    pub fn apply(&self, tc: &mut TrainConfig, source_vocab: usize) {
        tc.freeze = self.freeze.clone();
        if self.freeze_known_rows {
            tc.freeze.retain(|p| !crate::params::pattern_matches(p, "embedding.weight"));
            tc.freeze_embedding_rows_below = Some(source_vocab);
        }
        tc.gradual_unfreezing = self.gradual_unfreezing;
        tc.discriminative_lr = self.discriminative_lr;
        if let Some(schedule) = self.schedule {
            tc.optim.schedule = schedule;
        }
        tc.dann_gamma = self.dann_gamma;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_method_brings_its_settings() {
        let mut tc = TrainConfig::default();
        Recipe::new(Method::Freeze).apply(&mut tc, 40);
        assert_eq!(tc.freeze_embedding_rows_below, Some(40));
        let mut tc = TrainConfig::default();
        Recipe::new(Method::Ulmfit).apply(&mut tc, 40);
        assert!(tc.gradual_unfreezing && tc.discriminative_lr == Some(DEFAULT_FACTOR) && tc.freeze_embedding_rows_below.is_none());
        assert!(matches!(tc.optim.schedule, LrSchedule::SlantedTriangular { .. }));
        let mut tc = TrainConfig::default();
        let dann = Recipe::new(Method::Dann);
        dann.apply(&mut tc, 40);
        assert_eq!((dann.domains(), tc.dann_gamma), (2, Some(DEFAULT_GAMMA)));
        let mut tc = TrainConfig::default();
        let pinned = Recipe { freeze: vec!["embedding.*".into(), "lstm.*".into()], ..Recipe::new(Method::Freeze) };
        pinned.apply(&mut tc, 40);
        assert_eq!(tc.freeze, ["lstm.*"], "known rows replace a whole-embedding pattern");
    }
}
