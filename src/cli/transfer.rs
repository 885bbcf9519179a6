//! `transfer`: start a target model from a source model with one of the methods of the library's
//! recipe, then train as `train` does (every `train` option applies). Without `--data` it only
//! writes the transferred model.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::Args;
use lstm_transfer::GpuContext;
use lstm_transfer::config::Pooling;
use lstm_transfer::data::{Dataset, TextRow, UNK, Vocab, label_names, make_batches, split, tokenize};
use lstm_transfer::tasks::classify::checkpoint::{Checkpoint, ModelInfo, TOKENIZER, save_classifier};
use lstm_transfer::tasks::classify::train::argmax;
use lstm_transfer::tasks::classify::{Classifier, ClassifierConfig};
use lstm_transfer::transfer::dann::dann_data;
use lstm_transfer::transfer::{self, Method, NewWords, Recipe, RowSource, TransferOptions};
use rand::{Rng, SeedableRng};

use super::train::{self as train_cmd, Prepared, Splits, Start, TrainArgs, TrainRows, read_splits};
use super::{GpuArgs, IoArgs, OutputFormat};

#[derive(Args)]
pub struct TransferArgs {
    /// Source model: a checkpoint from `train` or `lm`, or a PyTorch classifier state_dict (safetensors).
    #[arg(long)]
    pub from: PathBuf,
    /// init: copy all, fine-tune all; freeze: copy all, freeze the embedding rows the source knew (or
    /// the --freeze tensors); ulmfit: gradual unfreezing, discriminative rates, stlr schedule; hetero:
    /// another shape (--hidden, --layers, --embed, --bidirectional/--unidirectional); dann:
    /// domain-adversarial on unlabelled --target text.
    #[arg(long, value_enum, required_unless_present = "check")]
    pub method: Option<Method>,
    /// Target tensors that take the source's values (pattern with *, repeatable) [default: *].
    #[arg(long = "copy")]
    pub copy: Vec<String>,
    /// freeze, ulmfit: tensors kept frozen (pattern with *, repeatable) [freeze's default: the
    /// embedding rows the source knew].
    #[arg(long = "freeze")]
    pub freeze: Vec<String>,
    /// freeze, ulmfit: freeze only the embedding rows of tokens the source knew; new tokens' rows train.
    #[arg(long)]
    pub freeze_known_rows: bool,
    /// Gradual unfreezing: epoch e trains the top e layer groups (head, LSTM layers, embedding) [ulmfit: on].
    #[arg(long)]
    pub gradual_unfreezing: bool,
    /// Discriminative learning rates: each layer group down from the head at lr / FACTOR^depth [ulmfit: 2.6].
    #[arg(long, num_args = 0..=1, default_missing_value = "2.6", value_name = "FACTOR")]
    pub discriminative_lr: Option<f64>,
    /// Unlabelled target-domain text: a .txt file has one text per line; any other file is read with
    /// the --data column options (its labels, if any, are not used). dann trains its domain head on
    /// it; with --new-words subword (any method) its words join the target vocabulary.
    #[arg(long)]
    pub target: Option<PathBuf>,
    /// Rows of target words the source never saw: subword starts each from the source rows of words
    /// sharing its character n-grams (fastText-style, fitted to the source's embedding); fresh starts
    /// them at random.
    #[arg(long, value_enum, default_value_t = NewWords::Subword)]
    pub new_words: NewWords,
    /// dann: γ of the gradient-reversal schedule λ = 2/(1+exp(−γ·p)) − 1 [default: 10].
    #[arg(long)]
    pub gamma: Option<f64>,
    /// Pooling of a source state_dict (its shapes cannot tell last, max and mean apart).
    #[arg(long, value_enum)]
    pub source_pooling: Option<Pooling>,
    /// Train nothing: print how likely the source is to help on --data (its labelled target rows):
    /// vocabulary and trigram coverage, the source's confidence, LogME of the transferred features
    /// against a random start, and with --source-data the proxy A-distance.
    #[arg(long, conflicts_with_all = ["method", "resume", "epochs"])]
    pub check: bool,
    /// --check: source-domain text (any table the --data options read; labels unused) for the proxy
    /// A-distance between the domains.
    #[arg(long, requires = "check")]
    pub source_data: Option<PathBuf>,
    #[command(flatten)]
    pub train: TrainArgs,
}

impl TransferArgs {
    /// The method (clap requires it unless --check, which has its own command path).
    fn method(&self) -> Method {
        self.method.expect("--method is required without --check")
    }

    /// The method's recipe with the options given on the command line.
    fn recipe(&self) -> Recipe {
        let mut r = Recipe::new(self.method());
        if !self.freeze.is_empty() {
            (r.freeze, r.freeze_known_rows) = (self.freeze.clone(), self.freeze_known_rows);
        }
        r.freeze_known_rows |= self.freeze_known_rows;
        r.gradual_unfreezing |= self.gradual_unfreezing;
        r.discriminative_lr = self.discriminative_lr.or(r.discriminative_lr);
        if self.train.optim.schedule.is_some() {
            // An explicit --schedule wins over the method's.
            r.schedule = None;
        }
        if let (Some(g), Method::Dann) = (self.gamma, self.method()) {
            r.dann_gamma = Some(g);
        }
        r
    }

    fn copy_patterns(&self) -> Vec<String> {
        if self.copy.is_empty() { vec!["*".to_string()] } else { self.copy.clone() }
    }
}

/// `source_is_lm`: a language model has no pooling of its own, so any method may choose one.
fn check_method(t: &TransferArgs, source_is_lm: bool) -> Result<()> {
    let reshapes = t.train.changes_shape() || (t.train.pooling.is_some() && !source_is_lm);
    if reshapes && t.method() != Method::Hetero {
        bail!(
            "shape options (--embed, --hidden, --layers, --bidirectional, --unidirectional, --pooling) need --method hetero \
               (from a language model, which has no pooling of its own, --pooling goes with any method)"
        );
    }
    if (!t.freeze.is_empty() || t.freeze_known_rows) && !matches!(t.method(), Method::Freeze | Method::Ulmfit) {
        bail!("--freeze and --freeze-known-rows need --method freeze or ulmfit");
    }
    if t.method() == Method::Dann && t.target.is_none() {
        bail!("--method dann needs --target FILE (unlabelled target text)");
    }
    if t.target.is_some() && t.method() != Method::Dann && t.new_words != NewWords::Subword {
        bail!("--target is for --method dann, or for --new-words subword (its words join the vocabulary)");
    }
    if t.gamma.is_some() && t.method() != Method::Dann {
        bail!("--gamma is only for --method dann");
    }
    Ok(())
}

/// The unlabelled target rows (see `--target`).
fn read_target(path: &std::path::Path, a: &TrainArgs) -> Result<Vec<TextRow>> {
    let plain = path.extension().is_some_and(|e| e.eq_ignore_ascii_case("txt"));
    let table = if plain {
        let opts =
            lstm_transfer::data::ReadOptions { format: Some(lstm_transfer::data::TableFormat::Tsv), unlabeled: true, ..Default::default() };
        lstm_transfer::data::read_table(path, &opts)?
    } else {
        return a.table.read_texts(path);
    };
    Ok(table.rows)
}

/// DANN's training rows: the labelled rows (domain 0) and 90% of the unlabelled target text
/// (domain 1); the validation rows and the other 10% measure the domain head.
fn dann_rows(target: Vec<TextRow>) -> TrainRows {
    Box::new(move |vocab: &Vocab, train: &Dataset, valid: &Dataset| {
        let all = Dataset::unlabelled(target.iter().map(|r| vocab.encode(&r.text)).collect());
        let (fit, held) = split(all.len(), 0.1, 17);
        Ok(dann_data(train, &Dataset::default(), &all.subset(&fit), valid, &all.subset(&held)))
    })
}

/// `transfer` with `--data`: a transfer run, or (`--resume`) the one saved beside `--out`.
pub fn run(gpu: &GpuArgs, io: &IoArgs, t: &TransferArgs) -> Result<()> {
    let _lock = train_cmd::guard(io, &t.train, &[Some(t.from.as_path()), t.target.as_deref()])?;
    let splits = read_splits(&t.train)?;
    let prepared = if t.train.resume {
        let mut p = train_cmd::resume(&t.train)?;
        if p.config.dann_gamma.is_some() {
            let path = t.target.as_ref().context("this run trains DANN: resume it with the same --target FILE")?;
            p.rows = Some(dann_rows(read_target(path, &t.train)?));
        }
        p
    } else {
        prepare(t, &splits)?
    };
    train_cmd::execute(gpu, &t.train, &splits, prepared)
}

/// A prepared transfer: the source, how target rows map to it, and what to copy.
struct Transfer {
    format: OutputFormat,
    source: Checkpoint,
    rows: Vec<RowSource>,
    options: TransferOptions,
    /// Whether the head is carried over (same labels), so logits can be compared before fine-tuning.
    head_kept: bool,
    notes: Vec<String>,
}

/// Decides the target's vocabulary, labels, shape and training settings from the source and the
/// target's training rows.
fn prepare(t: &TransferArgs, splits: &Splits) -> Result<Prepared> {
    let a = &t.train;
    let source = super::load_source(&t.from, t.source_pooling)?;
    check_method(t, source.info.config.classes == 0)?;
    let target = t.target.as_ref().map(|p| read_target(p, a)).transpose()?;
    // The target vocabulary: the source's tokens (same ids, rows copied), then new target tokens
    // (from the unlabelled target text too), their rows induced from the source's subwords or fresh.
    let mut texts: Vec<Vec<String>> = splits.train.iter().map(|r| tokenize(&r.text)).collect();
    if let Some(rows) = &target {
        texts.extend(rows.iter().map(|r| tokenize(&r.text)));
    }
    let labels = label_names(splits.train.iter().filter_map(|r| r.label.as_deref()));
    let mut plan = transfer::plan_target(&source, &texts, &labels, a.min_freq, a.max_vocab)
        .with_context(|| format!("transferring from {}", t.from.display()))?;
    plan.aligned.start_new_rows(&source, t.new_words)?;
    let recipe = t.recipe();
    let base = ClassifierConfig { domains: recipe.domains(), ..plan.config };
    let info = ModelInfo { config: a.shape(base), labels, max_len: a.max_len, tokenizer: TOKENIZER.into() };
    let mut config = a.train_config()?;
    recipe.apply(&mut config, plan.aligned.coverage.source_tokens);
    let options = TransferOptions { copy: t.copy_patterns(), exclude: plan.exclude, seed: a.seed };
    let tr = Transfer { format: a.format, source, rows: plan.aligned.rows, options, head_kept: plan.head_kept, notes: plan.notes };
    let start = Start::From(Box::new(move |ctx, model, probe| tr.apply(ctx, model, probe)));
    let rows = target.filter(|_| t.method() == Method::Dann).map(dann_rows);
    Ok(Prepared { vocab: plan.aligned.vocab, info, config, state: Default::default(), start, rows })
}

impl Transfer {
    /// Writes the source into `model`, prints the mapping, and measures how close the target's logits are
    /// to the source's on `probe` before any fine-tuning.
    pub fn apply(&self, ctx: &GpuContext, model: &mut Classifier, probe: &Dataset) -> Result<()> {
        let report = transfer::apply(ctx, model, &self.source, &self.rows, &self.options)?;
        let (s, t) = (&self.source.info.config, &model.cfg);
        say!(
            self.format,
            "transfer: source E={} H={} layers={} {} → target E={} H={} layers={} {}; vocabulary {} → {}",
            s.embed,
            s.hidden,
            s.layers,
            if s.bidirectional { "bi" } else { "uni" },
            t.embed,
            t.hidden,
            t.layers,
            if t.bidirectional { "bi" } else { "uni" },
            s.vocab,
            t.vocab
        );
        for note in self.notes.iter().chain(&report.notes) {
            say!(self.format, "  {note}");
        }
        say!(self.format, "  copied: {}", if report.copied.is_empty() { "nothing".into() } else { report.copied.join(", ") });
        if !report.fresh.is_empty() {
            say!(self.format, "  fresh:  {}", report.fresh.join(", "));
        }
        if self.head_kept {
            let (max_diff, agree) = compare_logits(ctx, &self.source, model, probe)?;
            say!(
                self.format,
                "  before fine-tuning on {} rows: max |Δlogit| = {max_diff:.2e}, predictions agree on {:.1}%",
                probe.len(),
                100.0 * agree
            );
        }
        Ok(())
    }
}

/// (max |Δlogit|, share of equal predictions) between the source model and `target` on `probe` (target
/// ids; tokens the source does not know become `<unk>` for it).
fn compare_logits(ctx: &GpuContext, source: &Checkpoint, target: &mut Classifier, probe: &Dataset) -> Result<(f64, f64)> {
    let batch = 32;
    let max_len = probe.ids.iter().map(Vec::len).max().unwrap_or(1).clamp(1, 512);
    let mut src_model = source.classifier(ctx, batch, max_len)?;
    let vocab = source.info.config.vocab as u32;
    let as_source = Dataset {
        ids: probe.ids.iter().map(|r| r.iter().map(|&i| if i < vocab { i } else { UNK }).collect()).collect(),
        labels: vec![0; probe.len()],
        domains: None,
    };
    let target_probe = Dataset { labels: vec![0; probe.len()], domains: None, ids: probe.ids.clone() };
    let classes = target.cfg.classes;
    let (mut max_diff, mut agree) = (0.0f64, 0usize);
    let (ps, pt) = (make_batches(&as_source, batch, max_len, None), make_batches(&target_probe, batch, max_len, None));
    for (bs, bt) in ps.batches.iter().zip(&pt.batches) {
        let (zs, zt) = (src_model.logits(ctx, bs)?, target.logits_and_domains(ctx, bt)?.0);
        for (a, b) in zs.chunks(classes).zip(zt.chunks(classes)) {
            agree += (argmax(a) == argmax(b)) as usize;
            max_diff = a.iter().zip(b).fold(max_diff, |m, (x, y)| m.max((x - y).abs() as f64));
        }
    }
    Ok((max_diff, agree as f64 / probe.len().max(1) as f64))
}

/// `transfer` without `--data`: map the source onto the requested shape and write it (no training).
pub fn write_mapped(gpu: &GpuArgs, io: &IoArgs, t: &TransferArgs) -> Result<()> {
    check_method(t, false)?;
    let a = &t.train;
    if a.epochs.is_some() || a.valid.is_some() || a.test.is_some() || a.resume {
        bail!(
            "without --data, transfer only maps the source onto the new shape and trains nothing: \
               give --data to fine-tune (--epochs, --valid, --test and --resume need it)"
        );
    }
    let _lock = io.guard(&a.out, std::slice::from_ref(&a.out), &[Some(t.from.as_path())], false)?;
    if t.method() == Method::Dann {
        bail!("--method dann trains on data: give --data (labelled) and --target (unlabelled)");
    }
    let source = super::load_source(&t.from, t.source_pooling)?;
    let cfg = t.train.shape(source.info.config);
    let rows: Vec<RowSource> = (0..cfg.vocab).map(RowSource::Source).collect();
    let ctx = gpu.context()?;
    let mut model = Classifier::new(&ctx, cfg, 32, 64, t.train.seed)?;
    // Probe: 256 seeded random sequences of 5..=40 source token ids.
    let mut g = rand_chacha::ChaCha8Rng::seed_from_u64(t.train.seed);
    let probe = Dataset {
        ids: (0..256).map(|_| (0..g.random_range(5..=40)).map(|_| g.random_range(2..cfg.vocab as u32)).collect()).collect(),
        labels: vec![0; 256],
        domains: None,
    };
    let tr = Transfer {
        format: t.train.format,
        options: TransferOptions { copy: t.copy_patterns(), exclude: Vec::new(), seed: t.train.seed },
        rows,
        head_kept: true,
        notes: Vec::new(),
        source,
    };
    tr.apply(&ctx, &mut model, &probe)?;
    let info = ModelInfo { config: cfg, ..tr.source.info.clone() };
    save_classifier(&t.train.out, &ctx, &model, &info, tr.source.vocab.as_deref())?;
    println!("wrote {}", t.train.out.display());
    Ok(())
}

/// `transfer --check`: the transferability figures of the source on --data's labelled rows.
pub fn check(gpu: &GpuArgs, t: &TransferArgs) -> Result<()> {
    let data = t.train.data.as_ref().context("--check reads the target's labelled rows: give --data")?;
    let rows = t.train.table.read(data, false)?.rows;
    let labels = label_names(rows.iter().filter_map(|r| r.label.as_deref()));
    let source_rows = t.source_data.as_ref().map(|p| t.train.table.read_texts(p)).transpose()?;
    let source = transfer::load_source(&t.from, t.source_pooling).with_context(|| format!("reading {}", t.from.display()))?;
    let ctx = gpu.context()?;
    let c = transfer::check::check(&ctx, &source, &rows, &labels, source_rows.as_deref(), t.train.seed, t.new_words)?;
    if t.train.format == OutputFormat::Json {
        println!("{}", serde_json::to_string_pretty(&c)?);
        return Ok(());
    }
    let pct = |v: f64| format!("{:.1}%", 100.0 * v);
    println!("{} on {} ({} labelled rows, adapter {})", t.from.display(), data.display(), c.rows, ctx.adapter_line());
    println!(
        "vocabulary        the source knows {} of the target's token occurrences ({} target words are new); \
         new words share {} of their character trigrams with the source's words",
        pct(c.coverage.covered_occurrences),
        c.coverage.new_tokens,
        pct(c.unknown_trigram_coverage)
    );
    match c.subword_fidelity {
        Some(f) if f.directions == 0 => println!(
            "subword rows      the source's word vectors show no learned direction above their random start: \
             --new-words subword induces nothing"
        ),
        Some(f) => println!(
            "subword rows      held-out source words: {} got a row induced from the others' subwords, at cosine {:.3} \
             with the learned part of their own ({} learned directions; what --new-words subword gives new words)",
            pct(f.induced_share),
            f.cosine,
            f.directions
        ),
        None => {}
    }
    match (c.source_confidence, c.source_entropy) {
        (Some(conf), Some(entropy)) => println!(
            "source as it is   mean top-class probability {:.3}, normalised entropy {entropy:.3}{}",
            conf,
            c.source_accuracy.map_or(String::new(), |a| format!(", accuracy {}", pct(a)))
        ),
        _ => println!("source as it is   no classification head (a language model): no confidence to report"),
    }
    println!(
        "LogME             {:.4} per row started from the source vs {:.4} from a random start ({:+.4}: {})",
        c.logme_source,
        c.logme_random,
        c.logme_source - c.logme_random,
        if c.logme_source > c.logme_random {
            "the source's features carry more label evidence"
        } else {
            "no more evidence than random features"
        }
    );
    match c.proxy_a_distance {
        Some(pad) => println!("domain gap        proxy A-distance {pad:.3} (0: alike, 2: told apart perfectly)"),
        None => println!("domain gap        give --source-data FILE (source-domain text) for the proxy A-distance"),
    }
    Ok(())
}
