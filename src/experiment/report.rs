//! The experiment's outputs: `results.json` (every run), `report.md` (mean ± std per cell, the
//! difference to scratch with a paired 95% interval over seeds, flags for significant gains `*` and
//! negative transfer `!`), `accuracy_vs_budget.svg` and `learning_curves.svg`.

use std::collections::BTreeMap;
use std::path::Path;

use super::RunResult;
use crate::error::Result;
use crate::fsutil::write_atomic;
use crate::plot::{Panel, Series, XAxis, write_line_chart};

/// Two-sided 95% quantiles of Student's t for 1..=30 degrees of freedom (1.96 beyond).
const T975: [f64; 30] = [
    12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093,
    2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042,
];

/// Mean and sample standard deviation (0 with one value).
pub fn mean_std(v: &[f64]) -> (f64, f64) {
    let n = v.len() as f64;
    let mean = v.iter().sum::<f64>() / n.max(1.0);
    let var = if v.len() > 1 { v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0) } else { 0.0 };
    (mean, var.sqrt())
}

/// 95% half-width of the mean of `k` values with sample standard deviation `sd` (Student's t;
/// None with fewer than two values).
fn half_width(sd: f64, k: usize) -> Option<f64> {
    (k >= 2).then(|| T975.get(k - 2).copied().unwrap_or(1.96) * sd / (k as f64).sqrt())
}

/// Mean and 95% half-width of paired differences (None with fewer than two pairs).
pub fn paired_interval(diffs: &[f64]) -> (f64, Option<f64>) {
    let (mean, sd) = mean_std(diffs);
    (mean, half_width(sd, diffs.len()))
}

/// What a grid's runs are scored by, and how a report shows it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Metric {
    /// Its name in the report and on the plot's y axis.
    pub label: &'static str,
    /// Values are shown multiplied by this (100: a fraction shown in %).
    pub display_scale: f64,
    /// Decimals shown.
    pub decimals: usize,
    /// A gain is a higher value (accuracy) or a lower one (an error).
    pub higher_is_better: bool,
    /// What the budget counts (the plot's x axis)…
    pub budget: &'static str,
    /// …and its symbol in the table.
    pub budget_symbol: &'static str,
}

/// The text experiment's metric.
pub const ACCURACY: Metric = Metric {
    label: "test accuracy (%)",
    display_scale: 100.0,
    decimals: 1,
    higher_is_better: true,
    budget: "labelled target rows",
    budget_symbol: "n",
};

/// One run as [`summarize_scores`] reads it.
#[derive(Clone, Copy, Debug)]
pub struct Scored<'a> {
    /// Target name.
    pub target: &'a str,
    /// Labelled target rows (or steps) of the run.
    pub budget: usize,
    /// Method name; `scratch` is what the others are paired with.
    pub method: &'a str,
    /// The seed (pairs runs across methods).
    pub seed: u64,
    /// The run's score in the metric's units.
    pub score: f64,
    /// DANN: the proxy A-distance.
    pub proxy_a_distance: Option<f64>,
}

/// Summary of one (target, budget, method) cell.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Cell {
    /// Target name.
    pub target: String,
    /// Labelled target rows per run.
    pub budget: usize,
    /// Transfer method.
    pub method: String,
    /// Runs (seeds) in the cell.
    pub runs: usize,
    /// Mean score over the runs (for accuracy a fraction).
    pub mean: f64,
    /// Sample standard deviation of the score (0 with one run).
    pub std: f64,
    /// Mean difference in score to scratch, paired by seed (None for scratch itself or without
    /// scratch runs).
    pub delta: Option<f64>,
    /// 95% half-width of `delta` (Student's t; None with fewer than two pairs).
    pub delta_half_width: Option<f64>,
    /// The interval lies on the better side of 0 (a clear gain: above for accuracy, below for an error).
    pub significant_gain: bool,
    /// The interval lies on the worse side of 0 (negative transfer).
    pub negative_transfer: bool,
    /// DANN: mean proxy A-distance over the runs that report one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub proxy_a_distance: Option<f64>,
}

/// Cells of the text experiment's runs, scored by test accuracy.
pub fn summarize(results: &[RunResult]) -> Vec<Cell> {
    let scored: Vec<Scored> = results
        .iter()
        .map(|r| Scored {
            target: &r.target,
            budget: r.budget,
            method: &r.method,
            seed: r.seed,
            score: r.test_accuracy,
            proxy_a_distance: r.proxy_a_distance,
        })
        .collect();
    summarize_scores(&scored, ACCURACY)
}

/// Cells in (target, budget, method-order) order; gains and negative transfer in `metric`'s direction.
pub fn summarize_scores(results: &[Scored], metric: Metric) -> Vec<Cell> {
    let mut methods: Vec<&str> = Vec::new();
    for r in results {
        if !methods.contains(&r.method) {
            methods.push(r.method);
        }
    }
    let mut groups: BTreeMap<(&str, usize), Vec<&Scored>> = BTreeMap::new();
    for r in results {
        groups.entry((r.target, r.budget)).or_default().push(r);
    }
    // A difference to scratch that is a gain is positive after this sign.
    let better = if metric.higher_is_better { 1.0 } else { -1.0 };
    let mut cells = Vec::new();
    for ((target, budget), runs) in groups {
        let scratch: BTreeMap<u64, f64> = runs.iter().filter(|r| r.method == "scratch").map(|r| (r.seed, r.score)).collect();
        for m in &methods {
            let mine: Vec<&&Scored> = runs.iter().filter(|r| r.method == *m).collect();
            if mine.is_empty() {
                continue;
            }
            let scores: Vec<f64> = mine.iter().map(|r| r.score).collect();
            let (mean, std) = mean_std(&scores);
            let diffs: Vec<f64> = mine.iter().filter_map(|r| scratch.get(&r.seed).map(|s| r.score - s)).collect();
            let (delta, half) = if *m != "scratch" && !diffs.is_empty() {
                let (d, h) = paired_interval(&diffs);
                (Some(d), h)
            } else {
                (None, None)
            };
            let pads: Vec<f64> = mine.iter().filter_map(|r| r.proxy_a_distance).collect();
            cells.push(Cell {
                target: target.to_string(),
                budget,
                method: m.to_string(),
                runs: mine.len(),
                mean,
                std,
                delta,
                delta_half_width: half,
                significant_gain: matches!((delta, half), (Some(d), Some(h)) if better * d - h > 0.0),
                negative_transfer: matches!((delta, half), (Some(d), Some(h)) if better * d + h < 0.0),
                proxy_a_distance: (!pads.is_empty()).then(|| mean_std(&pads).0),
            });
        }
    }
    cells
}

/// The markdown table: one row per (target, budget), one column per method.
pub fn markdown(cells: &[Cell], title: &str, adapter: &str, metric: Metric) -> String {
    let mut methods: Vec<&str> = Vec::new();
    for c in cells {
        if !methods.contains(&c.method.as_str()) {
            methods.push(&c.method);
        }
    }
    let (gain_side, loss_side) = if metric.higher_is_better { ("above", "below") } else { ("below", "above") };
    let mut s = format!(
        "# {title}\n\n{} mean ± std over seeds; [Δ vs scratch ± 95% half-width, paired by seed]; \
         `*` the interval lies {gain_side} 0 (a gain), `!` {loss_side} 0 (negative transfer). Adapter: {adapter}.\n\n",
        capitalize(metric.label)
    );
    let (k, d) = (metric.display_scale, metric.decimals);
    let n = metric.budget_symbol;
    s += &format!("| target | {n} | {} |\n|---|---:|{}\n", methods.join(" | "), "---|".repeat(methods.len()));
    let mut rows: Vec<(&str, usize)> = Vec::new();
    for c in cells {
        if !rows.contains(&(c.target.as_str(), c.budget)) {
            rows.push((&c.target, c.budget));
        }
    }
    for (target, budget) in rows {
        s += &format!("| {target} | {budget} |");
        for m in &methods {
            match cells.iter().find(|c| c.target == target && c.budget == budget && c.method == *m) {
                Some(c) => {
                    s += &format!(" {:.d$} ± {:.d$}", k * c.mean, k * c.std);
                    if let Some(delta) = c.delta {
                        let flag = if c.significant_gain {
                            "*"
                        } else if c.negative_transfer {
                            "!"
                        } else {
                            ""
                        };
                        match c.delta_half_width {
                            Some(h) => s += &format!(" [{:+.d$} ± {:.d$}{flag}]", k * delta, k * h),
                            None => s += &format!(" [{:+.d$}]", k * delta),
                        }
                    }
                    if let Some(p) = c.proxy_a_distance {
                        s += &format!(" (PAD {p:.2})");
                    }
                    s += " |";
                }
                None => s += " – |",
            }
        }
        s += "\n";
    }
    let negatives: Vec<String> =
        cells.iter().filter(|c| c.negative_transfer).map(|c| format!("{} at {n}={} on {}", c.method, c.budget, c.target)).collect();
    s += &format!("\nNegative transfer: {}.\n", if negatives.is_empty() { "none significant".into() } else { negatives.join("; ") });
    s
}

fn capitalize(s: &str) -> String {
    let mut chars = s.chars();
    chars.next().map(|c| c.to_uppercase().chain(chars).collect()).unwrap_or_default()
}

/// Every file the report writes into the output directory.
pub const FILES: [&str; 5] = ["results.json", "report.md", "summary.json", "accuracy_vs_budget.svg", "learning_curves.svg"];

/// Writes `results.json` (the runs) atomically.
pub fn write_results(out: &Path, results: &[RunResult]) -> Result<()> {
    write_atomic(&out.join("results.json"), serde_json::to_string_pretty(results).expect("results serialize").as_bytes())
}

/// Writes every output; returns the markdown table.
pub fn write_report(out: &Path, results: &[RunResult], adapter: &str) -> Result<String> {
    write_results(out, results)?;
    let cells = summarize(results);
    let md = markdown(&cells, "Transfer experiment", adapter, ACCURACY) + &super::check_report::markdown(results, &cells);
    write_atomic(&out.join("report.md"), md.as_bytes())?;
    write_atomic(&out.join("summary.json"), serde_json::to_string_pretty(&cells).expect("cells serialize").as_bytes())?;
    write_budget_chart(&out.join("accuracy_vs_budget.svg"), &cells, ACCURACY)?;
    write_learning_curves(&out.join("learning_curves.svg"), results)?;
    Ok(md)
}

/// `accuracy_vs_budget.svg` (or another metric's): a panel per target, a line per method over the
/// budgets, each point with the 95% interval of its mean over seeds (Student's t; none with one seed).
pub fn write_budget_chart(path: &Path, cells: &[Cell], metric: Metric) -> Result<()> {
    let k = metric.display_scale;
    let mut targets: Vec<&str> = cells.iter().map(|c| c.target.as_str()).collect();
    targets.dedup();
    let panels: Vec<Panel> = targets
        .iter()
        .map(|t| {
            let mut series: Vec<Series> = Vec::new();
            for c in cells.iter().filter(|c| c.target == *t) {
                let (point, error) = ((c.budget as f64, k * c.mean), k * half_width(c.std, c.runs).unwrap_or(0.0));
                match series.iter_mut().find(|s| s.name == c.method) {
                    Some(s) => {
                        s.points.push(point);
                        s.errors.push(error);
                    }
                    None => series.push(Series::new(c.method.clone(), vec![point]).with_errors(vec![error])),
                }
            }
            Panel::new(*t, metric.budget, format!("{}, 95% interval over seeds", metric.label), series)
        })
        .collect();
    write_line_chart(path, &format!("{} vs {}", metric.label, metric.budget), &panels)
}

/// `learning_curves.svg` at the smallest budget: training loss, validation loss and validation
/// accuracy per epoch, each the mean over targets and seeds. A method's line ends where its first
/// run stopped early, so every point is a mean over the same runs. The training loss stays readable
/// when the validation set has a few rows.
fn write_learning_curves(path: &Path, results: &[RunResult]) -> Result<()> {
    let smallest = results.iter().map(|r| r.budget).min().unwrap_or(0);
    let runs: Vec<&RunResult> = results.iter().filter(|r| r.budget == smallest && !r.curve.is_empty()).collect();
    // The same method order (and so the same colours) as the accuracy plot: the order of first appearance.
    let mut methods: Vec<&str> = Vec::new();
    for r in results {
        if !methods.contains(&r.method.as_str()) {
            methods.push(&r.method);
        }
    }
    let panel = |title: &str, y_label: &str, scale: f64, curve: fn(&RunResult) -> &[f64]| {
        let series = methods
            .iter()
            .map(|m| {
                let mine: Vec<&[f64]> = runs.iter().filter(|r| r.method == *m).map(|r| curve(r)).collect();
                Series::new(*m, mean_curve(&mine).into_iter().enumerate().map(|(i, v)| ((i + 1) as f64, scale * v)).collect())
            })
            .collect();
        Panel::new(title, "epoch", y_label, series).with_x_axis(XAxis::Integers)
    };
    let panels = [
        panel("training loss", "cross-entropy", 1.0, |r| &r.train_loss_curve),
        panel("validation loss", "cross-entropy", 1.0, |r| &r.valid_loss_curve),
        panel("validation accuracy", "accuracy (%)", 100.0, |r| &r.curve),
    ];
    write_line_chart(path, &format!("learning curves at n = {smallest}, mean over targets and seeds"), &panels)
}

/// The mean of several curves point by point, as far as the shortest reaches (a run stopped early
/// ends its method's mean there), so every point is a mean over the same runs.
fn mean_curve(curves: &[&[f64]]) -> Vec<f64> {
    let len = curves.iter().map(|c| c.len()).min().unwrap_or(0);
    (0..len).map(|i| curves.iter().map(|c| c[i]).sum::<f64>() / curves.len() as f64).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(method: &str, seed: u64, acc: f64) -> RunResult {
        RunResult {
            target: "t".into(),
            budget: 50,
            seed,
            method: method.into(),
            test_accuracy: acc,
            test_macro_f1: acc,
            best_epoch: 1,
            curve: vec![acc],
            train_loss_curve: vec![1.0 - acc],
            valid_loss_curve: vec![1.0 - acc],
            seconds: 0.0,
            proxy_a_distance: None,
            check: None,
        }
    }

    #[test]
    fn paired_intervals_flag_gains_and_negative_transfer() {
        let results = vec![
            run("scratch", 1, 0.60),
            run("scratch", 2, 0.62),
            run("scratch", 3, 0.58),
            run("init", 1, 0.70),
            run("init", 2, 0.71),
            run("init", 3, 0.69),
            run("bad", 1, 0.50),
            run("bad", 2, 0.53),
            run("bad", 3, 0.49),
            run("same", 1, 0.61),
            run("same", 2, 0.60),
            run("same", 3, 0.59),
        ];
        let cells = summarize(&results);
        let get = |m: &str| cells.iter().find(|c| c.method == m).unwrap();
        assert!(get("init").significant_gain && !get("init").negative_transfer);
        assert!(get("bad").negative_transfer);
        assert!(!get("same").significant_gain && !get("same").negative_transfer);
        // init: diffs 0.10, 0.09, 0.11 → mean 0.10, sd 0.01, half-width 4.303 · 0.01 / √3.
        assert!((get("init").delta.unwrap() - 0.10).abs() < 1e-12);
        assert!((get("init").delta_half_width.unwrap() - 4.303 * 0.01 / 3f64.sqrt()).abs() < 1e-9);
        let md = markdown(&cells, "x", "test", ACCURACY);
        assert!(md.contains("| t | 50 |") && md.contains("Negative transfer: bad at n=50 on t."), "{md}");
    }
}
