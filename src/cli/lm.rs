//! `lm`: train an LSTM language model with truncated BPTT and report validation and test perplexity.
//! The checkpoint transfers into a classifier with `transfer --from` (ULMFiT: embedding + LSTM).

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Result, bail};
use clap::Args;
use indicatif::ProgressBar;
use lstm_transfer::GpuContext;
use lstm_transfer::core::fit::{FitObserver, FitState, Phase, StepProgress};
use lstm_transfer::data::Vocab;
use lstm_transfer::fsutil::write_atomic;
use lstm_transfer::plot::{Panel, Series as PlotSeries, XAxis, write_line_chart};
use lstm_transfer::tasks::lm::{
    EOS, LanguageModel, LanguageModelConfig, LmEpoch, LmInfo, LmRun, LmTrainConfig, SampleConfig, Tokenizer, batchify, corpus_vocab,
    load_lm, read_corpus, sample, save_lm, score_with, train_lm,
};

use super::{
    GpuArgs, IoArgs, OptimArgs, OutputFormat, epoch_bar, lr_find_outputs, outputs_of, report_lr_find, sibling, step_bar, verbose_step,
};
use lstm_transfer::config::validate::check_capacity;
use lstm_transfer::core::lr_find::LrFindConfig;
use lstm_transfer::tasks::lm::train::lr_find_lm;

/// `lm`: train (the options below), or `lm sample`.
#[derive(Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct LmCommand {
    #[command(subcommand)]
    pub action: Option<LmAction>,
    #[command(flatten)]
    pub train: LmArgs,
}

#[derive(clap::Subcommand)]
pub enum LmAction {
    /// Generate text from a trained language model (a first look at what it learnt).
    #[command(
        after_help = "Examples:\n  lstm-transfer lm sample --from runs/lm.safetensors --prompt \"the market\" --tokens 40 --temperature 0.8 --top-k 20"
    )]
    Sample(SampleArgs),
}

#[derive(Args)]
pub struct SampleArgs {
    /// A language model from `lm`.
    #[arg(long)]
    pub from: PathBuf,
    /// The text to continue, tokenized as the model's corpus was [default: a new sentence].
    #[arg(long, default_value = "")]
    pub prompt: String,
    /// Tokens to generate at most (a sample ends at <eos>, a sentence's end).
    #[arg(long, default_value_t = 50)]
    pub tokens: usize,
    /// Below 1 sharper, above 1 more varied.
    #[arg(long, default_value_t = 1.0)]
    pub temperature: f32,
    /// Draw among the K most likely tokens only (0: all).
    #[arg(long, default_value_t = 0)]
    pub top_k: usize,
    /// Samples to draw.
    #[arg(long, default_value_t = 1)]
    pub samples: usize,
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
}

/// `lm` or `lm sample`.
pub fn command(gpu: &GpuArgs, io: &IoArgs, c: &LmCommand) -> Result<()> {
    match &c.action {
        Some(LmAction::Sample(s)) => sample_text(gpu, s),
        None => run(gpu, io, &c.train),
    }
}

/// `lm sample`: each sample on its own line, `<eos>` ending it.
fn sample_text(gpu: &GpuArgs, s: &SampleArgs) -> Result<()> {
    let (info, vocab, tensors) = load_lm(&s.from)?;
    let vocab = Vocab::from_tokens(vocab)?;
    let eos = vocab.tokens.iter().position(|t| t == EOS).map(|i| i as u32);
    let mut prompt: Vec<u32> = info.tokenizer.tokens(&s.prompt).iter().map(|t| vocab.id(t)).collect();
    if prompt.is_empty() {
        // A new sentence starts after the end of the previous one.
        prompt.push(eos.unwrap_or(lstm_transfer::data::UNK));
    }
    let ctx = gpu.context()?;
    let mut model = LanguageModel::new(&ctx, info.config, 1, 64, 0)?;
    model.store.upload_all(&ctx, &tensors)?;
    for k in 0..s.samples {
        let cfg = SampleConfig { tokens: s.tokens, temperature: s.temperature, top_k: s.top_k, seed: s.seed.wrapping_add(k as u64) };
        let ids = sample(&ctx, &mut model, &prompt, &cfg, eos)?;
        let words: Vec<&str> = ids.iter().map(|&i| vocab.tokens[i as usize].as_str()).collect();
        println!("{}{}{}", s.prompt, if s.prompt.is_empty() { "" } else { " " }, words.join(" "));
    }
    Ok(())
}

#[derive(Args)]
pub struct LmArgs {
    /// Training corpus: one sentence per line (a `label<TAB>text` file counts by its text).
    #[arg(long, required = true)]
    pub train: Option<PathBuf>,
    #[arg(long)]
    pub valid: Option<PathBuf>,
    #[arg(long)]
    pub test: Option<PathBuf>,
    /// whitespace (pre-tokenized corpora such as PTB) or words (the classifier's tokenizer, for ULMFiT).
    #[arg(long, value_enum, default_value_t = Tokenizer::Whitespace)]
    pub tokenizer: Tokenizer,
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
    #[command(flatten)]
    pub optim: OptimArgs,
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
    /// Result format (json: the metrics on stdout).
    #[arg(long, value_enum, default_value_t)]
    pub format: OutputFormat,
}

/// The corpora as streams of ids over one vocabulary.
struct Corpus {
    vocab: Vocab,
    tokenizer: Tokenizer,
    train: Vec<Vec<u32>>,
    train_tokens: usize,
    dropped: usize,
    valid: Option<Vec<Vec<u32>>>,
    test: Option<Vec<Vec<u32>>>,
}

/// Reads the corpora. A continued model keeps the tokenizer and vocabulary it was built with; a new
/// vocabulary comes from the whole training corpus, so a `--max-tokens` run predicts over the same
/// vocabulary (and its perplexities compare) as a full one.
fn read_corpora(a: &LmArgs, from: Option<(&LmInfo, &[String])>) -> Result<Corpus> {
    let tokenizer = from.map_or(a.tokenizer, |(info, _)| info.tokenizer);
    let train_path = a.train.as_deref().expect("clap requires --train");
    let mut train_tokens = read_corpus(train_path, tokenizer)?;
    let vocab = match from {
        Some((_, tokens)) => Vocab::from_tokens(tokens.to_vec())?,
        None => corpus_vocab(&train_tokens, a.min_freq, a.max_vocab),
    };
    if let Some(n) = a.max_tokens {
        train_tokens.truncate(n);
    }
    // Each of the B streams needs at least 2 tokens (a token and the next), or nothing is predicted.
    let streams = |tokens: &[String], path: &Path| -> Result<(Vec<Vec<u32>>, usize)> {
        let (streams, dropped) = batchify(&tokens.iter().map(|t| vocab.id(t)).collect::<Vec<u32>>(), a.batch_size);
        if streams[0].len() < 2 {
            bail!(
                "{}: {} tokens make streams of {} token(s) for --batch-size {}; each stream needs at least 2",
                path.display(),
                tokens.len(),
                streams[0].len(),
                a.batch_size
            );
        }
        Ok((streams, dropped))
    };
    let (train, dropped) = streams(&train_tokens, train_path)?;
    let read = |path: &Option<PathBuf>| -> Result<Option<Vec<Vec<u32>>>> {
        path.as_ref().map(|p| Ok(streams(&read_corpus(p, tokenizer)?, p)?.0)).transpose()
    };
    let (valid, test) = (read(&a.valid)?, read(&a.test)?);
    Ok(Corpus { train_tokens: train_tokens.len(), vocab, tokenizer, train, dropped, valid, test })
}

pub fn run(gpu: &GpuArgs, io: &IoArgs, a: &LmArgs) -> Result<()> {
    if a.epochs == 0 && (a.from.is_none() || (a.valid.is_none() && a.test.is_none())) {
        bail!("--epochs 0 only evaluates a model: give --from and --valid and/or --test");
    }
    check_capacity(a.batch_size, "bptt", a.bptt)?;
    // An evaluation-only run writes nothing.
    let _lock = (a.epochs > 0)
        .then(|| {
            io.guard(
                &a.out,
                &if a.optim.lr_find { lr_find_outputs(&a.out) } else { outputs_of(&a.out, &[".curve.svg", ".metrics.json"]) },
                &[a.train.as_deref(), a.valid.as_deref(), a.test.as_deref(), a.from.as_deref()],
                false,
            )
        })
        .transpose()?;
    // Checked before any reading or GPU work (an evaluation-only run trains nothing).
    let train_cfg = LmTrainConfig { epochs: a.epochs, bptt: a.bptt, optim: a.optim.config(2e-3, 5.0)? };
    if a.epochs > 0 {
        train_cfg.validate()?;
    }
    let start_from = a.from.as_ref().map(|p| load_lm(p)).transpose()?;
    let corpus = read_corpora(a, start_from.as_ref().map(|(info, vocab, _)| (info, vocab.as_slice())))?;
    let cfg = match &start_from {
        Some((info, _, _)) => info.config,
        None => LanguageModelConfig { vocab: corpus.vocab.len(), embed: a.embed, hidden: a.hidden, layers: a.layers, tie_weights: a.tie },
    };
    let say = |line: String| a.format.say(line);
    let ctx = gpu.context()?;
    say(format!("adapter: {}", ctx.adapter_line()));
    say(format!(
        "corpus: {} training tokens ({} in {} streams, {} dropped at the end), vocabulary {}",
        corpus.train_tokens,
        corpus.train[0].len() * a.batch_size,
        a.batch_size,
        corpus.dropped,
        corpus.vocab.len()
    ));
    let mut model = LanguageModel::new(&ctx, cfg, a.batch_size, a.bptt, a.seed)?;
    if let Some((_, _, tensors)) = &start_from {
        model.store.upload_all(&ctx, tensors)?;
        say(format!("continuing from {}", a.from.as_ref().expect("given").display()));
    }
    if a.epochs == 0 {
        return evaluate_only(&ctx, &mut model, a, &corpus);
    }
    if a.optim.lr_find {
        let found = lr_find_lm(&ctx, &mut model, &corpus.train, &train_cfg, LrFindConfig::default())?;
        return report_lr_find(a.format, &a.out, &found);
    }
    let info = LmInfo { config: cfg, tokenizer: corpus.tokenizer };
    let start = Instant::now();
    let mut observer = LmObserver {
        ctx: &ctx,
        out: &a.out,
        info: &info,
        vocab: &corpus.vocab.tokens,
        format: a.format,
        epochs: train_cfg.epochs,
        bar: None,
    };
    let state = train_lm(&ctx, &mut model, &corpus.train, corpus.valid.as_deref(), &train_cfg, &mut observer)?;
    let best = -state.best_score.unwrap_or(f64::NEG_INFINITY);
    let kept_by = if corpus.valid.is_some() { "valid" } else { "training (no --valid)" };
    say(format!("best {kept_by} perplexity {best:.2}; model: {} ({:.0} s)", a.out.display(), start.elapsed().as_secs_f64()));
    let mut test_ppl = None;
    if let Some(t) = &corpus.test {
        let (_, _, tensors) = load_lm(&a.out)?;
        model.store.upload_all(&ctx, &tensors)?;
        let p = score_with_bar(&ctx, &mut model, t, a.bptt, "test")?;
        test_ppl = Some(p);
        say(format!("test perplexity {p:.2} (best model)"));
    }
    write_curve(&a.out, &state)?;
    let json = serde_json::json!({
        "train": a.train.as_ref().map(|p| p.display().to_string()), "adapter": ctx.adapter_line(), "config": cfg, "tokenizer": corpus.tokenizer,
        "from": a.from.as_ref().map(|p| p.display().to_string()), "bptt": a.bptt, "batch_size": a.batch_size, "optim": train_cfg.optim,
        "training_tokens": corpus.train_tokens, "epochs": state.logs, "best_perplexity": best, "kept_by": kept_by, "test_perplexity": test_ppl,
        "seconds": start.elapsed().as_secs_f64(),
    });
    write_atomic(&sibling(&a.out, ".metrics.json"), serde_json::to_string_pretty(&json)?.as_bytes())?;
    match a.format {
        OutputFormat::Json => println!("{}", serde_json::to_string_pretty(&json)?),
        OutputFormat::Text => println!("wrote {} (+ .curve.svg, .metrics.json)", a.out.display()),
    }
    Ok(())
}

/// Perplexity over `streams` with a bar over the chunks, named `name` (the test set of a PTB-sized
/// corpus takes minutes on a software rasteriser).
fn score_with_bar(ctx: &GpuContext, model: &mut LanguageModel, streams: &[Vec<u32>], bptt: usize, name: &str) -> Result<f64> {
    let bar = step_bar(name.to_string());
    let p = score_with(ctx, model, streams, bptt, &mut |p| {
        bar.set_length(p.steps as u64);
        bar.set_position(p.step as u64);
    })?;
    bar.finish_and_clear();
    Ok(p)
}

/// `--epochs 0`: the perplexities of the `--from` model, with a bar over the chunks.
fn evaluate_only(ctx: &GpuContext, model: &mut LanguageModel, a: &LmArgs, corpus: &Corpus) -> Result<()> {
    let mut ppl = |streams: &Option<Vec<Vec<u32>>>, name: &str| -> Result<Option<f64>> {
        let Some(streams) = streams else { return Ok(None) };
        let p = score_with_bar(ctx, model, streams, a.bptt, name)?;
        a.format.say(format!("{name} perplexity {p:.2}"));
        Ok(Some(p))
    };
    let (valid_ppl, test_ppl) = (ppl(&corpus.valid, "valid")?, ppl(&corpus.test, "test")?);
    if a.format == OutputFormat::Json {
        let json = serde_json::json!({ "from": a.from.as_ref().map(|p| p.display().to_string()), "adapter": ctx.adapter_line(),
                                       "valid_perplexity": valid_ppl, "test_perplexity": test_ppl });
        println!("{}", serde_json::to_string_pretty(&json)?);
    }
    Ok(())
}

/// `NAME.curve.svg`: training and validation perplexity per epoch.
fn write_curve(out: &Path, state: &FitState<LmEpoch>) -> Result<()> {
    let line = |name: &str, f: fn(&LmEpoch) -> Option<f64>| {
        PlotSeries::new(name, state.logs.iter().filter_map(|l| f(l).map(|v| (l.epoch as f64, v))).collect())
    };
    let series = vec![line("train (running)", |l| Some(l.train_ppl)), line("valid", |l| l.valid_ppl)];
    let panel = Panel::new("perplexity", "epoch", "perplexity", series).with_x_axis(XAxis::Integers);
    Ok(write_line_chart(&sibling(out, ".curve.svg"), "language model", &[panel])?)
}

/// Progress bar, per-epoch line, and the best model saved.
struct LmObserver<'a> {
    ctx: &'a GpuContext,
    out: &'a Path,
    info: &'a LmInfo,
    vocab: &'a [String],
    format: OutputFormat,
    epochs: usize,
    bar: Option<ProgressBar>,
}

impl<'r> FitObserver<LmRun<'r>> for LmObserver<'_> {
    fn step(&mut self, p: &StepProgress) {
        let what = match p.phase {
            Phase::Train => format!("{:.0} tokens/s", p.sums.items_per_second()),
            Phase::Evaluate => "validation".to_string(),
        };
        verbose_step(self.format, p, self.epochs, &what);
        let bar = self.bar.get_or_insert_with(|| epoch_bar(p.epoch, self.epochs));
        bar.set_length(p.steps as u64);
        bar.set_position(p.step as u64);
        match p.phase {
            Phase::Train => bar.set_message(format!("{:.0} tokens/s", p.sums.items_per_second())),
            Phase::Evaluate => {
                // The epoch's validation pass follows its training steps on the same line.
                bar.set_prefix(format!("epoch {}/{} valid", p.epoch, self.epochs));
                bar.set_message("");
            }
        }
    }

    fn epoch_end(&mut self, run: &LmRun<'r>, state: &FitState<LmEpoch>, improved: bool) -> lstm_transfer::Result<()> {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
        let log = state.logs.last().expect("an epoch just ended");
        let shown = log.valid_ppl.map(|v| format!("  valid ppl {v:.2}")).unwrap_or_default();
        progress!(
            self.format,
            "epoch {:>3}  train ppl {:.2}{shown}  {:.0} tokens/s  {:.0} s{}",
            log.epoch,
            log.train_ppl,
            log.tokens_per_second,
            log.seconds,
            if improved { "  *best" } else { "" }
        );
        if improved {
            save_lm(self.out, self.ctx, run.model, self.info, self.vocab)?;
        }
        Ok(())
    }
}
