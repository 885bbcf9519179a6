//! `experiment`: scratch vs every transfer method over label budgets and seeds, with a report;
//! `--stage source`, `--shard K/N` and `experiment merge` split it over processes or machines.

use std::path::{Path, PathBuf};

use anyhow::Result;
use clap::{Args, Subcommand, ValueEnum};
use lstm_transfer::experiment::{self, ExperimentConfig, RunResult, Shard, report, shard};

use super::{GpuArgs, IoArgs};

#[derive(Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct ExperimentCommand {
    #[command(subcommand)]
    pub action: Option<ExperimentAction>,
    #[command(flatten)]
    pub run: ExperimentArgs,
}

#[derive(Subcommand)]
pub enum ExperimentAction {
    /// Merge the results of every shard (`--shard K/N` runs) into one report, as an unsharded run writes.
    #[command(after_help = "Examples:
  lstm-transfer experiment merge runs/grid                        # the shards wrote into one shared folder
  lstm-transfer experiment merge node1/grid node2/grid --out runs/grid")]
    Merge(MergeArgs),
}

#[derive(Args)]
pub struct MergeArgs {
    /// Folders holding results-shard-K-of-N.json files (or the files themselves).
    #[arg(required = true)]
    pub dirs: Vec<PathBuf>,
    /// Where to write report.md, results.json, summary.json and the plots. Default: the first folder.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

/// What an `experiment` command runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Stage {
    /// The source model, then the grid (or the slice given by --shard), then the report.
    All,
    /// Only the source model, written to OUT/source.safetensors for the shards to share.
    Source,
}

#[derive(Args)]
pub struct ExperimentArgs {
    /// TOML configuration (see examples/experiment.toml). Default: the demo on the embedded datasets
    /// (source UCI IMDb + Amazon sentences, target UCI Yelp, n = 50 and 200, 5 seeds, scratch,
    /// source-only, init and dann).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Directory for report.md, results.json, summary.json, the plots and the source model.
    #[arg(long, default_value = "runs/experiment")]
    pub out: PathBuf,
    /// Run part of the experiment: `source` trains the source model once, for shards to share.
    #[arg(long, value_enum, default_value_t = Stage::All)]
    pub stage: Stage,
    /// Run only the K-th of N disjoint slices of the grid (targets × budgets × seeds × methods),
    /// writing OUT/results-shard-K-of-N.json; `experiment merge OUT` makes the report. The source model
    /// is [source] checkpoint or OUT/source.safetensors from `--stage source`.
    #[arg(long, conflicts_with = "stage")]
    pub shard: Option<Shard>,
    /// With --shard: keep the runs already in this shard's results file and run only the rest (a
    /// preempted or requeued job goes on where it stopped).
    #[arg(long, requires = "shard")]
    pub resume: bool,
}

pub fn command(gpu: &GpuArgs, io: &IoArgs, c: &ExperimentCommand) -> Result<()> {
    match &c.action {
        Some(ExperimentAction::Merge(m)) => merge(io, m),
        None => run(gpu, io, &c.run),
    }
}

fn run(gpu: &GpuArgs, io: &IoArgs, a: &ExperimentArgs) -> Result<()> {
    let cfg = match &a.config {
        Some(path) => ExperimentConfig::load(path)?,
        None => ExperimentConfig::demo(),
    };
    let source_file = experiment::source_path(&a.out);
    let trains_source = a.shard.is_none() && cfg.source.checkpoint.is_none();
    let (lock_on, mut outputs): (PathBuf, Vec<PathBuf>) = match (a.stage, a.shard) {
        (Stage::Source, _) => (source_file.clone(), Vec::new()),
        (Stage::All, Some(s)) => (a.out.join(s.file_name()), vec![a.out.join(s.file_name())]),
        (Stage::All, None) => (a.out.join("results.json"), report::FILES.iter().map(|f| a.out.join(f)).collect()),
    };
    if trains_source {
        outputs.push(source_file.clone());
    }
    let mut inputs: Vec<Option<&Path>> = vec![a.config.as_deref(), cfg.source.checkpoint.as_deref(), cfg.source.lm_checkpoint.as_deref()];
    inputs.extend(cfg.source.data.iter().chain(cfg.targets.iter().map(|t| &t.data)).map(|p| Some(p.as_path())));
    if a.shard.is_some() {
        inputs.push(Some(&source_file));
    }
    let _lock = io.guard(&lock_on, &outputs, &inputs, a.resume)?;
    let ctx = gpu.context()?;
    let adapter = ctx.adapter_line();
    println!("adapter: {adapter}");
    let start = std::time::Instant::now();
    let mut log = |line: &str| println!("{line}");
    if a.stage == Stage::Source {
        let path = experiment::train_source(&ctx, &cfg, &a.out, &mut log)?;
        println!("wrote {} ({:.0} s)", path.display(), start.elapsed().as_secs_f64());
        return Ok(());
    }
    let grid = shard::grid_size(&cfg);
    println!(
        "{} target(s) × budgets {:?} × seeds {:?} × methods {} = {grid} runs",
        cfg.targets.len(),
        cfg.budgets,
        cfg.seeds,
        cfg.methods.iter().map(|m| m.name()).collect::<Vec<_>>().join(", ")
    );
    if let Some(s) = a.shard {
        println!("shard {s}: {} of the {grid} runs", (0..grid).filter(|&p| s.owns(p)).count());
        let results = experiment::run_shard(&ctx, &cfg, &a.out, s, a.resume, &mut log)?;
        println!(
            "{} runs in {:.0} s; wrote {}; when every shard is done: lstm-transfer experiment merge {}",
            results.runs.len(),
            start.elapsed().as_secs_f64(),
            a.out.join(s.file_name()).display(),
            a.out.display()
        );
        return Ok(());
    }
    let results = experiment::run(&ctx, &cfg, &a.out, &mut log)?;
    finish(&a.out, &results, &adapter, start)
}

/// `experiment merge`: the shards' runs in the unsharded order, then the same report.
fn merge(io: &IoArgs, m: &MergeArgs) -> Result<()> {
    let start = std::time::Instant::now();
    let files = shard::find_shard_files(&m.dirs)?;
    let out = m
        .out
        .clone()
        .unwrap_or_else(|| if m.dirs[0].is_file() { m.dirs[0].parent().unwrap_or(Path::new(".")).into() } else { m.dirs[0].clone() });
    let outputs: Vec<PathBuf> = report::FILES.iter().map(|f| out.join(f)).collect();
    let inputs: Vec<Option<&Path>> = files.iter().map(|f| Some(f.as_path())).collect();
    let _lock = io.guard(&out.join("results.json"), &outputs, &inputs, false)?;
    let merged = shard::merge(&files)?;
    println!("merged {} shard file(s): {} runs; adapter: {}", files.len(), merged.runs.len(), merged.adapter);
    finish(&out, &merged.runs, &merged.adapter, start)
}

fn finish(out: &Path, results: &[RunResult], adapter: &str, start: std::time::Instant) -> Result<()> {
    let md = report::write_report(out, results, adapter)?;
    println!("\n{md}");
    println!(
        "{} runs in {:.0} s; wrote {}/report.md, results.json, summary.json, accuracy_vs_budget.svg, learning_curves.svg",
        results.len(),
        start.elapsed().as_secs_f64(),
        out.display()
    );
    Ok(())
}
