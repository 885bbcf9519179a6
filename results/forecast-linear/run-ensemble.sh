#!/usr/bin/env bash
# Seed ensembles (--ensemble 5: seeds 1-5, the forecast their mean output) of the LSTM reading a
# day per step and learning the residual to the linear baseline with the weekday known in advance,
# z-score and asinh scaling, on the EPF FR and BE tails. Writes ens_*.metrics.json here (each
# member's own MAE is in member_mae).
set -euo pipefail
cd "$(dirname "$0")"
BIN=${BIN:-../../target/release/lstm-transfer}
E=${E:-../../../shared/data/ts/EPF_FR_BE.csv}
common=(--data "$E" --series-col unique_id --window 168 --horizon 24 --season 168 --fold 24 --future-col week_day --linear-residual --ensemble 5 --quiet --overwrite)
mkdir -p runs
for scaling in zscore asinh; do
  for s in FR BE; do
    "$BIN" forecast "${common[@]}" --scaling "$scaling" --series "$s" --out "runs/ens_${scaling}_${s,,}.safetensors" | grep -A1 '^LSTM'
  done
done
mv runs/*.metrics.json . && rm -rf runs
