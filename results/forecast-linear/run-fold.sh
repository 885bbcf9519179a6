#!/usr/bin/env bash
# The LSTM reading a day per step (--fold 24) on the EPF FR and BE tails, three seeds, in three
# settings: the residual to the seasonal naive; the residual to the linear baseline with the weekday
# as a covariate known in advance (z-score, then asinh scaling). Writes fold_*.metrics.json here.
set -euo pipefail
cd "$(dirname "$0")"
BIN=${BIN:-../../target/release/lstm-transfer}
E=${E:-../../../shared/data/ts/EPF_FR_BE.csv}
common=(--data "$E" --series-col unique_id --window 168 --horizon 24 --season 168 --fold 24 --quiet --overwrite)
declare -A settings=(
  [seasonal]="--seasonal-residual on"
  [linear]="--future-col week_day --linear-residual"
  [linear_asinh]="--future-col week_day --linear-residual --scaling asinh"
)
mkdir -p runs
for name in seasonal linear linear_asinh; do
  for s in FR BE; do
    for seed in 1 2 3; do
      # shellcheck disable=SC2086
      "$BIN" forecast "${common[@]}" ${settings[$name]} --series "$s" --seed "$seed" --out "runs/fold_${name}_${s,,}_s$seed.safetensors" | grep '^LSTM'
    done
  done
done
mv runs/*.metrics.json . && rm -rf runs
