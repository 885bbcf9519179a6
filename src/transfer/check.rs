//! A transferability check before any training (`transfer --check`): figures that say whether a
//! source model is likely to help on a target, from the target's n labelled rows (and, for the domain
//! gap, some source text).
//!
//! - **Coverage**: the share of the target's token occurrences the source's vocabulary knows, and for
//!   the words it does not know, the share of their character trigrams found in the source's words
//!   (how much a subword model could still carry over), and how well the source's subwords recover
//!   rows it learned (held-out words), which is what the new words' induced rows are worth.
//! - **Source confidence**: the source classifier's mean top-class probability and mean normalised
//!   entropy on the target texts, and its accuracy there when the labels are the same.
//! - **LogME** (You, Liu, Wang & Long, ICML 2021): the log marginal evidence, per row, of a Bayesian
//!   linear model from the pooled features to the labels — for the target model started from the
//!   source (what fine-tuning starts from) and for the same model at random; the difference is the
//!   evidence the source's representation adds.
//! - **Proxy A-distance** (Ben-David et al. 2007): `2(1 − 2ε)` for the held-out error ε of a linear
//!   classifier telling source rows from target rows on those features: 0 when the domains look
//!   alike, 2 when they are told apart perfectly.

use std::collections::HashSet;

use nalgebra::{DMatrix, DVector, SymmetricEigen};

use super::{Coverage, NewWords, TransferOptions, apply, plan_target};
use crate::data::{Dataset, TextRow, Vocab, encode_rows, make_batches, tokenize};
use crate::error::{Error, Result};
use crate::gpu::GpuContext;
use crate::tasks::classify::checkpoint::Checkpoint;
use crate::tasks::classify::predictor::softmax;
use crate::tasks::classify::train::{argmax, predict_logits};
use crate::tasks::classify::{Classifier, ClassifierConfig};

/// Rows per forward pass.
const BATCH: usize = 64;
/// Rows of each domain the domain classifier sees at most (as many of each).
const PAD_ROWS: usize = 1_000;

/// The figures of [`check`].
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Transferability {
    /// Labelled target rows the check read.
    pub rows: usize,
    /// Vocabulary coverage of the target text by the source.
    pub coverage: Coverage,
    /// Of the target's token occurrences the source does not know, the mean share of their character
    /// trigrams that occur in the source's vocabulary.
    pub unknown_trigram_coverage: f64,
    /// How well the source's subwords recover its own words' rows (held-out words; see
    /// [`super::subword::fidelity`]): what the rows induced for the target's new words are worth.
    #[serde(default)]
    pub subword_fidelity: Option<super::subword::Fidelity>,
    /// The source classifier's mean top-class probability on the target texts (None for a source
    /// without a head, e.g. a language model).
    pub source_confidence: Option<f64>,
    /// Its mean entropy over ln(classes): 0 certain, 1 uniform.
    pub source_entropy: Option<f64>,
    /// Its accuracy on the labelled target rows, when source and target share their labels.
    pub source_accuracy: Option<f64>,
    /// LogME per row of the pooled features of the target model started from the source.
    pub logme_source: f64,
    /// LogME per row of the same model's features at random initialisation.
    pub logme_random: f64,
    /// Proxy A-distance between source and target rows on the started model's features (None
    /// without source rows).
    pub proxy_a_distance: Option<f64>,
}

/// Checks `source` against labelled target `rows` (labels in `labels` order); `source_rows`
/// (labelled or not) give the domain gap. `seed` draws the random baseline and the target model's
/// fresh rows; `new_words` starts the new words' rows as the runs will.
pub fn check(
    ctx: &GpuContext,
    source: &Checkpoint,
    rows: &[TextRow],
    labels: &[String],
    source_rows: Option<&[TextRow]>,
    seed: u64,
    new_words: NewWords,
) -> Result<Transferability> {
    if rows.len() < 2 {
        return Err(Error::InvalidInput(format!("a transferability check needs labelled target rows: {} given", rows.len())));
    }
    let texts: Vec<Vec<String>> = rows.iter().map(|r| tokenize(&r.text)).collect();
    let mut plan = plan_target(source, &texts, labels, 1, 30_000)?;
    plan.aligned.start_new_rows(source, new_words)?;
    let source_vocab = source.vocab.as_deref().expect("plan_target checked the vocabulary");
    let unknown_trigram_coverage = trigram_coverage(source_vocab, &texts);
    let subword_fidelity = source
        .tensors
        .get("embedding.weight")
        .and_then(|(shape, emb)| super::subword::fidelity(source_vocab, emb, shape[1], 2..source_vocab.len()));
    let max_len = source.info.max_len;
    let vocab = &plan.aligned.vocab;
    let path = std::path::Path::new("target rows");
    let target = encode_rows(rows, vocab, labels, path)?;

    // The target model as fine-tuning would start it, and the same architecture at random.
    let config = ClassifierConfig { domains: 0, ..plan.config };
    let mut started = Classifier::new(ctx, config, BATCH, max_len, seed)?;
    let options = TransferOptions { copy: vec!["*".into()], exclude: plan.exclude.clone(), seed };
    apply(ctx, &started, source, &plan.aligned.rows, &options)?;
    let mut random = Classifier::new(ctx, config, BATCH, max_len, seed)?;
    let started_features = features(ctx, &mut started, &target, max_len)?;
    let logme_source = logme(&started_features, &target.labels, labels.len());
    let logme_random = logme(&features(ctx, &mut random, &target, max_len)?, &target.labels, labels.len());

    let proxy_a_distance = match source_rows {
        Some(src) if !src.is_empty() => {
            // As many rows of each domain: with unequal counts, always answering the larger would
            // look like telling the domains apart.
            let each = src.len().min(rows.len()).min(PAD_ROWS);
            let take = |r: &[TextRow]| Dataset::unlabelled(r.iter().take(each).map(|r| vocab.encode(&r.text)).collect());
            let (s, t) = (features(ctx, &mut started, &take(src), max_len)?, features(ctx, &mut started, &take(rows), max_len)?);
            Some(proxy_a_distance(&s, &t))
        }
        _ => None,
    };

    let (mut source_confidence, mut source_entropy, mut source_accuracy) = (None, None, None);
    if source.info.config.classes > 1 {
        let source_vocab = Vocab::from_tokens(source_vocab.to_vec())?;
        // The source's head reads only the text; the target's labels (other classes, perhaps more
        // of them than the head has) are scored only when they are the source's.
        let same_labels = source.info.labels == labels;
        let row_labels = if same_labels { target.labels.clone() } else { vec![0; rows.len()] };
        let data = Dataset { ids: rows.iter().map(|r| source_vocab.encode(&r.text)).collect(), labels: row_labels, domains: None };
        let mut model = source.classifier(ctx, BATCH, max_len)?;
        let (logits, _) = predict_logits(ctx, &mut model, &data, BATCH, max_len)?;
        let classes = source.info.config.classes;
        let probs: Vec<Vec<f32>> = logits.chunks(classes).map(softmax).collect();
        let n = probs.len() as f64;
        source_confidence = Some(probs.iter().map(|p| p.iter().fold(0.0f32, |a, &b| a.max(b)) as f64).sum::<f64>() / n);
        let entropy = |p: &[f32]| -p.iter().filter(|&&q| q > 0.0).map(|&q| q as f64 * (q as f64).ln()).sum::<f64>();
        source_entropy = Some(probs.iter().map(|p| entropy(p)).sum::<f64>() / n / (classes as f64).ln());
        if same_labels {
            let right = logits.chunks(classes).zip(&target.labels).filter(|(z, y)| argmax(z) == **y as usize).count();
            source_accuracy = Some(right as f64 / n);
        }
    }
    Ok(Transferability {
        rows: rows.len(),
        coverage: plan.aligned.coverage.clone(),
        unknown_trigram_coverage,
        subword_fidelity,
        source_confidence,
        source_entropy,
        source_accuracy,
        logme_source,
        logme_random,
        proxy_a_distance,
    })
}

/// Pooled features of every row, in row order.
fn features(ctx: &GpuContext, model: &mut Classifier, data: &Dataset, max_len: usize) -> Result<Vec<Vec<f64>>> {
    let f = model.cfg.features();
    let plan = make_batches(data, BATCH, max_len, None);
    let mut out = vec![Vec::new(); data.len()];
    for (b, rows) in plan.batches.iter().zip(&plan.rows) {
        let values = model.features(ctx, b)?;
        for (i, &row) in rows.iter().enumerate() {
            out[row] = values[i * f..(i + 1) * f].iter().map(|&v| v as f64).collect();
        }
    }
    Ok(out)
}

/// The character trigrams of a word, with `<` and `>` marking its ends (fastText's convention), each
/// once (a word repeating a trigram counts it once).
fn trigrams(word: &str) -> Vec<String> {
    super::subword::ngrams_of(word, 3..=3)
}

/// Over the target's token occurrences unknown to `source_vocab`, the mean share of their trigrams
/// that some source word has (1 when every target token is known).
fn trigram_coverage(source_vocab: &[String], texts: &[Vec<String>]) -> f64 {
    let known: HashSet<&str> = source_vocab.iter().map(String::as_str).collect();
    let source_grams: HashSet<String> = source_vocab.iter().flat_map(|w| trigrams(w)).collect();
    let shares: Vec<f64> = texts
        .iter()
        .flatten()
        .filter(|t| !known.contains(t.as_str()))
        .map(|t| {
            let grams = trigrams(t);
            grams.iter().filter(|g| source_grams.contains(*g)).count() as f64 / grams.len().max(1) as f64
        })
        .collect();
    if shares.is_empty() { 1.0 } else { shares.iter().sum::<f64>() / shares.len() as f64 }
}

/// LogME: the maximum log evidence per row of a Bayesian linear regression from `features` to each
/// class's one-hot column, averaged over classes (You et al. 2021, Algorithm 1: fixed-point updates of
/// the prior precision α and noise precision β on the eigenbasis of FᵀF).
pub fn logme(features: &[Vec<f64>], labels: &[u32], classes: usize) -> f64 {
    let (n, d) = (features.len(), features.first().map_or(0, Vec::len));
    if n == 0 || d == 0 {
        return 0.0;
    }
    let f = DMatrix::from_fn(n, d, |i, j| features[i][j]);
    let eigen = SymmetricEigen::new(f.transpose() * &f);
    let (v, s) = (&eigen.eigenvectors, eigen.eigenvalues.map(|x| x.max(0.0)));
    let evidence = |y: &DVector<f64>| {
        let projected = v.transpose() * (f.transpose() * y);
        let (mut alpha, mut beta) = (1.0f64, 1.0f64);
        let (mut m_sq, mut residual_sq) = (0.0, 0.0);
        for _ in 0..11 {
            let gamma: f64 = s.iter().map(|&si| beta * si / (alpha + beta * si)).sum();
            let m = v * DVector::from_iterator(d, projected.iter().zip(s.iter()).map(|(&p, &si)| beta * p / (alpha + beta * si)));
            m_sq = m.norm_squared();
            residual_sq = (y - &f * &m).norm_squared();
            let (new_alpha, new_beta) = (gamma / (m_sq + 1e-5), (n as f64 - gamma) / (residual_sq + 1e-5));
            let settled = ((new_alpha / new_beta) - (alpha / beta)).abs() / (alpha / beta) < 0.01;
            (alpha, beta) = (new_alpha, new_beta);
            if settled {
                break;
            }
        }
        let log_det: f64 = s.iter().map(|&si| (alpha + beta * si).ln()).sum();
        let nf = n as f64;
        (d as f64 / 2.0 * alpha.ln() + nf / 2.0 * beta.ln()
            - 0.5 * log_det
            - beta / 2.0 * residual_sq
            - alpha / 2.0 * m_sq
            - nf / 2.0 * (2.0 * std::f64::consts::PI).ln())
            / nf
    };
    (0..classes).map(|c| evidence(&DVector::from_iterator(n, labels.iter().map(|&l| if l as usize == c { 1.0 } else { 0.0 })))).sum::<f64>()
        / classes as f64
}

/// Proxy A-distance `2(1 − 2ε)`, ε the error on the odd rows of a ridge-regression classifier fitted
/// on the even rows to tell `source` (−1) from `target` (+1); clamped to [0, 2]. Give as many rows of
/// each: the error is measured against a balanced guess.
pub fn proxy_a_distance(source: &[Vec<f64>], target: &[Vec<f64>]) -> f64 {
    let rows: Vec<(&Vec<f64>, f64)> = source.iter().map(|x| (x, -1.0)).chain(target.iter().map(|x| (x, 1.0))).collect();
    let d = rows.first().map_or(0, |(x, _)| x.len());
    let (fit, held): (Vec<_>, Vec<_>) = rows.iter().enumerate().partition(|(i, _)| i % 2 == 0);
    if fit.is_empty() || held.is_empty() || d == 0 {
        return 0.0;
    }
    // Standardize on the fitting rows; the last column is the intercept.
    let mean: Vec<f64> = (0..d).map(|j| fit.iter().map(|(_, (x, _))| x[j]).sum::<f64>() / fit.len() as f64).collect();
    let sd: Vec<f64> = (0..d)
        .map(|j| (fit.iter().map(|(_, (x, _))| (x[j] - mean[j]).powi(2)).sum::<f64>() / fit.len() as f64).sqrt().max(1e-12))
        .collect();
    let design = |x: &[f64]| DVector::from_iterator(d + 1, (0..d).map(|j| (x[j] - mean[j]) / sd[j]).chain([1.0]));
    let x = DMatrix::from_fn(fit.len(), d + 1, |i, j| design(fit[i].1.0)[j]);
    let y = DVector::from_iterator(fit.len(), fit.iter().map(|(_, (_, l))| *l));
    let gram = x.transpose() * &x + DMatrix::identity(d + 1, d + 1) * 1.0;
    let Some(w) = gram.cholesky().map(|c| c.solve(&(x.transpose() * y))) else { return 0.0 };
    let wrong = held.iter().filter(|(_, (x, l))| design(x).dot(&w).signum() != *l).count();
    let error = wrong as f64 / held.len() as f64;
    (2.0 * (1.0 - 2.0 * error)).clamp(0.0, 2.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    fn gaussian_rows(rng: &mut ChaCha8Rng, n: usize, d: usize, shift: f64) -> Vec<Vec<f64>> {
        (0..n).map(|_| (0..d).map(|j| rng.random_range(-1.0..1.0) + if j == 0 { shift } else { 0.0 }).collect()).collect()
    }

    #[test]
    fn logme_prefers_features_that_carry_the_labels() {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let labels: Vec<u32> = (0..120).map(|i| (i % 2) as u32).collect();
        let noise = gaussian_rows(&mut rng, 120, 8, 0.0);
        let mut informative = noise.clone();
        for (x, &y) in informative.iter_mut().zip(&labels) {
            x[0] += if y == 1 { 2.0 } else { -2.0 };
        }
        let (good, bad) = (logme(&informative, &labels, 2), logme(&noise, &labels, 2));
        assert!(good > bad + 0.1, "informative {good:.3} vs noise {bad:.3}");
        assert!(good.is_finite() && bad.is_finite());
    }

    #[test]
    fn the_proxy_a_distance_is_near_0_for_one_domain_and_near_2_for_separate_ones() {
        let mut rng = ChaCha8Rng::seed_from_u64(4);
        let (a, b) = (gaussian_rows(&mut rng, 200, 6, 0.0), gaussian_rows(&mut rng, 200, 6, 0.0));
        let same = proxy_a_distance(&a, &b);
        let far = proxy_a_distance(&a, &gaussian_rows(&mut rng, 200, 6, 5.0));
        assert!(same < 0.4, "one distribution: {same:.3}");
        assert!(far > 1.9, "separated: {far:.3}");
    }

    #[test]
    fn unknown_words_count_the_trigrams_the_source_has() {
        let source: Vec<String> = ["great", "food"].iter().map(|s| s.to_string()).collect();
        // "greatest" shares <gr, gre, rea, eat with "great" (4 of its 8 trigrams); "food" is known.
        let texts = vec![vec!["greatest".to_string(), "food".to_string()]];
        assert!((trigram_coverage(&source, &texts) - 0.5).abs() < 1e-12);
        assert_eq!(trigram_coverage(&source, &[vec!["food".to_string()]]), 1.0);
    }
}
