//! The three-line API for predictions: load a checkpoint, predict texts, get labels and
//! probabilities back in input order.
//!
//! ```no_run
//! use lstm_transfer::tasks::classify::Predictor;
//!
//! let mut predictor = Predictor::load("runs/classifier.safetensors".as_ref())?;
//! for p in predictor.predict(&["the food was great", "the room was cold"])? {
//!     println!("{} ({:.2})", p.label, p.probability());
//! }
//! # Ok::<(), lstm_transfer::Error>(())
//! ```

use std::path::Path;
use std::sync::Arc;

use super::checkpoint::{self, Checkpoint};
use super::model::Classifier;
use super::train::{argmax, predict_logits};
use crate::data::{Dataset, Vocab, make_batches};
use crate::error::{Error, Result};
use crate::gpu::{GpuContext, Pending};

/// Rows per forward pass of [`Predictor`].
const BATCH: usize = 64;

/// One text's prediction.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Prediction {
    /// The predicted class's name.
    pub label: String,
    /// The predicted class's id.
    pub label_id: usize,
    /// Softmax probabilities, one per class in the model's label order.
    pub probs: Vec<f32>,
    /// The raw logits.
    pub logits: Vec<f32>,
}

impl Prediction {
    /// The probability of the predicted class.
    pub fn probability(&self) -> f32 {
        self.probs[self.label_id]
    }
}

/// A classifier loaded for prediction, with its vocabulary and labels, on a GPU context it shares.
pub struct Predictor {
    ctx: Arc<GpuContext>,
    model: Classifier,
    vocab: Vocab,
    labels: Vec<String>,
    max_len: usize,
}

impl Predictor {
    /// Loads a checkpoint written by `train`/`transfer` on the adapter `LSTM_TRANSFER_BACKEND` /
    /// `LSTM_TRANSFER_ADAPTER` choose (the best one by default). Not in a browser, which has no
    /// files and cannot block: open a context with [`GpuContext::new_async`] and use `from_bytes`.
    #[cfg(not(target_arch = "wasm32"))]
    pub fn load(path: &Path) -> Result<Self> {
        Self::load_on(Arc::new(GpuContext::new(&crate::gpu::AdapterChoice::from_env())?), path)
    }

    /// Loads a checkpoint on a context the application already has (e.g. adopted from its own
    /// `wgpu::Device` with [`GpuContext::from_device`]).
    pub fn load_on(ctx: Arc<GpuContext>, path: &Path) -> Result<Self> {
        Self::from_checkpoint(ctx, checkpoint::load(path, None)?, path)
    }

    /// A checkpoint already in memory (e.g. fetched by a web page); `name` names it in errors.
    pub fn from_bytes(ctx: Arc<GpuContext>, bytes: &[u8], name: &str) -> Result<Self> {
        Self::from_checkpoint(ctx, checkpoint::parse(bytes, Path::new(name), None)?, Path::new(name))
    }

    fn from_checkpoint(ctx: Arc<GpuContext>, ckpt: Checkpoint, path: &Path) -> Result<Self> {
        let tokens = ckpt.vocab.clone().ok_or_else(|| Error::File {
            path: path.to_path_buf(),
            message: "no vocabulary (a plain state_dict?): predict token ids with a Classifier instead".into(),
        })?;
        let max_len = ckpt.info.max_len;
        let model = ckpt.classifier(&ctx, BATCH, max_len)?;
        Ok(Self { ctx, model, vocab: Vocab::from_tokens(tokens)?, labels: ckpt.info.labels, max_len })
    }

    /// The model's class names, in label-id order.
    pub fn labels(&self) -> &[String] {
        &self.labels
    }

    /// Predicts every text (blocking until the GPU is done); the results are in the texts' order.
    /// Texts longer than the model's maximum length are truncated to it.
    pub fn predict(&mut self, texts: &[&str]) -> Result<Vec<Prediction>> {
        if texts.is_empty() {
            return Ok(Vec::new());
        }
        let ids: Vec<Vec<u32>> = texts.iter().map(|t| self.vocab.encode(t)).collect();
        let data = Dataset { labels: vec![0; ids.len()], ids, domains: None };
        let (logits, _) = predict_logits(&self.ctx, &mut self.model, &data, BATCH, self.max_len)?;
        Ok(logits.chunks(self.labels.len()).map(|z| prediction(&self.labels, z)).collect())
    }

    /// Submits up to 64 texts and returns at once (for a frame loop: nothing waits on the GPU); poll
    /// the result between frames with [`PendingPredictions::poll`].
    pub fn submit(&mut self, texts: &[&str]) -> Result<PendingPredictions> {
        if texts.is_empty() || texts.len() > BATCH {
            return Err(Error::invalid_option("texts per submit", &format!("1..={BATCH}"), texts.len()));
        }
        let ids: Vec<Vec<u32>> = texts.iter().map(|t| self.vocab.encode(t)).collect();
        let data = Dataset { labels: vec![0; ids.len()], ids, domains: None };
        let plan = make_batches(&data, BATCH, self.max_len, None);
        let pending = self.model.submit_logits(&self.ctx, &plan.batches[0])?;
        Ok(PendingPredictions { ctx: self.ctx.clone(), pending, rows: plan.rows[0].clone(), labels: self.labels.clone() })
    }
}

/// Predictions submitted with [`Predictor::submit`], not yet read back.
pub struct PendingPredictions {
    ctx: Arc<GpuContext>,
    pending: Pending<f32>,
    /// Input row of each batch row.
    rows: Vec<usize>,
    labels: Vec<String>,
}

impl PendingPredictions {
    /// The predictions in the texts' order once the GPU is done; `None` until then (never blocks).
    pub fn poll(&self) -> Result<Option<Vec<Prediction>>> {
        let Some(logits) = self.pending.poll(&self.ctx)? else { return Ok(None) };
        let classes = self.labels.len();
        let mut out: Vec<Option<Prediction>> = vec![None; self.rows.len()];
        for (z, &row) in logits.chunks(classes).zip(&self.rows) {
            out[row] = Some(prediction(&self.labels, z));
        }
        Ok(Some(out.into_iter().flatten().collect()))
    }
}

fn prediction(labels: &[String], z: &[f32]) -> Prediction {
    let label_id = argmax(z);
    Prediction { label: labels[label_id].clone(), label_id, probs: softmax(z), logits: z.to_vec() }
}

/// Softmax in f64 (stable: the largest logit is subtracted first).
pub fn softmax(z: &[f32]) -> Vec<f32> {
    let max = z.iter().fold(f32::NEG_INFINITY, |a, &b| a.max(b));
    let e: Vec<f64> = z.iter().map(|&v| ((v - max) as f64).exp()).collect();
    let sum: f64 = e.iter().sum();
    e.iter().map(|v| (v / sum) as f32).collect()
}
