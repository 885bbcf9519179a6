#!/usr/bin/env bash
# What bounds the recurrence on lavapipe: the same build with half the forward recurrence's FMAs cut
# out (HALF_FMA: add_recurrent in shaders/lstm.wgsl without the products of rows 4..7, so
# every load stays and the FMAs halve), pinned to slices-sg + blocked-sg, then Burn-wgpu on the same
# adapter right after (the ratio of the day). If the forward recurrence's time follows the FMAs it
# halves; if it follows the loads it stays.
# Usage: bash results/bench/recurrence-bound/run.sh FULL HALF_FMA BURN_PEER
set -euo pipefail
OUT=$(dirname "$0")
{
    date -u
    for bin in "$1" "$2" "$1"; do
        echo "## $bin"
        LSTM_TRANSFER_LSTM=slices-sg LSTM_TRANSFER_GEMM=blocked-sg "$bin" bench --shape 64,64,128,256 --repeats 3 --tune off
    done
    echo "## Burn-wgpu (B T E H repeats)"
    "$3" wgpu 64 64 128 256 5
    date -u
} 2>&1 | tee "$OUT/lavapipe.md"
