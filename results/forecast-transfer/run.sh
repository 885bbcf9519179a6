#!/bin/sh
# Transfer between series: FR day-ahead prices → BE with 7, 14, 30 and 60 days, 3 seeds, every method.
# From the repository root: sh results/forecast-transfer/run.sh (writes results/forecast-transfer/fr-to-be).
set -e
BIN=${BIN:-target/release/lstm-transfer}
DATA=${DATA:-../shared/data/ts/EPF_FR_BE.csv}
OUT=${OUT:-results/forecast-transfer/fr-to-be}
"$BIN" --tune off --quiet forecast-transfer --data "$DATA" --series-col unique_id --source FR --target BE \
  --window 48 --horizon 24 --season 168 --test-len 1608 --lengths 168,336,720,1440 --seeds 1,2,3 \
  --epochs 20 --patience 3 --out "$OUT" --overwrite
