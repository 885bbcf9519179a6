//! Sliding windows over a scaled series: the LSTM's time-major inputs and the targets after each
//! origin (optionally as residuals to a baseline's forecast), batches of several series side by
//! side, and the seasonal-naive forecast.

/// A batch of windows: `x` `[T,B,F]` (time-major, as the LSTM reads it) and targets `y` `[B,horizon]`.
#[derive(Clone, Debug, Default)]
pub struct Windows {
    /// Windows in the batch.
    pub batch: usize,
    /// Steps per window.
    pub steps: usize,
    /// Inputs, time-major `[T,B,F]`.
    pub x: Vec<f32>,
    /// Targets `[B,horizon]` (empty when only predicting).
    pub y: Vec<f32>,
}

impl Windows {
    /// The batches side by side: one batch of all their windows, in order (each `[T,B_k,F]` with the
    /// same T and F).
    pub fn concat(parts: &[Windows]) -> Windows {
        let Some(first) = parts.first() else { return Windows::default() };
        let steps = first.steps;
        let features = |w: &Windows| if w.batch == 0 { 0 } else { w.x.len() / (w.steps * w.batch) };
        debug_assert!(parts.iter().all(|w| w.steps == steps && (w.batch == 0 || features(w) == features(first))));
        let batch = parts.iter().map(|w| w.batch).sum();
        let mut x = Vec::with_capacity(parts.iter().map(|w| w.x.len()).sum());
        for t in 0..steps {
            for w in parts {
                let row = w.batch * features(w);
                x.extend_from_slice(&w.x[t * row..(t + 1) * row]);
            }
        }
        Windows { batch, steps, x, y: parts.iter().flat_map(|w| w.y.iter().copied()).collect() }
    }
}

/// Windows whose inputs are steps `o-window..o` and targets `o..o+horizon` (column 0), for each
/// origin `o` in `origins`, as one batch. With `fold` > 1 every `fold` consecutive steps form one
/// LSTM step of `fold × F` inputs (`[window/fold, B, fold·F]`, step-major inside: input `j·F + c` is
/// column c at the step's j-th series step), so a day of 24 hours is read at once. Columns from `known_from` on are known in advance: input step
/// `s` reads them at `s + horizon`, so the window's last `horizon` steps carry their values for the
/// steps being forecast (never past `o + horizon - 1`). With `base` (one row of `horizon` values per
/// origin, e.g. the seasonal-naive forecast from `o`) the targets are the differences to it, so an
/// all-zero output reproduces that baseline and the model learns only corrections.
pub fn windows(
    scaled: &[Vec<f64>],
    origins: &[usize],
    window: usize,
    horizon: usize,
    base: Option<&[Vec<f64>]>,
    known_from: usize,
    fold: usize,
) -> Windows {
    debug_assert!(fold >= 1 && window.is_multiple_of(fold), "checked by ForecastConfig::validate");
    let (b, f) = (origins.len(), scaled.len());
    let mut w = Windows { batch: b, steps: window / fold, x: vec![0.0; window * b * f], y: Vec::with_capacity(b * horizon) };
    for (i, &o) in origins.iter().enumerate() {
        for t in 0..window {
            let (step, within) = (t / fold, t % fold);
            for (c, col) in scaled.iter().enumerate() {
                let lead = if c >= known_from { horizon } else { 0 };
                w.x[((step * b + i) * fold + within) * f + c] = col[o - window + t + lead] as f32;
            }
        }
        for h in 0..horizon {
            let base = base.map_or(0.0, |rows| rows[i][h]);
            w.y.push((scaled[0][o + h] - base) as f32);
        }
    }
    w
}

/// The seasonal-naive forecast from origin `o` for step `o + h`: the last observed value at the same
/// phase of a season of `m` steps (needs `o ≥ m`).
pub fn seasonal_naive(y: &[f64], o: usize, h: usize, m: usize) -> f64 {
    y[o - m + (h % m)]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn concatenated_batches_keep_each_window_whole() {
        // Two columns; windows of 3 steps; origins 5, 7 of one series and 4 of another.
        let one = vec![(0..10).map(f64::from).collect::<Vec<_>>(), (0..10).map(|t| 100.0 + t as f64).collect()];
        let other: Vec<Vec<f64>> = one.iter().map(|c| c.iter().map(|v| -v).collect()).collect();
        let joined = Windows::concat(&[windows(&one, &[5, 7], 3, 2, None, 2, 1), windows(&other, &[4], 3, 2, None, 2, 1)]);
        let alone = windows(&one, &[5, 7], 3, 2, None, 2, 1);
        assert_eq!((joined.batch, joined.steps), (3, 3));
        // Step t holds the three windows' rows in order: [one@5, one@7, other@4], two features each.
        for t in 0..3 {
            let row = &joined.x[t * 6..(t + 1) * 6];
            assert_eq!(&row[..4], &alone.x[t * 4..(t + 1) * 4], "step {t}");
            assert_eq!(row[4..], [-(1.0 + t as f32), -(101.0 + t as f32)], "step {t}");
        }
        assert_eq!(joined.y, [5.0, 6.0, 7.0, 8.0, -4.0, -5.0]);
        assert_eq!(Windows::concat(&[]).batch, 0);
    }

    #[test]
    fn a_fold_puts_consecutive_steps_side_by_side_in_one_lstm_step() {
        // Two columns, steps t = 0..8: value 10·c + t. Window 6 at origin 6, fold 3 → 2 LSTM steps
        // of 3 × 2 inputs; the second origin (7) interleaves as batch row 1.
        let scaled: Vec<Vec<f64>> = (0..2).map(|c| (0..10).map(|t| (10 * c + t) as f64).collect()).collect();
        let flat = windows(&scaled, &[6, 7], 6, 2, None, 2, 1);
        let folded = windows(&scaled, &[6, 7], 6, 2, None, 2, 3);
        assert_eq!((folded.steps, folded.x.len(), folded.y), (2, flat.x.len(), flat.y));
        // [step, row, (j, column)]: step 1 of row 0 reads series steps 3, 4, 5 of both columns.
        assert_eq!(&folded.x[12..18], &[3.0, 13.0, 4.0, 14.0, 5.0, 15.0]);
        for (step, row, j, c) in (0..2).flat_map(|s| (0..2).flat_map(move |r| (0..3).flat_map(move |j| (0..2).map(move |c| (s, r, j, c)))))
        {
            let t = step * 3 + j;
            assert_eq!(folded.x[((step * 2 + row) * 3 + j) * 2 + c], flat.x[(t * 2 + row) * 2 + c], "step {step} row {row} j {j} col {c}");
        }
    }

    #[test]
    fn windows_are_time_major_with_targets_after_the_origin() {
        let scaled = vec![vec![0.0, 1.0, 2.0, 3.0, 4.0, 5.0], vec![10.0, 11.0, 12.0, 13.0, 14.0, 15.0]];
        let w = windows(&scaled, &[2, 3], 2, 2, None, 2, 1);
        // x[t][b][f]: origin 2 reads steps 0,1; origin 3 reads 1,2.
        assert_eq!(w.x, [0.0, 10.0, 1.0, 11.0, 1.0, 11.0, 2.0, 12.0]);
        assert_eq!(w.y, [2.0, 3.0, 3.0, 4.0]);
        // Residual to a season of 2: targets minus the values two steps back.
        let naive = |o: usize| (0..2).map(|h| seasonal_naive(&scaled[0], o, h, 2)).collect::<Vec<f64>>();
        let w = windows(&scaled, &[2, 3], 2, 2, Some(&[naive(2), naive(3)]), 2, 1);
        assert_eq!(w.y, [2.0, 2.0, 2.0, 2.0]);
        // Column 1 known 2 steps ahead: origin 2 reads it at steps 2,3 (its targets' steps), origin 4 at 4,5.
        let w = windows(&scaled, &[2, 4], 2, 2, None, 1, 1);
        assert_eq!(w.x, [0.0, 12.0, 2.0, 14.0, 1.0, 13.0, 3.0, 15.0]);
        assert_eq!(w.y, [2.0, 3.0, 4.0, 5.0]);
    }
}
