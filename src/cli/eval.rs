//! `eval`: a checkpoint's loss, accuracy, macro-F1, per-class precision/recall and confusion matrix
//! on labelled data.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;
use lstm_transfer::data::{Vocab, encode_rows};
use lstm_transfer::tasks::classify::evaluate;

use super::{GpuArgs, InferenceArgs, OutputFormat, TableArgs, report_truncated};

#[derive(Args)]
pub struct EvalArgs {
    #[command(flatten)]
    pub model: InferenceArgs,
    /// Labelled data (CSV, TSV or JSONL; see the column options).
    #[arg(long)]
    pub data: PathBuf,
    #[command(flatten)]
    pub table: TableArgs,
    /// Result format.
    #[arg(long, value_enum, default_value_t)]
    pub format: OutputFormat,
}

pub fn run(gpu: &GpuArgs, a: &EvalArgs) -> Result<()> {
    let (ckpt, max_len) = a.model.load()?;
    let checkpoint = &a.model.checkpoint;
    let tokens = ckpt.vocab.clone().with_context(|| {
        format!("{} has no vocabulary (a plain state_dict?): evaluate token ids with `predict --ids`", checkpoint.display())
    })?;
    let vocab = Vocab::from_tokens(tokens)?;
    let table = a.table.read(&a.data, false)?;
    let data = encode_rows(&table.rows, &vocab, &ckpt.info.labels, &a.data)?;
    let ctx = gpu.context()?;
    let mut model = ckpt.classifier(&ctx, a.model.batch_size, max_len)?;
    let eval = evaluate(&ctx, &mut model, &data, &ckpt.info.labels, a.model.batch_size, max_len)?;
    report_truncated(&a.data.display().to_string(), eval.truncated_rows, max_len);
    if a.format == OutputFormat::Json {
        let m = &eval.metrics;
        let json = serde_json::json!({
            "data": a.data.display().to_string(),
            "checkpoint": checkpoint.display().to_string(),
            "adapter": ctx.adapter_line(),
            "rows": m.rows,
            "skipped_rows": table.skipped.len(),
            "truncated_rows": eval.truncated_rows,
            "loss": eval.loss,
            "accuracy": m.accuracy,
            "macro_f1": m.macro_f1,
            "labels": m.labels,
            "per_class": m.per_class,
            "confusion": m.confusion,
        });
        println!("{}", serde_json::to_string_pretty(&json)?);
    } else {
        println!("{} on {} (adapter: {})", checkpoint.display(), a.data.display(), ctx.adapter_line());
        println!("loss:     {:.4}", eval.loss);
        print!("{}", eval.metrics.to_text());
    }
    Ok(())
}
