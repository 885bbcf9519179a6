#!/bin/sh
# As run-joint.sh, with joint-balanced beside joint: the target's few training windows repeated so
# that per epoch they count as much as the source's (FR's years of windows otherwise drown BE's
# 7 to 60 days). Same splits, seeds and settings; paired with scratch by seed.
# From the repository root: sh results/forecast-transfer/run-joint-balanced.sh
set -e
BIN=${BIN:-target/release/lstm-transfer}
DATA=${DATA:-../shared/data/ts/EPF_FR_BE.csv}
OUT=${OUT:-results/forecast-transfer/fr-to-be-joint-balanced}
"$BIN" --tune off --quiet forecast-transfer --data "$DATA" --series-col unique_id --source FR --target BE \
  --window 168 --fold 24 --horizon 24 --season 168 --scaling asinh --future-col week_day --learn source-linear-residual \
  --test-len 1608 --lengths 168,336,720,1440 --seeds 1,2,3 --methods scratch,source-only,joint,joint-balanced --epochs 20 --patience 3 \
  --out "$OUT" --overwrite
