#!/usr/bin/env bash
# The backward kernels store gradients below 1e-30 as 0 (shaders/prelude.wgsl, flush_tiny): walking a
# long sequence back, the state gradients shrink into f32's denormal range, slow on a CPU. Same hour:
# the training step at (1,256,128,256) and (64,64,128,256), tuned (--tune force), before and after.
# Usage: bash results/bench/cpu-loop-limit/run-flush.sh BIN_BEFORE BIN_AFTER
set -euo pipefail
OUT=$(dirname "$0")
{
    date -u
    for bin in "$1" "$2"; do
        echo "## $bin"
        "$bin" bench --shape 1,256,128,256 --shape 64,64,128,256 --repeats 3 --tune force --tune-cache "$OUT/tuning-flush.json"
    done
    date -u
} 2>&1 | tee "$OUT/lavapipe-flush.md"
