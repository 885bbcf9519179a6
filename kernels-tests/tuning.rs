//! The kernel tuner: it times every variant that applies, keeps the fastest in a cache file keyed by
//! adapter and shape, reuses it, re-times on `force`, survives a corrupt file, and whatever it picks
//! the model computes the same function (every variant is checked against the reference in
//! gpu_kernels.rs and lstm_kernels.rs; here a whole training run with the per-timestep recurrence, planted in the cache,
//! against one with the fixed rule's kernels).

mod common;

use std::path::{Path, PathBuf};

use common::cli::{bin, dir};
use common::{assert_close, gpu};
use lstm_transfer::config::{Pooling, Precision};
use lstm_transfer::data::Batch;
use lstm_transfer::gpu::{Candidate, GemmKernel, TuneMode, TuneRecord, Tuning};
use lstm_transfer::kernels::lstm::LstmKernel;
use lstm_transfer::kernels::matmul::Gemm;
use lstm_transfer::kernels::tune::{self, SCREEN_FACTOR};
use lstm_transfer::tasks::classify::{Classifier, ClassifierConfig};
use lstm_transfer::{AdapterChoice, GpuContext};

const F32: Precision = Precision::F32;
/// A GEMM whose operands are all f32.
const F32S: [bool; 3] = [false; 3];

fn context(mode: TuneMode, path: &Path) -> GpuContext {
    GpuContext::new(&AdapterChoice::from_env()).expect("a GPU adapter").with_tuning(Tuning::new(mode, Some(path.to_path_buf())))
}

fn cache(name: &str) -> PathBuf {
    let path = dir().join(name);
    let _ = std::fs::remove_file(&path);
    path
}

/// A record naming `winner`, with made-up times that no measurement would give.
fn planted(winner: &str, variants: &[&str]) -> TuneRecord {
    TuneRecord {
        winner: winner.into(),
        candidates: variants.iter().map(|v| Candidate { variant: v.to_string(), screen_ms: 1e6, ms: Some(1e6), failed: None }).collect(),
    }
}

#[test]
fn tunes_every_variant_caches_the_winner_and_retunes_on_force() {
    let path = cache("tuning-basic.json");
    let (batch, steps, hidden) = (11, 5, 68);
    let gemm = Gemm::new(37, 70, 19).b_transposed();
    let ctx = context(TuneMode::Cached, &path);
    let lstm = tune::lstm_kernel(&ctx, batch, steps, hidden, F32).unwrap();
    let gemm_kernel = tune::gemm_kernel(&ctx, &gemm, F32S).unwrap();

    let lstm_key = tune::cache_key(&ctx, &tune::lstm_key(batch, tune::tuned_steps(steps), hidden, F32));
    let gemm_key = tune::cache_key(&ctx, &tune::gemm_key(&gemm, F32S));
    let records = ctx.tuning().records();
    assert_eq!(records.len(), 2, "one record per shape: {records:?}");
    let lstm_record = &records[&lstm_key];
    let names: Vec<&str> = lstm_record.candidates.iter().map(|c| c.variant.as_str()).collect();
    let applicable: Vec<&str> = LstmKernel::ALL.iter().filter(|k| k.applies(&ctx, hidden)).map(|k| k.name()).collect();
    assert_eq!(names, applicable, "every recurrence variant that applies is timed at H = 68");
    assert!(names.len() >= 3, "rows, slices and steps apply everywhere at H = 68: {names:?}");
    let gemm_record = &records[&gemm_key];
    let names: Vec<&str> = gemm_record.candidates.iter().map(|c| c.variant.as_str()).collect();
    let applicable: Vec<&str> = GemmKernel::ALL.iter().filter(|k| k.applies(&ctx)).map(|k| k.name()).collect();
    assert_eq!(names, applicable, "every GEMM kernel that applies is timed");
    for record in [lstm_record, gemm_record] {
        let positive = |ms: f64| ms.is_finite() && ms > 0.0;
        assert!(record.candidates.iter().all(|c| positive(c.screen_ms) && c.ms.is_none_or(positive)), "{record:?}");
        // Screening drops exactly the candidates more than SCREEN_FACTOR× slower than its best.
        let best_screen = record.candidates.iter().map(|c| c.screen_ms).fold(f64::INFINITY, f64::min);
        for c in &record.candidates {
            assert_eq!(c.ms.is_none(), c.screen_ms > SCREEN_FACTOR * best_screen, "{record:?}");
        }
        let fastest = record.candidates.iter().filter_map(|c| Some((c, c.ms?))).min_by(|a, b| a.1.total_cmp(&b.1)).unwrap().0;
        assert_eq!(record.winner, fastest.variant, "the winner is the fastest at the tuned size: {record:?}");
    }
    assert_eq!(lstm.name(), lstm_record.winner);
    assert_eq!(gemm_kernel.name(), gemm_record.winner);
    // H not a multiple of 4: only the per-row kernel applies, nothing is timed.
    assert_eq!(tune::lstm_kernel(&ctx, batch, steps, 70, F32).unwrap(), LstmKernel::PerRow);
    assert_eq!(ctx.tuning().records().len(), 2);

    // The file holds both records; another process (context) in cached mode uses them as they are:
    // plant other winners with impossible times and see them returned untimed.
    let saved = std::fs::read_to_string(&path).expect("the cache is written");
    assert!(saved.contains(&lstm_key) && saved.contains(&gemm_key), "{saved}");
    let planter = Tuning::new(TuneMode::Cached, Some(path.clone()));
    planter.insert(&lstm_key, planted("steps", &["rows", "slices", "steps"]));
    planter.insert(&gemm_key, planted("tiled", &["tiled", "blocked"]));
    let cached = context(TuneMode::Cached, &path);
    assert_eq!(tune::lstm_kernel(&cached, batch, steps, hidden, F32).unwrap(), LstmKernel::Steps);
    assert_eq!(tune::gemm_kernel(&cached, &gemm, F32S).unwrap(), GemmKernel::Tiled);
    assert_eq!(cached.tuning().records()[&lstm_key].candidates[0].ms, Some(1e6), "read from the file, not timed");

    // Force times again and overwrites the planted records; off times nothing and reads nothing.
    let forced = context(TuneMode::Force, &path);
    tune::lstm_kernel(&forced, batch, steps, hidden, F32).unwrap();
    let retimed = &forced.tuning().records()[&lstm_key];
    assert!(retimed.candidates.iter().all(|c| c.screen_ms < 1e6), "force re-times: {retimed:?}");
    let on_disk = Tuning::new(TuneMode::Cached, Some(path.clone()));
    assert_eq!(&on_disk.get(&lstm_key).unwrap(), retimed, "force saves what it measured");
    assert_eq!(on_disk.get(&gemm_key).unwrap().candidates[0].ms, Some(1e6), "and keeps the other shapes' records");
    let off = context(TuneMode::Off, &path);
    assert_eq!(tune::lstm_kernel(&off, batch, steps, hidden, F32).unwrap(), LstmKernel::choose(&off, batch, hidden));
    assert!(off.tuning().records().is_empty());
}

#[test]
fn a_corrupt_or_foreign_cache_is_reported_and_rewritten() {
    let path = cache("tuning-corrupt.json");
    std::fs::write(&path, b"{ not json").unwrap();
    let ctx = context(TuneMode::Cached, &path);
    let kernel = tune::lstm_kernel(&ctx, 9, 3, 8, F32).unwrap();
    let notes = ctx.tuning().notes();
    assert!(notes.iter().any(|n| n.contains("tuning-corrupt.json") && n.contains("not a tuning cache")), "{notes:?}");
    let again = context(TuneMode::Cached, &path);
    assert_eq!(tune::lstm_kernel(&again, 9, 3, 8, F32).unwrap(), kernel, "the rewritten file is read back");
    assert!(again.tuning().notes().is_empty(), "{:?}", again.tuning().notes());

    // A file written for other kernels (another version) is not trusted: noted, and timed again.
    let stale = std::fs::read_to_string(&path).unwrap();
    let kernels = serde_json::from_str::<serde_json::Value>(&stale).unwrap()["kernels"].as_str().unwrap().to_string();
    std::fs::write(&path, stale.replace(&kernels, "0123456789abcdef")).unwrap();
    let retimed = context(TuneMode::Cached, &path);
    tune::lstm_kernel(&retimed, 9, 3, 8, F32).unwrap();
    assert!(retimed.tuning().notes().iter().any(|n| n.contains("written for other kernels")), "{:?}", retimed.tuning().notes());
    assert!(std::fs::read_to_string(&path).unwrap().contains(&kernels), "rewritten for these kernels");

    // A cache path that is no regular file (a FIFO with no writer would block a plain read forever)
    // is refused as any input is, with a note, and tuning goes on.
    let fifo = cache("tuning-fifo.json");
    assert!(std::process::Command::new("mkfifo").arg(&fifo).status().unwrap().success());
    let on_fifo = context(TuneMode::Cached, &fifo);
    assert!(tune::lstm_kernel(&on_fifo, 9, 3, 8, F32).unwrap().applies(&on_fifo, 8));
    let notes = on_fifo.tuning().notes();
    assert!(notes.iter().any(|n| n.contains("ignoring the tuning cache") && n.contains("not a regular file")), "{notes:?}");

    // A winner this version does not know falls back to the fixed rule.
    let key = tune::cache_key(&ctx, &tune::lstm_key(9, tune::tuned_steps(3), 8, F32));
    Tuning::new(TuneMode::Cached, Some(path.clone())).insert(&key, planted("warp-specialised", &["warp-specialised"]));
    let cached = context(TuneMode::Cached, &path);
    assert_eq!(tune::lstm_kernel(&cached, 9, 3, 8, F32).unwrap(), LstmKernel::choose(&cached, 9, 8));

    // The command line prints the note and goes on.
    std::fs::write(&path, b"[1, 2").unwrap();
    let out =
        bin().args(["bench", "--shape", "9,3,8,8", "--repeats", "1", "--tune", "cached", "--tune-cache"]).arg(&path).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("warning: ignoring the tuning cache") && stderr.contains("tuning-corrupt.json"), "{stderr}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("tuning") && stdout.contains("lstm B16 T4 H8"), "bench prints each candidate's time:\n{stdout}");
}

/// A classifier trained with the per-timestep recurrence (planted in the cache) and the GEMM kernels the tuner times
/// follows the one trained with the fixed rule's kernels: same losses and logits, to rounding.
#[test]
fn a_tuned_model_computes_what_the_fixed_rule_computes() {
    let path = cache("tuning-model.json");
    let (batch, steps) = (6usize, 7usize);
    let cfg = ClassifierConfig {
        vocab: 50,
        embed: 12,
        hidden: 20,
        layers: 2,
        bidirectional: true,
        classes: 3,
        domains: 0,
        pooling: Pooling::Concat,
    };
    let tuned = context(TuneMode::Cached, &path);
    let planter = Tuning::new(TuneMode::Cached, Some(path.clone()));
    planter.insert(
        &tune::cache_key(&tuned, &tune::lstm_key(batch as u32, tune::tuned_steps(steps as u32), 20, F32)),
        planted("steps", &["steps"]),
    );
    let data = Batch {
        batch,
        steps,
        ids: (0..batch * steps).map(|i| (i * 31 % 50) as u32).collect(),
        lengths: vec![7, 3, 5, 7, 1, 6],
        labels: (0..batch).map(|i| (i % 3) as u32).collect(),
        domain_labels: None,
    };
    let run = |ctx: &GpuContext| {
        let mut model = Classifier::new(ctx, cfg, batch, steps, 7).unwrap();
        let losses: Vec<f64> = (0..4).map(|_| model.train_step(ctx, &data, true, true).unwrap().unwrap().loss_sum as f64).collect();
        (losses, model.logits(ctx, &data).unwrap())
    };
    let (want_losses, want_logits) = run(gpu());
    let (losses, logits) = run(&tuned);
    let records = tuned.tuning().records();
    assert_eq!(records.values().filter(|r| r.winner == "steps").count(), 1, "the planted record is used: {records:?}");
    let to_f32 = |v: &[f64]| v.iter().map(|&x| x as f32).collect::<Vec<_>>();
    assert_close("losses", &to_f32(&losses), &want_losses, 1e-5, 1e-4);
    assert_close("logits", &logits, &want_logits.iter().map(|&x| x as f64).collect::<Vec<_>>(), 1e-5, 1e-4);
}
