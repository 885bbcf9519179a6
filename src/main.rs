//! The `lstm-transfer` command line. Errors from the library are typed; here they become anyhow
//! reports with context.

use std::path::{Path, PathBuf};

use anyhow::Result;
use clap::{Args, Parser, Subcommand};
use lstm_transfer::bench::{bench_shape, format_table, Shape, STANDARD_SHAPES};
use lstm_transfer::data::{label_ids, parse_label_tsv, read_label_tsv, split, tokenize, Dataset, Vocab};
use lstm_transfer::gpu::{list_adapters, USEFUL_FEATURES};
use lstm_transfer::kernels::optimizer::AdamConfig;
use lstm_transfer::model::{Classifier, ClassifierConfig};
use lstm_transfer::train::{train_classifier, TrainConfig};
use lstm_transfer::{AdapterChoice, GpuContext};

/// The dataset used when `train` is given no `--data`: UCI Yelp sentences (CC BY 4.0, see data/README.md).
const EMBEDDED_DATA: &str = include_str!("../data/uci_yelp.tsv");

#[derive(Parser)]
#[command(name = "lstm-transfer", version, about = "Train LSTM models on any GPU through wgpu, with transfer learning")]
struct Cli {
    #[command(flatten)]
    gpu: GpuArgs,
    #[command(subcommand)]
    command: Command,
}

#[derive(Args)]
struct GpuArgs {
    /// Backend(s) to use: vulkan, metal, dx12, gl (comma-separated). Default: $LSTM_TRANSFER_BACKEND or any.
    #[arg(long, global = true)]
    backend: Option<String>,
    /// Part of the adapter name to select (case-insensitive). Default: $LSTM_TRANSFER_ADAPTER or the best.
    #[arg(long, global = true)]
    adapter: Option<String>,
}

impl GpuArgs {
    fn context(&self) -> Result<GpuContext> {
        let choice = AdapterChoice::from_env().with_overrides(self.backend.as_deref(), self.adapter.as_deref());
        Ok(GpuContext::new(&choice)?)
    }
}

#[derive(Subcommand)]
enum Command {
    /// List GPU adapters, their backends, the features that matter and the limits that bound model size.
    Info,
    /// Train a text classifier on a `label<TAB>text` file (default: the embedded UCI Yelp sentences).
    #[command(after_help = "Examples:\n  lstm-transfer train\n  lstm-transfer train --data reviews.tsv --epochs 10 --hidden 128")]
    Train(TrainArgs),
    /// Time GEMM, LSTM forward/backward and a training step at the standard shapes.
    #[command(after_help = "Examples:\n  lstm-transfer bench\n  lstm-transfer bench --shape 64,64,128,256 --repeats 5")]
    Bench {
        /// B,T,E,H; repeatable. Default: 64,64,128,256  32,128,128,512  1,256,128,256.
        #[arg(long, value_parser = parse_shape)]
        shape: Vec<Shape>,
        #[arg(long, default_value_t = 3)]
        repeats: usize,
    },
}

#[derive(Args)]
struct TrainArgs {
    /// Headerless `label<TAB>text` file.
    #[arg(long)]
    data: Option<PathBuf>,
    #[arg(long, default_value_t = 5)]
    epochs: usize,
    #[arg(long, default_value_t = 32)]
    batch_size: usize,
    #[arg(long, default_value_t = 64)]
    embed: usize,
    #[arg(long, default_value_t = 64)]
    hidden: usize,
    #[arg(long, default_value_t = 1)]
    layers: usize,
    #[arg(long)]
    bidirectional: bool,
    #[arg(long, default_value_t = 3e-3)]
    lr: f32,
    /// Clip the global gradient norm (0: off).
    #[arg(long, default_value_t = 5.0)]
    clip: f32,
    /// Longer rows are truncated (and counted in the log).
    #[arg(long, default_value_t = 64)]
    max_len: usize,
    #[arg(long, default_value_t = 2)]
    min_freq: usize,
    #[arg(long, default_value_t = 0.2)]
    valid_fraction: f64,
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

fn parse_shape(s: &str) -> std::result::Result<Shape, String> {
    let v: Vec<usize> = s.split(',').map(|x| x.trim().parse::<usize>()).collect::<std::result::Result<_, _>>().map_err(|e| e.to_string())?;
    match v[..] {
        [b, t, e, h] if b > 0 && t > 0 && e > 0 && h > 0 => Ok(Shape { b, t, e, h }),
        _ => Err(format!("expected four positive numbers B,T,E,H, got '{s}'")),
    }
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    match &cli.command {
        Command::Info => info(),
        Command::Train(args) => train(&cli.gpu, args),
        Command::Bench { shape, repeats } => {
            let ctx = cli.gpu.context()?;
            let shapes = if shape.is_empty() { STANDARD_SHAPES.to_vec() } else { shape.clone() };
            let mut rows = Vec::new();
            for s in shapes {
                rows.extend(bench_shape(&ctx, s, *repeats)?);
            }
            print!("{}", format_table(&ctx, &rows));
            Ok(())
        }
    }
}

fn info() -> Result<()> {
    let adapters = list_adapters();
    if adapters.is_empty() {
        return Err(lstm_transfer::Error::NoAdapter { detail: String::new() }.into());
    }
    for (i, a) in adapters.iter().enumerate() {
        let features: Vec<&str> = USEFUL_FEATURES.iter().filter(|(f, _)| a.features.contains(*f)).map(|(_, n)| *n).collect();
        let l = &a.limits;
        println!("[{i}] {} — {:?} backend, {:?}, driver {} {}", a.info.name, a.info.backend, a.info.device_type, a.info.driver, a.info.driver_info);
        println!("    features: {}", if features.is_empty() { "none of SHADER_F16, SUBGROUP, TIMESTAMP_QUERY".into() } else { features.join(", ") });
        println!("    max buffer {} MiB, max storage binding {} MiB, {} storage buffers per stage, workgroup {}x{} ({} invocations, {} B shared), {} workgroups per dimension",
                 l.max_buffer_size >> 20, l.max_storage_buffer_binding_size >> 20, l.max_storage_buffers_per_shader_stage,
                 l.max_compute_workgroup_size_x, l.max_compute_workgroup_size_y, l.max_compute_invocations_per_workgroup,
                 l.max_compute_workgroup_storage_size, l.max_compute_workgroups_per_dimension);
    }
    Ok(())
}

fn train(gpu: &GpuArgs, a: &TrainArgs) -> Result<()> {
    let rows = match &a.data {
        Some(path) => read_label_tsv(path)?,
        None => parse_label_tsv(EMBEDDED_DATA, Path::new("data/uci_yelp.tsv (embedded)"))?,
    };
    let name = a.data.as_ref().map(|p| p.display().to_string()).unwrap_or_else(|| "embedded UCI Yelp sentences".into());
    let (label_names, labels) = label_ids(&rows.iter().map(|(l, _)| l.clone()).collect::<Vec<_>>());
    let tokens: Vec<Vec<String>> = rows.iter().map(|(_, t)| tokenize(t)).collect();
    let (train_idx, valid_idx) = split(rows.len(), a.valid_fraction, a.seed);
    let vocab = Vocab::build(train_idx.iter().map(|&i| tokens[i].as_slice()), a.min_freq, 50_000);
    let all = Dataset { ids: tokens.iter().map(|t| t.iter().map(|w| vocab.id(w)).collect()).collect(), labels };
    let (train, valid) = (all.subset(&train_idx), all.subset(&valid_idx));

    let ctx = gpu.context()?;
    println!("adapter: {}", ctx.adapter_line());
    println!("data: {name}: {} rows ({} train, {} valid), {} classes {:?}, vocabulary {}",
             rows.len(), train.len(), valid.len(), label_names.len(), label_names, vocab.len());
    let cfg = ClassifierConfig {
        vocab: vocab.len(), embed: a.embed, hidden: a.hidden, layers: a.layers, bidirectional: a.bidirectional,
        classes: label_names.len(), domains: 0, pooling: Default::default(),
    };
    let mut model = Classifier::new(&ctx, cfg, a.batch_size, a.max_len, a.seed)?;
    model.set_optimizer(AdamConfig { lr: a.lr, max_grad_norm: a.clip, ..Default::default() });
    let counts = model.step_counts(&ctx, a.batch_size, a.max_len)?;
    println!("per training step: {} dispatches, {} pass, {} submit (B={}, T={})", counts.dispatches, counts.passes, counts.submits, a.batch_size, a.max_len);
    let tc = TrainConfig { epochs: a.epochs, batch_size: a.batch_size, max_len: a.max_len, seed: a.seed, read_every: 16 };
    train_classifier(&ctx, &mut model, &train, &valid, &tc, |log| {
        println!("epoch {:>3}  loss {:.4}  train acc {:.3}  valid acc {:.3}  {:.0} tokens/s  {:.1} s{}",
                 log.epoch, log.train_loss, log.train_accuracy, log.valid_accuracy, log.tokens_per_second, log.seconds,
                 if log.truncated_rows > 0 { format!("  ({} rows truncated to {})", log.truncated_rows, a.max_len) } else { String::new() });
    })?;
    Ok(())
}
