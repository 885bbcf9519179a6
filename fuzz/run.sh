#!/usr/bin/env bash
# Runs every fuzz target for a number of executions (default 1,000,000 each) on the nightly
# toolchain with cargo-fuzz (`cargo +nightly install cargo-fuzz`), starting from the seed corpora in
# fuzz/seeds/ (new inputs go to fuzz/corpus/, crashes to fuzz/artifacts/). Not part of `cargo test`
# or CI. Usage: fuzz/run.sh [RUNS] [TARGET...]
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-1000000}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(checkpoint table series experiment_toml vocabulary)
for t in "${targets[@]}"; do
  mkdir -p "fuzz/corpus/$t"
  echo "== $t: $runs runs"
  # -s none: safe Rust, no sanitizer needed to see panics; far more executions per second.
  cargo +nightly fuzz run -s none "$t" "fuzz/corpus/$t" "fuzz/seeds/$t" -- -runs="$runs" -max_len=8192 2>&1 | tail -n 3
done
