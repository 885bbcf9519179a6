//! The LSTM language model: truncated BPTT carries the state exactly (two chunks = one long chunk),
//! and the model learns a small corpus, tied or untied.

mod common;

use common::{gpu, gpu_f16};
use lstm_transfer::config::OptimConfig;
use lstm_transfer::tasks::lm::train::{Pass, run_streams};
use lstm_transfer::tasks::lm::{LanguageModel, LanguageModelConfig, LmTrainConfig, batchify, score, train_lm};

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
    let head = [streams[0][..11].to_vec(), streams[1][..11].to_vec()];
    let long = run_streams(ctx, &mut model, &head, 10, Pass::Score, &mut |_| {}).unwrap();
    let short = run_streams(ctx, &mut model, &head, 5, Pass::Score, &mut |_| {}).unwrap();
    assert_eq!((long.items, short.items), (20, 20));
    let (long, short) = (long.loss, short.loss);
    assert!((long - short).abs() <= 1e-4 * long.abs(), "one chunk of 10: {long}, two chunks of 5: {short}");
}

#[test]
fn the_language_model_learns_a_small_corpus_tied_or_not() {
    // Also with the LSTM's activations stored as f16 (the decoder reads y and writes dy as f16).
    for (ctx, tie) in [(gpu(), false), (gpu(), true), (gpu_f16(), false)] {
        let mut model = LanguageModel::new(ctx, config(tie), 4, 8, 2).unwrap();
        let (streams, _) = batchify(&corpus(120), 4);
        let before = score(ctx, &mut model, &streams, 8).unwrap();
        let cfg = LmTrainConfig { epochs: 12, bptt: 8, optim: OptimConfig::adam(1e-2, 5.0) };
        let state = train_lm(ctx, &mut model, &streams, None, &cfg, &mut ()).unwrap();
        assert_eq!(state.logs.len(), 12);
        let after = score(ctx, &mut model, &streams, 8).unwrap();
        // Within a sentence the next token is certain; after <eos> it is 2 or 6 (2:1): the floor is ≈1.1.
        assert!(before > 5.0 && after < 1.5, "tie = {tie}, {:?}: perplexity {before:.2} → {after:.2}", ctx.precision());
    }
}
