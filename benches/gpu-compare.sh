#!/usr/bin/env bash
# Our bench and PyTorch/cuDNN on the same NVIDIA GPU, same shapes, one go; ratios in $OUT/compare.md.
# Build here first (the GPU machine has no Rust): cargo build --release && mkdir -p .gpu-bin &&
# cp target/release/lstm-transfer .gpu-bin/  (.gpu-bin ignored by git, carried to the machine).
# Needs the Vulkan loader there (see the device notes: the .gl debs unpacked before this runs).
#
# 1. tune: every kernel variant timed at each shape (`bench --tune force`), the winners kept in
#    $OUT/tuning.json and the candidates' times printed in $OUT/bench.md;
# 2. compare: compare.py runs our bench again (reusing those winners) and the PyTorch peer.
set -euo pipefail
OUT=${OUT:-gpu-results}
BIN=${BIN:-.gpu-bin/lstm-transfer}
mkdir -p "$OUT"
export VK_DRIVER_FILES=${VK_DRIVER_FILES:-/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json}
export LSTM_TRANSFER_BACKEND=vulkan LSTM_TRANSFER_TUNE_CACHE="$OUT/tuning.json"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv > "$OUT/gpu.csv" || true
"$BIN" info > "$OUT/info.txt" 2>&1
time "$BIN" bench --tune force --repeats 5 > "$OUT/bench.md" 2>&1
LSTM_TRANSFER_TUNE=cached python3 "$(dirname "$0")/compare.py" --bin "$BIN" --device cuda --repeats 5 --out "$OUT"
