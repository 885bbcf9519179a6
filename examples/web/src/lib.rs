//! lstm-transfer in a web page: the engine's WGSL kernels on the browser's WebGPU, bound to
//! JavaScript. Nothing here blocks the page: every GPU result is polled between turns of the
//! browser's event loop (where WebGPU delivers mapped buffers), and every call that waits for the
//! GPU returns a Promise.
//!
//! - [`Engine`]: the device (WebGPU's default limits, what every browser grants), the source model
//!   shipped with the page, the embedded datasets, and the source's logits for token ids (what the
//!   browser test compares with the native build).
//! - [`Run`]: one classifier trained in the tab — from scratch, or transferred from the source
//!   (`init`: every tensor copied, all fine-tuned; `freeze`: the source's embedding rows frozen) —
//!   one epoch per call, then tested and used for predictions.

use std::cell::RefCell;
use std::path::Path;
use std::rc::Rc;
use std::sync::{Arc, Mutex};

use lstm_transfer::data::{
    Dataset, ReadOptions, TextRow, Vocab, encode_rows, label_names, make_batches, parse_text_table, split, tokenize,
};
use lstm_transfer::gpu::Pending;
use lstm_transfer::tasks::classify::predictor::softmax;
use lstm_transfer::tasks::classify::stepwise::StepwiseTrainer;
use lstm_transfer::tasks::classify::train::argmax;
use lstm_transfer::tasks::classify::{Checkpoint, Classifier, ClassifierConfig, TrainConfig};
use lstm_transfer::transfer::{self, Method, NewWords, Recipe, TransferOptions, source::parse_source};
use lstm_transfer::{GpuContext, config::OptimConfig, wgpu};
use serde_json::json;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::future_to_promise;

/// The source model shipped with the page (`make-source.sh`): sentiment on IMDb + Amazon sentences.
const SOURCE: &[u8] = include_bytes!("../source.safetensors");
/// Rows per forward pass when scoring.
const SCORE_BATCH: usize = 64;
/// Fine-tuning settings, as the experiment's demo: batch 16, 3e-3 from scratch, 1e-3 transferred.
const BATCH: usize = 16;
const SCRATCH_LR: f32 = 3e-3;
const TRANSFER_LR: f32 = 1e-3;

#[wasm_bindgen(start)]
fn start() {
    console_error_panic_hook::set_once();
}

fn js_error(e: impl std::fmt::Display) -> JsValue {
    JsError::new(&e.to_string()).into()
}

/// Resolves after the browser has run its pending tasks (WebGPU's mapping callbacks among them).
async fn next_tick() {
    let promise = js_sys::Promise::new(&mut |resolve, _| {
        let window = web_sys::window().expect("a page has a window");
        window.set_timeout_with_callback_and_timeout_and_arguments_0(&resolve, 0).expect("setTimeout");
    });
    let _ = wasm_bindgen_futures::JsFuture::from(promise).await;
}

/// Polls until the value has arrived, yielding to the page between polls.
async fn arrived<T>(mut poll: impl FnMut() -> lstm_transfer::Result<Option<T>>) -> Result<T, JsValue> {
    loop {
        if let Some(value) = poll().map_err(js_error)? {
            return Ok(value);
        }
        next_tick().await;
    }
}

/// Logits `[rows, classes]` of every row of `data`, in row order, without blocking.
async fn logits(ctx: &GpuContext, model: &mut Classifier, data: &Dataset, max_len: usize) -> Result<Vec<f32>, JsValue> {
    let classes = model.cfg.classes;
    let plan = make_batches(data, SCORE_BATCH, max_len, None);
    let pending: Vec<Pending<f32>> =
        plan.batches.iter().map(|b| model.submit_logits(ctx, b)).collect::<Result<_, _>>().map_err(js_error)?;
    let mut out = vec![0.0; data.len() * classes];
    for (p, rows) in pending.iter().zip(&plan.rows) {
        let z = arrived(|| p.poll(ctx)).await?;
        for (i, &row) in rows.iter().enumerate() {
            out[row * classes..(row + 1) * classes].copy_from_slice(&z[i * classes..(i + 1) * classes]);
        }
    }
    Ok(out)
}

/// Share of rows whose largest logit is their label.
fn accuracy(logits: &[f32], data: &Dataset, classes: usize) -> f64 {
    let right = logits.chunks(classes).zip(&data.labels).filter(|(z, y)| argmax(z) == **y as usize).count();
    right as f64 / data.len().max(1) as f64
}

/// The device, the shipped source model and the errors WebGPU reported.
#[wasm_bindgen]
pub struct Engine {
    ctx: Rc<GpuContext>,
    source: Rc<Checkpoint>,
    errors: Arc<Mutex<Vec<String>>>,
}

#[wasm_bindgen]
impl Engine {
    /// Opens the browser's WebGPU adapter with WebGPU's default limits (8 storage buffers per stage,
    /// 128 MiB per binding, 16 KiB of workgroup memory, no shader-f16): every kernel fits them.
    pub async fn open() -> Result<Engine, JsValue> {
        let instance = wgpu::Instance::new(wgpu::InstanceDescriptor {
            backends: wgpu::Backends::BROWSER_WEBGPU,
            ..wgpu::InstanceDescriptor::new_without_display_handle()
        });
        let adapter = instance
            .request_adapter(&wgpu::RequestAdapterOptions::default())
            .await
            .map_err(|e| js_error(format!("this browser gives no WebGPU adapter ({e}); Chromium needs --enable-unsafe-webgpu on Linux")))?;
        let descriptor =
            wgpu::DeviceDescriptor { label: Some("lstm-transfer"), required_limits: wgpu::Limits::default(), ..Default::default() };
        let (device, queue) = adapter.request_device(&descriptor).await.map_err(js_error)?;
        let errors = Arc::new(Mutex::new(Vec::new()));
        let sink = errors.clone();
        device.on_uncaptured_error(Arc::new(move |e: wgpu::Error| sink.lock().unwrap().push(e.to_string())));
        let ctx = Rc::new(GpuContext::from_device(device, queue, adapter.get_info()));
        let source = Rc::new(parse_source(SOURCE, Path::new("source.safetensors"), None).map_err(js_error)?);
        Ok(Engine { ctx, source, errors })
    }

    /// The adapter, as the native build names it.
    pub fn adapter(&self) -> String {
        self.ctx.adapter_line()
    }

    /// Errors WebGPU reported outside any call (a limit exceeded, a lost device); cleared on reading.
    pub fn take_errors(&self) -> Vec<String> {
        std::mem::take(&mut *self.errors.lock().unwrap())
    }

    /// The shipped source model: its shape, labels and vocabulary size (JSON).
    pub fn source_info(&self) -> String {
        let c = self.source.info.config;
        json!({"embed": c.embed, "hidden": c.hidden, "layers": c.layers, "vocab": c.vocab, "labels": self.source.info.labels,
               "pooling": format!("{:?}", c.pooling).to_lowercase(), "max_len": self.source.info.max_len})
        .to_string()
    }

    /// The names of the datasets compiled into the page.
    pub fn datasets() -> Vec<String> {
        lstm_transfer::data::EMBEDDED.iter().map(|(name, _)| name.to_string()).collect()
    }

    /// An embedded dataset's rows (`label<TAB>text` lines).
    pub fn dataset(name: &str) -> Result<String, JsValue> {
        lstm_transfer::data::embedded(name).map(str::to_string).ok_or_else(|| js_error(format!("no embedded dataset '{name}'")))
    }

    /// The source model's logits for token-id rows (JSON `[[id, …], …]`); resolves to JSON
    /// `[[logit, …], …]`. The browser test compares them with the native build's.
    pub fn source_logits(&self, rows_json: String) -> js_sys::Promise {
        let (ctx, source) = (self.ctx.clone(), self.source.clone());
        future_to_promise(async move {
            let ids: Vec<Vec<u32>> = serde_json::from_str(&rows_json).map_err(js_error)?;
            let data = Dataset { labels: vec![0; ids.len()], ids, domains: None };
            let mut model = source.classifier(&ctx, SCORE_BATCH, source.info.max_len).map_err(js_error)?;
            let z = logits(&ctx, &mut model, &data, source.info.max_len).await?;
            let rows: Vec<&[f32]> = z.chunks(model.cfg.classes).collect();
            Ok(JsValue::from_str(&serde_json::to_string(&rows).map_err(js_error)?))
        })
    }
}

/// How a run starts.
#[derive(Clone, Copy, PartialEq)]
enum Start {
    Scratch,
    Transfer(Method),
}

impl Start {
    fn parse(name: &str) -> Result<Self, JsValue> {
        match name {
            "scratch" => Ok(Start::Scratch),
            "init" => Ok(Start::Transfer(Method::Init)),
            "freeze" => Ok(Start::Transfer(Method::Freeze)),
            other => Err(js_error(format!("unknown method '{other}': expected scratch, init or freeze"))),
        }
    }
}

/// A run's state, borrowed for the length of one call (across its awaits): a second call while
/// one is in flight gets a "busy" error from `try_borrow_mut`, never a panic.
struct RunState {
    ctx: Rc<GpuContext>,
    model: Classifier,
    trainer: StepwiseTrainer,
    vocab: Vocab,
    labels: Vec<String>,
    valid: Dataset,
    test: Dataset,
    max_len: usize,
    epochs: usize,
}

/// One classifier trained in the tab.
#[wasm_bindgen]
pub struct Run {
    state: Rc<RefCell<RunState>>,
    notes: String,
}

#[wasm_bindgen]
#[allow(clippy::await_holding_refcell_ref)]
impl Run {
    /// A run of `method` (scratch, init or freeze) on labelled rows (`label<TAB>text` lines):
    /// a third of them (at most 500) are held out for the test, `labelled` of the rest are the
    /// labels it learns from (a fifth of those pick nothing but are shown as validation accuracy).
    #[wasm_bindgen(constructor)]
    pub fn new(engine: &Engine, method: &str, tsv: &str, labelled: usize, epochs: usize, seed: u64) -> Result<Run, JsValue> {
        let start = Start::parse(method)?;
        let rows = parse_text_table(tsv, Path::new("the pasted rows"), &ReadOptions::default()).map_err(js_error)?.rows;
        let labels = label_names(rows.iter().filter_map(|r| r.label.as_deref()));
        if labels.len() < 2 {
            return Err(js_error(format!("{} rows with {} label(s): a classifier needs at least two labels", rows.len(), labels.len())));
        }
        let test_fraction = (rows.len() / 3).min(500) as f64 / rows.len() as f64;
        let (pool, test_idx) = split(rows.len(), test_fraction, seed);
        if labelled < 5 || labelled > pool.len() {
            return Err(js_error(format!(
                "{labelled} labelled rows asked for: between 5 and {} (the rows not held out for the test)",
                pool.len()
            )));
        }
        let (fit_idx, valid_idx) = split(labelled, 0.2, seed.wrapping_add(1));
        let pick = |idx: &[usize], from: &[usize]| -> Vec<TextRow> { idx.iter().map(|&i| rows[from[i]].clone()).collect() };
        let all: Vec<usize> = (0..rows.len()).collect();
        let (train_rows, valid_rows, test_rows) = (pick(&fit_idx, &pool), pick(&valid_idx, &pool), pick(&test_idx, &all));
        let texts: Vec<Vec<String>> = train_rows.iter().map(|r| tokenize(&r.text)).collect();

        let source = &engine.source;
        let max_len = source.info.max_len;
        let mut tc = TrainConfig { epochs, batch_size: BATCH, max_len, seed, ..Default::default() };
        let ctx = engine.ctx.clone();
        let (model, vocab, notes) = match start {
            Start::Scratch => {
                let vocab = Vocab::build(texts.iter().map(Vec::as_slice), 1, 30_000);
                let cfg = ClassifierConfig { vocab: vocab.len(), classes: labels.len(), domains: 0, ..source.info.config };
                tc.optim = OptimConfig::adam(SCRATCH_LR, 5.0);
                let model = Classifier::new(&ctx, cfg, BATCH.max(SCORE_BATCH), max_len, seed).map_err(js_error)?;
                let notes = format!("from scratch: a vocabulary of {} tokens from the training rows", vocab.len());
                (model, vocab, notes)
            }
            Start::Transfer(method) => {
                let mut plan = transfer::plan_target(source, &texts, &labels, 1, 30_000).map_err(js_error)?;
                plan.aligned.start_new_rows(source, NewWords::default()).map_err(js_error)?;
                tc.optim = OptimConfig::adam(TRANSFER_LR, 5.0);
                Recipe::new(method).apply(&mut tc, plan.aligned.coverage.source_tokens);
                let model = Classifier::new(&ctx, plan.config, BATCH.max(SCORE_BATCH), max_len, seed).map_err(js_error)?;
                let options = TransferOptions { copy: vec!["*".into()], exclude: plan.exclude, seed };
                transfer::apply(&ctx, &model, source, &plan.aligned.rows, &options).map_err(js_error)?;
                (model, plan.aligned.vocab, plan.notes.join("; "))
            }
        };
        let encode = |rows: &[TextRow]| encode_rows(rows, &vocab, &labels, Path::new("the pasted rows")).map_err(js_error);
        let (train, valid, test) = (encode(&train_rows)?, encode(&valid_rows)?, encode(&test_rows)?);
        let trainer = StepwiseTrainer::new(tc, train).map_err(js_error)?;
        let state = RunState { ctx, model, trainer, vocab, labels, valid, test, max_len, epochs };
        Ok(Run { state: Rc::new(RefCell::new(state)), notes })
    }

    /// What the run starts from (vocabulary coverage, the head kept or fresh).
    pub fn notes(&self) -> String {
        self.notes.clone()
    }

    /// Trains one epoch; resolves to JSON `{epoch, epochs, train_loss, valid_accuracy, seconds, done}`.
    pub fn train_epoch(&self) -> js_sys::Promise {
        let state = self.state.clone();
        future_to_promise(async move {
            let mut guard = state.try_borrow_mut().map_err(|_| js_error("this run is busy"))?;
            let s = &mut *guard;
            if s.trainer.finished() {
                return Err(js_error(format!("the run's {} epochs are done", s.epochs)));
            }
            let started = web_time::Instant::now();
            let (epoch, pending) = loop {
                // The loss is read once per epoch, on its last step; the page gets a turn every 8 steps.
                let last = (s.trainer.step() + 1).is_multiple_of(s.trainer.steps_per_epoch());
                let step = s.trainer.submit_step(&s.ctx, &mut s.model, last).map_err(js_error)?;
                if step.epoch_done {
                    break (step.epoch, step.stats.expect("the last step reads"));
                }
                if s.trainer.step() % 8 == 0 {
                    next_tick().await;
                }
            };
            let stats = arrived(|| pending.poll(&s.ctx)).await?;
            let z = logits(&s.ctx, &mut s.model, &s.valid, s.max_len).await?;
            let report = json!({
                "epoch": epoch,
                "epochs": s.epochs,
                "train_loss": stats.loss_sum / stats.steps.max(1) as f32,
                "valid_accuracy": accuracy(&z, &s.valid, s.model.cfg.classes),
                "seconds": started.elapsed().as_secs_f64(),
                "done": s.trainer.finished(),
            });
            Ok(JsValue::from_str(&report.to_string()))
        })
    }

    /// Accuracy on the held-out test rows; resolves to JSON `{accuracy, rows}`.
    pub fn test(&self) -> js_sys::Promise {
        let state = self.state.clone();
        future_to_promise(async move {
            let mut guard = state.try_borrow_mut().map_err(|_| js_error("this run is busy"))?;
            let s = &mut *guard;
            let z = logits(&s.ctx, &mut s.model, &s.test, s.max_len).await?;
            let report = json!({"accuracy": accuracy(&z, &s.test, s.model.cfg.classes), "rows": s.test.len()});
            Ok(JsValue::from_str(&report.to_string()))
        })
    }

    /// The model's prediction for a sentence; resolves to JSON `{label, probability, labels, probs}`.
    pub fn predict(&self, text: String) -> js_sys::Promise {
        let state = self.state.clone();
        future_to_promise(async move {
            let mut guard = state.try_borrow_mut().map_err(|_| js_error("this run is busy"))?;
            let s = &mut *guard;
            let data = Dataset { ids: vec![s.vocab.encode(&text)], labels: vec![0], domains: None };
            let z = logits(&s.ctx, &mut s.model, &data, s.max_len).await?;
            let probs = softmax(&z);
            let best = argmax(&z);
            let report = json!({"label": s.labels[best], "probability": probs[best], "labels": s.labels, "probs": probs});
            Ok(JsValue::from_str(&report.to_string()))
        })
    }
}
