//! The four transfer methods through the library: Net2Net widening preserves the logits, init copies
//! every tensor with aligned vocabulary rows, freezing keeps frozen tensors and rows bit for bit while
//! the rest trains, gradual unfreezing opens one layer group per epoch, deepening is a close
//! approximation, and DANN trains a domain head behind the gradient reversal (whose gradients are
//! checked against PyTorch in pytorch_parity.rs).

mod common;

use common::{assert_close, gpu, rng, to_f64};
use lstm_transfer::GpuContext;
use lstm_transfer::config::{OptimConfig, Pooling};
use lstm_transfer::data::{Batch, Dataset, make_batches};
use lstm_transfer::kernels::loss::IGNORE_LABEL;
use lstm_transfer::params::TensorMap;
use lstm_transfer::tasks::classify::checkpoint::{Checkpoint, ModelInfo, TOKENIZER};
use lstm_transfer::tasks::classify::{Classifier, ClassifierConfig, TrainConfig, TrainData, TrainState, train_classifier};
use lstm_transfer::transfer::{self, NewWords, RowSource, TransferOptions, align_vocab, dann};
use rand::Rng;

const VOCAB: usize = 30;

fn source_config() -> ClassifierConfig {
    ClassifierConfig { vocab: VOCAB, embed: 6, hidden: 7, layers: 2, bidirectional: true, classes: 3, domains: 0, pooling: Pooling::Concat }
}

/// A source "checkpoint" from a randomly initialised classifier (PyTorch-style init, seeded).
fn source(ctx: &GpuContext, cfg: ClassifierConfig, seed: u64) -> Checkpoint {
    let model = Classifier::new(ctx, cfg, 4, 4, seed).unwrap();
    let tensors: TensorMap = model.store.download(ctx).unwrap().into_iter().map(|(n, s, v)| (n, (s, v))).collect();
    let labels = (0..cfg.classes).map(|c| c.to_string()).collect();
    let info = ModelInfo { config: cfg, labels, max_len: 16, tokenizer: TOKENIZER.into() };
    Checkpoint { info, vocab: None, tensors, ignored: vec![], metadata: Default::default() }
}

/// Seeded id sequences (lengths 1..=13, so padded rows).
fn probe(n: usize, seed: u64) -> Batch {
    let mut g = rng(seed);
    let data = Dataset {
        ids: (0..n).map(|_| (0..g.random_range(1..=13)).map(|_| g.random_range(2..VOCAB as u32)).collect()).collect(),
        labels: vec![0; n],
        domains: None,
    };
    make_batches(&data, n, 13, None).batches.remove(0)
}

fn identity_rows() -> Vec<RowSource> {
    (0..VOCAB).map(RowSource::Source).collect()
}

/// Logits of the source and of a target of configuration `target` after `transfer::apply`.
fn logits_before_and_after(ctx: &GpuContext, target: ClassifierConfig) -> (Vec<f32>, Vec<f32>) {
    let src = source(ctx, source_config(), 3);
    let batch = probe(9, 4);
    let mut src_model = src.classifier(ctx, 9, 13).unwrap();
    let mut tgt_model = Classifier::new(ctx, target, 9, 13, 77).unwrap();
    transfer::apply(ctx, &tgt_model, &src, &identity_rows(), &TransferOptions::default()).unwrap();
    (src_model.logits(ctx, &batch).unwrap(), tgt_model.logits(ctx, &batch).unwrap())
}

#[test]
fn net2net_widening_preserves_the_logits() {
    let ctx = gpu();
    let wide = ClassifierConfig { hidden: 19, ..source_config() };
    let (before, after) = logits_before_and_after(ctx, wide);
    assert_close("widened logits", &after, &to_f64(&before), 1e-5, 1e-5);
}

#[test]
fn wider_embedding_and_a_new_reverse_direction_preserve_the_logits() {
    let ctx = gpu();
    let uni = ClassifierConfig { bidirectional: false, ..source_config() };
    let src = source(ctx, uni, 5);
    let batch = probe(9, 6);
    let want = src.classifier(ctx, 9, 13).unwrap().logits(ctx, &batch).unwrap();
    for target in [ClassifierConfig { embed: 11, ..uni }, ClassifierConfig { bidirectional: true, hidden: 10, ..uni }] {
        let mut model = Classifier::new(ctx, target, 9, 13, 8).unwrap();
        transfer::apply(ctx, &model, &src, &identity_rows(), &TransferOptions::default()).unwrap();
        assert_close(&format!("{target:?}"), &model.logits(ctx, &batch).unwrap(), &to_f64(&want), 1e-5, 1e-5);
    }
}

/// Deepening is an approximation (documented in transfer/hetero.rs); measured here, not assumed.
#[test]
fn deepening_keeps_most_predictions() {
    let ctx = gpu();
    let deep = ClassifierConfig { layers: 3, ..source_config() };
    let (before, after) = logits_before_and_after(ctx, deep);
    let argmax = |z: &[f32]| (0..z.len()).fold(0, |m, c| if z[c] > z[m] { c } else { m });
    let agree = before.chunks(3).zip(after.chunks(3)).filter(|(a, b)| argmax(a) == argmax(b)).count();
    assert!(agree >= 7, "the pass-through layer should keep most of 9 predictions, kept {agree}");
}

#[test]
fn init_copies_every_tensor_and_aligns_the_vocabulary() {
    let ctx = gpu();
    let src_vocab: Vec<String> = ["<pad>", "<unk>", "good", "bad", "film"].map(String::from).to_vec();
    let texts = vec![vec!["good".to_string(), "food".into(), "food".into()], vec!["bad".into(), "service".into()]];
    let aligned = align_vocab(&src_vocab, &texts, 1, 100).unwrap();
    assert_eq!(aligned.vocab.tokens, ["<pad>", "<unk>", "good", "bad", "film", "food", "service"]);
    use RowSource::{Fresh, Source};
    assert_eq!(aligned.rows, [Source(0), Source(1), Source(2), Source(3), Source(4), Fresh, Fresh]);
    assert_eq!((aligned.coverage.new_tokens, aligned.coverage.covered_occurrences), (2, 0.4));

    let cfg =
        ClassifierConfig { vocab: 5, embed: 4, hidden: 5, layers: 1, bidirectional: false, classes: 2, domains: 0, pooling: Pooling::Last };
    let src = source(ctx, cfg, 9);
    let target = Classifier::new(ctx, ClassifierConfig { vocab: 7, ..cfg }, 2, 3, 10).unwrap();
    let fresh = target.store.download(ctx).unwrap();
    let report = transfer::apply(ctx, &target, &src, &aligned.rows, &TransferOptions::default()).unwrap();
    assert_eq!(report.copied.len(), cfg.param_specs().len(), "every tensor copied: {report:?}");
    let after = target.store.download(ctx).unwrap();
    for ((name, _, got), (_, _, was)) in after.iter().zip(&fresh) {
        if name == "embedding.weight" {
            let src_emb = &src.tensors[name].1;
            assert_eq!(&got[..5 * 4], &src_emb[..], "source rows copied");
            assert_eq!(&got[5 * 4..], &was[5 * 4..], "new rows keep their fresh init");
        } else {
            assert_eq!(got, &src.tensors[name].1, "{name} copied");
        }
    }
}

/// New target words start from the source's subwords. The source's embedding is built as training
/// leaves one: random rows, plus +3 along the first axis for the 30 words starting "good", −3 for
/// the 30 starting "bad". "goodness" shares n-grams with the good-words, so its row is induced on
/// their side; "123" shares none and stays fresh; `fresh` leaves both fresh.
#[test]
fn new_words_start_from_the_source_subwords() {
    let ctx = gpu();
    let mut g = rng(3);
    let mut src_vocab: Vec<String> = vec!["<pad>".into(), "<unk>".into()];
    for i in 0..60 {
        let ending: String = (0..3).map(|_| g.random_range(b'a'..=b'z') as char).collect();
        src_vocab.push(format!("{}{ending}", if i % 2 == 0 { "good" } else { "bad" }));
    }
    let cfg = ClassifierConfig {
        vocab: src_vocab.len(),
        embed: 8,
        hidden: 5,
        layers: 1,
        bidirectional: false,
        classes: 2,
        domains: 0,
        pooling: Pooling::Last,
    };
    let mut src = Checkpoint { vocab: Some(src_vocab.clone()), ..source(ctx, cfg, 9) };
    let emb = &mut src.tensors.get_mut("embedding.weight").unwrap().1;
    for (w, row) in emb.chunks_mut(8).enumerate().skip(2) {
        row[0] += if w % 2 == 0 { 3.0 } else { -3.0 };
    }
    let emb = src.tensors["embedding.weight"].1.clone();
    let texts = vec![vec!["goodness".to_string(), "123".into(), src_vocab[2].clone()]];
    let mut fresh_plan = align_vocab(&src_vocab, &texts, 1, 100).unwrap();
    assert_eq!(fresh_plan.start_new_rows(&src, NewWords::Fresh).unwrap(), 0);
    assert!(fresh_plan.rows[62..].iter().all(|r| *r == RowSource::Fresh));

    let mut aligned = align_vocab(&src_vocab, &texts, 1, 100).unwrap();
    assert_eq!(aligned.vocab.tokens[62..], ["123", "goodness"]);
    assert_eq!(aligned.start_new_rows(&src, NewWords::Subword).unwrap(), 1);
    assert_eq!((aligned.coverage.induced_tokens, &aligned.rows[62]), (1, &RowSource::Fresh));
    let RowSource::Induced(induced) = aligned.rows[63].clone() else { panic!("goodness: {:?}", aligned.rows[63]) };
    assert!(induced[0] > 1.5, "goodness lands on the good-words' side of the first axis: {induced:?}");

    let target = Classifier::new(ctx, ClassifierConfig { vocab: 64, ..cfg }, 2, 3, 10).unwrap();
    let before = target.store.download(ctx).unwrap();
    let report = transfer::apply(ctx, &target, &src, &aligned.rows, &TransferOptions::default()).unwrap();
    assert!(report.notes.iter().any(|n| n.contains("1 new tokens' rows induced")), "{:?}", report.notes);
    let after = target.store.download(ctx).unwrap();
    let table = |t: &[(String, Vec<usize>, Vec<f32>)]| t.iter().find(|t| t.0 == "embedding.weight").unwrap().2.clone();
    let (got, was) = (table(&after), table(&before));
    assert_eq!(&got[..62 * 8], &emb[..], "source rows copied");
    assert_eq!(&got[62 * 8..63 * 8], &was[62 * 8..63 * 8], "123 keeps its fresh row");
    assert_eq!(&got[63 * 8..], &induced[..], "goodness takes its induced row");
}

/// Toy target task on ids 2..VOCAB: label = whether id 5 occurs.
fn toy(n: usize, seed: u64, classes: u32) -> Dataset {
    let mut g = rng(seed);
    let mut d = Dataset::default();
    for i in 0..n {
        let mut ids: Vec<u32> = (0..g.random_range(2..=9)).map(|_| g.random_range(6..VOCAB as u32)).collect();
        let label = (i as u32) % classes;
        if label == 1 {
            let at = g.random_range(0..ids.len());
            ids[at] = 5;
        }
        d.ids.push(ids);
        d.labels.push(label);
    }
    d
}

fn train_config(epochs: usize) -> TrainConfig {
    TrainConfig { epochs, batch_size: 16, max_len: 9, read_every: 2, optim: OptimConfig::adam(1e-2, 0.0), ..Default::default() }
}

fn download(ctx: &GpuContext, model: &Classifier) -> std::collections::HashMap<String, Vec<f32>> {
    model.store.download(ctx).unwrap().into_iter().map(|(n, _, v)| (n, v)).collect()
}

#[test]
fn frozen_tensors_and_rows_stay_bit_identical_while_the_rest_trains() {
    let ctx = gpu();
    let cfg = ClassifierConfig { layers: 2, bidirectional: false, ..source_config() };
    let labels: Vec<String> = (0..3).map(|c| c.to_string()).collect();
    let (train, valid) = (toy(64, 1, 3), toy(16, 2, 3));
    let data = TrainData { train: &train, valid: &valid, labels: &labels, domain_valid: None };

    // Pattern freeze: the embedding and the first LSTM layer.
    let mut model = Classifier::new(ctx, cfg, 16, 9, 1).unwrap();
    let before = download(ctx, &model);
    let tc = TrainConfig { freeze: vec!["embedding.*".into(), "lstm.*_l0".into()], ..train_config(1) };
    train_classifier(ctx, &mut model, data, &tc, TrainState::default(), &mut ()).unwrap();
    let after = download(ctx, &model);
    for (name, was) in &before {
        let frozen = name == "embedding.weight" || name.ends_with("_l0");
        assert_eq!(&after[name] == was, frozen, "{name}: frozen = {frozen}");
    }

    // Row-level freeze: rows below 12 keep their values, the others train.
    let mut model = Classifier::new(ctx, cfg, 16, 9, 1).unwrap();
    let before = download(ctx, &model)["embedding.weight"].clone();
    let tc = TrainConfig { freeze_embedding_rows_below: Some(12), ..train_config(1) };
    train_classifier(ctx, &mut model, data, &tc, TrainState::default(), &mut ()).unwrap();
    let after = download(ctx, &model)["embedding.weight"].clone();
    let e = cfg.embed;
    assert_eq!(&after[..12 * e], &before[..12 * e], "source-known rows frozen");
    assert_ne!(&after[12 * e..], &before[12 * e..], "new rows train");

    // Gradual unfreezing: epoch 1 trains only the head.
    let mut model = Classifier::new(ctx, cfg, 16, 9, 1).unwrap();
    let before = download(ctx, &model);
    let tc = TrainConfig { gradual_unfreezing: true, discriminative_lr: Some(2.6), ..train_config(1) };
    train_classifier(ctx, &mut model, data, &tc, TrainState::default(), &mut ()).unwrap();
    let after = download(ctx, &model);
    for (name, was) in &before {
        assert_eq!(&after[name] != was, name.starts_with("fc."), "{name} after one gradually unfrozen epoch");
    }
}

#[test]
fn dann_trains_a_domain_head_and_reports_the_proxy_a_distance() {
    let ctx = gpu();
    let cfg = ClassifierConfig { domains: 2, bidirectional: false, layers: 1, classes: 2, ..source_config() };
    let labels: Vec<String> = vec!["0".into(), "1".into()];
    let source_rows = toy(64, 1, 2);
    // Target domain: other ids (shifted up), unlabelled.
    let mut target_rows = toy(32, 3, 2);
    target_rows.ids.iter_mut().flatten().for_each(|id| *id = (*id + 7).min(VOCAB as u32 - 1));
    let valid = toy(16, 2, 2);
    let rows = dann::dann_data(&source_rows, &Dataset::default(), &target_rows, &valid, &target_rows);
    assert_eq!(rows.train.labels.iter().filter(|&&l| l == IGNORE_LABEL).count(), 64, "as many target rows as source rows");
    let data = TrainData { train: &rows.train, valid: &valid, labels: &labels, domain_valid: Some(&rows.domain_valid) };
    let mut model = Classifier::new(ctx, cfg, 16, 9, 1).unwrap();
    let tc = TrainConfig { dann_gamma: Some(10.0), ..train_config(2) };
    let state = train_classifier(ctx, &mut model, data, &tc, TrainState::default(), &mut ()).unwrap();
    let (first, last) = (&state.logs[0], &state.logs[1]);
    assert!(first.lambda.unwrap() > 0.0 && last.lambda.unwrap() > first.lambda.unwrap(), "λ rises: {first:?} {last:?}");
    for log in &state.logs {
        let (acc, pad) = (log.valid_domain_accuracy.unwrap(), log.proxy_a_distance.unwrap());
        assert!((0.0..=1.0).contains(&acc) && (pad - 2.0 * (1.0 - 2.0 * (1.0 - acc).min(0.5))).abs() < 1e-12);
        assert!(log.domain_accuracy.is_some());
    }
    // The domain head did train (its weights moved from the init).
    let fresh = Classifier::new(ctx, cfg, 16, 9, 1).unwrap();
    assert_ne!(download(ctx, &model)["domain.weight"], download(ctx, &fresh)["domain.weight"]);
}

#[test]
fn submit_logits_of_a_dann_model_returns_the_class_logits() {
    // A model with a domain head has more logits per row than its class head: the non-blocking
    // readback must copy exactly the class logits into its staging buffer (it once copied the
    // domain logits too, past the buffer's end).
    let ctx = gpu();
    let cfg = ClassifierConfig { domains: 2, classes: 3, ..source_config() };
    let mut model = Classifier::new(ctx, cfg, 5, 9, 4).unwrap();
    let data = toy(5, 8, 3);
    let batch = &make_batches(&data, 5, 9, None).batches[0];
    let pending = model.submit_logits(ctx, batch).unwrap();
    let async_logits = loop {
        if let Some(z) = pending.poll(ctx).unwrap() {
            break z;
        }
    };
    let (classes, domains) = model.logits_and_domains(ctx, batch).unwrap();
    assert_eq!(async_logits.len(), 5 * 3);
    assert_eq!(async_logits, classes, "the class logits, in the same order");
    assert_eq!(domains.len(), 5 * 2);
    assert_eq!(model.logits(ctx, batch).unwrap(), classes);
}

#[test]
fn the_initial_parameters_recomputed_on_the_host_are_the_uploaded_ones() {
    // transfer::apply maps from them instead of reading the GPU back (a browser cannot wait).
    let ctx = gpu();
    let cfg = ClassifierConfig { domains: 2, ..source_config() };
    let model = Classifier::new(ctx, cfg, 4, 6, 17).unwrap();
    let on_gpu = model.store.download_map(ctx).unwrap();
    let on_host = model.initial_params();
    assert_eq!(on_gpu.len(), on_host.len());
    for (name, (shape, values)) in &on_gpu {
        assert_eq!(&on_host[name].0, shape, "{name}");
        assert!(on_host[name].1 == *values, "{name}: host and GPU initial values differ");
    }
    // Once parameters are loaded the initial draw is no longer what the store holds: refused.
    let mut loaded = Classifier::new(ctx, source_config(), 4, 6, 17).unwrap();
    let initial = loaded.initial_params();
    loaded.load_params(ctx, &initial).unwrap();
    let src = source(ctx, source_config(), 2);
    let err = transfer::apply(ctx, &loaded, &src, &identity_rows(), &TransferOptions::default()).unwrap_err().to_string();
    assert!(err.contains("freshly built"), "{err}");
}
