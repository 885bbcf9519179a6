//! Self-training on the target's unlabelled rows ([`Arm::SelfTrain`]): the source fine-tuned on
//! the n labels (as `init`) labels the rest of the target's pool; its most confident rows, balanced
//! over classes, join the n labels and the source is fine-tuned again from scratch on both; repeated
//! [`ROUNDS`] times. The round kept is the one with the lowest loss on the true-labelled validation
//! rows (round 0 is plain `init`), so pseudo labels that mislead are dropped by the same rule that
//! picks epochs.

use super::{Arm, RunResult, TargetSplit, encode, finish};
use crate::data::{Dataset, tokenize};
use crate::error::Result;
use crate::gpu::GpuContext;
use crate::tasks::classify::checkpoint::Checkpoint;
use crate::tasks::classify::train::predict_logits;
use crate::tasks::classify::{Classifier, TrainConfig, TrainData, evaluate};
use crate::transfer::{self, Method, NewWords, Recipe, TransferOptions};

/// Rounds of pseudo-labelling after the first fine-tuning.
pub const ROUNDS: usize = 2;
/// Pseudo-labelled rows per class and round, as a multiple of the labelled training rows per class.
pub const PER_LABEL: usize = 4;
/// A row joins only when the model gives its predicted class at least this probability.
pub const MIN_CONFIDENCE: f64 = 0.9;

/// The self-training arm on one split (see the module's doc).
pub(super) fn run(
    ctx: &GpuContext,
    source: &Checkpoint,
    s: &TargetSplit,
    mut tc: TrainConfig,
    seed: u64,
    new_words: NewWords,
) -> Result<RunResult> {
    let texts: Vec<Vec<String>> = s.train.iter().chain(&s.unlabelled).map(|r| tokenize(&r.text)).collect();
    let mut plan = transfer::plan_target(source, &texts, s.labels, 1, 30_000)?;
    plan.aligned.start_new_rows(source, new_words)?;
    Recipe::new(Method::Init).apply(&mut tc, plan.aligned.coverage.source_tokens);
    let vocab = &plan.aligned.vocab;
    let (train, valid, test) = (encode(&s.train, vocab, s.labels)?, encode(&s.valid, vocab, s.labels)?, encode(s.test, vocab, s.labels)?);
    let pool = Dataset::unlabelled(s.unlabelled.iter().map(|r| vocab.encode(&r.text)).collect());
    let classes = s.labels.len();
    let quota = PER_LABEL * train.len().div_ceil(classes.max(1));
    let mut pseudo: Option<Dataset> = None;
    let mut best: Option<(f64, RunResult)> = None;
    for round in 0..=ROUNDS {
        let mut model = Classifier::new(ctx, plan.config, tc.batch_size, tc.max_len, seed)?;
        let options = TransferOptions { copy: vec!["*".into()], exclude: plan.exclude.clone(), seed };
        transfer::apply(ctx, &model, source, &plan.aligned.rows, &options)?;
        let rows = pseudo.as_ref().map_or_else(|| train.clone(), |p| train.concat(p));
        let data = TrainData { train: &rows, valid: &valid, labels: s.labels, domain_valid: None };
        let result = finish(ctx, &mut model, data, &tc, &test, Arm::SelfTrain)?;
        let valid_loss = evaluate(ctx, &mut model, &valid, s.labels, tc.batch_size, tc.max_len)?.loss;
        if best.as_ref().is_none_or(|(loss, _)| valid_loss < *loss) {
            best = Some((valid_loss, result));
        }
        if round == ROUNDS || pool.is_empty() {
            break;
        }
        let (logits, _) = predict_logits(ctx, &mut model, &pool, tc.batch_size, tc.max_len)?;
        pseudo = Some(confident_rows(&pool, &logits, classes, quota));
    }
    Ok(best.expect("round 0 ran").1)
}

/// The pool's rows whose predicted class has probability ≥ [`MIN_CONFIDENCE`], at most `quota` per
/// class (the most confident first), labelled with that class. `logits` is `[rows, classes]`.
pub(super) fn confident_rows(pool: &Dataset, logits: &[f32], classes: usize, quota: usize) -> Dataset {
    let mut by_class: Vec<Vec<(f64, usize)>> = vec![Vec::new(); classes];
    for (row, z) in logits.chunks_exact(classes).enumerate() {
        let max = z.iter().fold(f32::NEG_INFINITY, |a, &b| a.max(b)) as f64;
        let sum: f64 = z.iter().map(|&v| (v as f64 - max).exp()).sum();
        let class = (0..classes).fold(0, |m, c| if z[c] > z[m] { c } else { m });
        let p = 1.0 / sum; // exp(max − max) / Σ
        if p >= MIN_CONFIDENCE {
            by_class[class].push((p, row));
        }
    }
    let mut picked: Vec<(usize, u32)> = Vec::new();
    for (class, mut rows) in by_class.into_iter().enumerate() {
        rows.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        picked.extend(rows.into_iter().take(quota).map(|(_, row)| (row, class as u32)));
    }
    picked.sort_unstable();
    let indices: Vec<usize> = picked.iter().map(|&(row, _)| row).collect();
    Dataset { labels: picked.iter().map(|&(_, c)| c).collect(), ..pool.subset(&indices) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn confident_rows_are_balanced_over_classes_and_labelled_with_their_prediction() {
        let pool = Dataset::unlabelled((0..6).map(|i| vec![i]).collect());
        // Rows 0, 1, 2 sure of class 0 (row 1 the surest); row 3 unsure; rows 4, 5 sure of class 1.
        let logits = [5.0, 0.0, 9.0, 0.0, 4.0, 0.0, 0.5, 0.0, 0.0, 6.0, 0.0, 3.0];
        let picked = confident_rows(&pool, &logits, 2, 2);
        assert_eq!(picked.ids, vec![vec![0], vec![1], vec![4], vec![5]]);
        assert_eq!(picked.labels, vec![0, 0, 1, 1]);
        assert!(picked.domains.is_none());
        let one = confident_rows(&pool, &logits, 2, 1);
        assert_eq!((one.ids, one.labels), (vec![vec![1], vec![4]], vec![0, 1]));
    }
}
