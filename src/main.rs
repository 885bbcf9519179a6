//! The `lstm-transfer` command line.

mod cli;

use std::process::ExitCode;

use anyhow::Result;
use clap::{CommandFactory, Parser, Subcommand};
use lstm_transfer::bench::Shape;

use cli::GpuArgs;
use cli::eval::EvalArgs;
use cli::predict::PredictArgs;
use cli::train::TrainArgs;
use cli::transfer::TransferArgs;

#[derive(Parser)]
#[command(name = "lstm-transfer", version, about = "Train LSTM models on any GPU through wgpu, with transfer learning")]
struct Cli {
    #[command(flatten)]
    gpu: GpuArgs,
    #[command(flatten)]
    io: cli::IoArgs,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// List GPU adapters, their backends, the features that matter and the limits that bound model size.
    Info,
    /// Train a text classifier (default data: the embedded UCI Yelp sentences).
    #[command(after_help = "Examples:
  lstm-transfer train
  lstm-transfer train --data reviews.tsv --out runs/reviews.safetensors --epochs 10 --hidden 128 --pooling concat --dropout 0.3
  lstm-transfer train --data ag_news.csv --label-col 0 --text-col 1 --text-col 2 --valid ag_valid.csv
  lstm-transfer train --data reviews.jsonl --label-col stars --text-col body --schedule stlr --patience 3
  lstm-transfer train --data reviews.tsv --out runs/reviews.safetensors --resume --epochs 20")]
    Train(Box<TrainArgs>),
    /// Evaluate a checkpoint on labelled data: loss, accuracy, macro-F1, per-class precision/recall, confusion.
    #[command(after_help = "Examples:
  lstm-transfer eval --checkpoint runs/classifier.safetensors --data test.tsv
  lstm-transfer eval --checkpoint runs/classifier.safetensors --data test.csv --label-col label --text-col text --format json")]
    Eval(EvalArgs),
    /// Start a model from a source model (init, freeze, ulmfit, hetero, dann), then train it like `train`.
    #[command(after_help = "Examples:
  lstm-transfer transfer --from runs/movies.safetensors --method init --data yelp.tsv --lr 1e-3
  lstm-transfer transfer --from runs/movies.safetensors --method freeze --freeze 'embedding.*' --freeze 'lstm.*_l0' --data yelp.tsv
  lstm-transfer transfer --from runs/movies.safetensors --method freeze --freeze-known-rows --gradual-unfreezing --discriminative-lr --schedule stlr --data yelp.tsv
  lstm-transfer transfer --from runs/movies.safetensors --method hetero --hidden 256 --layers 2 --data yelp.tsv
  lstm-transfer transfer --from state_dict.safetensors --method hetero --hidden 64 --out wide.safetensors      # map only, no training
  lstm-transfer transfer --from runs/movies.safetensors --method dann --data movies.tsv --target yelp_unlabelled.txt --test yelp.tsv
  lstm-transfer transfer --from runs/movies.safetensors --check --data yelp_100.tsv --source-data movies.tsv   # before training: will it help?")]
    Transfer(Box<TransferArgs>),
    /// Compare training from scratch with every transfer method over label budgets and seeds.
    #[command(after_help = "Examples:
  lstm-transfer experiment                                   # the demo on the embedded datasets (a few minutes on lavapipe)
  lstm-transfer experiment --config examples/experiment.toml --out runs/yelp
  lstm-transfer experiment --config grid.toml --out runs/grid --stage source   # sharded: the source model once,
  lstm-transfer experiment --config grid.toml --out runs/grid --shard 2/8      # then each slice (any machine),
  lstm-transfer experiment merge runs/grid                                     # then the report
  (examples/slurm/experiment.sbatch and examples/kubernetes/experiment-job.yaml run the slices on a cluster)")]
    Experiment(Box<cli::experiment::ExperimentCommand>),
    /// Forecast a time series with an LSTM (optionally starting from a model of another series).
    #[command(after_help = "Examples:
  lstm-transfer forecast --data ts/AirPassengers.csv --window 24 --horizon 12 --season 12 --test-len 24 --valid-len 12
  lstm-transfer forecast --data ts/EPF_FR_BE.csv --series-col unique_id --series FR --out runs/fr.safetensors
  lstm-transfer forecast --data ts/EPF_FR_BE.csv --series-col unique_id --series FR --future-col system_load \
      --future-col gen_forecast --out runs/fr_cov.safetensors                # the day-ahead forecasts are known in advance
  lstm-transfer forecast --data ts/EPF_FR_BE.csv --series-col unique_id --series BE --train-len 1440 --from runs/fr.safetensors")]
    Forecast(Box<cli::forecast::ForecastArgs>),
    /// Carry a forecaster of one series to another with few steps: every method against training on
    /// the target alone, over target lengths and seeds, with a report and plot.
    #[command(after_help = "Examples:
  lstm-transfer forecast-transfer --data ts/EPF_FR_BE.csv --series-col unique_id --source FR --target BE \
      --season 168 --test-len 1608 --out runs/fr-to-be          # 7, 14, 30 and 60 days of BE, 3 seeds, 5 methods
  lstm-transfer forecast-transfer --data be.csv --source-data fr.csv --source-model runs/fr.safetensors --lengths 168,720")]
    ForecastTransfer(Box<cli::forecast_transfer::ForecastTransferArgs>),
    /// Train an LSTM language model (truncated BPTT) and report perplexity; it transfers into a classifier.
    #[command(after_help = "Examples:
  lstm-transfer lm --train ptb.train.txt --valid ptb.valid.txt --test ptb.test.txt --embed 200 --hidden 200 --layers 2
  lstm-transfer lm --train movies.tsv --tokenizer words --embed 64 --hidden 64 --layers 1 --out runs/movies_lm.safetensors
  lstm-transfer transfer --from runs/movies_lm.safetensors --method freeze --freeze-known-rows --gradual-unfreezing \\
      --discriminative-lr --schedule stlr --data yelp.tsv        # ULMFiT")]
    Lm(Box<cli::lm::LmCommand>),
    /// Predict labels for texts or token-id sequences.
    #[command(after_help = "Examples:
  lstm-transfer predict --checkpoint runs/classifier.safetensors --text sentences.txt
  lstm-transfer predict --checkpoint pytorch_state_dict.safetensors --ids ids.txt --format tsv")]
    Predict(PredictArgs),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell) to stdout.
    #[command(after_help = "Examples:\n  lstm-transfer completions bash > ~/.local/share/bash-completion/completions/lstm-transfer")]
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
    /// Time GEMM, LSTM forward/backward and a training step at the standard shapes.
    #[command(after_help = "Examples:\n  lstm-transfer bench\n  lstm-transfer bench --shape 64,64,128,256 --repeats 5")]
    Bench {
        /// B,T,E,H; repeatable. Default: 64,64,128,256  32,128,128,512  1,256,128,256.
        #[arg(long, value_parser = cli::system::parse_shape)]
        shape: Vec<Shape>,
        #[arg(long, default_value_t = 3)]
        repeats: usize,
        /// Print JSON (adapter and one object per row) instead of the table.
        #[arg(long)]
        json: bool,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    lstm_transfer::fsutil::set_input_limits(cli.io.max_input_bytes, cli.io.max_line_bytes);
    cli::set_verbosity(match (cli.io.quiet, cli.io.verbose) {
        (true, _) => cli::Verbosity::Quiet,
        (_, true) => cli::Verbosity::Verbose,
        _ => cli::Verbosity::Normal,
    });
    match run(&cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            report(&e);
            ExitCode::FAILURE
        }
    }
}

fn run(cli: &Cli) -> Result<()> {
    match &cli.command {
        Command::Info => cli::system::info(&cli.gpu),
        Command::Train(args) => cli::train::run(&cli.gpu, &cli.io, args),
        Command::Transfer(args) if args.check => cli::transfer::check(&cli.gpu, args),
        Command::Transfer(args) if args.train.data.is_none() => cli::transfer::write_mapped(&cli.gpu, &cli.io, args),
        Command::Transfer(args) => cli::transfer::run(&cli.gpu, &cli.io, args),
        Command::Eval(args) => cli::eval::run(&cli.gpu, args),
        Command::Experiment(args) => cli::experiment::command(&cli.gpu, &cli.io, args),
        Command::Forecast(args) => cli::forecast::run(&cli.gpu, &cli.io, args),
        Command::ForecastTransfer(args) => cli::forecast_transfer::run(&cli.gpu, &cli.io, args),
        Command::Lm(args) => cli::lm::command(&cli.gpu, &cli.io, args),
        Command::Predict(args) => cli::predict::run(&cli.gpu, args),
        Command::Bench { shape, repeats, json } => cli::system::bench(&cli.gpu, shape, *repeats, *json),
        Command::Completions { shell } => {
            clap_complete::generate(*shell, &mut Cli::command(), "lstm-transfer", &mut std::io::stdout());
            Ok(())
        }
    }
}

/// Prints a failure. A user's error (bad input, options, files, a model that does not fit the device)
/// is one message with its causes, even with `RUST_BACKTRACE` set; an internal one (a shader that does
/// not build, a failed readback, a device that cannot be opened) keeps its backtrace for a bug report.
fn report(e: &anyhow::Error) {
    let internal = e.chain().any(|cause| {
        matches!(
            cause.downcast_ref::<lstm_transfer::Error>(),
            Some(lstm_transfer::Error::Shader { .. } | lstm_transfer::Error::Readback(_) | lstm_transfer::Error::RequestDevice { .. })
        )
    });
    if internal {
        eprintln!("Error: {e:?}");
    } else {
        eprintln!("Error: {e:#}");
    }
}
