#!/usr/bin/env bash
# (32,128,128,512) again, f32 then f16 activations, after the fix for llvmpipe's loop limiter: the
# slice kernels at H = 512 now walk T = 128 in dispatches of 23 steps (one dispatch of 128 steps
# passed 65535 back-edges per invocation and was cut short, silently; the earlier figures at this
# shape, README and results/bench/f16, came from such runs).
# Usage: bash results/bench/cpu-loop-limit/run-512.sh [BIN]
set -euo pipefail
BIN=${1:-target/release/lstm-transfer}
OUT=$(dirname "$0")
{
    date -u
    for precision in f32 f16; do
        echo "## 32,128,128,512 $precision"
        "$BIN" bench --shape 32,128,128,512 --repeats 3 --tune off --precision "$precision"
    done
    date -u
} 2>&1 | tee "$OUT/lavapipe-512.md"
