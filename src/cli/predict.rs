//! `predict`: logits, probabilities and labels for texts (`--text`, tokenized with the checkpoint's
//! vocabulary) or token-id sequences (`--ids`, no vocabulary needed — works on a PyTorch state_dict).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::Args;
use lstm_transfer::data::{Dataset, ReadOptions, TableFormat, Vocab, parse_text_table};
use lstm_transfer::tasks::classify::train::{argmax, predict_logits};

use super::{GpuArgs, InferenceArgs, report_truncated};

#[derive(Args)]
pub struct PredictArgs {
    #[command(flatten)]
    pub model: InferenceArgs,
    /// One text per line.
    #[arg(long, conflicts_with = "ids", required_unless_present = "ids")]
    pub text: Option<PathBuf>,
    /// One sequence of space-separated token ids per line.
    #[arg(long)]
    pub ids: Option<PathBuf>,
    /// json: one object per line (logits, probs, label); tsv: label, probability, logits.
    #[arg(long, value_enum, default_value_t)]
    pub format: PredictFormat,
}

/// How predictions are printed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum PredictFormat {
    /// One JSON object per line.
    #[default]
    Json,
    /// Tab-separated: label, probability, logits.
    Tsv,
}

/// Parses `--ids` lines: every id must be a number below the vocabulary size.
fn read_ids(path: &Path, vocab: usize) -> Result<Vec<Vec<u32>>> {
    let text = lstm_transfer::fsutil::read_utf8(path)?;
    let mut rows = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let ids: Vec<u32> = line
            .split_whitespace()
            .map(|tok| match tok.parse::<u32>() {
                Ok(id) if (id as usize) < vocab => Ok(id),
                Ok(id) => bail!("{}: line {}: token id {id} is outside the model's vocabulary of {vocab}", path.display(), i + 1),
                Err(_) => bail!("{}: line {}: '{tok}' is not a token id (expected non-negative integers)", path.display(), i + 1),
            })
            .collect::<Result<_>>()?;
        if ids.is_empty() {
            bail!("{}: line {}: empty sequence (one sequence of token ids per line)", path.display(), i + 1);
        }
        rows.push(ids);
    }
    if rows.is_empty() {
        bail!("{}: no sequences: the file is empty", path.display());
    }
    Ok(rows)
}

/// One line of `--format json` (f32 fields print in their shortest exact form).
#[derive(serde::Serialize)]
struct Prediction<'a> {
    label: &'a str,
    label_id: usize,
    probs: &'a [f32],
    logits: &'a [f32],
}

fn softmax(z: &[f32]) -> Vec<f32> {
    let max = z.iter().fold(f32::NEG_INFINITY, |a, &b| a.max(b));
    let e: Vec<f64> = z.iter().map(|&v| ((v - max) as f64).exp()).collect();
    let sum: f64 = e.iter().sum();
    e.iter().map(|v| (v / sum) as f32).collect()
}

pub fn run(gpu: &GpuArgs, a: &PredictArgs) -> Result<()> {
    let (ckpt, max_len) = a.model.load()?;
    let ids = match (&a.ids, &a.text) {
        (Some(path), _) => read_ids(path, ckpt.info.config.vocab)?,
        (None, Some(path)) => {
            let tokens = ckpt.vocab.clone().with_context(|| {
                format!("{} has no vocabulary (a plain state_dict?): give token ids with --ids", a.model.checkpoint.display())
            })?;
            let vocab = Vocab::from_tokens(tokens)?;
            let content = lstm_transfer::fsutil::read_utf8(path)?;
            // One output per input line: a blank line would be dropped and the outputs would no
            // longer line up with the inputs.
            if let Some(i) = content.lines().position(|l| l.trim().is_empty()) {
                bail!("{}: line {}: empty; --text takes one non-empty text per line", path.display(), i + 1);
            }
            let opts = ReadOptions { format: Some(TableFormat::Tsv), unlabeled: true, ..Default::default() };
            parse_text_table(&content, path, &opts)?.rows.iter().map(|r| vocab.encode(&r.text)).collect()
        }
        (None, None) => unreachable!("clap requires --text or --ids"),
    };
    let data = Dataset { labels: vec![0; ids.len()], ids, domains: None };
    let ctx = gpu.context()?;
    let mut model = ckpt.classifier(&ctx, a.model.batch_size, max_len)?;
    let (logits, truncated) = predict_logits(&ctx, &mut model, &data, a.model.batch_size, max_len)?;
    report_truncated("input", truncated, max_len);
    let classes = ckpt.info.config.classes;
    for z in logits.chunks(classes) {
        let probs = softmax(z);
        let best = argmax(z);
        let label = &ckpt.info.labels[best];
        if a.format == PredictFormat::Json {
            let line = Prediction { label, label_id: best, probs: &probs, logits: z };
            println!("{}", serde_json::to_string(&line)?);
        } else {
            let logits: Vec<String> = z.iter().map(|v| v.to_string()).collect();
            println!("{label}\t{}\t{}", probs[best], logits.join("\t"));
        }
    }
    Ok(())
}
