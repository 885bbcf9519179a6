//! `experiment`: scratch vs every transfer method over label budgets and seeds, with a report.

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;
use lstm_transfer::experiment::{self, ExperimentConfig, report};

use super::{GpuArgs, IoArgs};

#[derive(Args)]
pub struct ExperimentArgs {
    /// TOML configuration (see examples/experiment.toml). Default: the demo on the embedded datasets
    /// (source UCI IMDb + Amazon sentences, target UCI Yelp, n = 50 and 200, 2 seeds, every method).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Directory for report.md, results.json, summary.json, the plots and the source model.
    #[arg(long, default_value = "runs/experiment")]
    pub out: PathBuf,
}

pub fn run(gpu: &GpuArgs, io: &IoArgs, a: &ExperimentArgs) -> Result<()> {
    let cfg = match &a.config {
        Some(path) => ExperimentConfig::load(path)?,
        None => ExperimentConfig::demo(),
    };
    let mut outputs: Vec<_> = report::FILES.iter().map(|f| a.out.join(f)).collect();
    if cfg.source.checkpoint.is_none() {
        outputs.push(a.out.join("source.safetensors"));
    }
    let mut inputs: Vec<Option<&std::path::Path>> =
        vec![a.config.as_deref(), cfg.source.checkpoint.as_deref(), cfg.source.lm_checkpoint.as_deref()];
    inputs.extend(cfg.source.data.iter().chain(cfg.targets.iter().map(|t| &t.data)).map(|p| Some(p.as_path())));
    let _lock = io.guard(&a.out.join("results.json"), &outputs, &inputs, false)?;
    let ctx = gpu.context()?;
    let adapter = ctx.adapter_line();
    println!("adapter: {adapter}");
    println!(
        "{} target(s) × budgets {:?} × seeds {:?} × methods {}",
        cfg.targets.len(),
        cfg.budgets,
        cfg.seeds,
        cfg.methods.iter().map(|m| m.name()).collect::<Vec<_>>().join(", ")
    );
    let start = std::time::Instant::now();
    let results = experiment::run(&ctx, &cfg, &a.out, &mut |line| println!("{line}"))?;
    let md = report::write_report(&a.out, &results, &adapter)?;
    println!("\n{md}");
    println!(
        "{} runs in {:.0} s; wrote {}/report.md, results.json, summary.json, accuracy_vs_budget.svg, learning_curves.svg",
        results.len(),
        start.elapsed().as_secs_f64(),
        a.out.display()
    );
    Ok(())
}
