//! The experiment runner end to end on toy data: every method (ULMFiT from a language model too)
//! runs, the report, JSON and plots are written, and a config naming an unknown method is refused.

mod common;

use std::path::PathBuf;

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
methods = ["scratch", "source-only", "init", "freeze", "ulmfit", "hetero", "dann", "lm-ulmfit"]
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
    assert_eq!(results.len(), 8 * 2, "every method × seed ran");
    assert!(results.iter().all(|r| r.budget == 16 && (0.0..=1.0).contains(&r.test_accuracy)));
    assert!(results.iter().filter(|r| r.method == "dann").all(|r| r.proxy_a_distance.is_some()));
    let md = report::write_report(&out, &results, "test").unwrap();
    assert!(md.contains("| toy | 16 |") && md.contains("lm-ulmfit"), "{md}");
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
