//! `lm`: train an LSTM language model with truncated BPTT and report validation and test perplexity.
//! The checkpoint transfers into a classifier with `transfer --from` (ULMFiT: embedding + LSTM).

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{bail, Result};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use lstm_transfer::kernels::optimizer::AdamConfig;
use lstm_transfer::fsutil::write_atomic;
use lstm_transfer::lm::{batchify, corpus_vocab, load_lm, perplexity, read_corpus, run_epoch, save_lm, LmInfo, Tokenizer};
use lstm_transfer::model::{LanguageModel, LanguageModelConfig};
use lstm_transfer::plot::{write_line_chart, Panel, Series as PlotSeries};
use lstm_transfer::GpuContext;

use super::{sibling, GpuArgs};

#[derive(Args)]
pub struct LmArgs {
    /// Training corpus: one sentence per line (a `label<TAB>text` file counts by its text).
    #[arg(long)]
    pub train: PathBuf,
    #[arg(long)]
    pub valid: Option<PathBuf>,
    #[arg(long)]
    pub test: Option<PathBuf>,
    /// whitespace (pre-tokenized corpora such as PTB) or words (the classifier's tokenizer, for ULMFiT).
    #[arg(long, default_value = "whitespace")]
    pub tokenizer: String,
    #[arg(long, default_value_t = 200)]
    pub embed: usize,
    #[arg(long, default_value_t = 200)]
    pub hidden: usize,
    #[arg(long, default_value_t = 2)]
    pub layers: usize,
    /// Tie the decoder to the embedding (needs --embed = --hidden).
    #[arg(long)]
    pub tie: bool,
    /// Tokens per chunk of truncated backpropagation through time.
    #[arg(long, default_value_t = 35)]
    pub bptt: usize,
    /// Parallel streams.
    #[arg(long, default_value_t = 20)]
    pub batch_size: usize,
    /// Epochs over the training corpus (0 with --from: only evaluate that model on --valid / --test).
    #[arg(long, default_value_t = 6)]
    pub epochs: usize,
    #[arg(long, default_value_t = 2e-3)]
    pub lr: f32,
    #[arg(long, default_value_t = 5.0)]
    pub clip: f32,
    /// Keep tokens seen at least this often (the others read as <unk>).
    #[arg(long, default_value_t = 1)]
    pub min_freq: usize,
    /// Largest vocabulary (the decoder's width), <pad> and <unk> included.
    #[arg(long, default_value_t = 50_000)]
    pub max_vocab: usize,
    /// Train on only the first N tokens (quick runs on slow adapters; the vocabulary still comes from all).
    #[arg(long)]
    pub max_tokens: Option<usize>,
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Continue from a language-model checkpoint (its vocabulary and shape replace the options above).
    #[arg(long)]
    pub from: Option<PathBuf>,
    /// The best model; `NAME.curve.svg` (perplexity per epoch) and `NAME.metrics.json` go beside it.
    #[arg(long, default_value = "runs/lm.safetensors")]
    pub out: PathBuf,
    /// text or json (the metrics, on stdout).
    #[arg(long, default_value = "text")]
    pub format: String,
}

/// Perplexity of `model` over `streams`, without training.
fn score(ctx: &GpuContext, model: &mut LanguageModel, streams: &[Vec<u32>], bptt: usize) -> Result<f64> {
    let (loss, count) = run_epoch(ctx, model, streams, bptt, false, |_, _, _| {})?;
    Ok(perplexity(loss, count))
}

/// One epoch's figures, as `NAME.metrics.json` lists them.
#[derive(serde::Serialize)]
struct LmEpoch {
    epoch: usize,
    /// Running perplexity over the epoch's training chunks.
    train_ppl: f64,
    valid_ppl: Option<f64>,
    tokens_per_s: f64,
    seconds: f64,
}

pub fn run(gpu: &GpuArgs, a: &LmArgs) -> Result<()> {
    if a.format != "text" && a.format != "json" {
        bail!("unknown --format '{}': expected text or json", a.format);
    }
    if a.epochs == 0 && (a.from.is_none() || (a.valid.is_none() && a.test.is_none())) {
        bail!("--epochs 0 only evaluates a model: give --from and --valid and/or --test");
    }
    let tokenizer = match a.tokenizer.as_str() {
        "whitespace" => Tokenizer::Whitespace,
        "words" => Tokenizer::Words,
        other => bail!("unknown --tokenizer '{other}': expected whitespace or words"),
    };
    let start_from = a.from.as_ref().map(|p| load_lm(p)).transpose()?;
    // A continued model keeps the tokenizer its vocabulary was built with.
    let tokenizer = start_from.as_ref().map_or(tokenizer, |(info, _, _)| info.tokenizer);
    let mut train_tokens = read_corpus(&a.train, tokenizer)?;
    // The vocabulary comes from the whole training corpus, so a --max-tokens run predicts over the same
    // vocabulary (and its perplexities compare) as a full one.
    let vocab = match &start_from {
        Some((_, tokens, _)) => lstm_transfer::data::Vocab::from_tokens(tokens.clone())?,
        None => corpus_vocab(&train_tokens, a.min_freq, a.max_vocab),
    };
    if let Some(n) = a.max_tokens {
        train_tokens.truncate(n);
    }
    let encode = |tokens: &[String]| -> Vec<u32> { tokens.iter().map(|t| vocab.id(t)).collect() };
    let (train, dropped) = batchify(&encode(&train_tokens), a.batch_size);
    let cfg = match &start_from {
        Some((info, _, _)) => info.config,
        None => LanguageModelConfig { vocab: vocab.len(), embed: a.embed, hidden: a.hidden, layers: a.layers, tie_weights: a.tie },
    };
    // With --format json, stdout carries only the JSON; progress goes to stderr.
    let json_out = a.format == "json";
    let say = |line: String| if json_out { eprintln!("{line}") } else { println!("{line}") };
    let ctx = gpu.context()?;
    say(format!("adapter: {}", ctx.adapter_line()));
    say(format!("corpus: {} training tokens ({} in {} streams, {dropped} dropped at the end), vocabulary {}",
                train_tokens.len(), train[0].len() * a.batch_size, a.batch_size, vocab.len()));
    let mut model = LanguageModel::new(&ctx, cfg, a.batch_size, a.bptt, a.seed)?;
    model.set_optimizer(AdamConfig { lr: a.lr, max_grad_norm: a.clip, ..Default::default() });
    if let Some((_, _, tensors)) = &start_from {
        model.store.upload_all(&ctx, tensors)?;
        say(format!("continuing from {}", a.from.as_ref().expect("given").display()));
    }
    let eval_set = |path: &Option<PathBuf>| -> Result<Option<Vec<Vec<u32>>>> {
        Ok(match path {
            Some(p) => Some(batchify(&encode(&read_corpus(p, tokenizer)?), a.batch_size).0),
            None => None,
        })
    };
    let (valid, test) = (eval_set(&a.valid)?, eval_set(&a.test)?);
    if a.epochs == 0 {
        let valid_ppl = valid.as_ref().map(|v| score(&ctx, &mut model, v, a.bptt)).transpose()?;
        let test_ppl = test.as_ref().map(|t| score(&ctx, &mut model, t, a.bptt)).transpose()?;
        for (name, p) in [("valid", valid_ppl), ("test", test_ppl)] {
            if let Some(p) = p {
                say(format!("{name} perplexity {p:.2}"));
            }
        }
        if json_out {
            let json = serde_json::json!({ "from": a.from.as_ref().map(|p| p.display().to_string()), "adapter": ctx.adapter_line(),
                                           "valid_perplexity": valid_ppl, "test_perplexity": test_ppl });
            println!("{}", serde_json::to_string_pretty(&json)?);
        }
        return Ok(());
    }
    let info = LmInfo { config: cfg, tokenizer };
    let mut best = f64::INFINITY;
    let mut logs: Vec<LmEpoch> = Vec::new();
    let start = Instant::now();
    for epoch in 1..=a.epochs {
        let bar = ProgressBar::new(0);
        bar.set_style(ProgressStyle::with_template("epoch {prefix} [{bar:30}] {pos}/{len} {msg}").expect("valid template").progress_chars("=> "));
        bar.set_prefix(epoch.to_string());
        let t0 = Instant::now();
        let (loss, n) = run_epoch(&ctx, &mut model, &train, a.bptt, true, |k, total, tps| {
            bar.set_length(total as u64);
            bar.set_position(k as u64);
            bar.set_message(format!("{tps:.0} tokens/s"));
        })?;
        bar.finish_and_clear();
        let seconds = t0.elapsed().as_secs_f64();
        // Without --valid the model is kept by its (running) training perplexity.
        let log = LmEpoch {
            epoch, train_ppl: perplexity(loss, n), tokens_per_s: n as f64 / seconds, seconds,
            valid_ppl: valid.as_ref().map(|v| score(&ctx, &mut model, v, a.bptt)).transpose()?,
        };
        let shown = log.valid_ppl.map(|v| format!("  valid ppl {v:.2}")).unwrap_or_default();
        say(format!("epoch {epoch:>3}  train ppl {:.2}{shown}  {:.0} tokens/s  {seconds:.0} s", log.train_ppl, log.tokens_per_s));
        let monitored = log.valid_ppl.unwrap_or(log.train_ppl);
        logs.push(log);
        if monitored < best {
            best = monitored;
            save_lm(&a.out, &ctx, &model, &info, &vocab.tokens)?;
        }
    }
    let kept_by = if valid.is_some() { "valid" } else { "training (no --valid)" };
    say(format!("best {kept_by} perplexity {best:.2}; model: {} ({:.0} s)", a.out.display(), start.elapsed().as_secs_f64()));
    let mut test_ppl = None;
    if let Some(t) = &test {
        let (tensors, _) = lstm_transfer::checkpoint::read_tensors(&a.out)?;
        model.store.upload_all(&ctx, &tensors)?;
        let (l, n) = run_epoch(&ctx, &mut model, t, a.bptt, false, |_, _, _| {})?;
        test_ppl = Some(perplexity(l, n));
        say(format!("test perplexity {:.2} (best model, {n} predictions)", perplexity(l, n)));
    }
    let line = |name: &str, f: fn(&LmEpoch) -> Option<f64>| PlotSeries {
        name: name.into(), points: logs.iter().filter_map(|l| f(l).map(|v| (l.epoch as f64, v))).collect(),
    };
    let panel = Panel {
        title: "perplexity".into(), x_label: "epoch".into(), y_label: "perplexity".into(),
        series: vec![line("train (running)", |l| Some(l.train_ppl)), line("valid", |l| l.valid_ppl)],
    };
    write_line_chart(&sibling(&a.out, ".curve.svg"), "language model", &[panel])?;
    let json = serde_json::json!({
        "train": a.train.display().to_string(), "adapter": ctx.adapter_line(), "config": cfg, "tokenizer": tokenizer,
        "from": a.from.as_ref().map(|p| p.display().to_string()), "bptt": a.bptt, "batch_size": a.batch_size, "lr": a.lr,
        "training_tokens": train_tokens.len(), "epochs": logs, "best_perplexity": best, "kept_by": kept_by, "test_perplexity": test_ppl,
        "seconds": start.elapsed().as_secs_f64(),
    });
    write_atomic(&sibling(&a.out, ".metrics.json"), serde_json::to_string_pretty(&json)?.as_bytes())?;
    if json_out {
        println!("{}", serde_json::to_string_pretty(&json)?);
    } else {
        println!("wrote {} (+ .curve.svg, .metrics.json)", a.out.display());
    }
    Ok(())
}
