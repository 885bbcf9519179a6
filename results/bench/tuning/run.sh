#!/usr/bin/env bash
# Issue 16 on lavapipe, one run, same hour: the LSTM layer and the training step at (64,64,128,256) and
# (1,256,128,256) with each optimisation added in turn (variants pinned with LSTM_TRANSFER_LSTM /
# LSTM_TRANSFER_GEMM, tuning off), then the tuner's own choice, then the Burn-wgpu and PyTorch peers.
#   before     : the fixed rule for a CPU driver (blocked GEMM; batch slices at B >= 8, per row below)
#   + lstm sg  : the recurrence sharing h / dgates through subgroup broadcasts (B >= 8 only: at B = 1
#                the per-row kernel stays faster, as the tuner finds)
#   + gemm sg  : the GEMM sharing op(A) through subgroup shuffles
#   tuned      : --tune force (whatever the tuner picks, with every candidate's time)
# Usage: bash results/bench/tuning/run.sh [BIN] [BURN_PEER] [TORCH_PYTHON]
set -euo pipefail
BIN=${1:-target/release/lstm-transfer}
BURN=${2:-}
PY=${3:-}
OUT=$(dirname "$0")
bench() { # title shape [VAR=VALUE...]
    local title=$1 shape=$2
    shift 2
    echo "## $shape $title"
    env "$@" "$BIN" bench --shape "$shape" --repeats 3 --tune off
}
{
    date -u
    bench "before" 64,64,128,256
    bench "+ lstm sg" 64,64,128,256 LSTM_TRANSFER_LSTM=slices-sg
    bench "+ gemm sg" 64,64,128,256 LSTM_TRANSFER_LSTM=slices-sg LSTM_TRANSFER_GEMM=blocked-sg
    bench "before" 1,256,128,256
    bench "+ gemm sg" 1,256,128,256 LSTM_TRANSFER_GEMM=blocked-sg
    echo "## tuned"
    "$BIN" bench --shape 64,64,128,256 --shape 1,256,128,256 --repeats 3 --tune force --tune-cache "$OUT/tuning.json"
    if [ -n "$BURN" ]; then
        echo "## Burn-wgpu (same adapter), LSTM forward+backward"
        "$BURN" wgpu 64 64 128 256 5
        "$BURN" wgpu 1 256 128 256 5
    fi
    if [ -n "$PY" ]; then
        echo "## PyTorch CPU (oneDNN), 2 threads"
        "$PY" ../shared/peers/torch_lstm_bench.py --device cpu --threads 2 --shapes 64,64,128,256 1,256,128,256
    fi
    date -u
} 2>&1 | tee "$OUT/lavapipe.md"
