#!/bin/sh
# As run-linear.sh, learning the residual to the seasonal naive instead of a linear baseline.
# From the repository root: sh results/forecast-transfer/run-day-season.sh
set -e
BIN=${BIN:-target/release/lstm-transfer}
DATA=${DATA:-../shared/data/ts/EPF_FR_BE.csv}
OUT=${OUT:-results/forecast-transfer/fr-to-be-day-season}
"$BIN" --tune off --quiet forecast-transfer --data "$DATA" --series-col unique_id --source FR --target BE \
  --window 168 --fold 24 --horizon 24 --season 168 --scaling asinh --future-col week_day --learn seasonal-residual \
  --test-len 1608 --lengths 168,336,720,1440 --seeds 1,2,3 --epochs 20 --patience 3 --out "$OUT" --overwrite
