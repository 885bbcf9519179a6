#!/usr/bin/env bash
# The LSTM learning the residual to the linear baseline (--linear-residual) on the EPF FR and BE
# tails, three seeds; same options as run.sh otherwise. Writes lr_NAME.metrics.json here.
set -euo pipefail
cd "$(dirname "$0")"
BIN=${BIN:-../../target/release/lstm-transfer}
E=${E:-../../../shared/data/ts/EPF_FR_BE.csv}
common=(--data "$E" --series-col unique_id --window 168 --horizon 24 --season 168 --linear-residual --quiet --overwrite)
mkdir -p runs
for s in FR BE; do
  for seed in 1 2 3; do
    "$BIN" forecast "${common[@]}" --series "$s" --seed "$seed" --out "runs/lr_${s,,}_s$seed.safetensors" | tail -4
  done
done
mv runs/*.metrics.json . && rm -rf runs
