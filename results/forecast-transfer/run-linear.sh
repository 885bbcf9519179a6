#!/bin/sh
# Transfer between series with the forecaster's strongest per-series settings (results/forecast-linear):
# a day per LSTM step, asinh scaling, the weekday known in advance, the residual to the linear baseline
# fitted on each series' own training steps (for the target: its L steps).
# From the repository root: sh results/forecast-transfer/run-linear.sh
set -e
BIN=${BIN:-target/release/lstm-transfer}
DATA=${DATA:-../shared/data/ts/EPF_FR_BE.csv}
OUT=${OUT:-results/forecast-transfer/fr-to-be-linear}
"$BIN" --tune off --quiet forecast-transfer --data "$DATA" --series-col unique_id --source FR --target BE \
  --window 168 --fold 24 --horizon 24 --season 168 --scaling asinh --future-col week_day --learn linear-residual \
  --test-len 1608 --lengths 168,336,720,1440 --seeds 1,2,3 --epochs 20 --patience 3 --out "$OUT" --overwrite
