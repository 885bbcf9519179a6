//! `predict`: logits, probabilities and labels for texts (`--text`, one per line, or `--data`, a
//! CSV/TSV/JSONL table with text and id columns; tokenized with the checkpoint's vocabulary) or
//! token-id sequences (`--ids`, no vocabulary needed — works on a PyTorch state_dict).

use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::Args;
use lstm_transfer::data::{Column, Dataset, ReadOptions, TableFormat, Vocab, parse_text_table};
use lstm_transfer::tasks::classify::predictor::softmax;
use lstm_transfer::tasks::classify::train::{argmax, predict_logits};

use super::{GpuArgs, InferenceArgs, TextTableArgs, report_truncated};

#[derive(Args)]
pub struct PredictArgs {
    #[command(flatten)]
    pub model: InferenceArgs,
    /// One text per line (`-`: standard input).
    #[arg(long, conflicts_with_all = ["ids", "data"], required_unless_present_any = ["ids", "data"])]
    pub text: Option<PathBuf>,
    /// A table of texts: CSV, TSV or JSONL (`-`: standard input, TSV unless --input-format), its
    /// text in --text-col and each row's key in --id-col.
    #[arg(long, conflicts_with = "ids")]
    pub data: Option<PathBuf>,
    /// --data: the column (header name, 0-based index or JSONL key) whose value names each row in
    /// the output (`id`). Default: none, rows are known by their index.
    #[arg(long, requires = "data")]
    pub id_col: Option<Column>,
    /// --data: its format and text columns (every column but the id's / "text" by default).
    #[command(flatten)]
    pub table: TextTableArgs,
    /// Print each input text beside its prediction.
    #[arg(long)]
    pub echo: bool,
    /// One sequence of space-separated token ids per line.
    #[arg(long)]
    pub ids: Option<PathBuf>,
    /// json: one object per line (index, id with --id-col, label, probs, logits); tsv: index (or the
    /// id), label, probability, logits.
    #[arg(long, value_enum, default_value_t)]
    pub format: PredictFormat,
}

/// How predictions are printed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum PredictFormat {
    /// One JSON object per line.
    #[default]
    Json,
    /// Tab-separated: input index, label, probability, logits (then the text with --echo).
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

/// A file's text, or standard input's for `-`, bounded like every input.
fn read_input(path: &Path) -> Result<String> {
    Ok(if path == Path::new("-") {
        let limit = lstm_transfer::fsutil::max_input_bytes();
        let mut bytes = Vec::new();
        std::io::Read::take(std::io::stdin().lock(), limit + 1).read_to_end(&mut bytes).context("reading standard input")?;
        if bytes.len() as u64 > limit {
            bail!("standard input: more than {limit} bytes (raise the limit with --max-input-bytes)");
        }
        String::from_utf8(bytes).context("standard input is not UTF-8 text")?
    } else {
        lstm_transfer::fsutil::read_utf8(path)?
    })
}

/// The texts of `--text`: one per line. A blank line is refused: it would get no output and the
/// outputs would no longer line up.
fn read_texts(path: &Path) -> Result<Vec<String>> {
    let content = read_input(path)?;
    if let Some(i) = content.lines().position(|l| l.trim().is_empty()) {
        bail!("{}: line {}: empty; --text takes one non-empty text per line", path.display(), i + 1);
    }
    let opts = ReadOptions { format: Some(TableFormat::Tsv), unlabeled: true, ..Default::default() };
    Ok(parse_text_table(&content, path, &opts)?.rows.into_iter().map(|r| r.text).collect())
}

/// The rows of `--data`: each text, with its id when `--id-col` names one. The id column is read
/// where the reader reads a label (so an empty id is refused with its line, like an empty label).
fn read_table_texts(path: &Path, a: &PredictArgs) -> Result<(Vec<String>, Option<Vec<String>>)> {
    let mut opts = a.table.options(a.id_col.clone(), a.id_col.is_none());
    if path == Path::new("-") {
        opts.format = opts.format.or(Some(TableFormat::Tsv));
    }
    let table = parse_text_table(&read_input(path)?, path, &opts).with_context(|| match &a.id_col {
        Some(col) => format!("reading --data (ids from --id-col {col}: where a label is named, the id is meant)"),
        None => "reading --data".to_string(),
    })?;
    if table.rows.is_empty() {
        bail!("{}: no rows to predict", path.display());
    }
    let ids = a.id_col.as_ref().map(|_| table.rows.iter().map(|r| r.label.clone().unwrap_or_default()).collect());
    Ok((table.rows.into_iter().map(|r| r.text).collect(), ids))
}

/// One line of `--format json` (f32 fields print in their shortest exact form).
#[derive(serde::Serialize)]
struct Prediction<'a> {
    /// 0-based line of the input.
    index: usize,
    /// The row's `--id-col` value.
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    text: Option<&'a str>,
    label: &'a str,
    label_id: usize,
    probs: &'a [f32],
    logits: &'a [f32],
}

pub fn run(gpu: &GpuArgs, a: &PredictArgs) -> Result<()> {
    if a.data.is_none() && a.table != TextTableArgs::default() {
        bail!(
            "--input-format, --text-col, --header and --multiline-fields describe a --data table: give --data (--text reads one text per line)"
        );
    }
    let (ckpt, max_len) = a.model.load()?;
    let mut keys = None;
    let (ids, texts): (Vec<Vec<u32>>, Vec<String>) = match (&a.ids, &a.text, &a.data) {
        (Some(path), _, _) => {
            let ids = read_ids(path, ckpt.info.config.vocab)?;
            let texts = ids.iter().map(|row| row.iter().map(u32::to_string).collect::<Vec<_>>().join(" ")).collect();
            (ids, texts)
        }
        (None, text, data) => {
            let tokens = ckpt.vocab.clone().with_context(|| {
                format!("{} has no vocabulary (a plain state_dict?): give token ids with --ids", a.model.checkpoint.display())
            })?;
            let vocab = Vocab::from_tokens(tokens)?;
            let texts = match (text, data) {
                (Some(path), _) => read_texts(path)?,
                (None, Some(path)) => {
                    let (texts, ids) = read_table_texts(path, a)?;
                    keys = ids;
                    texts
                }
                (None, None) => unreachable!("clap requires --text, --data or --ids"),
            };
            (texts.iter().map(|t| vocab.encode(t)).collect(), texts)
        }
    };
    let data = Dataset { labels: vec![0; ids.len()], ids, domains: None };
    let ctx = gpu.context()?;
    let mut model = ckpt.classifier(&ctx, a.model.batch_size, max_len)?;
    let (logits, truncated) = predict_logits(&ctx, &mut model, &data, a.model.batch_size, max_len)?;
    report_truncated("input", truncated, max_len);
    let classes = ckpt.info.config.classes;
    for (index, (z, text)) in logits.chunks(classes).zip(&texts).enumerate() {
        let probs = softmax(z);
        let best = argmax(z);
        let label = &ckpt.info.labels[best];
        let text = a.echo.then_some(text.as_str());
        let id = keys.as_ref().map(|k| k[index].as_str());
        if a.format == PredictFormat::Json {
            let line = Prediction { index, id, text, label, label_id: best, probs: &probs, logits: z };
            println!("{}", serde_json::to_string(&line)?);
        } else {
            let logits: Vec<String> = z.iter().map(|v| v.to_string()).collect();
            let echoed = text.map(|t| format!("\t{t}")).unwrap_or_default();
            let key = id.map_or_else(|| index.to_string(), str::to_string);
            println!("{key}\t{label}\t{}\t{}{echoed}", probs[best], logits.join("\t"));
        }
    }
    Ok(())
}
