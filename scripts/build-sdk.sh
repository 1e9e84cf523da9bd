#!/usr/bin/env bash
# Assemble the browser SDK into OUT (default browser/dist): the runtime
# compiled to WebAssembly, Go's wasm_exec.js, and the JS SDK; print sizes.
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-browser/dist}"
mkdir -p "$out"
GOOS=js GOARCH=wasm go build -trimpath -ldflags=-s -o "$out/accel.wasm" ./browser/wasm
cp "$(go env GOROOT)/lib/wasm/wasm_exec.js" "$out/"
cp browser/js/*.js browser/js/*.d.ts browser/js/*.html "$out/"
wasm=$(stat -c %s "$out/accel.wasm")
gz=$(gzip -9 -c "$out/accel.wasm" | wc -c)
js=$(cat browser/js/*.js | wc -c)
echo "sdk: accel.wasm $((wasm / 1024)) KiB ($((gz / 1024)) KiB gzipped), SDK js $((js / 1024)) KiB, in $out"
