#!/usr/bin/env bash
# One model of both EPF series (--with-series): the LSTM of run-fold.sh's best setting (a day per
# step, the residual to the linear baseline, the weekday known in advance, asinh scaling) trained on
# the windows of FR and BE together, validated and scored on one of them; three seeds, then a
# five-seed ensemble. Writes with_*.metrics.json here.
set -euo pipefail
cd "$(dirname "$0")"
BIN=${BIN:-../../target/release/lstm-transfer}
E=${E:-../../../shared/data/ts/EPF_FR_BE.csv}
common=(--data "$E" --series-col unique_id --window 168 --horizon 24 --season 168 --fold 24 --future-col week_day --linear-residual
  --scaling asinh --quiet --overwrite)
mkdir -p runs
for pair in BE:FR FR:BE; do
  s=${pair%%:*} other=${pair##*:}
  for seed in 1 2 3; do
    "$BIN" forecast "${common[@]}" --series "$s" --with-series "$other" --seed "$seed" --out "runs/with_${s,,}_s$seed.safetensors" | grep '^LSTM'
  done
  "$BIN" forecast "${common[@]}" --series "$s" --with-series "$other" --ensemble 5 --out "runs/with_ens_${s,,}.safetensors" | grep -A1 '^LSTM'
done
mv runs/*.metrics.json . && rm -rf runs
