#!/bin/sh
# As run-linear.sh, but every target run learns the residual to the SOURCE's linear baseline (fitted on
# FR's training years), applied in BE's own scaling: --learn source-linear-residual.
# From the repository root: sh results/forecast-transfer/run-source-linear.sh
set -e
BIN=${BIN:-target/release/lstm-transfer}
DATA=${DATA:-../shared/data/ts/EPF_FR_BE.csv}
OUT=${OUT:-results/forecast-transfer/fr-to-be-source-linear}
"$BIN" --tune off --quiet forecast-transfer --data "$DATA" --series-col unique_id --source FR --target BE \
  --window 168 --fold 24 --horizon 24 --season 168 --scaling asinh --future-col week_day --learn source-linear-residual \
  --test-len 1608 --lengths 168,336,720,1440 --seeds 1,2,3 --epochs 20 --patience 3 --out "$OUT" --overwrite
