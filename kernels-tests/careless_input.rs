//! Careless and hostile input, one behaviour per test: no panic, no silently wrong answer, nothing
//! lost. Each test names the case it guards (the reliability issue's list); most stop before any GPU
//! work, the rest train a tiny model once.

mod common;

use std::path::Path;
use std::sync::OnceLock;

use common::cli::{bin, dir, fails, file, ok};

/// A headerless labelled CSV the model can learn: positive and negative words.
fn reviews(rows: usize) -> String {
    let words = [("pos", "great"), ("neg", "awful"), ("pos", "lovely"), ("neg", "cold")];
    (0..rows).fold(String::new(), |s, i| {
        let (label, word) = words[i % 4];
        s + &format!("{label},the food was {word} at visit {i}\n")
    })
}

/// A series with a weekly pattern, `n` steps.
fn series(n: usize) -> String {
    (0..n).fold(String::from("ds,y\n"), |s, t| s + &format!("{t},{}\n", 10.0 + (t % 7) as f64))
}

const TINY: [&str; 12] = ["--embed", "8", "--hidden", "8", "--epochs", "1", "--batch-size", "8", "--min-freq", "1", "--test-fraction", "0"];

/// A tiny model trained once: (checkpoint, data).
fn trained() -> &'static (String, String) {
    static MODEL: OnceLock<(String, String)> = OnceLock::new();
    MODEL.get_or_init(|| {
        let data = file("reviews.csv", &reviews(64));
        let out = dir().join("tiny.safetensors").display().to_string();
        ok(&[&["train", "--data", &data, "--out", &out][..], &TINY].concat());
        (out, data)
    })
}

fn out(name: &str) -> String {
    dir().join(name).display().to_string()
}

// ---- Data loss ----

#[test]
fn an_out_that_is_an_input_is_refused_and_the_input_kept() {
    let data = file("precious.csv", &reviews(40));
    let before = std::fs::read(&data).unwrap();
    for args in [
        vec!["train", "--data", &data, "--out", &data],
        vec!["train", "--data", &data, "--valid", &data, "--out", &data],
        vec!["lm", "--train", &data, "--out", &data],
        vec!["forecast", "--data", &data, "--out", &data],
    ] {
        let err = fails(&args);
        assert!(err.contains("is also an input") && err.contains("precious.csv"), "{args:?}: {err}");
    }
    let valid = file("precious_valid.csv", &reviews(20));
    let err = fails(&["train", "--data", &data, "--valid", &valid, "--out", &valid]);
    assert!(err.contains("is also an input"), "{err}");
    assert_eq!(std::fs::read(&data).unwrap(), before, "the input is untouched");
}

#[test]
fn another_runs_outputs_are_not_replaced_without_overwrite() {
    let (ckpt, data) = trained();
    let before = std::fs::read(ckpt).unwrap();
    let err = fails(&[&["train", "--data", data, "--out", ckpt][..], &TINY].concat());
    assert!(err.contains("exists") && err.contains("--overwrite"), "{err}");
    assert!(std::fs::read(ckpt).unwrap() == before, "the earlier model is untouched");
    let copy = out("tiny_copy.safetensors");
    std::fs::write(&copy, b"an earlier run's model").unwrap();
    ok(&[&["train", "--data", data, "--out", &copy, "--overwrite"][..], &TINY].concat());
    assert!(std::fs::read(&copy).unwrap() == before, "--overwrite replaced it (with the same model: the run is deterministic)");
}

#[test]
fn a_second_run_on_the_same_out_is_refused_while_the_first_writes() {
    let data = file("locked.csv", &reviews(400));
    let target = out("locked.safetensors");
    let args = ["train", "--data", &data, "--out", &target, "--epochs", "3", "--min-freq", "1"];
    let mut first = bin().args(args).stdout(std::process::Stdio::null()).stderr(std::process::Stdio::null()).spawn().unwrap();
    // The first run takes its lock before reading anything; wait until the lock file is there.
    let lock = dir().join("locked.safetensors.lock");
    for _ in 0..200 {
        if lock.exists() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let err = fails(&["train", "--data", &data, "--out", &target, "--epochs", "1", "--overwrite"]);
    assert!(err.contains("another run is writing it"), "{err}");
    assert!(first.wait().unwrap().success());
    assert!(!lock.exists(), "the lock goes with its run");
}

#[test]
fn resume_on_other_data_is_refused() {
    let data = file("resume_a.csv", &reviews(64));
    let target = out("resume.safetensors");
    ok(&[&["train", "--data", &data, "--out", &target][..], &TINY].concat());
    let other = file("resume_b.csv", &reviews(72));
    let err = fails(&["train", "--data", &other, "--out", &target, "--resume", "--epochs", "2", "--test-fraction", "0"]);
    assert!(err.contains("other rows") && err.contains("resume_b.csv"), "{err}");
    // A setting changed on the command line is refused, not ignored.
    let err = fails(&["train", "--data", &data, "--out", &target, "--resume", "--epochs", "2", "--test-fraction", "0", "--dropout", "0.5"]);
    assert!(err.contains("changes dropout 0.5") && err.contains("saved run has 0.0"), "{err}");
    // The same data resumes.
    let resumed = ok(&["train", "--data", &data, "--out", &target, "--resume", "--epochs", "2", "--test-fraction", "0"]);
    assert!(resumed.contains("resuming"), "{resumed}");
}

// ---- Silently wrong ----

#[test]
fn predict_refuses_blank_lines_that_would_misalign_its_outputs() {
    let (ckpt, _) = trained();
    let texts = file("blank.txt", "the food was great\n\nthe food was cold\n");
    let err = fails(&["predict", "--checkpoint", ckpt, "--text", &texts]);
    assert!(err.contains("blank.txt") && err.contains("line 2") && err.contains("empty"), "{err}");
}

#[test]
fn a_quote_left_open_mid_file_is_named_not_merged() {
    let data = file("open_quote.csv", "label,text\npos,\"great food\nneg,cold food\npos,\"lovely\"\nneg,awful\n");
    let err = fails(&["train", "--data", &data, "--out", &out("open_quote.safetensors")]);
    assert!(err.contains("open_quote.csv") && err.contains("line 2") && err.contains("unclosed"), "{err}");
}

#[test]
fn non_finite_weights_are_refused_naming_the_tensor() {
    let (ckpt, _) = trained();
    let (mut tensors, metadata) = lstm_transfer::core::checkpoint::read_tensors(Path::new(ckpt)).unwrap();
    tensors.get_mut("fc.bias").unwrap().1[1] = f32::NAN;
    let named: Vec<_> = tensors.into_iter().map(|(n, (s, v))| (n, s, v)).collect();
    let poisoned = out("poisoned.safetensors");
    lstm_transfer::core::checkpoint::save_tensors(Path::new(&poisoned), &named, metadata).unwrap();
    let texts = file("one_text.txt", "the food was great\n");
    for args in [
        vec!["predict", "--checkpoint", &poisoned, "--text", &texts],
        vec!["transfer", "--from", &poisoned, "--method", "init", "--out", &out("from_poisoned.safetensors")],
    ] {
        let err = fails(&args);
        assert!(err.contains("fc.bias") && err.contains("NaN") && err.contains("element 1"), "{args:?}: {err}");
        assert!(!err.contains("null"));
    }
}

#[test]
fn a_vocabulary_longer_than_the_embedding_is_refused_naming_the_file() {
    // One token more than embedding.weight has rows: transfer and subword induction index rows by
    // token id, so the file is refused when read instead of panicking there.
    let (ckpt, _) = trained();
    let (tensors, mut metadata) = lstm_transfer::core::checkpoint::read_tensors(Path::new(ckpt)).unwrap();
    let vocab = metadata.get_mut(lstm_transfer::core::checkpoint::META_VOCAB).unwrap();
    *vocab = vocab.replacen('[', "[\"extra\",", 1);
    let named: Vec<_> = tensors.into_iter().map(|(n, (s, v))| (n, s, v)).collect();
    let longer = out("vocab_longer.safetensors");
    lstm_transfer::core::checkpoint::save_tensors(Path::new(&longer), &named, metadata).unwrap();
    let err = fails(&["transfer", "--from", &longer, "--method", "init", "--out", &out("from_longer.safetensors")]);
    assert!(err.contains("vocab_longer.safetensors") && err.contains("tokens but embedding.weight has"), "{err}");
}

#[test]
fn integer_tensors_are_named_by_their_type_not_as_missing() {
    let tensors = [("embedding.weight", safetensors::tensor::TensorView::new(safetensors::Dtype::I64, vec![2, 2], &[0u8; 32]).unwrap())];
    let path = out("int_tensors.safetensors");
    std::fs::write(&path, safetensors::serialize(tensors, None).unwrap()).unwrap();
    let err = fails(&["transfer", "--from", &path, "--method", "init", "--out", &out("from_ints.safetensors")]);
    assert!(err.contains("'embedding.weight' has dtype I64") && !err.contains("is missing"), "{err}");
}

#[test]
fn a_value_beyond_f32_is_refused_naming_its_line() {
    let csv = (0..60).fold(String::from("ds,y\n"), |s, t| s + &format!("{t},{}\n", if t == 30 { "1e39".into() } else { t.to_string() }));
    let data = file("huge_value.csv", &csv);
    let err = fails(&["forecast", "--data", &data, "--window", "8", "--horizon", "2", "--season", "7", "--out", &out("huge.safetensors")]);
    assert!(err.contains("huge_value.csv") && err.contains("line 32") && err.contains("1e39"), "{err}");
}

#[test]
fn a_constant_series_prints_no_meaningless_mase() {
    let data = file("constant.csv", &(0..80).fold(String::from("ds,y\n"), |s, t| s + &format!("{t},5\n")));
    let printed = ok(&[
        "forecast",
        "--data",
        &data,
        "--window",
        "8",
        "--horizon",
        "2",
        "--season",
        "7",
        "--epochs",
        "1",
        "--hidden",
        "4",
        "--out",
        &out("constant.safetensors"),
    ]);
    assert!(printed.contains("n/a") && printed.contains("MASE is undefined"), "{printed}");
    assert!(!printed.contains("e30") && !printed.to_lowercase().contains("nan") && !printed.contains("inf"), "{printed}");
}

#[test]
fn a_language_model_on_no_tokens_is_refused() {
    let corpus = file("lm_corpus.txt", "the food was great\nthe room was cold\n");
    let err = fails(&["lm", "--train", &corpus, "--max-tokens", "0", "--out", &out("empty_lm.safetensors")]);
    assert!(err.contains("lm_corpus.txt") && err.contains("at least 2"), "{err}");
}

#[test]
fn zero_epochs_on_a_new_run_is_refused() {
    let data = file("zero_epochs.csv", &reviews(40));
    let err = fails(&["train", "--data", &data, "--epochs", "0", "--out", &out("zero.safetensors")]);
    assert!(err.contains("epochs") && err.contains("1..="), "{err}");
}

#[test]
fn a_freeze_pattern_that_matches_nothing_is_refused() {
    let (ckpt, data) = trained();
    let err = fails(&[
        "transfer",
        "--from",
        ckpt,
        "--method",
        "freeze",
        "--freeze",
        "embeding.*",
        "--data",
        data,
        "--out",
        &out("typo.safetensors"),
    ]);
    assert!(err.contains("'embeding.*' matches no tensor") && err.contains("embedding.weight"), "{err}");
}

#[test]
fn transfer_without_data_refuses_training_options() {
    let (ckpt, _) = trained();
    let err = fails(&["transfer", "--from", ckpt, "--method", "init", "--epochs", "3", "--out", &out("mapped.safetensors")]);
    assert!(err.contains("without --data") && err.contains("--epochs"), "{err}");
}

#[test]
fn forecast_from_a_residual_model_keeps_learning_residuals() {
    let data = file("weekly.csv", &series(120));
    let common = ["--data", &data, "--window", "8", "--horizon", "2", "--season", "7", "--epochs", "1", "--hidden", "4"];
    let source = out("residual_source.safetensors");
    ok(&[&["forecast"][..], &common, &["--seasonal-residual", "--out", &source]].concat());
    let tuned = out("residual_tuned.safetensors");
    ok(&[&["forecast"][..], &common, &["--from", &source, "--out", &tuned]].concat());
    let (info, _) = lstm_transfer::tasks::forecast::load_forecaster(Path::new(&tuned)).unwrap();
    assert!(info.forecast.seasonal_residual, "the fine-tuned model reads its output as the source did");
    let plain = out("plain_source.safetensors");
    ok(&[&["forecast"][..], &common, &["--seasonal-residual", "off", "--out", &plain]].concat());
    let err = fails(&[&["forecast"][..], &common, &["--from", &plain, "--seasonal-residual", "--out", &out("mixed.safetensors")]].concat());
    assert!(err.contains("cannot fine-tune with --seasonal-residual"), "{err}");
    // Nor the other way round: a residual source refuses to learn plain values.
    let err = fails(
        &[&["forecast"][..], &common, &["--from", &source, "--seasonal-residual", "off", "--out", &out("mixed2.safetensors")]].concat(),
    );
    assert!(err.contains("cannot fine-tune with --seasonal-residual off"), "{err}");
}

#[test]
fn unknown_backends_and_unmatched_adapters_are_errors() {
    let err = fails(&["info", "--backend", "bogus"]);
    assert!(err.contains("bogus") && err.contains("vulkan"), "{err}");
    let err = fails(&["info", "--adapter", "no-such-adapter-name"]);
    assert!(err.contains("no GPU adapter found") && err.contains("no-such-adapter-name"), "{err}");
}

// ---- Panics and hangs ----

#[test]
fn a_zero_batch_size_is_refused_by_every_command() {
    let (ckpt, data) = trained();
    let texts = file("batch_texts.txt", "the food was great\n");
    let corpus = file("batch_corpus.txt", "the food was great\n");
    let ts = file("batch_series.csv", &series(60));
    for args in [
        vec!["predict", "--checkpoint", ckpt, "--text", &texts, "--batch-size", "0"],
        vec!["eval", "--checkpoint", ckpt, "--data", data, "--batch-size", "0"],
        vec!["lm", "--train", &corpus, "--batch-size", "0", "--out", &out("b0.safetensors")],
        vec!["forecast", "--data", &ts, "--batch-size", "0", "--window", "8", "--horizon", "2", "--out", &out("b0f.safetensors")],
    ] {
        let err = fails(&args);
        assert!(err.contains("batch-size") && err.contains("1..="), "{args:?}: {err}");
    }
}

#[test]
fn a_zero_max_len_is_refused_from_the_command_line_and_from_metadata() {
    let (ckpt, _) = trained();
    let texts = file("len_texts.txt", "the food was great\n");
    let err = fails(&["predict", "--checkpoint", ckpt, "--text", &texts, "--max-len", "0"]);
    assert!(err.contains("max-len") && err.contains("1..="), "{err}");
    let (tensors, mut metadata) = lstm_transfer::core::checkpoint::read_tensors(Path::new(ckpt)).unwrap();
    let info = metadata.get_mut("lstm_transfer").unwrap();
    *info = info.replace("\"max_len\":64", "\"max_len\":0");
    let named: Vec<_> = tensors.into_iter().map(|(n, (s, v))| (n, s, v)).collect();
    let zero = out("max_len_zero.safetensors");
    lstm_transfer::core::checkpoint::save_tensors(Path::new(&zero), &named, metadata).unwrap();
    let err = fails(&["predict", "--checkpoint", &zero, "--text", &texts]);
    assert!(err.contains("max_len_zero.safetensors") && err.contains("max_len"), "{err}");
}

#[test]
fn a_season_longer_than_the_training_part_is_refused_before_training() {
    let data = file("short_series.csv", &series(200));
    let err = fails(&["forecast", "--data", &data, "--window", "8", "--horizon", "2", "--season", "1000", "--out", &out("s.safetensors")]);
    assert!(err.contains("season") && err.contains("1000"), "{err}");
    assert!(!err.contains("epoch"), "refused before training: {err}");
}

#[test]
fn devices_fifos_and_oversized_inputs_are_refused() {
    let target = out("guarded.safetensors");
    let err = fails(&["train", "--data", "/dev/zero", "--out", &target]);
    assert!(err.contains("/dev/zero") && err.contains("not a regular file"), "{err}");
    let fifo = dir().join("fifo.tsv");
    assert!(std::process::Command::new("mkfifo").arg(&fifo).status().unwrap().success());
    let err = fails(&["train", "--data", fifo.to_str().unwrap(), "--out", &target]);
    assert!(err.contains("not a regular file"), "{err}");
    let data = file("big.csv", &reviews(200));
    let err = fails(&["train", "--data", &data, "--max-input-bytes", "1000", "--out", &target]);
    assert!(err.contains("--max-input-bytes") && err.contains("big.csv"), "{err}");
    let long_line = file("long_line.csv", &format!("label,text\npos,{}\n", "a".repeat(5000)));
    let err = fails(&["train", "--data", &long_line, "--max-line-bytes", "1000", "--out", &target]);
    assert!(err.contains("line 2") && err.contains("--max-line-bytes"), "{err}");
}

#[test]
fn ten_thousand_classes_are_refused_in_a_short_message() {
    let data = file("many_classes.csv", &(0..10_000).fold(String::from("label,text\n"), |s, i| s + &format!("c{i},text {i}\n")));
    let err = fails(&["train", "--data", &data, "--out", &out("classes.safetensors")]);
    assert!(err.contains("classes") && err.contains("1..=1000"), "{err}");
    let message = err.lines().next().unwrap_or_default();
    assert!(message.len() < 300, "a short error, not every label: {message}");
}

#[test]
fn the_range_test_suggests_a_rate_for_every_task_without_training() {
    let (ckpt, data) = trained();
    let cls = out("find_cls.safetensors");
    let printed = ok(&[&["train", "--data", data, "--out", &cls, "--lr-find"][..], &TINY].concat());
    assert!(printed.contains("suggested --lr"), "{printed}");
    assert!(dir().join("find_cls.lr_find.svg").exists() && !Path::new(&cls).exists(), "the plot, and no model");
    let json: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(dir().join("find_cls.lr_find.json")).unwrap()).unwrap();
    let suggestion = json["suggestion"].as_f64().unwrap();
    assert!(suggestion > 1e-8 && suggestion < 10.0, "{json}");
    let tuned = out("find_init.safetensors");
    let printed = ok(&["transfer", "--from", ckpt, "--method", "init", "--data", data, "--out", &tuned, "--lr-find", "--min-freq", "1"]);
    assert!(printed.contains("suggested --lr"), "{printed}");
    let corpus = file("find_corpus.txt", &"the food was great and the room was cold\n".repeat(40));
    let printed = ok(&[
        "lm",
        "--train",
        &corpus,
        "--embed",
        "8",
        "--hidden",
        "8",
        "--layers",
        "1",
        "--bptt",
        "5",
        "--batch-size",
        "2",
        "--lr-find",
        "--out",
        &out("find_lm.safetensors"),
    ]);
    assert!(printed.contains("suggested --lr"), "{printed}");
    let ts = file("find_series.csv", &series(120));
    let printed = ok(&[
        "forecast",
        "--data",
        &ts,
        "--window",
        "8",
        "--horizon",
        "2",
        "--season",
        "7",
        "--hidden",
        "4",
        "--lr-find",
        "--out",
        &out("find_fc.safetensors"),
    ]);
    assert!(printed.contains("suggested --lr"), "{printed}");
}

#[test]
fn quiet_prints_results_only_and_verbose_prints_every_readback() {
    let (_, data) = trained();
    let (quiet_out, verbose_out) = (out("quiet.safetensors"), out("verbose.safetensors"));
    let quiet = ok(&[&["train", "--data", data, "--out", &quiet_out, "--quiet"][..], &TINY].concat());
    assert!(!quiet.contains("epoch   1") && quiet.contains("best epoch"), "{quiet}");
    let verbose = ok(&[&["train", "--data", data, "--out", &verbose_out, "--verbose"][..], &TINY].concat());
    assert!(verbose.contains("epoch 1/1 step") && verbose.contains("epoch   1"), "{verbose}");
}

#[test]
fn a_series_transfer_grid_without_scratch_or_longer_than_the_target_is_refused_before_training() {
    let data = file("grid_series.csv", &series(200));
    let source = file("grid_source.csv", &series(300));
    let common = [
        "forecast-transfer", "--data", &data, "--source-data", &source, "--window", "8", "--horizon", "2", "--season", "7", "--test-len",
        "20",
    ];
    let err = fails(&[&common[..], &["--methods", "init,source-only", "--out", &out("grid_a")]].concat());
    assert!(err.contains("must include scratch"), "{err}");
    let err = fails(&[&common[..], &["--lengths", "16,180", "--out", &out("grid_b")]].concat());
    assert!(err.contains("grid_series.csv") && err.contains("200 steps") && err.contains("target length 180 needs 208"), "{err}");
    let err = fails(&[&common[..], &["--lengths", "3", "--out", &out("grid_c")]].concat());
    assert!(err.contains("target length 3") && err.contains("two horizons"), "{err}");
    let err = fails(&[&common[..], &["--seeds", "1,1", "--out", &out("grid_d")]].concat());
    assert!(err.contains("--seeds") && err.contains("repeated"), "{err}");
    let err = fails(&[&common[..], &["--lengths", "18446744073709551615", "--out", &out("grid_e")]].concat());
    assert!(err.contains("lengths"), "{err}");
    // One series in the file and no other named: the source would be the target itself.
    let err = fails(&["forecast-transfer", "--data", &data, "--window", "8", "--horizon", "2", "--out", &out("grid_f")]);
    assert!(err.contains("the same series"), "{err}");
    assert!(!Path::new(&out("grid_b")).join("config.json").exists(), "nothing written for a refused grid");
}
