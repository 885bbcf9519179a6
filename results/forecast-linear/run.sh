#!/usr/bin/env bash
# The LSTM (learning the residual to the seasonal naive, as in results/forecast) against the linear
# (lasso) baseline on the EPF FR and BE tails: three seeds without covariates; then the linear
# baseline with the covariates known in advance (day-ahead load and generation forecasts, weekday),
# its LSTM trained one epoch only (results/forecast/cfr_s* has that LSTM fully trained).
# Writes NAME.metrics.json here.
set -euo pipefail
cd "$(dirname "$0")"
BIN=${BIN:-../../target/release/lstm-transfer}
E=${E:-../../../shared/data/ts/EPF_FR_BE.csv}
common=(--data "$E" --series-col unique_id --window 168 --horizon 24 --season 168 --seasonal-residual on --quiet --overwrite)
covariates=(--future-col gen_forecast --future-col system_load --future-col week_day)
mkdir -p runs
for s in FR BE; do
  "$BIN" forecast "${common[@]}" "${covariates[@]}" --epochs 1 --series "$s" --out "runs/linear_c${s,,}.safetensors" | tail -4
  for seed in 1 2 3; do
    "$BIN" forecast "${common[@]}" --series "$s" --seed "$seed" --out "runs/${s,,}_s$seed.safetensors" | tail -4
  done
done
mv runs/*.metrics.json . && rm -rf runs
