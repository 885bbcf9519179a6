#!/usr/bin/env bash
# The B = 1 shape of results/bench/tuning again, after the fix for llvmpipe's loop limiter (an
# invocation may take 65535 loop back-edges in all, then every loop is cut short, silently): the
# per-row recurrence at T = 256, H = 256 now walks the sequence in dispatches of 11 steps, the slice
# kernels in dispatches of 88. The figures in results/bench/tuning at this shape came from truncated
# runs. Same hour: ours (fixed rule, + GEMM subgroups, tuned) and Burn-wgpu on the same adapter.
# Usage: bash results/bench/cpu-loop-limit/run.sh [BIN] [BURN_PEER]
set -euo pipefail
BIN=${1:-target/release/lstm-transfer}
BURN=${2:-}
OUT=$(dirname "$0")
{
    date -u
    echo "## 1,256,128,256 before (fixed rule)"
    "$BIN" bench --shape 1,256,128,256 --repeats 3 --tune off
    echo "## 1,256,128,256 + gemm sg"
    LSTM_TRANSFER_GEMM=blocked-sg "$BIN" bench --shape 1,256,128,256 --repeats 3 --tune off
    echo "## tuned"
    rm -f "$OUT/tuning.json"
    "$BIN" bench --shape 1,256,128,256 --repeats 3 --tune force --tune-cache "$OUT/tuning.json"
    if [ -n "$BURN" ]; then
        echo "## Burn-wgpu (same adapter), LSTM forward+backward"
        "$BURN" wgpu 1 256 128 256 5
    fi
    date -u
} 2>&1 | tee "$OUT/lavapipe.md"
