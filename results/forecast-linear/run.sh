#!/usr/bin/env bash
# The LSTM (learning the residual to the seasonal naive, as in results/forecast) against the linear
# (lasso) baseline on the EPF FR and BE tails, three seeds, without and with the covariates known in
# advance (the day-ahead load and generation forecasts, the weekday). Writes NAME.metrics.json here.
set -euo pipefail
cd "$(dirname "$0")"
BIN=${BIN:-../../target/release/lstm-transfer}
E=${E:-../../../shared/data/ts/EPF_FR_BE.csv}
common=(--data "$E" --series-col unique_id --window 168 --horizon 24 --season 168 --seasonal-residual on --quiet --overwrite)
covariates=(--future-col gen_forecast --future-col system_load --future-col week_day)
for s in FR BE; do
  for seed in 1 2 3; do
    "$BIN" forecast "${common[@]}" --series "$s" --seed "$seed" --out "runs/${s,,}_s$seed.safetensors" | tail -4
    "$BIN" forecast "${common[@]}" "${covariates[@]}" --series "$s" --seed "$seed" --out "runs/c${s,,}_s$seed.safetensors" | tail -4
  done
done
mv runs/*.metrics.json . && rm -rf runs
