//! Time-series forecasting end to end: the forecaster learns a seasonal series (validation error
//! falls, it beats the seasonal-naive forecast where that baseline is wrong), the metrics agree with
//! a direct computation, and the CLI trains, saves, fine-tunes from another series and refuses
//! windows longer than the series.

mod common;

use std::path::PathBuf;

use common::cli::bin;
use common::{gpu, gpu_f16};
use lstm_transfer::config::OptimConfig;
use lstm_transfer::tasks::forecast::checkpoint::member_tensors;
use lstm_transfer::tasks::forecast::data::Scaling;
use lstm_transfer::tasks::forecast::evaluate::forecast_ahead;
use lstm_transfer::tasks::forecast::{self as timeseries, ForecastConfig, ForecastPredictor, Forecaster, ForecasterConfig, Scaler, Series};

/// Two cycles (24 and 7 steps) and a little noise: a 24-step seasonal naive misses the 7-step cycle.
fn series(n: usize, phase: f64) -> Series {
    let mut state = 12345u64;
    let values = (0..n)
        .map(|t| {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            let noise = ((state >> 33) as f64 / (1u64 << 31) as f64 - 0.5) * 0.1;
            let t = t as f64;
            10.0 + (2.0 * std::f64::consts::PI * t / 24.0 + phase).sin() + 0.8 * (2.0 * std::f64::consts::PI * t / 7.0).sin() + noise
        })
        .collect();
    Series { times: (0..n).map(|t| t.to_string()).collect(), columns: vec!["y".into()], values: vec![values], filled: 0 }
}

fn config() -> ForecastConfig {
    ForecastConfig {
        window: 30,
        horizon: 6,
        season: 24,
        stride: 3,
        test_len: 60,
        valid_len: 60,
        train_len: None,
        epochs: 25,
        batch_size: 32,
        optim: OptimConfig::adam(1e-2, 1.0),
        patience: 25,
        seed: 1,
        seasonal_residual: false,
        future_cols: 0,
        linear_residual: None,
        fold: 1,
    }
}

/// With the LSTM's activations stored as f16 the forecaster learns as well (pooling reads y and
/// writes dy as f16): within 10% of the f32 model's MAE.
#[test]
fn the_forecaster_learns_with_f16_activations() {
    let (s, cfg) = (series(700, 0.0), config());
    let (train_end, _) = timeseries::boundaries(s.len(), &cfg).unwrap();
    let scaler = Scaler::fit(&s, 0, train_end);
    let mae = |ctx: &lstm_transfer::GpuContext| {
        let mut model = Forecaster::new(ctx, ForecasterConfig { inputs: 1, hidden: 16, layers: 1, horizon: 6 }, 32, 30, 3).unwrap();
        timeseries::fit(ctx, &mut model, &scaler.scale(&s), &cfg, &mut ()).unwrap();
        timeseries::evaluate(ctx, std::slice::from_mut(&mut model), &s, &scaler, &cfg).unwrap().1
    };
    let (full, f16) = (mae(gpu()), mae(gpu_f16()));
    assert!(f16.mae < f16.naive_mae && (f16.mae - full.mae).abs() < 0.1 * full.mae, "f16 MAE {:.4}, f32 {:.4}", f16.mae, full.mae);
}

#[test]
fn the_forecaster_learns_and_beats_a_wrong_seasonal_naive() {
    let ctx = gpu();
    let (s, cfg) = (series(700, 0.0), config());
    let (train_end, _) = timeseries::boundaries(s.len(), &cfg).unwrap();
    let scaler = Scaler::fit(&s, 0, train_end);
    let mut model = Forecaster::new(ctx, ForecasterConfig { inputs: 1, hidden: 16, layers: 1, horizon: 6 }, 32, 30, 3).unwrap();
    let logs = timeseries::fit(ctx, &mut model, &scaler.scale(&s), &cfg, &mut ()).unwrap();
    let (first, best) = (logs[0].valid_mse, logs.iter().map(|l| l.valid_mse).fold(f64::INFINITY, f64::min));
    assert!(best < 0.3 * first, "validation MSE should fall: {first:.4} → {best:.4}");
    let (points, m) = timeseries::evaluate(ctx, std::slice::from_mut(&mut model), &s, &scaler, &cfg).unwrap();
    assert_eq!(points.len(), 60);
    let y = &s.values[0];
    let mae = points.iter().map(|p| (p.forecast - y[p.step]).abs()).sum::<f64>() / 60.0;
    assert!((mae - m.mae).abs() < 1e-9 && m.rmse >= m.mae);
    assert!(m.mae < m.naive_mae, "LSTM MAE {:.3} should beat the 24-step seasonal naive {:.3}", m.mae, m.naive_mae);
    // The linear baseline, fitted on the training part: scored on the same points; a sum of two
    // sinusoids is a linear recurrence, so the lasso autoregression also beats the wrong naive.
    let linear_mae = points.iter().map(|p| (p.linear.unwrap() - y[p.step]).abs()).sum::<f64>() / 60.0;
    assert!((linear_mae - m.linear_mae.unwrap()).abs() < 1e-9, "{linear_mae} vs {:?}", m.linear_mae);
    assert!(m.linear_mae.unwrap() < 0.5 * m.naive_mae, "linear MAE {:?} vs seasonal naive {:.3}", m.linear_mae, m.naive_mae);
    assert_eq!(m.linear.as_ref().unwrap().blocks, [1, 2, 3, 4, 7], "blocks of 6 steps back: 1-3, 7 and the 24-step season");

    // Learning the residual to the seasonal naive forecast: starts at the baseline, improves on it.
    let cfg = ForecastConfig { seasonal_residual: true, epochs: 15, ..config() };
    let mut model = Forecaster::new(ctx, ForecasterConfig { inputs: 1, hidden: 16, layers: 1, horizon: 6 }, 32, 30, 3).unwrap();
    timeseries::fit(ctx, &mut model, &scaler.scale(&s), &cfg, &mut ()).unwrap();
    let (_, r) = timeseries::evaluate(ctx, std::slice::from_mut(&mut model), &s, &scaler, &cfg).unwrap();
    assert!(r.mae < 0.8 * r.naive_mae, "residual LSTM MAE {:.3} vs seasonal naive {:.3}", r.mae, r.naive_mae);
}

/// `y` is a copy of the noise `c`, so its value at a forecast step is predictable only from `c` at that
/// step: read as a covariate known in advance, the forecaster sees it; read as a past input, it cannot.
#[test]
fn a_covariate_known_in_advance_is_read_at_the_forecast_steps() {
    let ctx = gpu();
    let n = 600;
    let mut state = 777u64;
    let c: Vec<f64> = (0..n)
        .map(|_| {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (state >> 33) as f64 / (1u64 << 31) as f64
        })
        .collect();
    let s = Series {
        times: (0..n).map(|t| t.to_string()).collect(),
        columns: vec!["y".into(), "c".into()],
        values: vec![c.clone(), c],
        filled: 0,
    };
    let base = ForecastConfig { window: 12, horizon: 3, stride: 1, test_len: 60, valid_len: 60, epochs: 20, patience: 20, ..config() };
    let mae = |future_cols: usize| {
        let cfg = ForecastConfig { future_cols, ..base.clone() };
        let (train_end, _) = timeseries::boundaries(n, &cfg).unwrap();
        let scaler = Scaler::fit(&s, 0, train_end);
        let mut model = Forecaster::new(ctx, ForecasterConfig { inputs: 2, hidden: 16, layers: 1, horizon: 3 }, 32, 12, 5).unwrap();
        timeseries::fit(ctx, &mut model, &scaler.scale(&s), &cfg, &mut ()).unwrap();
        let m = timeseries::evaluate(ctx, std::slice::from_mut(&mut model), &s, &scaler, &cfg).unwrap().1;
        (m.mae, m.linear_mae.unwrap())
    };
    let ((known, linear_known), (past, linear_past)) = (mae(1), mae(0));
    // Uniform noise on [0, 1): a forecast with no information has an MAE of about 0.25.
    assert!(past > 0.2, "without the future values the MAE cannot fall far below 0.25: {past:.3}");
    assert!(known < 0.5 * past, "known in advance: MAE {known:.3}; as a past input: {past:.3}");
    // The linear baseline reads a known covariate over the forecast block too: y = c, nearly exactly.
    assert!(linear_past > 0.2 && linear_known < 0.02, "linear MAE known {linear_known:.4}, past {linear_past:.4}");
}

fn temp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("lstm-transfer-forecast-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

#[test]
fn the_cli_trains_fine_tunes_from_another_series_and_refuses_bad_windows() {
    let csv = temp("two.csv");
    let mut text = String::from("unique_id,ds,y\n");
    for (id, phase) in [("A", 0.0), ("B", 1.0)] {
        for (t, v) in series(400, phase).values[0].iter().enumerate() {
            text += &format!("{id},{t},{v}\n");
        }
    }
    std::fs::write(&csv, text).unwrap();
    let (csv, a, b) = (csv.display().to_string(), temp("a.safetensors").display().to_string(), temp("b.safetensors").display().to_string());
    let common = [
        "forecast", "--data", &csv, "--time-col", "ds", "--series-col", "unique_id", "--window", "30", "--horizon", "6", "--season", "24",
        "--test-len", "48", "--valid-len", "48", "--hidden", "12", "--epochs", "4", "--format", "json",
    ];
    let run = |extra: &[&str]| bin().args(common).args(extra).output().unwrap();
    let out = run(&["--series", "A", "--out", &a]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(v["metrics"]["mase"].as_f64().unwrap().is_finite() && v["metrics"]["points"] == 48);
    assert!(temp("a.forecast.svg").exists() && temp("a.metrics.json").exists());
    let out = run(&["--series", "B", "--train-len", "120", "--from", &a, "--out", &b]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!((v["train_steps"].as_u64(), v["from"].as_str()), (Some(120), Some(a.as_str())));
    // A different horizon cannot start from A's model; a window longer than the series is refused.
    let out = bin()
        .args([
            "forecast",
            "--data",
            &csv,
            "--series-col",
            "unique_id",
            "--series",
            "B",
            "--window",
            "30",
            "--horizon",
            "12",
            "--from",
            &a,
            "--out",
            &temp("c.safetensors").display().to_string(),
        ])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("forecasts 6 steps"), "{err}");
    let out = bin()
        .args([
            "forecast",
            "--data",
            &csv,
            "--series-col",
            "unique_id",
            "--series",
            "A",
            "--window",
            "500",
            "--out",
            &temp("d.safetensors").display().to_string(),
        ])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("too short") && !err.contains("panicked"), "{err}");

    // The residual to the linear baseline: trained, scored, forecast past the end, and only
    // fine-tuned from a model that learnt the same way.
    let lin = temp("lin.safetensors").display().to_string();
    let out = run(&["--series", "A", "--linear-residual", "--predict", "6", "--out", &lin]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(v["config"]["linear_residual"].is_object() && v["metrics"]["mae"].as_f64().unwrap().is_finite(), "{v}");
    let predicted = std::fs::read_to_string(temp("lin.predict.csv")).unwrap();
    assert_eq!(predicted.lines().count(), 7, "{predicted}");
    let e = temp("e.safetensors").display().to_string();
    let out = run(&["--series", "B", "--train-len", "120", "--from", &a, "--linear-residual", "--out", &e]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("did not learn the residual to the linear baseline"), "{err}");
    let out = run(&["--series", "A", "--linear-residual", "--seasonal-residual", "on", "--out", &e]);
    assert!(!out.status.success() && String::from_utf8_lossy(&out.stderr).contains("cannot be used with"));

    // Six steps per LSTM step, asinh scaling: trained, saved, and loaded by the predictor, which
    // forecasts the same values as the CLI; a source of another fold or scaling is refused.
    let folded = temp("fold.safetensors");
    let out = run(&["--series", "A", "--fold", "6", "--scaling", "asinh", "--predict", "6", "--out", &folded.display().to_string()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(v["config"]["fold"] == 6 && v["metrics"]["mae"].as_f64().unwrap() < v["metrics"]["naive_mae"].as_f64().unwrap(), "{v}");
    let mut predictor = ForecastPredictor::load(&folded).unwrap();
    assert_eq!((predictor.info().config.inputs, predictor.info().columns(), predictor.info().scaler.scaling), (6, 1, Scaling::Asinh));
    let history = &series(400, 0.0).values[0];
    let ours = predictor.forecast(history, 6).unwrap();
    let written = std::fs::read_to_string(temp("fold.predict.csv")).unwrap();
    let cli: Vec<f64> = written.lines().skip(1).map(|l| l.split(',').nth(1).unwrap().parse().unwrap()).collect();
    for (h, (a, b)) in ours.iter().zip(&cli).enumerate() {
        assert!((a - b).abs() <= 1e-6 * b.abs().max(1.0), "step {h}: predictor {a}, CLI {b}");
    }
    let source = folded.display().to_string();
    for (other, expected) in
        [(["--fold", "3", "--scaling", "asinh"], "--fold 6"), (["--fold", "6", "--scaling", "zscore"], "--scaling asinh")]
    {
        let out = run(&[&["--series", "B", "--from", source.as_str(), "--out", e.as_str()][..], &other[..]].concat());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success() && err.contains(expected), "{other:?}: {err}");
    }

    // A seed ensemble: two members in one checkpoint, each scored alone too; the predictor forecasts
    // their mean (z-score scaling is linear, so the mean output is the mean forecast); it cannot be
    // a transfer's source.
    let ens = temp("ens.safetensors");
    let out = run(&["--series", "A", "--ensemble", "2", "--out", &ens.display().to_string()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!((v["members"].as_array().unwrap().len(), v["members"][1]["seed"].as_u64()), (2, Some(2)), "{v}");
    let each: Vec<f64> = v["member_mae"].as_array().unwrap().iter().map(|m| m.as_f64().unwrap()).collect();
    assert!(each.len() == 2 && each[0] != each[1], "two different members: {each:?}");
    let ctx = gpu();
    let (info, tensors) = timeseries::load_forecaster(&ens).unwrap();
    assert!(info.members == 2 && tensors.contains_key("member2.fc.weight") && tensors.contains_key("fc.weight"));
    let alone: Vec<Vec<f64>> = (0..2)
        .map(|k| {
            let mut model = Forecaster::new(ctx, info.config, 1, info.forecast.lstm_steps(), 0).unwrap();
            model.load_params(ctx, &member_tensors(&tensors, k)).unwrap();
            forecast_ahead(ctx, std::slice::from_mut(&mut model), &series(400, 0.0), &info.scaler, &info.forecast, 6).unwrap()
        })
        .collect();
    let together = ForecastPredictor::load(&ens).unwrap().forecast(history, 6).unwrap();
    for h in 0..6 {
        let mean = 0.5 * (alone[0][h] + alone[1][h]);
        assert!(alone[0][h] != alone[1][h] && (together[h] - mean).abs() <= 1e-5 * mean.abs(), "step {h}: {together:?} vs {alone:?}");
    }
    let out = run(&["--series", "B", "--from", &ens.display().to_string(), "--out", &e]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("an ensemble of 2 forecasters"), "{err}");
    let out = run(&["--series", "B", "--from", &a, "--ensemble", "2", "--out", &e]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("cannot be combined with --from or --lr-find"), "{err}");

    let out = run(&["--series", "A", "--fold", "7", "--out", &e]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("invalid fold") && err.contains("divisor of --window 30, got 7"), "{err}");
}

#[test]
fn forecast_writes_the_next_steps_with_their_dates_and_fills_a_skipped_hour() {
    // Monthly dates: the forecast past the end names the following months (calendar months, not 31 days).
    let mut monthly = String::from("ds,y\n");
    for m in 0..96 {
        monthly += &format!("{}-{:02}-01,{}\n", 2000 + m / 12, m % 12 + 1, 100.0 + 10.0 * ((m % 12) as f64).sin());
    }
    let csv = temp("monthly.csv");
    std::fs::write(&csv, monthly).unwrap();
    let out = temp("monthly.safetensors");
    let args =
        ["--window", "12", "--horizon", "6", "--season", "12", "--test-len", "12", "--valid-len", "12", "--epochs", "2", "--hidden", "8"];
    let status = bin()
        .args(["forecast", "--data", csv.to_str().unwrap(), "--out", out.to_str().unwrap(), "--predict", "9"])
        .args(args)
        .output()
        .unwrap();
    assert!(status.status.success(), "{}", String::from_utf8_lossy(&status.stderr));
    let predicted = std::fs::read_to_string(temp("monthly.predict.csv")).unwrap();
    let rows: Vec<&str> = predicted.lines().collect();
    assert_eq!(rows[0], "ds,y_forecast");
    assert_eq!(rows.len(), 1 + 9, "9 steps: 6 direct, 3 more fed back (a series without covariates)");
    assert!(rows[1].starts_with("2008-01-01,") && rows[9].starts_with("2008-09-01,"), "{predicted}");
    let written: Vec<f64> = rows[1..].iter().map(|r| r.split(',').nth(1).unwrap().parse::<f64>().unwrap()).collect();
    assert!(written.iter().all(|v| v.is_finite()), "{predicted}");
    // By default both ways are trained (values, residual to the seasonal naive) and the one with the
    // lower validation MSE kept, as the output and metrics say.
    let said = String::from_utf8_lossy(&status.stdout);
    assert!(
        said.contains("learning the values") && said.contains("learning the residual") && said.contains("kept --seasonal-residual"),
        "{said}"
    );
    let metrics: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(temp("monthly.metrics.json")).unwrap()).unwrap();
    assert!(metrics["seasonal_residual"].is_boolean() && metrics["config"]["window"] == 12, "{metrics}");
    // The plot names the months on its time axis and shows history before the tail.
    let svg = std::fs::read_to_string(temp("monthly.forecast.svg")).unwrap();
    assert!(svg.contains("after 12 steps of history") && svg.contains(">\n2006-"), "dates on the x axis");

    // The Rust API forecasts the same values from the same history, blocking or polled.
    let history: Vec<f64> = (0..96).map(|m| 100.0 + 10.0 * ((m % 12) as f64).sin()).collect();
    let mut predictor = ForecastPredictor::load(&out).unwrap();
    let blocking = predictor.forecast(&history, 9).unwrap();
    for (i, (w, b)) in written.iter().zip(&blocking).enumerate() {
        assert!((w - b).abs() <= 1e-6 * w.abs(), "step {i}: CLI {w}, API {b}");
    }
    let mut pending = predictor.submit(&history).unwrap();
    let polled = loop {
        if let Some(values) = pending.poll().unwrap() {
            break values;
        }
        std::thread::yield_now();
    };
    assert_eq!(polled.len(), predictor.horizon());
    for (i, (p, b)) in polled.iter().zip(&blocking).enumerate() {
        assert!((p - b).abs() <= 1e-6 * b.abs(), "step {i}: polled {p}, blocking {b}");
    }
    let short = predictor.forecast(&history[..5], 3).unwrap_err().to_string();
    assert!(short.contains("12 steps of history") && short.contains("has 5"), "{short}");
    let mut with_nan = history.clone();
    with_nan[40] = f64::NAN;
    assert!(predictor.forecast(&with_nan, 3).unwrap_err().to_string().contains("step 40 is NaN"));

    // Hourly local time whose clock skips 02:00 (a daylight-saving switch).
    let mut hourly = String::from("ds,y\n");
    for h in 0..200 {
        if h == 50 {
            continue;
        }
        hourly += &format!("2020-03-{:02} {:02}:00,{}\n", 1 + h / 24, h % 24, (h % 24) as f64);
    }
    let csv = temp("hourly.csv");
    std::fs::write(&csv, hourly).unwrap();
    let common = ["forecast", "--data", csv.to_str().unwrap(), "--window", "24", "--horizon", "6", "--epochs", "1", "--hidden", "4"];
    let refused = bin().args(common).args(["--out", temp("h1.safetensors").to_str().unwrap()]).output().unwrap();
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(
        !refused.status.success() && err.contains("a gap between '2020-03-03 01:00' and '2020-03-03 03:00'") && err.contains("--fill-gaps"),
        "{err}"
    );
    let filled = bin().args(common).args(["--fill-gaps", "linear", "--out", temp("h2.safetensors").to_str().unwrap()]).output().unwrap();
    let said = String::from_utf8_lossy(&filled.stdout);
    assert!(filled.status.success() && said.contains("filled 1 missing steps"), "{said}{}", String::from_utf8_lossy(&filled.stderr));
    let too_long = bin()
        .args(common)
        .args(["--fill-gaps", "previous", "--max-gap", "0", "--out", temp("h3.safetensors").to_str().unwrap()])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&too_long.stderr);
    assert!(!too_long.status.success() && err.contains("more than --max-gap 0"), "{err}");
}

#[test]
fn transfer_between_series_beats_scratch_on_a_target_with_the_sources_dynamics_and_few_steps() {
    use lstm_transfer::experiment::series::{Learn, SeriesGridConfig, SeriesMethod, SeriesRef, run_series_grid, source_path};
    use lstm_transfer::experiment::series_report::{FILES, write_series_report};
    use lstm_transfer::tasks::forecast::SeriesSpec;

    // B is A in other units (×10 + 5): the same dynamics, which 18 training steps of B cannot teach.
    let csv = temp("grid.csv");
    let a = series(700, 0.0).values[0].clone();
    let mut text = String::from("unique_id,ds,y\n");
    for (id, scale, shift) in [("A", 1.0, 0.0), ("B", 10.0, 5.0)] {
        for (t, v) in a.iter().enumerate() {
            text += &format!("{id},{t},{}\n", v * scale + shift);
        }
    }
    std::fs::write(&csv, text).unwrap();
    let out = temp("grid");
    let cfg = SeriesGridConfig {
        source: SeriesRef { data: csv.clone(), series: Some("A".into()) },
        target: SeriesRef { data: csv.clone(), series: Some("B".into()) },
        columns: SeriesSpec {
            time_col: "ds".into(),
            target_col: "y".into(),
            series_col: Some("unique_id".into()),
            max_gap: 3,
            ..Default::default()
        },
        source_checkpoint: None,
        window: 30,
        horizon: 6,
        season: 24,
        fold: 1,
        scaling: Scaling::Zscore,
        test_len: 48,
        source_valid_len: 48,
        lengths: vec![24],
        seeds: vec![1, 2],
        methods: SeriesMethod::ALL.to_vec(),
        learn: Learn::SeasonalResidual,
        hidden: 16,
        layers: 1,
        source_epochs: 15,
        epochs: 3,
        patience: 3,
        batch_size: 32,
        lr: 1e-2,
        lower_rate_factor: 10.0,
    };
    let ctx = gpu();
    let mut saved = 0;
    let runs = run_series_grid(
        ctx,
        &cfg,
        &out,
        &mut |r| {
            saved = r.len();
            Ok(())
        },
        &mut |_| {},
    )
    .unwrap();
    assert_eq!((runs.len(), saved), (14, 14));
    let mae = |method: &str, seed: u64| runs.iter().find(|r| r.method == method && r.seed == seed).unwrap().mae;
    for seed in [1, 2] {
        let scratch = mae("scratch", seed);
        assert!(runs.iter().all(|r| r.mae.is_finite() && r.length == 24 && r.naive_mae > 0.0));
        for method in ["source-only", "init", "frozen-lstm", "lower-rate", "joint", "joint-balanced"] {
            assert!(mae(method, seed) < 0.8 * scratch, "seed {seed}: {method} MAE {} vs scratch {scratch}", mae(method, seed));
        }
    }
    // The source model applied as it is does not depend on the seed.
    assert_eq!(mae("source-only", 1), mae("source-only", 2));
    // A fine-tuning run measured the source before training; one that kept it forecasts as the source does.
    for r in &runs {
        match r.method.as_str() {
            "scratch" | "joint" | "joint-balanced" => assert!(!r.kept_source && r.start_mse.is_none(), "{r:?}"),
            "source-only" => assert!(r.kept_source && r.start_mse.is_none(), "{r:?}"),
            _ => assert!(r.start_mse.is_some_and(f64::is_finite), "{r:?}"),
        }
        if r.kept_source {
            assert_eq!(r.mae, mae("source-only", r.seed), "{r:?}");
        }
    }
    let md = write_series_report(&out, &runs, "test").unwrap();
    assert!(md.contains("| B from A | 24 |"), "{md}");
    assert!(FILES.iter().chain(&["config.json"]).all(|f| out.join(f).is_file()));

    // The source written by the grid serves again; one of another horizon is refused, naming it.
    let again = SeriesGridConfig {
        source_checkpoint: Some(source_path(&out)),
        methods: vec![SeriesMethod::Scratch, SeriesMethod::SourceOnly],
        seeds: vec![1],
        ..cfg.clone()
    };
    let runs2 = run_series_grid(ctx, &again, &temp("grid2"), &mut |_| Ok(()), &mut |_| {}).unwrap();
    assert_eq!(runs2[1].mae, mae("source-only", 1));
    // joint trains on the source series' windows: a checkpoint alone cannot serve it.
    let joint = SeriesGridConfig { methods: vec![SeriesMethod::Scratch, SeriesMethod::Joint], ..again.clone() };
    let err = run_series_grid(ctx, &joint, &temp("grid6"), &mut |_| Ok(()), &mut |_| {}).unwrap_err().to_string();
    assert!(err.contains("joint") && err.contains("--source-model"), "{err}");
    let other = SeriesGridConfig { horizon: 12, ..again.clone() };
    let err = run_series_grid(ctx, &other, &temp("grid3"), &mut |_| Ok(()), &mut |_| {}).unwrap_err().to_string();
    assert!(err.contains("source.safetensors") && err.contains("forecasting 6 steps"), "{err}");
    // Nor does a source that learned the seasonal residual serve a grid over the source's linear base.
    let linear_from_seasonal = SeriesGridConfig { learn: Learn::SourceLinearResidual, ..again };
    let err = run_series_grid(ctx, &linear_from_seasonal, &temp("grid4"), &mut |_| Ok(()), &mut |_| {}).unwrap_err().to_string();
    assert!(err.contains("learning SeasonalResidual") && err.contains("learning SourceLinearResidual"), "{err}");

    // The source's linear base carried to B (fitted on A's 600 steps, applied in B's own scaling):
    // every run reads it, and it holds the dynamics the seasonal naive misses.
    let linear = SeriesGridConfig {
        learn: Learn::SourceLinearResidual,
        methods: vec![SeriesMethod::Scratch, SeriesMethod::SourceOnly],
        seeds: vec![1],
        ..cfg.clone()
    };
    let runs = run_series_grid(ctx, &linear, &temp("grid5"), &mut |_| Ok(()), &mut |_| {}).unwrap();
    assert_eq!(runs.len(), 2);
    for r in &runs {
        assert!(r.mae.is_finite() && r.mae < 0.5 * r.naive_mae, "{r:?}");
    }
}

#[test]
fn fine_tuning_that_only_hurts_on_validation_keeps_the_starting_model() {
    use lstm_transfer::tasks::forecast::StartPoint;
    let ctx = gpu();
    let (s, cfg) = (series(700, 0.0), ForecastConfig { epochs: 8, ..config() });
    let (train_end, _) = timeseries::boundaries(s.len(), &cfg).unwrap();
    let scaler = Scaler::fit(&s, 0, train_end);
    let scaled = scaler.scale(&s);
    let shape = ForecasterConfig { inputs: 1, hidden: 16, layers: 1, horizon: 6 };
    // A fresh model: training beats its starting point, which is not kept.
    let mut model = Forecaster::new(ctx, shape, 32, 30, 3).unwrap();
    let start = StartPoint::measure(ctx, &mut model, &scaled, &cfg).unwrap().expect("validation windows");
    let logs = timeseries::fit(ctx, &mut model, &scaled, &cfg, &mut ()).unwrap();
    assert!(!start.keep_if_better(ctx, &model, &logs).unwrap());
    let (_, trained) = timeseries::evaluate(ctx, std::slice::from_mut(&mut model), &s, &scaler, &cfg).unwrap();
    // Fine-tuning at a rate that wrecks it: no epoch beats the start, which is put back exactly.
    let wreck = ForecastConfig { optim: OptimConfig::adam(3.0, 1e6), epochs: 2, ..cfg.clone() };
    let start = StartPoint::measure(ctx, &mut model, &scaled, &wreck).unwrap().expect("validation windows");
    let logs = timeseries::fit(ctx, &mut model, &scaled, &wreck, &mut ()).unwrap();
    assert!(logs.iter().all(|l| l.valid_mse > start.mse), "the rate should wreck it: {logs:?} vs {}", start.mse);
    assert!(start.keep_if_better(ctx, &model, &logs).unwrap());
    let (_, kept) = timeseries::evaluate(ctx, std::slice::from_mut(&mut model), &s, &scaler, &cfg).unwrap();
    assert_eq!(kept.mae, trained.mae);
}

#[test]
fn a_short_series_learns_from_the_windows_of_a_long_one_trained_beside_it() {
    // B is A in other units (×10 + 5) with the same dynamics; B trains on its last 60 steps only.
    // C's clock runs 200 steps later: its training part reaches B's held-out tail.
    let csv = temp("with.csv");
    let a = series(400, 0.0).values[0].clone();
    let mut text = String::from("unique_id,ds,y\n");
    for (id, scale, shift, start) in [("A", 1.0, 0.0, 0), ("B", 10.0, 5.0, 0), ("C", 1.0, 0.0, 200)] {
        for (t, v) in a.iter().enumerate() {
            text += &format!("{id},{},{}\n", t + start, v * scale + shift);
        }
    }
    std::fs::write(&csv, text).unwrap();
    let csv = csv.display().to_string();
    let run = |name: &str, extra: &[&str]| {
        let out = temp(&format!("{name}.safetensors")).display().to_string();
        let common = [
            "forecast", "--data", &csv, "--series-col", "unique_id", "--series", "B", "--train-len", "60", "--window", "30", "--horizon",
            "6", "--season", "24", "--test-len", "48", "--valid-len", "48", "--hidden", "16", "--epochs", "12", "--seasonal-residual",
            "off", "--format", "json", "--out", &out,
        ];
        bin().args(common).args(extra).output().unwrap()
    };
    let mae = |out: &std::process::Output| {
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        (v["metrics"]["mae"].as_f64().unwrap(), v["with_series"].clone())
    };
    let (alone, none) = mae(&run("alone", &[]));
    let (with_a, named) = mae(&run("with_a", &["--with-series", "A"]));
    assert_eq!((none, named), (serde_json::json!([]), serde_json::json!(["A"])));
    assert!(with_a < 0.8 * alone, "B with A's windows: MAE {with_a}, alone {alone}");
    for (extra, expected) in [
        (&["--with-series", "B"][..], "not the --series forecast"),
        (&["--with-series", "A,A"][..], "each extra series once"),
        (&["--with-series", "Z"][..], "--with-series Z"),
        (&["--with-series", "C"][..], "past the start of the held-out tail"),
        (&["--with-series", "A", "--lr-find"][..], "leave out --with-series"),
    ] {
        let out = run("refused", extra);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success() && err.contains(expected) && !err.contains("panicked"), "{extra:?}: {err}");
    }
}
