#!/bin/sh
# As run-source-linear.sh, with the method joint beside scratch and source-only: a fresh model trained
# on FR's training windows and BE's L steps together (each in its own scaling, both learning the
# residual to FR's linear baseline), validated on BE's steps.
# From the repository root: sh results/forecast-transfer/run-joint.sh
set -e
BIN=${BIN:-target/release/lstm-transfer}
DATA=${DATA:-../shared/data/ts/EPF_FR_BE.csv}
OUT=${OUT:-results/forecast-transfer/fr-to-be-joint}
"$BIN" --tune off --quiet forecast-transfer --data "$DATA" --series-col unique_id --source FR --target BE \
  --window 168 --fold 24 --horizon 24 --season 168 --scaling asinh --future-col week_day --learn source-linear-residual \
  --test-len 1608 --lengths 168,336,720,1440 --seeds 1,2,3 --methods scratch,source-only,init,joint --epochs 20 --patience 3 \
  --out "$OUT" --overwrite
