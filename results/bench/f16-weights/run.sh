#!/usr/bin/env bash
# f16 weights and gradients (beside f16 activations), before and after, in one run: BEFORE stores
# only the activations as f16, AFTER also the weights the kernels read and the parameter gradients.
# f32 runs of both bracket the f16 ones, as a check that the machine held still.
# Usage: bash results/bench/f16-weights/run.sh BEFORE AFTER
set -euo pipefail
BEFORE=$1
AFTER=$2
OUT=$(dirname "$0")
{
    date -u
    for bin in "$BEFORE" "$AFTER"; do
        for precision in f32 f16; do
            echo "## $bin, $precision"
            "$bin" bench --shape 64,64,128,256 --repeats 3 --tune off --precision "$precision"
        done
    done
    date -u
} 2>&1 | tee "$OUT/lavapipe.md"
