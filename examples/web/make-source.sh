#!/usr/bin/env bash
# Rebuilds source.safetensors, the source model shipped with the page: a sentiment classifier
# (E = H = 32, max pooling) on the embedded UCI IMDb + Amazon sentences; 72.9% on the embedded Yelp
# sentences as it is (lavapipe, 2026-11-30).
set -euo pipefail
cd "$(dirname "$0")/../.."
tmp=$(mktemp -d)
cat data/uci_imdb.tsv data/uci_amazon.tsv > "$tmp/source.tsv"
cargo run --release -- --quiet train --data "$tmp/source.tsv" --embed 32 --hidden 32 --pooling max --min-freq 2 \
  --epochs 10 --max-len 48 --lr 3e-3 --seed 1 --out "$tmp/source.safetensors"
cp "$tmp/source.safetensors" examples/web/source.safetensors
