//! The `lstm-transfer` binary end to end: train → eval → predict on small files, PyTorch parity of
//! `predict --ids` on the golden state_dicts, and a clear error (file, line, tensor) for each kind of
//! bad input. Every command runs on the GPU adapter the tests use (lavapipe in CI).

mod common;

use std::path::Path;
use std::sync::OnceLock;

use common::cli::{dir, fails, file, ok, run};
use common::{Golden, assert_close};

const GOOD: [&str; 6] = ["great", "lovely", "tasty", "friendly", "superb", "fresh"];
const BAD: [&str; 6] = ["awful", "cold", "rude", "stale", "bland", "dirty"];

/// A CSV with a header, label names, and title + body columns (one body holds a quoted comma).
fn review_csv(rows: usize) -> String {
    let mut s = String::from("label,title,body\n");
    for i in 0..rows {
        let (label, word) = if i % 2 == 0 { ("pos", GOOD[i % 6]) } else { ("neg", BAD[i % 6]) };
        s += &format!("{label},Visit {i},\"the food was {word}, the room {}\"\n", if i % 3 == 0 { "small" } else { "big" });
    }
    s
}

/// A model trained once per test binary on the small CSV: (checkpoint path, data path).
fn trained() -> &'static (String, String) {
    static MODEL: OnceLock<(String, String)> = OnceLock::new();
    MODEL.get_or_init(|| {
        let data = file("reviews.csv", &review_csv(160));
        let out = dir().join("model.safetensors").display().to_string();
        let stdout = ok(&[
            "train", "--data", &data, "--label-col", "label", "--text-col", "title", "--text-col", "body", "--out", &out, "--epochs", "10",
            "--patience", "2", "--embed", "16", "--hidden", "16", "--batch-size", "16", "--min-freq", "1", "--lr", "0.02", "--pooling",
            "max", "--dropout", "0.1", "--schedule", "stlr",
        ]);
        assert!(stdout.contains("test (") && stdout.contains("macro-F1"), "train reports test metrics:\n{stdout}");
        assert!(stdout.contains("early stop"), "the toy task saturates, so --patience 2 stops it:\n{stdout}");
        let epochs = stdout.lines().filter(|l| l.starts_with("epoch")).count();
        let log = std::fs::read_to_string(dir().join("model.log.jsonl")).unwrap();
        assert_eq!(log.lines().count(), epochs, "one JSON line per epoch");
        (out, data)
    })
}

#[test]
fn train_stops_early_writes_checkpoint_state_log_and_plot_and_eval_reports_json() {
    let (ckpt, data) = trained();
    for suffix in [".safetensors", ".state.safetensors", ".log.jsonl", ".curve.svg"] {
        assert!(dir().join(format!("model{suffix}")).exists(), "model{suffix} missing");
    }
    let json = ok(&[
        "eval", "--checkpoint", ckpt, "--data", data, "--label-col", "label", "--text-col", "title", "--text-col", "body", "--format",
        "json",
    ]);
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    let accuracy = v["accuracy"].as_f64().unwrap();
    assert!(accuracy > 0.9, "a separable toy task: accuracy {accuracy}");
    assert!(v["macro_f1"].as_f64().is_some());
    assert_eq!(v["confusion"].as_array().unwrap().len(), 2);
    assert_eq!(v["labels"], serde_json::json!(["neg", "pos"]));
    // The same model with its activations stored as f16 scores the same rows alike.
    let json = ok(&[
        "eval", "--precision", "f16", "--checkpoint", ckpt, "--data", data, "--label-col", "label", "--text-col", "title", "--text-col",
        "body", "--format", "json",
    ]);
    let f16: serde_json::Value = serde_json::from_str(&json).unwrap();
    let (f16_accuracy, f16_loss, loss) = (f16["accuracy"].as_f64().unwrap(), f16["loss"].as_f64().unwrap(), v["loss"].as_f64().unwrap());
    assert!((f16_accuracy - accuracy).abs() <= 0.02 && (f16_loss - loss).abs() <= 0.01 * loss.max(0.1), "f16 {f16} vs f32 {v}");
}

#[test]
fn predict_text_prints_labels_and_probabilities() {
    let (ckpt, _) = trained();
    let texts = file("texts.txt", "Visit 1000 the food was great, the room big\nVisit 1001 the food was cold, the room small\n");
    let out = ok(&["predict", "--checkpoint", ckpt, "--text", &texts]);
    let lines: Vec<serde_json::Value> = out.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 2);
    assert_eq!((lines[0]["label"].as_str(), lines[1]["label"].as_str()), (Some("pos"), Some("neg")));
    let p: f64 = lines[0]["probs"].as_array().unwrap().iter().map(|x| x.as_f64().unwrap()).sum();
    assert!((p - 1.0).abs() < 1e-5);
    let tsv = ok(&["predict", "--checkpoint", ckpt, "--text", &texts, "--format", "tsv"]);
    assert!(tsv.lines().next().unwrap().starts_with("0\tpos\t"));
}

/// `predict --ids` on PyTorch's own state_dicts prints PyTorch's logits.
#[test]
fn predict_ids_on_the_golden_pytorch_state_dicts_matches_pytorch() {
    for name in ["classifier", "classifier_bidirectional"] {
        let g = Golden::load(name);
        let (b, t) = (g.shape("tokens")[0], g.shape("tokens")[1]);
        let (tokens, lengths) = (g.u32("tokens"), g.u32("lengths"));
        let ids: String = (0..b)
            .map(|r| tokens[r * t..r * t + lengths[r] as usize].iter().map(|x| x.to_string()).collect::<Vec<_>>().join(" ") + "\n")
            .collect();
        let ids_file = file(&format!("{name}.ids"), &ids);
        let ckpt = format!("{}/kernels-tests/fixtures/golden/{name}.safetensors", env!("CARGO_MANIFEST_DIR"));
        let out = ok(&["predict", "--checkpoint", &ckpt, "--ids", &ids_file]);
        let logits: Vec<f32> = out
            .lines()
            .flat_map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["logits"].as_array().unwrap().clone())
            .map(|x| x.as_f64().unwrap() as f32)
            .collect();
        assert_close(&format!("{name}: predict --ids logits"), &logits, g.get("logits"), 1e-5, 1e-5);
    }
}

/// `transfer --method hetero` on PyTorch's state_dict writes a wider model whose `predict --ids` still
/// prints PyTorch's logits (Net2Net widening is function-preserving).
#[test]
fn hetero_transfer_of_a_pytorch_state_dict_keeps_its_logits() {
    let g = Golden::load("classifier");
    let (b, t) = (g.shape("tokens")[0], g.shape("tokens")[1]);
    let (tokens, lengths) = (g.u32("tokens"), g.u32("lengths"));
    let ids: String = (0..b)
        .map(|r| tokens[r * t..r * t + lengths[r] as usize].iter().map(|x| x.to_string()).collect::<Vec<_>>().join(" ") + "\n")
        .collect();
    let ids_file = file("hetero.ids", &ids);
    let source = format!("{}/kernels-tests/fixtures/golden/classifier.safetensors", env!("CARGO_MANIFEST_DIR"));
    let wide = dir().join("wide.safetensors").display().to_string();
    let printed = ok(&["transfer", "--from", &source, "--method", "hetero", "--hidden", "24", "--out", &wide]);
    assert!(printed.contains("Net2Net") && printed.contains("predictions agree on 100.0%"), "{printed}");
    let out = ok(&["predict", "--checkpoint", &wide, "--ids", &ids_file]);
    let logits: Vec<f32> = out
        .lines()
        .flat_map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["logits"].as_array().unwrap().clone())
        .map(|x| x.as_f64().unwrap() as f32)
        .collect();
    assert_close("widened PyTorch classifier: predict --ids logits", &logits, g.get("logits"), 1e-5, 1e-5);
    let err = fails(&["transfer", "--from", &source, "--method", "init", "--hidden", "24", "--out", &wide]);
    assert!(err.contains("need --method hetero"), "{err}");
    // A classifier's head was trained on its pooling: another one is a change of shape too.
    let err = fails(&["transfer", "--from", &source, "--method", "init", "--pooling", "mean", "--out", &wide]);
    assert!(err.contains("need --method hetero"), "{err}");
}

/// `transfer --method init` then fine-tuning, from the model `train` wrote, onto other labels.
#[test]
fn transfer_with_data_fine_tunes_and_reports_the_mapping() {
    let (ckpt, _) = trained();
    let mut tsv = String::new();
    for i in 0..60 {
        let (label, word) = if i % 2 == 0 { ("good", GOOD[i % 6]) } else { ("bad", BAD[i % 6]) };
        tsv += &format!("{label}\tthe hotel was {word} and the bed {}\n", if i % 3 == 0 { "soft" } else { "hard" });
    }
    let data = file("hotels.tsv", &tsv);
    // Unlabelled target text: its words join the vocabulary (rooms, were, spotless, no, left beside
    // the labelled rows' hotel, and, bed, soft, hard), their rows induced where the source's
    // embedding learned something their subwords predict (kernels-tests/transfer.rs tests that).
    let target = file("hotel_reviews.txt", "the rooms were spotless\nno rooms left\n");
    let out = dir().join("hotels.safetensors").display().to_string();
    let printed = ok(&[
        "transfer", "--from", ckpt, "--method", "freeze", "--freeze-known-rows", "--gradual-unfreezing", "--discriminative-lr", "--data",
        &data, "--target", &target, "--out", &out, "--epochs", "3", "--batch-size", "16", "--min-freq", "1",
    ]);
    assert!(printed.contains("new target tokens") && printed.contains("the head starts fresh"), "{printed}");
    assert!(printed.contains("145 source tokens + 10 new target tokens"), "{printed}");
    assert!(printed.contains("copied: embedding.weight") && printed.contains("fresh:  fc.weight, fc.bias"), "{printed}");
    assert!(printed.contains("test ("), "{printed}");
}

/// DANN through the CLI: labelled source rows, unlabelled target text, the domain head's figures per epoch.
#[test]
fn dann_transfer_reports_the_domain_head() {
    let (ckpt, data) = trained();
    let target = file(
        "hotel_texts.txt",
        &(0..40).map(|i| format!("the hotel bed was {}\n", if i % 2 == 0 { GOOD[i % 6] } else { BAD[i % 6] })).collect::<String>(),
    );
    let out = dir().join("dann.safetensors").display().to_string();
    let dann = [
        "transfer", "--from", ckpt, "--method", "dann", "--data", data, "--label-col", "label", "--text-col", "title", "--text-col",
        "body", "--target", &target, "--out", &out, "--batch-size", "16", "--min-freq", "1",
    ];
    let printed = ok(&[&dann[..], &["--epochs", "2"]].concat());
    assert!(printed.contains("dann: ") && printed.contains("domain head: λ") && printed.contains("proxy A-distance"), "{printed}");
    // The same command with --resume continues the DANN run (target rows and all).
    let resumed = ok(&[&dann[..], &["--epochs", "3", "--resume"]].concat());
    assert!(resumed.contains("resuming") && resumed.contains("epoch   3") && resumed.contains("domain head: λ"), "{resumed}");
    let other = dir().join("dann-no-target.safetensors").display().to_string();
    let err = fails(&["transfer", "--from", ckpt, "--method", "dann", "--data", data, "--out", &other]);
    assert!(err.contains("--target"), "{err}");
    let fresh =
        ["transfer", "--from", ckpt, "--method", "init", "--new-words", "fresh", "--data", data, "--target", &target, "--out", &other];
    assert!(fails(&fresh).contains("--new-words subword"), "--target without dann joins words only with induced rows");
}

/// ULMFiT end to end: a language model on unlabelled text, then its embedding and LSTM carried into a
/// classifier with gradual unfreezing, discriminative rates and the slanted triangular schedule.
#[test]
fn a_language_model_transfers_into_a_classifier() {
    let corpus = file(
        "corpus.txt",
        &(0..80).map(|i| format!("the food was {} and the room {}\n", GOOD[i % 6], BAD[(i + 1) % 6])).collect::<String>(),
    );
    let lm = dir().join("lm.safetensors").display().to_string();
    let printed = ok(&[
        "lm", "--train", &corpus, "--valid", &corpus, "--test", &corpus, "--tokenizer", "words", "--embed", "16", "--hidden", "16",
        "--layers", "1", "--bptt", "8", "--batch-size", "4", "--epochs", "2", "--out", &lm, "--verbose",
    ]);
    assert!(printed.contains("valid ppl") && printed.contains("test perplexity"), "{printed}");
    // The validation pass reports its progress under its epoch (a bar, or a line per readback here).
    let validation_lines = printed.lines().filter(|l| l.starts_with("epoch 2/2 step") && l.ends_with("validation")).count();
    assert!(validation_lines >= 1, "{printed}");
    assert!(dir().join("lm.curve.svg").exists() && dir().join("lm.metrics.json").exists());
    let test_ppl = printed.split("test perplexity ").nth(1).and_then(|r| r.split_whitespace().next()).unwrap().to_string();
    // Training continues from the checkpoint with its own vocabulary, shape and tokenizer. Without --valid
    // nothing is called a validation perplexity; --format json puts only the metrics on stdout.
    let lm2 = dir().join("lm2.safetensors").display().to_string();
    let out = run(&[
        "lm", "--train", &corpus, "--from", &lm, "--bptt", "8", "--batch-size", "4", "--epochs", "1", "--out", &lm2, "--format", "json",
    ]);
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success() && stderr.contains("continuing from") && stderr.contains("epoch   1"), "{stderr}");
    assert!(!stderr.contains("valid ppl") && stderr.contains("best training (no --valid) perplexity"), "{stderr}");
    let v: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!((v["epochs"].as_array().map(Vec::len), v["kept_by"].as_str()), (Some(1), Some("training (no --valid)")));
    assert!(v["epochs"][0]["valid_ppl"].is_null() && v["best_perplexity"].as_f64().unwrap() > 1.0, "{v}");
    // --epochs 0 only evaluates: the same model scores the same test perplexity as at the end of its training.
    let printed = ok(&["lm", "--train", &corpus, "--from", &lm, "--test", &corpus, "--bptt", "8", "--batch-size", "4", "--epochs", "0"]);
    assert!(printed.contains(&format!("test perplexity {test_ppl}")) && !printed.contains("epoch"), "{printed}");
    assert!(fails(&["lm", "--train", &corpus, "--from", &lm, "--epochs", "0"]).contains("--epochs 0 only evaluates"));
    let mut tsv = String::new();
    for i in 0..60 {
        let (label, word) = if i % 2 == 0 { ("pos", GOOD[i % 6]) } else { ("neg", BAD[i % 6]) };
        tsv += &format!("{label}\tthe food was {word}\n");
    }
    let data = file("ulmfit.tsv", &tsv);
    let out = dir().join("ulmfit.safetensors").display().to_string();
    // A language model has no pooling of its own: --pooling goes with any method (not only hetero).
    let printed = ok(&[
        "transfer", "--from", &lm, "--method", "freeze", "--freeze-known-rows", "--gradual-unfreezing", "--discriminative-lr",
        "--schedule", "stlr", "--pooling", "max", "--data", &data, "--out", &out, "--epochs", "3", "--batch-size", "16", "--min-freq", "1",
    ]);
    assert!(printed.contains("copied: embedding.weight, lstm.weight_ih_l0") && printed.contains("fresh:  fc.weight, fc.bias"), "{printed}");
    assert!(printed.contains("parameters in epoch 1") && printed.contains("trained: head (gradual unfreezing)"), "{printed}");
    assert!(printed.contains("the source's tokens) frozen"), "{printed}");
    assert!(!printed.contains("warning"), "the LM used the classifier's tokenizer: {printed}");
    assert_eq!(
        lstm_transfer::tasks::classify::checkpoint::load(Path::new(&out), None).unwrap().info.config.pooling,
        lstm_transfer::config::Pooling::Max
    );
}

#[test]
fn malformed_rows_name_the_file_and_line_or_are_skipped_and_counted() {
    let (ckpt, _) = trained();
    let bad = file("bad.tsv", "pos\tthe food was great\nneg\tthe food was awful\nno tab on this line\npos\tlovely\n");
    let err = fails(&["eval", "--checkpoint", ckpt, "--data", &bad]);
    assert!(err.contains("bad.tsv") && err.contains("line 3"), "{err}");
    let out = run(&["eval", "--checkpoint", ckpt, "--data", &bad, "--skip-bad-rows", "--format", "json"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stderr).contains("skipped 1 malformed rows"));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!((v["rows"].as_u64(), v["skipped_rows"].as_u64()), (Some(3), Some(1)));
}

#[test]
fn empty_files_unknown_labels_and_truncation_are_reported() {
    let (ckpt, _) = trained();
    let empty = file("empty.tsv", "");
    let err = fails(&["eval", "--checkpoint", ckpt, "--data", &empty]);
    assert!(err.contains("empty.tsv") && err.contains("no examples"), "{err}");
    let unknown = file("unknown.tsv", "pos\tgreat\nmaybe\tfine I guess\n");
    let err = fails(&["eval", "--checkpoint", ckpt, "--data", &unknown]);
    assert!(err.contains("unknown.tsv") && err.contains("line 2") && err.contains("maybe"), "{err}");
    let long = file("long.tsv", "pos\tthe food was great and the room was big and lovely\nneg\tawful\n");
    let out = run(&["eval", "--checkpoint", ckpt, "--data", &long, "--max-len", "4"]);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("1 rows longer than 4 tokens were truncated"));
}

#[test]
fn bad_checkpoints_and_ids_are_named() {
    let (ckpt, _) = trained();
    let not_a_model = file("not_a_model.safetensors", "hello");
    let err = fails(&["predict", "--checkpoint", &not_a_model, "--ids", &file("one.ids", "1 2\n")]);
    assert!(err.contains("not_a_model.safetensors") && err.contains("not a safetensors file"), "{err}");
    let ids = file("bad.ids", "2 3 4\n2 99999 1\n");
    let err = fails(&["predict", "--checkpoint", ckpt, "--ids", &ids]);
    assert!(err.contains("bad.ids") && err.contains("line 2") && err.contains("99999"), "{err}");
    let err = fails(&["predict", "--checkpoint", ckpt, "--ids", &file("words.ids", "2 three\n")]);
    assert!(err.contains("line 1") && err.contains("'three'"), "{err}");
}

#[test]
fn a_model_too_large_for_the_device_is_refused_with_the_buffer_and_excess() {
    let data = file("small.tsv", &"pos\tgreat food\nneg\tawful food\n".repeat(10));
    let out = dir().join("huge.safetensors").display().to_string();
    let err = fails(&["train", "--data", &data, "--out", &out, "--hidden", "20000", "--epochs", "1"]);
    assert!(err.contains("lstm.weight_hh_l0") || err.contains("parameters"), "{err}");
    assert!(err.contains("over by"), "{err}");
}

#[test]
fn out_of_range_settings_are_refused_before_any_work_naming_the_option() {
    let data = file("range.csv", &review_csv(40));
    for (args, option, range) in [
        (vec!["train", "--batch-size", "0"], "batch-size", "1..="),
        (vec!["train", "--lr", "-1"], "lr", "> 0"),
        (vec!["train", "--clip", "NaN"], "clip", ">= 0"),
        (vec!["train", "--dropout", "1.5"], "dropout", "[0, 1)"),
        (vec!["train", "--weight-decay", "NaN"], "weight-decay", ">= 0"),
        (vec!["train", "--schedule", "warmup-linear", "--warmup", "2"], "warmup", "[0, 1)"),
        (vec!["train", "--hidden", "4611686018427387904"], "hidden", "1..="),
        (vec!["train", "--patience", "0"], "patience", "1..="),
        (vec!["train", "--max-len", "0"], "max-len", "1..="),
    ] {
        let mut full = args.clone();
        let target = dir().join("range.safetensors").display().to_string();
        full.extend(["--data", &data, "--label-col", "label", "--text-col", "body", "--out", &target]);
        let err = fails(&full);
        assert!(err.contains(option) && err.contains(range), "{full:?}: {err}");
        assert!(!err.contains("adapter:"), "{full:?} must stop before any GPU work: {err}");
    }
}

#[test]
fn closed_option_sets_list_their_values() {
    let data = file("typed.csv", &review_csv(40));
    for (option, value, listed) in [
        ("--schedule", "triangle", "warmup-linear"),
        ("--optimizer", "sgd", "adamw"),
        ("--monitor", "recall", "macro-f1"),
        ("--pooling", "attention", "concat"),
        ("--input-format", "xml", "jsonl"),
        ("--backend", "cuda", "vulkan"),
        ("--precision", "f8", "f16"),
    ] {
        let err = fails(&["train", option, value, "--data", &data]);
        assert!(err.contains(value) && err.contains(listed), "{option} {value}: {err}");
    }
    let err = fails(&["lm", "--train", &data, "--tokenizer", "bpe"]);
    assert!(err.contains("whitespace") && err.contains("words"), "{err}");
    let err = fails(&["forecast", "--data", &data, "--format", "yaml"]);
    assert!(err.contains("text") && err.contains("json"), "{err}");
    let series = file("season.csv", &(0..60).fold(String::from("ds,y\n"), |s, t| s + &format!("{t},{}\n", t % 7)));
    let err = fails(&["forecast", "--data", &series, "--season", "0", "--window", "8", "--horizon", "2"]);
    assert!(err.contains("season") && err.contains("1..="), "{err}");
}

#[test]
fn predict_reads_standard_input_and_numbers_its_outputs() {
    use std::io::Write;
    let (ckpt, _) = trained();
    let mut child = common::cli::bin()
        .args(["predict", "--checkpoint", ckpt, "--text", "-", "--echo"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(b"the food was great\nthe food was cold\nthe room was lovely\n").unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let lines: Vec<serde_json::Value> = String::from_utf8(out.stdout).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 3);
    for (i, line) in lines.iter().enumerate() {
        assert_eq!(line["index"], i, "{line}");
    }
    assert_eq!(lines[1]["text"], "the food was cold");
}

#[test]
fn predict_reads_tables_and_keys_each_output_by_its_id_column() {
    let (ckpt, _) = trained();
    let jsonl = file(
        "to_predict.jsonl",
        "{\"review_id\": \"r-17\", \"body\": \"the food was great\"}\n{\"review_id\": 42, \"body\": \"the food was cold\"}\n",
    );
    let printed = ok(&["predict", "--checkpoint", ckpt, "--data", &jsonl, "--id-col", "review_id", "--text-col", "body", "--echo"]);
    let lines: Vec<serde_json::Value> = printed.lines().filter(|l| l.starts_with('{')).map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 2, "{printed}");
    assert_eq!((&lines[0]["index"], &lines[0]["id"], &lines[0]["text"]), (&0.into(), &"r-17".into(), &"the food was great".into()));
    assert_eq!((&lines[1]["index"], &lines[1]["id"]), (&1.into(), &"42".into()));
    // TSV with a header: the id leads each output line.
    let tsv = file("to_predict.tsv", "id\ttext\nA1\tthe food was great\nB2\tthe food was cold\n");
    let printed = ok(&["predict", "--checkpoint", ckpt, "--data", &tsv, "--id-col", "id", "--text-col", "text", "--format", "tsv"]);
    let keys: Vec<&str> = printed.lines().filter_map(|l| l.split('\t').next()).filter(|k| k.len() == 2).collect();
    assert_eq!(keys, ["A1", "B2"], "{printed}");
    // A row without its id is named by file and line.
    let missing = file("no_id.tsv", "id\ttext\nA1\tthe food was great\n\tthe food was cold\n");
    let err = fails(&["predict", "--checkpoint", ckpt, "--data", &missing, "--id-col", "id", "--text-col", "text"]);
    assert!(err.contains("no_id.tsv") && err.contains("line 3") && err.contains("--id-col"), "{err}");
}

#[test]
fn user_errors_print_no_backtrace_even_when_asked() {
    let target = dir().join("backtrace.safetensors").display().to_string();
    let out =
        common::cli::bin().args(["train", "--data", "/no/such/file.csv", "--out", &target]).env("RUST_BACKTRACE", "1").output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("/no/such/file.csv"), "{err}");
    assert!(!err.contains("backtrace") && err.lines().count() <= 2, "one message, no backtrace: {err}");
}

#[test]
fn shell_completions_are_printed() {
    let script = ok(&["completions", "bash"]);
    assert!(
        script.contains("lstm-transfer") && script.contains("--overwrite") && script.contains("transfer"),
        "{}",
        &script[..200.min(script.len())]
    );
}

#[test]
fn train_writes_its_metrics_as_json_with_its_whole_configuration() {
    let data = file("json_run.csv", &review_csv(80));
    let out = dir().join("json_run.safetensors").display().to_string();
    let stdout = ok(&[
        "train", "--data", &data, "--label-col", "label", "--text-col", "body", "--out", &out, "--epochs", "2", "--embed", "8", "--hidden",
        "8", "--min-freq", "1", "--format", "json",
    ]);
    let v: serde_json::Value = serde_json::from_str(&stdout).expect("stdout is only the JSON");
    let saved: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(dir().join("json_run.metrics.json")).unwrap()).unwrap();
    assert_eq!(v, saved, "the same JSON on stdout and in NAME.metrics.json");
    assert_eq!(v["epochs"].as_array().unwrap().len(), 2);
    assert!(v["valid"]["accuracy"].as_f64().is_some() && v["test"]["macro_f1"].as_f64().is_some(), "{v}");
    assert_eq!((v["config"]["epochs"].as_u64(), v["model"]["config"]["hidden"].as_u64()), (Some(2), Some(8)));
    assert!(
        v["config"]["optimizer"]["lr"].as_f64().is_some() && v["adapter"].as_str().is_some() && v["tokens_per_second"].as_f64().is_some()
    );
}

#[test]
fn the_predictor_api_predicts_in_input_order_blocking_or_not() {
    use lstm_transfer::tasks::classify::Predictor;
    let (ckpt, _) = trained();
    let mut predictor = Predictor::load(Path::new(ckpt)).unwrap();
    // Texts of different lengths: the batches are length-bucketed, the results must come back in order.
    let texts = ["Visit 1000 the food was great, the room big and the view was lovely", "the food was cold", "friendly"];
    let blocking = predictor.predict(&texts).unwrap();
    let labels: Vec<&str> = blocking.iter().map(|p| p.label.as_str()).collect();
    assert_eq!(labels, ["pos", "neg", "pos"]);
    assert!(blocking.iter().all(|p| (p.probs.iter().sum::<f32>() - 1.0).abs() < 1e-5 && p.probability() > 0.5));
    let pending = predictor.submit(&texts).unwrap();
    let polled = loop {
        if let Some(p) = pending.poll().unwrap() {
            break p;
        }
    };
    assert_eq!(polled, blocking);
    assert_eq!(predictor.labels(), ["neg", "pos"]);
}

#[test]
fn lm_sample_continues_a_prompt_the_way_the_corpus_does() {
    let corpus = file("cat_corpus.txt", &"the cat sat on the mat\n".repeat(60));
    let lm = dir().join("cat_lm.safetensors").display().to_string();
    ok(&[
        "lm", "--train", &corpus, "--embed", "16", "--hidden", "16", "--layers", "1", "--bptt", "8", "--batch-size", "4", "--epochs", "15",
        "--lr", "0.02", "--out", &lm,
    ]);
    let greedy = ["lm", "sample", "--from", &lm, "--prompt", "the cat", "--tokens", "5", "--top-k", "1"];
    let text = ok(&greedy);
    assert!(text.starts_with("the cat sat on the mat"), "{text}");
    assert_eq!(ok(&greedy), text, "the same seed draws the same text");
    let samples = ok(&["lm", "sample", "--from", &lm, "--samples", "3", "--tokens", "8", "--temperature", "1.5"]);
    assert_eq!(samples.lines().count(), 3, "{samples}");
    let err = fails(&["lm", "sample", "--from", &lm, "--temperature", "0"]);
    assert!(err.contains("temperature"), "{err}");
}

#[test]
fn transfer_check_reports_coverage_confidence_logme_and_the_domain_gap() {
    // The web page's shipped source (sentiment on IMDb + Amazon) on 100 Yelp sentences.
    let root = env!("CARGO_MANIFEST_DIR");
    let source = format!("{root}/examples/web/source.safetensors");
    let yelp: String =
        std::fs::read_to_string(format!("{root}/data/uci_yelp.tsv")).unwrap().lines().take(100).map(|l| format!("{l}\n")).collect();
    let target = file("check_yelp.tsv", &yelp);
    let imdb = format!("{root}/data/uci_imdb.tsv");
    let out = ok(&["transfer", "--from", &source, "--check", "--data", &target, "--source-data", &imdb, "--format", "json"]);
    let c: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(c["rows"], 100);
    let share = |key: &str| c[key].as_f64().unwrap_or_else(|| panic!("{key} missing: {c}"));
    assert!((0.5..1.0).contains(&c["coverage"]["covered_occurrences"].as_f64().unwrap()), "{c}");
    assert!((0.0..=1.0).contains(&share("unknown_trigram_coverage")) && (0.5..=1.0).contains(&share("source_confidence")));
    let fidelity = &c["subword_fidelity"];
    assert!(
        (0.0..=1.0).contains(&fidelity["induced_share"].as_f64().unwrap()) && (-1.0..=1.0).contains(&fidelity["cosine"].as_f64().unwrap())
    );
    assert!((0.0..=1.0).contains(&share("source_entropy")) && (0.0..=1.0).contains(&share("source_accuracy")));
    assert!(share("logme_source").is_finite() && share("logme_random").is_finite());
    assert!((0.0..=2.0).contains(&share("proxy_a_distance")), "{c}");
    // The target's own rows as the source text: nothing tells the domains apart (neither the row
    // counts nor the label column, which is not read as text).
    let same = ok(&["transfer", "--from", &source, "--check", "--data", &target, "--source-data", &target, "--format", "json"]);
    let same: serde_json::Value = serde_json::from_str(&same).unwrap();
    assert_eq!(same["proxy_a_distance"].as_f64(), Some(0.0), "{same}");
    // A target of other (and more) labels than the source's head: its confidence is still read, its
    // accuracy is not.
    let topics: String = yelp.lines().enumerate().map(|(i, l)| format!("topic{}\t{}\n", i % 3, l.split_once('\t').unwrap().1)).collect();
    let topics = file("check_topics.tsv", &topics);
    let out = ok(&["transfer", "--from", &source, "--check", "--data", &topics, "--format", "json"]);
    let t: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert!(t["source_confidence"].as_f64().is_some_and(|c| (0.5..=1.0).contains(&c)) && t["source_accuracy"].is_null(), "{t}");
    // Check trains nothing: a method or training option with it is refused.
    let err = fails(&["transfer", "--from", &source, "--check", "--method", "init", "--data", &target]);
    assert!(err.contains("--method") && err.contains("--check"), "{err}");
    let err = fails(&["transfer", "--from", &source, "--check"]);
    assert!(err.contains("--data"), "{err}");
}
