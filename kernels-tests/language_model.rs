//! The LSTM language model: truncated BPTT carries the state exactly (two chunks = one long chunk),
//! and the model learns a small corpus, tied or untied.

mod common;

use common::gpu;
use lstm_transfer::kernels::optimizer::AdamConfig;
use lstm_transfer::lm::{batchify, perplexity, run_epoch};
use lstm_transfer::model::{LanguageModel, LanguageModelConfig};

fn config(tie: bool) -> LanguageModelConfig {
    LanguageModelConfig { vocab: 9, embed: 12, hidden: if tie { 12 } else { 10 }, layers: 2, tie_weights: tie }
}

/// A corpus with structure: "2 3 4 5" and "6 7 8" sentences, ended by 1 (standing in for <eos>).
fn corpus(n: usize) -> Vec<u32> {
    (0..n).flat_map(|i| if i % 3 == 0 { vec![6, 7, 8, 1] } else { vec![2, 3, 4, 5, 1] }).collect()
}

#[test]
fn the_carried_state_makes_two_chunks_equal_one() {
    let ctx = gpu();
    let mut model = LanguageModel::new(ctx, config(false), 2, 10, 1).unwrap();
    let (streams, _) = batchify(&corpus(20), 2);
    let (long, n_long) = run_epoch(ctx, &mut model, &[streams[0][..11].to_vec(), streams[1][..11].to_vec()], 10, false, |_, _, _| {}).unwrap();
    let (short, n_short) = run_epoch(ctx, &mut model, &[streams[0][..11].to_vec(), streams[1][..11].to_vec()], 5, false, |_, _, _| {}).unwrap();
    assert_eq!((n_long, n_short), (20, 20));
    assert!((long - short).abs() <= 1e-4 * long.abs(), "one chunk of 10: {long}, two chunks of 5: {short}");
}

#[test]
fn the_language_model_learns_a_small_corpus_tied_or_not() {
    let ctx = gpu();
    for tie in [false, true] {
        let mut model = LanguageModel::new(ctx, config(tie), 4, 8, 2).unwrap();
        model.set_optimizer(AdamConfig { lr: 1e-2, max_grad_norm: 5.0, ..Default::default() });
        let (streams, _) = batchify(&corpus(120), 4);
        let before = perplexity_of(ctx, &mut model, &streams);
        for _ in 0..12 {
            run_epoch(ctx, &mut model, &streams, 8, true, |_, _, _| {}).unwrap();
        }
        let after = perplexity_of(ctx, &mut model, &streams);
        // Within a sentence the next token is certain; after <eos> it is 2 or 6 (2:1): the floor is ≈1.1.
        assert!(before > 5.0 && after < 1.5, "tie = {tie}: perplexity {before:.2} → {after:.2}");
    }
}

fn perplexity_of(ctx: &lstm_transfer::GpuContext, model: &mut LanguageModel, streams: &[Vec<u32>]) -> f64 {
    let (loss, n) = run_epoch(ctx, model, streams, 8, false, |_, _, _| {}).unwrap();
    perplexity(loss, n)
}
