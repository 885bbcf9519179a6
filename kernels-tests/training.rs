//! Training end to end through the library: the validation loss falls, a resumed run continues bit
//! for bit, checkpoints round-trip, and bad states (NaN loss, oversized models, wrong shapes) give
//! typed errors without touching the last good checkpoint.

mod common;

use std::path::PathBuf;

use common::{gpu, rng};
use lstm_transfer::config::{LrSchedule, OptimConfig, Pooling};
use lstm_transfer::core::fit::FitObserver;
use lstm_transfer::data::Dataset;
use lstm_transfer::tasks::classify::checkpoint::{self, ModelInfo, TOKENIZER, load_train_state, save_classifier, save_train_state};
use lstm_transfer::tasks::classify::stepwise::StepwiseTrainer;
use lstm_transfer::tasks::classify::{
    Classifier, ClassifierConfig, ClassifierRun, TrainConfig, TrainData, TrainState, evaluate, train_classifier,
};
use lstm_transfer::{Error, GpuContext};
use rand::Rng;

const VOCAB: usize = 23;

/// Label 1 when token 5 occurs in the sequence (lengths 2..=11, so rows need padding).
fn toy_data(n: usize, seed: u64) -> Dataset {
    let mut g = rng(seed);
    let mut data = Dataset::default();
    for i in 0..n {
        let len = g.random_range(2..=11);
        let mut ids: Vec<u32> = (0..len).map(|_| g.random_range(6..VOCAB as u32)).collect();
        let label = (i % 2) as u32;
        if label == 1 {
            let at = g.random_range(0..len);
            ids[at] = 5;
        }
        data.ids.push(ids);
        data.labels.push(label);
    }
    data
}

fn config() -> ClassifierConfig {
    ClassifierConfig {
        vocab: VOCAB,
        embed: 8,
        hidden: 12,
        layers: 1,
        bidirectional: true,
        classes: 2,
        domains: 0,
        pooling: Pooling::Concat,
    }
}

fn train_config(epochs: usize) -> TrainConfig {
    TrainConfig {
        epochs,
        batch_size: 16,
        max_len: 12,
        seed: 3,
        dropout: 0.2,
        read_every: 4,
        optim: OptimConfig { schedule: LrSchedule::WarmupLinear { warmup: 0.2 }, ..OptimConfig::adam(1e-2, 5.0) },
        ..Default::default()
    }
}

fn data<'a>(train: &'a Dataset, valid: &'a Dataset, labels: &'a [String]) -> TrainData<'a> {
    TrainData { train, valid, labels, domain_valid: None }
}

fn labels() -> Vec<String> {
    vec!["no".into(), "yes".into()]
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("lstm-transfer-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn info() -> ModelInfo {
    ModelInfo { config: config(), labels: labels(), max_len: 12, tokenizer: TOKENIZER.into() }
}

/// Saves the training state after the given epoch.
struct SaveAfter<'a> {
    ctx: &'a GpuContext,
    epoch: usize,
    path: PathBuf,
    config: TrainConfig,
}

impl<'r> FitObserver<ClassifierRun<'r>> for SaveAfter<'_> {
    fn epoch_end(&mut self, run: &ClassifierRun<'r>, state: &TrainState, _improved: bool) -> lstm_transfer::Result<()> {
        if state.epoch == self.epoch {
            save_train_state(&self.path, self.ctx, run.model, &info(), None, state, &self.config, "")?;
        }
        Ok(())
    }
}

fn param_bits(ctx: &GpuContext, model: &Classifier) -> Vec<(String, Vec<u32>)> {
    model.store.download(ctx).unwrap().into_iter().map(|(n, _, v)| (n, v.iter().map(|x| x.to_bits()).collect())).collect()
}

#[test]
fn training_lowers_the_validation_loss_and_resumes_bit_identically() {
    let ctx = gpu();
    let (train, valid, labels) = (toy_data(320, 1), toy_data(64, 2), labels());
    let cfg = train_config(6);
    let dir = temp_dir("resume");
    let state_path = dir.join("run.state.safetensors");

    // Run A: six epochs straight, saving the state after epoch 2.
    let mut a = Classifier::new(ctx, config(), cfg.batch_size, cfg.max_len, 11).unwrap();
    let before = evaluate(ctx, &mut a, &valid, &labels, 16, 12).unwrap().loss;
    let mut observer = SaveAfter { ctx, epoch: 2, path: state_path.clone(), config: cfg.clone() };
    let state_a = train_classifier(ctx, &mut a, data(&train, &valid, &labels), &cfg, TrainState::default(), &mut observer).unwrap();
    let after = state_a.logs.last().unwrap().valid_loss;
    assert!(after < 0.8 * before, "validation loss should fall: {before:.4} before training, {after:.4} after");

    // Run B: a fresh model (another init seed) restored from the epoch-2 state, trained to epoch 6.
    let saved = load_train_state(&state_path).unwrap();
    assert_eq!((saved.state.epoch, saved.config.clone()), (2, cfg.clone()));
    let mut b = Classifier::new(ctx, config(), cfg.batch_size, cfg.max_len, 99).unwrap();
    saved.restore(ctx, &mut b).unwrap();
    let state_b = train_classifier(ctx, &mut b, data(&train, &valid, &labels), &saved.config, saved.state.clone(), &mut ()).unwrap();

    let losses = |s: &TrainState| s.logs.iter().map(|l| (l.epoch, l.train_loss.to_bits(), l.valid_loss.to_bits())).collect::<Vec<_>>();
    assert_eq!(losses(&state_a), losses(&state_b), "the resumed run must log the same losses, bit for bit");
    assert_eq!(state_a.updates, state_b.updates);
    assert!(param_bits(ctx, &a) == param_bits(ctx, &b), "the resumed run must end with bit-identical parameters");
    std::fs::remove_dir_all(dir).unwrap();
}

/// Writes tensors the way `safetensors.torch.save_file(model.state_dict())` does: f32, no metadata.
fn write_plain_state_dict(path: &std::path::Path, tensors: &lstm_transfer::params::TensorMap) {
    let views: Vec<(String, safetensors::tensor::TensorView)> = tensors
        .iter()
        .map(|(n, (s, v))| {
            (n.clone(), safetensors::tensor::TensorView::new(safetensors::Dtype::F32, s.clone(), bytemuck::cast_slice(v)).unwrap())
        })
        .collect();
    std::fs::write(path, safetensors::serialize(views, None).unwrap()).unwrap();
}

#[test]
fn a_checkpoint_round_trips_and_loads_as_a_plain_state_dict() {
    let ctx = gpu();
    let dir = temp_dir("ckpt");
    let path = dir.join("model.safetensors");
    let mut model = Classifier::new(ctx, config(), 8, 12, 5).unwrap();
    let vocab: Vec<String> = ["<pad>", "<unk>"].iter().map(|s| s.to_string()).chain((2..VOCAB).map(|i| format!("w{i}"))).collect();
    save_classifier(&path, ctx, &model, &info(), Some(&vocab)).unwrap();
    let ckpt = checkpoint::load(&path, None).unwrap();
    assert_eq!((ckpt.info.clone(), ckpt.vocab.clone()), (info(), Some(vocab)));
    let batch = &lstm_transfer::data::make_batches(&toy_data(8, 4), 8, 12, None).batches[0];
    let mut loaded = ckpt.classifier(ctx, 8, 12).unwrap();
    assert_eq!(model.logits(ctx, batch).unwrap(), loaded.logits(ctx, batch).unwrap());

    // Without metadata (as PyTorch's save_file writes it) the configuration comes from the shapes.
    let plain = dir.join("plain.safetensors");
    write_plain_state_dict(&plain, &lstm_transfer::core::checkpoint::read_tensors(&path).unwrap().0);
    let inferred = checkpoint::load(&plain, None).unwrap();
    assert_eq!(inferred.info.config, config(), "concat pooling is inferred from fc.weight's width");
    assert!(inferred.vocab.is_none());
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn the_golden_pytorch_state_dict_loads_and_a_wrong_shape_is_named() {
    let golden = format!("{}/kernels-tests/fixtures/golden/classifier.safetensors", env!("CARGO_MANIFEST_DIR"));
    let ckpt = checkpoint::load(std::path::Path::new(&golden), None).unwrap();
    let c = ckpt.info.config;
    assert_eq!((c.vocab, c.embed, c.hidden, c.layers, c.bidirectional, c.classes, c.pooling), (50, 8, 16, 2, false, 4, Pooling::Last));
    assert!(ckpt.ignored.iter().any(|n| n.starts_with("grad.")), "test tensors are reported as ignored");

    // A state_dict whose head has the wrong width: the error names the tensor and both shapes.
    let dir = temp_dir("shape");
    let bad = dir.join("bad.safetensors");
    let mut tensors = ckpt.tensors.clone();
    tensors.insert("lstm.weight_hh_l1".into(), (vec![64, 15], vec![0.0; 64 * 15]));
    write_plain_state_dict(&bad, &tensors);
    let err = checkpoint::load(&bad, None).unwrap_err().to_string();
    assert!(
        err.contains("bad.safetensors") && err.contains("lstm.weight_hh_l1") && err.contains("[64, 16]") && err.contains("[64, 15]"),
        "{err}"
    );
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn a_nan_loss_stops_training_and_leaves_the_last_checkpoint_intact() {
    let ctx = gpu();
    let dir = temp_dir("nan");
    let path = dir.join("model.safetensors");
    let cfg = train_config(2);
    let mut model = Classifier::new(ctx, config(), cfg.batch_size, cfg.max_len, 5).unwrap();
    save_classifier(&path, ctx, &model, &info(), None).unwrap();
    let good = std::fs::read(&path).unwrap();
    model.store.upload(ctx, "fc.bias", &[f32::NAN, 0.0]).unwrap();

    struct Saver<'a>(&'a GpuContext, PathBuf);
    impl<'r> FitObserver<ClassifierRun<'r>> for Saver<'_> {
        fn epoch_end(&mut self, run: &ClassifierRun<'r>, _: &TrainState, _: bool) -> lstm_transfer::Result<()> {
            save_classifier(&self.1, self.0, run.model, &info(), None)
        }
    }
    let (train, valid, labels) = (toy_data(64, 1), toy_data(16, 2), labels());
    let err = train_classifier(ctx, &mut model, data(&train, &valid, &labels), &cfg, TrainState::default(), &mut Saver(ctx, path.clone()))
        .unwrap_err();
    assert!(matches!(err, Error::NonFiniteLoss { update: 4, .. }), "the first readback (update 4) sees the NaN: {err}");
    assert!(err.to_string().contains("update 4"), "{err}");
    assert_eq!(std::fs::read(&path).unwrap(), good, "the last good checkpoint must be untouched");
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn a_model_over_the_device_limits_names_the_buffer_and_the_excess() {
    let ctx = gpu();
    let limit = ctx.limits().max_storage_buffer_binding_size as usize;
    // An embedding table alone larger than one storage binding.
    let cfg = ClassifierConfig { vocab: limit / (4 * 64) + 1000, embed: 64, ..config() };
    let err = Classifier::new(ctx, cfg, 4, 4, 1).err().expect("the model cannot fit").to_string();
    assert!(err.contains("parameters") && err.contains("over by"), "{err}");
}

#[test]
fn one_time_work_is_counted_as_setup_and_only_once() {
    // An own context: its pipeline cache and setup time see only this test's work.
    let ctx = GpuContext::new(&lstm_transfer::AdapterChoice::from_env()).expect("a GPU adapter");
    let plan = lstm_transfer::data::make_batches(&toy_data(40, 7), 16, 12, None);
    let mut model = Classifier::new(&ctx, config(), 16, 12, 1).unwrap();
    assert_eq!((ctx.setup_seconds(), ctx.pipelines_built()), (0.0, 0));
    model.train_step(&ctx, &plan.batches[0], true, true).unwrap();
    let (setup, pipelines) = (ctx.setup_seconds(), ctx.pipelines_built());
    assert!(setup > 0.0 && pipelines > 0, "the first step records a plan and compiles its kernels: {setup} s, {pipelines} pipelines");
    // The same shape again: nothing recorded, compiled or waited for.
    model.train_step(&ctx, &plan.batches[0], true, true).unwrap();
    assert_eq!((ctx.setup_seconds(), ctx.pipelines_built()), (setup, pipelines));
}

#[test]
fn stepwise_training_never_waits_and_ends_where_train_classifier_does() {
    let ctx = gpu();
    let (train, valid, labels) = (toy_data(100, 5), toy_data(20, 6), labels());
    let cfg = train_config(3);
    let mut blocking = Classifier::new(ctx, config(), cfg.batch_size, cfg.max_len, 7).unwrap();
    let state = train_classifier(ctx, &mut blocking, data(&train, &valid, &labels), &cfg, TrainState::default(), &mut ()).unwrap();

    let mut stepped = Classifier::new(ctx, config(), cfg.batch_size, cfg.max_len, 7).unwrap();
    let mut trainer = StepwiseTrainer::new(cfg.clone(), train.clone()).unwrap();
    let mut epoch_losses = Vec::new();
    while !trainer.finished() {
        // Read once per epoch, on its last step: the mean loss of the epoch, as train_classifier logs it.
        let last_of_epoch = (trainer.step() + 1).is_multiple_of(trainer.steps_per_epoch());
        let step = trainer.submit_step(ctx, &mut stepped, last_of_epoch).unwrap();
        assert_eq!(step.epoch_done, last_of_epoch);
        if let Some(pending) = step.stats {
            let stats = loop {
                if let Some(stats) = pending.poll(ctx).unwrap() {
                    break stats;
                }
            };
            assert_eq!(stats.steps as usize, trainer.steps_per_epoch());
            epoch_losses.push((stats.loss_sum / stats.steps as f32) as f64);
        }
    }
    assert_eq!(trainer.step(), 3 * trainer.steps_per_epoch());
    assert!(trainer.submit_step(ctx, &mut stepped, false).is_err(), "a finished run submits nothing");
    for (log, stepped_loss) in state.logs.iter().zip(&epoch_losses) {
        assert!(
            (log.train_loss - stepped_loss).abs() <= 1e-6 * log.train_loss.abs(),
            "epoch {}: {} vs {stepped_loss}",
            log.epoch,
            log.train_loss
        );
    }
    assert!(param_bits(ctx, &blocking) == param_bits(ctx, &stepped), "the same run, bit for bit");
}
