//! `lm`: train an LSTM language model with truncated BPTT and report validation and test perplexity.
//! The checkpoint transfers into a classifier with `transfer --from` (ULMFiT: embedding + LSTM).

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{bail, Result};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use lstm_transfer::kernels::optimizer::AdamConfig;
use lstm_transfer::lm::{batchify, corpus_vocab, load_lm, perplexity, read_corpus, run_epoch, save_lm, LmInfo, Tokenizer};
use lstm_transfer::model::{LanguageModel, LanguageModelConfig};

use super::GpuArgs;

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
    #[arg(long, default_value = "runs/lm.safetensors")]
    pub out: PathBuf,
}

pub fn run(gpu: &GpuArgs, a: &LmArgs) -> Result<()> {
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
    let ctx = gpu.context()?;
    println!("adapter: {}", ctx.adapter_line());
    println!("corpus: {} training tokens ({} in {} streams, {dropped} dropped at the end), vocabulary {}",
             train_tokens.len(), train[0].len() * a.batch_size, a.batch_size, vocab.len());
    let mut model = LanguageModel::new(&ctx, cfg, a.batch_size, a.bptt, a.seed)?;
    model.set_optimizer(AdamConfig { lr: a.lr, max_grad_norm: a.clip, ..Default::default() });
    if let Some((_, _, tensors)) = &start_from {
        model.store.upload_all(&ctx, tensors)?;
        println!("continuing from {}", a.from.as_ref().expect("given").display());
    }
    let eval_set = |path: &Option<PathBuf>| -> Result<Option<Vec<Vec<u32>>>> {
        Ok(match path {
            Some(p) => Some(batchify(&encode(&read_corpus(p, tokenizer)?), a.batch_size).0),
            None => None,
        })
    };
    let (valid, test) = (eval_set(&a.valid)?, eval_set(&a.test)?);
    let info = LmInfo { config: cfg, tokenizer };
    let mut best = f64::INFINITY;
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
        let (train_ppl, valid_ppl) = (perplexity(loss, n), match &valid {
            Some(v) => { let (l, n) = run_epoch(&ctx, &mut model, v, a.bptt, false, |_, _, _| {})?; Some(perplexity(l, n)) }
            None => None,
        });
        let shown = valid_ppl.map(|v| format!("  valid ppl {v:.2}")).unwrap_or_default();
        println!("epoch {epoch:>3}  train ppl {train_ppl:.2}{shown}  {:.0} tokens/s  {seconds:.0} s", n as f64 / seconds);
        if valid_ppl.unwrap_or(train_ppl) < best {
            best = valid_ppl.unwrap_or(train_ppl);
            save_lm(&a.out, &ctx, &model, &info, &vocab.tokens)?;
        }
    }
    let kept_by = if valid.is_some() { "valid" } else { "training (no --valid)" };
    println!("best {kept_by} perplexity {best:.2}; model: {} ({:.0} s)", a.out.display(), start.elapsed().as_secs_f64());
    if let Some(t) = &test {
        let (tensors, _) = lstm_transfer::checkpoint::read_tensors(&a.out)?;
        model.store.upload_all(&ctx, &tensors)?;
        let (l, n) = run_epoch(&ctx, &mut model, t, a.bptt, false, |_, _, _| {})?;
        println!("test perplexity {:.2} (best model, {n} predictions)", perplexity(l, n));
    }
    Ok(())
}
