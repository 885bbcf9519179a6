//! The series-transfer grid's outputs: `results.json` (every run), `report.md` (MAE mean ± std per
//! method and target length, the difference to scratch with a paired 95% interval over seeds, gains
//! `*` and negative transfer `!`; the two baselines per length), `summary.json` and
//! `mae_vs_length.svg` (each method's MAE over the lengths, the baselines beside them; the linear one
//! only where its MAE is under twice the naive's).

use std::path::Path;

use super::report::{Cell, Metric, Scored, markdown, mean_std, summarize_scores, write_budget_chart};
use super::series::SeriesRun;
use crate::error::Result;
use crate::fsutil::write_atomic;

/// Scored by the MAE on the target's held-out tail: lower is better.
pub const MAE: Metric = Metric {
    label: "MAE on the held-out tail",
    display_scale: 1.0,
    decimals: 3,
    higher_is_better: false,
    budget: "target steps L",
    budget_symbol: "L",
};

/// Every file the report writes into the output directory.
pub const FILES: [&str; 4] = ["results.json", "report.md", "summary.json", "mae_vs_length.svg"];

/// The baselines' names in the plot.
const NAIVE: &str = "seasonal naive";
const LINEAR: &str = "linear (lasso), where under 2x the naive's MAE";
/// The linear baseline fitted on a few days can be many times worse than the naive forecast; drawn
/// there it would squeeze every other line flat (the table keeps its value).
const LINEAR_DRAWN_BELOW: f64 = 2.0;

/// Writes `results.json` (the runs) atomically.
pub fn write_results(out: &Path, runs: &[SeriesRun]) -> Result<()> {
    write_atomic(&out.join("results.json"), serde_json::to_string_pretty(runs).expect("runs serialize").as_bytes())
}

/// The methods' cells (paired with scratch by seed).
pub fn summarize(runs: &[SeriesRun]) -> Vec<Cell> {
    let scored: Vec<Scored> = runs.iter().map(|r| scored(r, &r.method, r.mae)).collect();
    summarize_scores(&scored, MAE)
}

fn scored<'a>(r: &'a SeriesRun, method: &'a str, score: f64) -> Scored<'a> {
    Scored { target: &r.target, budget: r.length, method, seed: r.seed, score, proxy_a_distance: None }
}

/// Writes every output; returns the markdown.
pub fn write_series_report(out: &Path, runs: &[SeriesRun], adapter: &str) -> Result<String> {
    write_results(out, runs)?;
    let cells = summarize(runs);
    let mut md = markdown(&cells, "Transfer between series", adapter, MAE);
    md += &baselines_table(runs);
    write_atomic(&out.join("report.md"), md.as_bytes())?;
    write_atomic(&out.join("summary.json"), serde_json::to_string_pretty(&cells).expect("cells serialize").as_bytes())?;
    // The plot shows the baselines as two more lines (one run per seed, so their intervals are 0
    // where they do not depend on the seed).
    let mut all: Vec<Scored> = runs.iter().map(|r| scored(r, &r.method, r.mae)).collect();
    let scratch = runs.iter().filter(|r| r.method == "scratch");
    all.extend(scratch.clone().map(|r| scored(r, NAIVE, r.naive_mae)));
    all.extend(scratch.filter_map(|r| r.linear_mae.filter(|&v| v < LINEAR_DRAWN_BELOW * r.naive_mae).map(|v| scored(r, LINEAR, v))));
    write_budget_chart(&out.join("mae_vs_length.svg"), &summarize_scores(&all, MAE), MAE)?;
    Ok(md)
}

/// The baselines per target length: the seasonal naive and the linear model fitted on the same
/// training steps, with the best method's mean beside them.
fn baselines_table(runs: &[SeriesRun]) -> String {
    let mut rows: Vec<(&str, usize)> = Vec::new();
    for r in runs {
        if !rows.contains(&(r.target.as_str(), r.length)) {
            rows.push((&r.target, r.length));
        }
    }
    let mut s = String::from(
        "\nBaselines on the same tail (MAE), the linear one fitted on the same training steps; the best method's mean MAE \
         and its ratio to the better baseline:\n\n| target | L | seasonal naive | linear (lasso) | best method | ratio |\n|---|---:|---:|---:|---|---:|\n",
    );
    for (target, length) in rows {
        let here: Vec<&SeriesRun> = runs.iter().filter(|r| r.target == target && r.length == length).collect();
        let naive = here[0].naive_mae;
        let linear: Vec<f64> = here.iter().filter_map(|r| r.linear_mae).collect();
        let linear = (!linear.is_empty()).then(|| mean_std(&linear).0);
        let mut methods: Vec<&str> = Vec::new();
        for r in &here {
            if !methods.contains(&r.method.as_str()) {
                methods.push(&r.method);
            }
        }
        let best = methods
            .iter()
            .map(|m| (*m, mean_std(&here.iter().filter(|r| r.method == *m).map(|r| r.mae).collect::<Vec<_>>()).0))
            .min_by(|a, b| a.1.total_cmp(&b.1))
            .expect("a run");
        let baseline = linear.map_or(naive, |l| l.min(naive));
        s += &format!(
            "| {target} | {length} | {naive:.3} | {} | {} {:.3} | {} |\n",
            linear.map_or("n/a".into(), |v| format!("{v:.3}")),
            best.0,
            best.1,
            if baseline > 0.0 { format!("{:.3}", best.1 / baseline) } else { "n/a".into() }
        );
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(method: &str, seed: u64, mae: f64) -> SeriesRun {
        SeriesRun {
            target: "BE from FR".into(),
            length: 168,
            seed,
            method: method.into(),
            mae,
            rmse: mae,
            mase: None,
            naive_mae: 10.0,
            linear_mae: Some(12.0),
            epochs: 1,
            kept_source: false,
            start_mse: None,
            valid_curve: vec![1.0],
            seconds: 0.0,
        }
    }

    #[test]
    fn a_lower_error_is_the_gain_and_a_higher_one_negative_transfer() {
        let runs = vec![
            run("scratch", 1, 14.0),
            run("scratch", 2, 15.0),
            run("scratch", 3, 16.0),
            run("init", 1, 10.0),
            run("init", 2, 10.5),
            run("init", 3, 11.5),
            run("worse", 1, 17.0),
            run("worse", 2, 18.2),
            run("worse", 3, 18.9),
        ];
        let cells = summarize(&runs);
        let get = |m: &str| cells.iter().find(|c| c.method == m).unwrap();
        assert!(get("init").significant_gain && !get("init").negative_transfer, "{:?}", get("init"));
        assert!(get("worse").negative_transfer && !get("worse").significant_gain, "{:?}", get("worse"));
        // init − scratch: −4, −4.5, −4.5 → mean −4.333.
        assert!((get("init").delta.unwrap() + 13.0 / 3.0).abs() < 1e-12);
        let dir = tempfile::tempdir().unwrap();
        let md = write_series_report(dir.path(), &runs, "test").unwrap();
        assert!(md.contains("Negative transfer: worse at L=168 on BE from FR."), "{md}");
        assert!(md.contains("| BE from FR | 168 | 10.000 | 12.000 | init 10.667 | 1.067 |"), "{md}");
        assert!(md.contains("[-4.333 ±"), "{md}");
        for f in FILES {
            assert!(dir.path().join(f).is_file(), "{f}");
        }
    }
}
