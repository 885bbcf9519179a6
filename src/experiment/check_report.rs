//! The transferability check in the experiment report: per (target, budget) the check's figures
//! (the mean over the seeds' splits, each read before any training) beside the gain measured for
//! `init` over scratch (paired by seed), then how well each figure ranks those gains: Spearman's ρ
//! over every cell, and within each budget (across targets, where the budget itself cannot drive the
//! ranking), and which cells it flags for negative transfer.

use super::RunResult;
use super::report::{Cell, mean_std};
use crate::transfer::check::Transferability;

/// One figure of the check: its name in the report and how it is read from a check.
struct Figure {
    name: &'static str,
    read: fn(&Transferability) -> Option<f64>,
}

/// The figures, each expected to rise with the gain except the entropy and the proxy A-distance.
const FIGURES: [Figure; 7] = [
    Figure { name: "coverage", read: |c| Some(c.coverage.covered_occurrences) },
    Figure { name: "unknown-word trigrams", read: |c| Some(c.unknown_trigram_coverage) },
    Figure { name: "source confidence", read: |c| c.source_confidence },
    Figure { name: "source entropy", read: |c| c.source_entropy },
    Figure { name: "source accuracy", read: |c| c.source_accuracy },
    Figure { name: "LogME gain", read: |c| Some(c.logme_source - c.logme_random) },
    Figure { name: "PAD", read: |c| c.proxy_a_distance },
];

/// The `FIGURES` index of the LogME gain, whose sign flags negative transfer.
const LOGME_GAIN: usize = 5;

/// One (target, budget) row: mean figures over the checked splits, and the measured `init` cell.
struct Row<'a> {
    target: &'a str,
    budget: usize,
    /// Splits (seeds) whose check the figures average.
    checks: usize,
    figures: Vec<Option<f64>>,
    init: Option<&'a Cell>,
}

/// The report's section on the check; empty when no run carries one.
pub fn markdown(results: &[RunResult], cells: &[Cell]) -> String {
    let mut rows: Vec<Row> = Vec::new();
    for r in results.iter().filter(|r| r.check.is_some()) {
        if !rows.iter().any(|row| row.target == r.target && row.budget == r.budget) {
            let checks: Vec<&Transferability> =
                results.iter().filter(|o| o.target == r.target && o.budget == r.budget).filter_map(|o| o.check.as_ref()).collect();
            let figures = FIGURES
                .iter()
                .map(|f| {
                    let values: Vec<f64> = checks.iter().filter_map(|c| (f.read)(c)).filter(|v| v.is_finite()).collect();
                    (!values.is_empty()).then(|| mean_std(&values).0)
                })
                .collect();
            let init = cells.iter().find(|c| c.target == r.target && c.budget == r.budget && c.method == "init" && c.delta.is_some());
            rows.push(Row { target: &r.target, budget: r.budget, checks: checks.len(), figures, init });
        }
    }
    if rows.is_empty() {
        return String::new();
    }
    let mut s = String::from(
        "\n## Transferability check before training\n\nEach figure is the mean over the seeds' splits of `transfer --check` on \
         the split's n labels, read before any run (checks: the splits checked). Coverage: share of the target's token occurrences the source knows; \
         unknown-word trigrams: share of the unknown words' character trigrams found in the source's words; source \
         confidence / entropy / accuracy: the source classifier on the labelled rows; LogME gain: LogME of the started \
         model's features minus that of the same model at random (per row); PAD: proxy A-distance between source and \
         target rows. Measured: init − scratch in accuracy points (paired by seed, 95% half-width).\n\n",
    );
    let names: Vec<&str> = FIGURES.iter().map(|f| f.name).collect();
    s += &format!(
        "| target | n | checks | {} | measured: init − scratch |\n|---|---:|---:|{}---|\n",
        names.join(" | "),
        "---:|".repeat(names.len())
    );
    for row in &rows {
        let figures: Vec<String> = row.figures.iter().map(|f| f.map_or("–".into(), |v| format!("{v:.3}"))).collect();
        let measured = match row.init {
            Some(c) => match (c.delta, c.delta_half_width) {
                (Some(d), Some(h)) => format!("{:+.1} ± {:.1}", 100.0 * d, 100.0 * h),
                (Some(d), None) => format!("{:+.1}", 100.0 * d),
                _ => "–".into(),
            },
            None => "– (no init and scratch runs)".into(),
        };
        s += &format!("| {} | {} | {} | {} | {measured} |\n", row.target, row.budget, row.checks, figures.join(" | "));
    }

    // Spearman's ρ of each figure with the measured gains, over every cell and within each budget.
    let scored: Vec<&Row> = rows.iter().filter(|r| r.init.is_some()).collect();
    if scored.is_empty() {
        return s + "\nWithout init and scratch runs there is no measured gain to rank the figures against.\n";
    }
    let gain = |r: &Row| r.init.and_then(|c| c.delta).expect("filtered");
    let mut budgets: Vec<usize> = scored.iter().map(|r| r.budget).collect();
    budgets.sort_unstable();
    budgets.dedup();
    s += &format!(
        "\nSpearman's ρ between each figure and the measured gain ({} cells; within each n: the mean ρ over the budgets with \
         at least 3 targets; a figure that predicts the gain has ρ near +1, or near −1 for the entropy and PAD):\n\n",
        scored.len()
    );
    s += &format!("| | {} |\n|---|{}\n", names.join(" | "), "---:|".repeat(names.len()));
    let rho = |rows: &[&Row], k: usize| {
        let pairs: Vec<(f64, f64)> =
            rows.iter().filter_map(|r| r.figures[k].map(|f| (f, gain(r)))).filter(|(f, g)| f.is_finite() && g.is_finite()).collect();
        spearman(&pairs)
    };
    let all: Vec<String> = (0..FIGURES.len()).map(|k| rho(&scored, k).map_or("–".into(), |v| format!("{v:+.2}"))).collect();
    s += &format!("| all cells | {} |\n", all.join(" | "));
    let within: Vec<String> = (0..FIGURES.len())
        .map(|k| {
            let per_budget: Vec<f64> =
                budgets.iter().filter_map(|&b| rho(&scored.iter().copied().filter(|r| r.budget == b).collect::<Vec<_>>(), k)).collect();
            if per_budget.is_empty() { "–".into() } else { format!("{:+.2}", mean_std(&per_budget).0) }
        })
        .collect();
    s += &format!("| within each n | {} |\n", within.join(" | "));

    let flagged: Vec<String> =
        rows.iter().filter(|r| r.figures[LOGME_GAIN].is_some_and(|g| g < 0.0)).map(|r| format!("{} n={}", r.target, r.budget)).collect();
    let negative: Vec<String> =
        rows.iter().filter(|r| r.init.is_some_and(|c| c.negative_transfer)).map(|r| format!("{} n={}", r.target, r.budget)).collect();
    let list = |v: &[String]| if v.is_empty() { "none".to_string() } else { v.join(", ") };
    s += &format!(
        "\nFlagged by the check (LogME gain < 0: the source's features explain the labels worse than random ones): {}. \
         Measured negative transfer for init (interval below 0): {}.\n",
        list(&flagged),
        list(&negative)
    );
    s
}

/// Spearman's rank correlation of the (finite) pairs (ties get their mean rank); None with fewer
/// than 3 pairs or when either side is constant.
fn spearman(pairs: &[(f64, f64)]) -> Option<f64> {
    if pairs.len() < 3 {
        return None;
    }
    let ranks = |values: Vec<f64>| -> Vec<f64> {
        let mut order: Vec<usize> = (0..values.len()).collect();
        order.sort_by(|&a, &b| values[a].total_cmp(&values[b]));
        let mut ranks = vec![0.0; values.len()];
        let mut i = 0;
        while i < order.len() {
            let mut j = i;
            while j + 1 < order.len() && values[order[j + 1]] == values[order[i]] {
                j += 1;
            }
            for &o in &order[i..=j] {
                ranks[o] = (i + j) as f64 / 2.0 + 1.0;
            }
            i = j + 1;
        }
        ranks
    };
    let (x, y) = (ranks(pairs.iter().map(|p| p.0).collect()), ranks(pairs.iter().map(|p| p.1).collect()));
    let (mx, my) = (mean_std(&x).0, mean_std(&y).0);
    let cov: f64 = x.iter().zip(&y).map(|(a, b)| (a - mx) * (b - my)).sum();
    let (vx, vy): (f64, f64) = (x.iter().map(|a| (a - mx).powi(2)).sum(), y.iter().map(|b| (b - my).powi(2)).sum());
    (vx > 0.0 && vy > 0.0).then(|| cov / (vx * vy).sqrt())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(target: &str, budget: usize, seed: u64, method: &str, accuracy: f64, logme_gain: Option<f64>) -> RunResult {
        let check = logme_gain.map(|g| Transferability {
            rows: budget,
            coverage: crate::transfer::Coverage { source_tokens: 10, new_tokens: 2, covered_occurrences: 0.9, induced_tokens: 0 },
            unknown_trigram_coverage: 0.5,
            subword_fidelity: None,
            source_confidence: Some(0.8),
            source_entropy: Some(0.4),
            source_accuracy: None,
            logme_source: g - 1.0,
            logme_random: -1.0,
            proxy_a_distance: Some(0.2),
        });
        RunResult {
            target: target.into(),
            budget,
            seed,
            method: method.into(),
            test_accuracy: accuracy,
            test_macro_f1: accuracy,
            best_epoch: 1,
            curve: vec![],
            train_loss_curve: vec![],
            valid_loss_curve: vec![],
            seconds: 0.0,
            proxy_a_distance: None,
            check,
        }
    }

    #[test]
    fn the_check_table_sets_each_figure_beside_the_measured_gain_and_ranks_them() {
        // Three targets whose LogME gain orders their init − scratch gains (+10, +5, −3 points,
        // two seeds each); the other figures are equal everywhere, so they rank nothing.
        let mut results = Vec::new();
        for (target, logme, gain) in [("a", 0.3, 0.10), ("b", 0.1, 0.05), ("c", -0.2, -0.03)] {
            for seed in [1, 2] {
                let jitter = 0.001 * seed as f64;
                results.push(run(target, 50, seed, "scratch", 0.6 + jitter, (seed == 1).then_some(logme)));
                results.push(run(target, 50, seed, "init", 0.6 + gain + 2.0 * jitter, None));
            }
        }
        let cells = super::super::report::summarize(&results);
        let md = markdown(&results, &cells);
        assert!(md.contains("| a | 50 | 1 | 0.900 | 0.500 | 0.800 | 0.400 | – | 0.300 | 0.200 | +10.1 ±"), "{md}");
        assert!(md.contains("| c | 50 |") && md.contains("| -0.200 | 0.200 | -2.9 ±"), "{md}");
        // LogME gain ranks the three gains exactly; constant figures get no ρ.
        assert!(md.contains("| all cells | – | – | – | – | – | +1.00 | – |"), "{md}");
        assert!(md.contains("| within each n | – | – | – | – | – | +1.00 | – |"), "{md}");
        assert!(md.contains("LogME gain < 0: the source's features explain the labels worse than random ones): c n=50."), "{md}");
        // No checks, no section.
        let bare: Vec<RunResult> = results.iter().cloned().map(|r| RunResult { check: None, ..r }).collect();
        assert_eq!(markdown(&bare, &cells), "");
        // Checks without init runs: the figures, no ranking.
        let no_init: Vec<RunResult> = results.iter().filter(|r| r.method == "scratch").cloned().collect();
        let md = markdown(&no_init, &super::super::report::summarize(&no_init));
        assert!(md.contains("| a | 50 | 1 | 0.900") && md.contains("no measured gain") && !md.contains("Spearman"), "{md}");
    }

    #[test]
    fn spearman_ranks_with_ties_and_needs_three_varying_pairs() {
        // Monotone but not linear: ρ = 1; reversed: −1.
        assert_eq!(spearman(&[(1.0, 1.0), (2.0, 8.0), (3.0, 27.0), (4.0, 64.0)]), Some(1.0));
        assert_eq!(spearman(&[(1.0, 4.0), (2.0, 3.0), (3.0, 2.0), (4.0, 1.0)]), Some(-1.0));
        // x ranks 1, 2.5, 2.5, 4 against y ranks 1, 2, 3, 4: ρ = 4.5 / √(4.5 · 5).
        let rho = spearman(&[(1.0, 1.0), (2.0, 2.0), (2.0, 3.0), (3.0, 4.0)]).unwrap();
        assert!((rho - 4.5 / (4.5f64 * 5.0).sqrt()).abs() < 1e-12, "{rho}");
        assert_eq!(spearman(&[(1.0, 1.0), (2.0, 2.0)]), None);
        assert_eq!(spearman(&[(1.0, 1.0), (1.0, 2.0), (1.0, 3.0)]), None);
    }
}
