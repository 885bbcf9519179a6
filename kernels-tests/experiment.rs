//! The experiment runner end to end on toy data: every method (ULMFiT from a language model too)
//! runs, the report, JSON and plots are written, and a config naming an unknown method is refused;
//! the grid split into shards run by separate processes merges into what one unsharded run writes.

mod common;

use std::path::PathBuf;

use common::cli::{fails, ok};
use common::gpu;
use lstm_transfer::experiment::{self, ExperimentConfig, report};
use lstm_transfer::tasks::lm::{LanguageModel, LanguageModelConfig, LmInfo, Tokenizer, corpus_vocab, save_lm};

const WORDS: [&str; 8] = ["great", "superb", "lovely", "tasty", "awful", "rude", "stale", "cold"];

fn dir() -> PathBuf {
    let d = std::env::temp_dir().join(format!("lstm-transfer-experiment-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Sentiment-like rows: the label is carried by one of four words per class.
fn toy_tsv(name: &str, rows: usize, topic: &str) -> PathBuf {
    let text: String = (0..rows)
        .map(|i| {
            let label = i % 2;
            format!("{label}\tthe {topic} was {} today\n", WORDS[label * 4 + (i / 2) % 4])
        })
        .collect();
    let path = dir().join(name);
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn every_method_runs_and_the_report_is_written() {
    let ctx = gpu();
    let (source, target) = (toy_tsv("source.tsv", 120, "film"), toy_tsv("target.tsv", 80, "food"));
    // A language model on the source text, with the classifier's tokenizer.
    let tokens: Vec<String> = std::fs::read_to_string(&source)
        .unwrap()
        .lines()
        .flat_map(|l| lstm_transfer::data::tokenize(l.split_once('\t').unwrap().1).into_iter().chain(["<eos>".to_string()]))
        .collect();
    let vocab = corpus_vocab(&tokens, 1, 1000);
    let cfg = LanguageModelConfig { vocab: vocab.len(), embed: 8, hidden: 8, layers: 1, tie_weights: false };
    let lm = LanguageModel::new(ctx, cfg, 2, 8, 1).unwrap();
    let lm_path = dir().join("lm.safetensors");
    save_lm(&lm_path, ctx, &lm, &LmInfo { config: cfg, tokenizer: Tokenizer::Words }, &vocab.tokens).unwrap();

    let toml = format!(
        r#"
budgets = [16]
seeds = [1, 2]
methods = ["scratch", "source-only", "init", "freeze", "ulmfit", "hetero", "dann", "lm-ulmfit", "self-train"]
[source]
data = ["{}"]
lm_checkpoint = "{}"
epochs = 2
[model]
embed = 8
hidden = 8
[finetune]
epochs = 2
dann_epochs = 1
dann_source_rows = 40
[[target]]
name = "toy"
data = "{}"
test_size = 40
"#,
        source.display(),
        lm_path.display(),
        target.display()
    );
    let config_path = dir().join("experiment.toml");
    std::fs::write(&config_path, toml).unwrap();
    let cfg = ExperimentConfig::load(&config_path).unwrap();
    let out = dir().join("out");
    let results = experiment::run(ctx, &cfg, &out, &mut |_| {}).unwrap();
    assert_eq!(results.len(), 9 * 2, "every method × seed ran");
    assert!(results.iter().all(|r| r.budget == 16 && (0.0..=1.0).contains(&r.test_accuracy)));
    assert!(results.iter().filter(|r| r.method == "dann").all(|r| r.proxy_a_distance.is_some()));
    let md = report::write_report(&out, &results, "test").unwrap();
    assert!(md.contains("| toy | 16 |") && md.contains("lm-ulmfit") && md.contains("self-train"), "{md}");
    // The transferability check ran once per split, on its 16 labels, before the split's first run.
    let checked =
        |r: &&lstm_transfer::experiment::RunResult| r.check.as_ref().is_some_and(|c| c.rows == 16 && c.proxy_a_distance.is_some());
    assert!(results.iter().filter(|r| r.method == "scratch").all(|r| checked(&r)), "{results:?}");
    assert!(results.iter().filter(|r| r.method != "scratch").all(|r| r.check.is_none()));
    assert!(md.contains("## Transferability check before training") && md.contains("Spearman's ρ"), "{md}");
    for file in ["report.md", "results.json", "summary.json", "accuracy_vs_budget.svg", "learning_curves.svg", "source.safetensors"] {
        assert!(out.join(file).exists(), "{file} missing");
    }

    std::fs::write(
        &config_path,
        "budgets = [16]\nseeds = [1]\nmethods = [\"magic\"]\n[source]\ndata = [\"x.tsv\"]\n[[target]]\nname = \"t\"\ndata = \"y.tsv\"\n",
    )
    .unwrap();
    let err = ExperimentConfig::load(&config_path).unwrap_err().to_string();
    assert!(err.contains("experiment.toml") && err.contains("unknown method 'magic'"), "{err}");
}

#[test]
fn the_shipped_example_configuration_runs_from_a_checkout() {
    let path = std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/examples/experiment.toml"));
    let cfg = ExperimentConfig::load(path).unwrap();
    for data in cfg.source.data.iter().chain(cfg.targets.iter().map(|t| &t.data)) {
        let rows = lstm_transfer::data::read_table(data, &Default::default()).unwrap_or_else(|e| panic!("{}: {e}", data.display()));
        assert!(rows.rows.len() > 500, "{}", data.display());
    }
}

/// The demo's grid shape (scratch, source-only, init, dann × 2 budgets × 2 seeds) on toy data.
fn sharded_grid_config() -> PathBuf {
    let (source, target) = (toy_tsv("shard-source.tsv", 120, "film"), toy_tsv("shard-target.tsv", 90, "food"));
    let toml = format!(
        r#"
budgets = [12, 24]
seeds = [1, 2]
methods = ["scratch", "source-only", "init", "dann"]
[source]
data = ["{}"]
epochs = 6
lr = 2e-2
[model]
embed = 8
hidden = 8
[finetune]
epochs = 3
lr = 2e-2
transfer_lr = 1e-2
patience = 1
dann_epochs = 1
dann_source_rows = 40
[[target]]
name = "toy"
data = "{}"
test_size = 40
"#,
        source.display(),
        target.display()
    );
    let path = dir().join("grid.toml");
    std::fs::write(&path, toml).unwrap();
    path
}

/// results.json without the wall-clock seconds (the one field that differs between two runs).
fn results_without_time(dir: &std::path::Path) -> serde_json::Value {
    let mut v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(dir.join("results.json")).unwrap()).unwrap();
    for run in v.as_array_mut().unwrap() {
        run.as_object_mut().unwrap().remove("seconds");
    }
    v
}

#[test]
fn three_shards_in_three_processes_merge_into_the_unsharded_results() {
    let config = sharded_grid_config();
    let config = config.to_str().unwrap();
    let (whole, sharded) = (dir().join("grid-whole"), dir().join("grid-sharded"));
    let (whole_s, sharded_s) = (whole.to_str().unwrap(), sharded.to_str().unwrap());
    ok(&["--quiet", "experiment", "--config", config, "--out", whole_s]);

    // A shard without the shared source model says how to make it.
    let err = fails(&["experiment", "--config", config, "--out", sharded_s, "--shard", "1/3"]);
    assert!(err.contains("--stage source"), "{err}");
    ok(&["--quiet", "experiment", "--config", config, "--out", sharded_s, "--stage", "source"]);
    assert!(sharded.join("source.safetensors").is_file());
    let err = fails(&["experiment", "--config", config, "--out", sharded_s, "--shard", "17/17"]);
    assert!(err.contains("17 shards for a grid of 16 runs"), "{err}");
    let shards: Vec<std::process::Child> = (1..=3)
        .map(|k| {
            common::cli::bin()
                .args(["--quiet", "experiment", "--config", config, "--out", sharded_s, "--shard", &format!("{k}/3")])
                .stdout(std::process::Stdio::null())
                .spawn()
                .unwrap()
        })
        .collect();
    for mut child in shards {
        assert!(child.wait().unwrap().success(), "a shard failed");
    }
    // 16 runs round robin: 6, 5, 5.
    let runs = |k: usize| {
        let text = std::fs::read_to_string(sharded.join(format!("results-shard-{k}-of-3.json"))).unwrap();
        serde_json::from_str::<serde_json::Value>(&text).unwrap()["runs"].as_array().unwrap().len()
    };
    assert_eq!([runs(1), runs(2), runs(3)], [6, 5, 5]);
    // A finished shard is not overwritten by accident; resumed, it has nothing left to run.
    let shard_1 = ["experiment", "--config", config, "--out", sharded_s, "--shard", "1/3"];
    assert!(fails(&shard_1).contains("--overwrite"));
    let resumed = ok(&[&shard_1[..], &["--resume"]].concat());
    assert!(resumed.contains("resuming shard 1/3: 6 run(s) already done") && resumed.contains("6 runs in"), "{resumed}");
    let report = ok(&["--quiet", "experiment", "merge", sharded_s]);
    assert!(report.contains("merged 3 shard file(s): 16 runs"), "{report}");
    let whole_results = results_without_time(&whole);
    let accuracies: Vec<f64> = whole_results.as_array().unwrap().iter().map(|r| r["test_accuracy"].as_f64().unwrap()).collect();
    assert!(accuracies.iter().any(|&a| a != accuracies[0]), "runs that differ make the comparison telling: {accuracies:?}");
    assert_eq!(whole_results, results_without_time(&sharded), "merged shards differ from the unsharded run");
    for file in ["report.md", "summary.json", "accuracy_vs_budget.svg", "learning_curves.svg"] {
        let read = |d: &PathBuf| std::fs::read_to_string(d.join(file)).unwrap();
        assert_eq!(read(&whole), read(&sharded), "{file} differs");
    }

    // A missing shard, and a shard of another configuration, are refused by name.
    let partial = dir().join("grid-partial");
    std::fs::create_dir_all(&partial).unwrap();
    for k in [1, 2] {
        let name = format!("results-shard-{k}-of-3.json");
        std::fs::copy(sharded.join(&name), partial.join(&name)).unwrap();
    }
    let err = fails(&["experiment", "merge", partial.to_str().unwrap()]);
    assert!(err.contains("shard 3/3 is missing"), "{err}");
    let third = std::fs::read_to_string(sharded.join("results-shard-3-of-3.json")).unwrap();
    for other in [third.replace("\"epochs\": 3", "\"epochs\": 4"), third.replace("\"source_sha256\": \"", "\"source_sha256\": \"0")] {
        std::fs::write(partial.join("results-shard-3-of-3.json"), other).unwrap();
        let err = fails(&["experiment", "merge", partial.to_str().unwrap()]);
        assert!(err.contains("results-shard-3-of-3.json") && err.contains("another configuration or source model"), "{err}");
    }
}
