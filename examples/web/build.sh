#!/usr/bin/env bash
# Builds the page: the library and these bindings for wasm32-unknown-unknown (WebGPU), then the
# JavaScript glue with wasm-bindgen into examples/web/pkg. With --serve, serves the page at
# http://localhost:8000 (open it in a browser with WebGPU: Chrome/Edge, or Chromium on Linux with
# --enable-unsafe-webgpu). Installs what it lacks: the wasm32 target (rustup) and wasm-bindgen-cli
# of the version Cargo.toml pins (cargo install, a few minutes once).
set -euo pipefail
cd "$(dirname "$0")"
version=$(sed -n 's/^wasm-bindgen = "=\(.*\)"/\1/p' Cargo.toml)
rustup target list --installed 2>/dev/null | grep -qx wasm32-unknown-unknown || rustup target add wasm32-unknown-unknown
if [ "$(wasm-bindgen --version 2>/dev/null | cut -d' ' -f2)" != "$version" ]; then
  echo "installing wasm-bindgen-cli $version (once)" >&2
  cargo install --quiet wasm-bindgen-cli --version "$version"
fi
cargo build --quiet --release --target wasm32-unknown-unknown
wasm-bindgen --target web --no-typescript --out-dir pkg target/wasm32-unknown-unknown/release/lstm_transfer_web.wasm
echo "built examples/web/pkg ($(du -h pkg/lstm_transfer_web_bg.wasm | cut -f1) of wasm)" >&2
if [ "${1:-}" = "--serve" ]; then
  echo "serving http://localhost:8000 (Ctrl-C stops)" >&2
  exec python3 -m http.server 8000 --bind 127.0.0.1
fi
