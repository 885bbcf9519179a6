//! Classification metrics: accuracy, per-class precision/recall/F1, macro-F1 and the confusion
//! matrix, following scikit-learn's conventions with `zero_division=0`.

use crate::error::{Error, Result};

/// Precision, recall and F1 of one class, treated one-vs-rest.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct ClassMetrics {
    /// The class's name.
    pub label: String,
    /// Correct predictions of this class over all predictions of it; 0 when it was never predicted.
    pub precision: f64,
    /// Correct predictions of this class over its true rows; 0 when it has no support.
    pub recall: f64,
    /// Harmonic mean of precision and recall; 0 when both are 0.
    pub f1: f64,
    /// How many rows truly belong to this class.
    pub support: usize,
}

/// Metrics of one set of predictions against the true classes.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Metrics {
    /// Number of rows evaluated.
    pub rows: usize,
    /// Fraction of rows predicted correctly.
    pub accuracy: f64,
    /// Unweighted mean of the per-class F1 over every class in `labels`, including classes that
    /// neither occur nor are predicted (they count as 0, as in scikit-learn with `labels=` given).
    pub macro_f1: f64,
    /// One entry per class, in the order of `labels`.
    pub per_class: Vec<ClassMetrics>,
    /// `[true class]``[predicted class]`
    pub confusion: Vec<Vec<usize>>,
    /// Class names; index `i` names class `i`.
    pub labels: Vec<String>,
}

impl Metrics {
    /// Computes the metrics of `predicted` against `truth`, both class indices into `labels`.
    ///
    /// errors (InvalidInput) when lengths differ, a class index >= labels.len(), or there are no rows.
    pub fn from_predictions(labels: &[String], truth: &[u32], predicted: &[u32]) -> Result<Self> {
        if truth.len() != predicted.len() {
            return Err(Error::InvalidInput(format!("metrics: {} true classes but {} predictions", truth.len(), predicted.len())));
        }
        if truth.is_empty() {
            return Err(Error::InvalidInput("metrics: no rows to evaluate".into()));
        }
        let n = labels.len();
        let mut confusion = vec![vec![0usize; n]; n];
        for (row, (&t, &p)) in truth.iter().zip(predicted).enumerate() {
            for (what, class) in [("true class", t), ("predicted class", p)] {
                if class as usize >= n {
                    return Err(Error::InvalidInput(format!("metrics: row {row} has {what} {class} but there are only {n} labels")));
                }
            }
            confusion[t as usize][p as usize] += 1;
        }

        let rows = truth.len();
        let correct: usize = (0..n).map(|i| confusion[i][i]).sum();
        // zero_division=0: an undefined ratio (0/0) counts as 0 rather than NaN, so one empty
        // class cannot poison the macro average.
        let ratio = |num: usize, den: usize| if den == 0 { 0.0 } else { num as f64 / den as f64 };
        let per_class: Vec<ClassMetrics> = (0..n)
            .map(|i| {
                let tp = confusion[i][i];
                let support: usize = confusion[i].iter().sum();
                let predicted_as_i: usize = confusion.iter().map(|row| row[i]).sum();
                let precision = ratio(tp, predicted_as_i);
                let recall = ratio(tp, support);
                let f1 = if precision + recall == 0.0 { 0.0 } else { 2.0 * precision * recall / (precision + recall) };
                ClassMetrics { label: labels[i].clone(), precision, recall, f1, support }
            })
            .collect();
        let macro_f1 = if n == 0 { 0.0 } else { per_class.iter().map(|c| c.f1).sum::<f64>() / n as f64 };

        Ok(Metrics { rows, accuracy: correct as f64 / rows as f64, macro_f1, per_class, confusion, labels: labels.to_vec() })
    }

    /// Human-readable report: accuracy, macro-F1, a per-class table (precision, recall, F1, support) and the confusion matrix with label names as row/column headers, aligned.
    pub fn to_text(&self) -> String {
        use std::fmt::Write;
        let mut out = String::new();
        // Writing into a String cannot fail, hence the ignored results below.
        let _ = writeln!(out, "rows:     {}", self.rows);
        let _ = writeln!(out, "accuracy: {:.4}", self.accuracy);
        let _ = writeln!(out, "macro-F1: {:.4}", self.macro_f1);
        out.push('\n');

        // `{:<w$}` pads by characters, so widths are counted in characters too.
        let width = |s: &str| s.chars().count();
        let label_w = self.labels.iter().map(|l| width(l)).chain([width("class")]).max().unwrap_or(0);
        let _ = writeln!(out, "{:<label_w$}  {:>9}  {:>9}  {:>9}  {:>9}", "class", "precision", "recall", "f1", "support");
        for c in &self.per_class {
            let _ = writeln!(out, "{:<label_w$}  {:>9.4}  {:>9.4}  {:>9.4}  {:>9}", c.label, c.precision, c.recall, c.f1, c.support);
        }
        out.push('\n');

        if self.labels.len() > MAX_PRINTED_CONFUSION {
            return self.most_confused(out);
        }
        let _ = writeln!(out, "confusion matrix (rows: true class, columns: predicted class)");
        let corner = "true\\pred";
        let row_w = label_w.max(width(corner));
        // Each column is as wide as its label or its largest count, whichever is wider.
        let col_w: Vec<usize> = (0..self.labels.len())
            .map(|j| {
                let max_count = self.confusion.iter().map(|row| row[j]).max().unwrap_or(0);
                width(&self.labels[j]).max(max_count.to_string().len())
            })
            .collect();
        let _ = write!(out, "{corner:<row_w$}");
        for (label, w) in self.labels.iter().zip(&col_w) {
            let _ = write!(out, "  {label:>w$}");
        }
        out.push('\n');
        for (label, row) in self.labels.iter().zip(&self.confusion) {
            let _ = write!(out, "{label:<row_w$}");
            for (count, w) in row.iter().zip(&col_w) {
                let _ = write!(out, "  {count:>w$}");
            }
            out.push('\n');
        }
        out
    }
}

impl Metrics {
    /// The text summary of a confusion matrix too wide to print: its most frequent confusions.
    fn most_confused(&self, mut out: String) -> String {
        use std::fmt::Write;
        let mut pairs: Vec<(usize, usize, usize)> = (0..self.labels.len())
            .flat_map(|i| (0..self.labels.len()).filter(move |&j| j != i).map(move |j| (i, j)))
            .map(|(i, j)| (self.confusion[i][j], i, j))
            .filter(|&(count, _, _)| count > 0)
            .collect();
        pairs.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)).then(a.2.cmp(&b.2)));
        let n = self.labels.len();
        let _ = writeln!(out, "confusion matrix: {n}×{n}, too wide to print (--format json has it); the most frequent confusions:");
        for &(count, i, j) in pairs.iter().take(MAX_PRINTED_CONFUSION) {
            let _ = writeln!(out, "  {count:>6}  true {} → predicted {}", self.labels[i], self.labels[j]);
        }
        out
    }
}

/// Classes up to which the text report prints the whole confusion matrix.
pub const MAX_PRINTED_CONFUSION: usize = 20;

/// Proxy A-distance from a domain classifier's held-out error ε: 2(1 − 2ε) (Ben-David et al. 2007).
/// 0 means the domains look the same to the classifier, 2 means they are fully separable.
pub fn proxy_a_distance(error: f64) -> f64 {
    2.0 * (1.0 - 2.0 * error.min(0.5))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(names: &[&str]) -> Vec<String> {
        names.iter().map(|s| s.to_string()).collect()
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-12
    }

    #[test]
    fn hand_computed_three_class_example() {
        let names = labels(&["cat", "dog", "bird"]);
        let truth = [0, 0, 0, 1, 1, 1, 2, 2, 2, 2];
        let pred = [0, 1, 0, 1, 1, 1, 2, 2, 0, 0];
        let m = Metrics::from_predictions(&names, &truth, &pred).unwrap();

        assert_eq!(m.rows, 10);
        assert_eq!(m.confusion, vec![vec![2, 1, 0], vec![0, 3, 0], vec![2, 0, 2]]);
        assert!(close(m.accuracy, 0.7));
        // cat: predicted 4 times, 2 right; 3 true rows.
        let cat = &m.per_class[0];
        assert_eq!((cat.label.as_str(), cat.support), ("cat", 3));
        assert!(close(cat.precision, 0.5) && close(cat.recall, 2.0 / 3.0) && close(cat.f1, 4.0 / 7.0));
        // dog: predicted 4 times, 3 right; 3 true rows.
        let dog = &m.per_class[1];
        assert_eq!((dog.label.as_str(), dog.support), ("dog", 3));
        assert!(close(dog.precision, 0.75) && close(dog.recall, 1.0) && close(dog.f1, 6.0 / 7.0));
        // bird: predicted twice, both right; 4 true rows.
        let bird = &m.per_class[2];
        assert_eq!((bird.label.as_str(), bird.support), ("bird", 4));
        assert!(close(bird.precision, 1.0) && close(bird.recall, 0.5) && close(bird.f1, 2.0 / 3.0));
        // (4/7 + 6/7 + 2/3) / 3 = 44/63
        assert!(close(m.macro_f1, 44.0 / 63.0));
        assert_eq!(m.labels, names);
    }

    #[test]
    fn perfect_predictions() {
        let names = labels(&["a", "b", "c"]);
        let truth = [2, 0, 1, 1, 2];
        let m = Metrics::from_predictions(&names, &truth, &truth).unwrap();
        assert_eq!(m.accuracy, 1.0);
        assert_eq!(m.macro_f1, 1.0);
        for c in &m.per_class {
            assert_eq!((c.precision, c.recall, c.f1), (1.0, 1.0, 1.0));
        }
        assert_eq!(m.per_class.iter().map(|c| c.support).collect::<Vec<_>>(), vec![1, 2, 2]);
        assert_eq!(m.confusion, vec![vec![1, 0, 0], vec![0, 2, 0], vec![0, 0, 2]]);
    }

    #[test]
    fn never_predicted_and_absent_classes_count_as_zero() {
        // "c" occurs but is never predicted; "d" neither occurs nor is predicted.
        let names = labels(&["a", "b", "c", "d"]);
        let m = Metrics::from_predictions(&names, &[0, 1, 2], &[0, 1, 1]).unwrap();
        let c = &m.per_class[2];
        assert_eq!((c.precision, c.recall, c.f1, c.support), (0.0, 0.0, 0.0, 1));
        let d = &m.per_class[3];
        assert_eq!((d.precision, d.recall, d.f1, d.support), (0.0, 0.0, 0.0, 0));
        let b = &m.per_class[1];
        assert!(close(b.precision, 0.5) && close(b.recall, 1.0) && close(b.f1, 2.0 / 3.0));
        // Macro-F1 averages over all four labels: (1 + 2/3 + 0 + 0) / 4.
        assert!(close(m.macro_f1, (1.0 + 2.0 / 3.0) / 4.0));
        assert!(m.per_class.iter().all(|c| c.f1.is_finite()));
    }

    #[test]
    fn bad_input_is_an_error() {
        let names = labels(&["a", "b"]);
        let invalid = |r: Result<Metrics>| matches!(r, Err(Error::InvalidInput(_)));
        assert!(invalid(Metrics::from_predictions(&names, &[0, 1], &[0])));
        assert!(invalid(Metrics::from_predictions(&names, &[], &[])));
        assert!(invalid(Metrics::from_predictions(&names, &[0, 2], &[0, 1])));
        assert!(invalid(Metrics::from_predictions(&names, &[0, 1], &[0, 5])));
        assert!(invalid(Metrics::from_predictions(&[], &[0], &[0])));
    }

    #[test]
    fn text_report_is_aligned_and_complete() {
        let names = labels(&["cat", "dog", "hummingbird"]);
        let m = Metrics::from_predictions(&names, &[0, 0, 1, 2, 2], &[0, 1, 1, 2, 0]).unwrap();
        let text = m.to_text();
        assert!(text.contains("accuracy: 0.6000"), "{text}");
        assert!(text.contains("macro-F1: "), "{text}");
        for header in ["precision", "recall", "f1", "support", "true\\pred"] {
            assert!(text.contains(header), "{text}");
        }
        // The confusion matrix's header and its rows have the same length, so columns line up.
        let lines: Vec<&str> = text.lines().collect();
        let start = lines.iter().position(|l| l.starts_with("true\\pred")).unwrap();
        let matrix = &lines[start..start + 4];
        assert!(matrix.iter().all(|l| l.len() == matrix[0].len()), "{text}");
        assert!(matrix[3].starts_with("hummingbird") && matrix[3].ends_with("  1    0            1"), "{text}");
        // Same for the per-class table.
        let start = lines.iter().position(|l| l.starts_with("class")).unwrap();
        let table = &lines[start..start + 4];
        assert!(table.iter().all(|l| l.len() == table[0].len()), "{text}");
    }

    #[test]
    fn a_confusion_matrix_too_wide_to_print_is_summarised() {
        let labels: Vec<String> = (0..30).map(|i| format!("class{i}")).collect();
        let truth: Vec<u32> = (0..300).map(|i| i % 30).collect();
        let predicted: Vec<u32> = truth.iter().map(|&t| if t == 3 { 7 } else { t }).collect();
        let text = Metrics::from_predictions(&labels, &truth, &predicted).unwrap().to_text();
        assert!(text.contains("30×30, too wide to print") && text.contains("true class3 → predicted class7"), "{text}");
        assert!(text.lines().count() < 60, "no 30-column matrix");
    }
}
