#!/usr/bin/env bash
# Assemble the browser SDK into OUT (default browser/dist): the runtime
# compiled to WebAssembly, its matrix kernels (kernels/, assembled by
# wabt), Go's wasm_exec.js, the JS SDK bundled with esbuild (js-libp2p
# included; `npm ci` fetches it once), the runtime's worker and the web UI;
# print sizes.
set -euo pipefail
out="$(realpath -m "${1:-$(dirname "$0")/../browser/dist}")" # OUT is relative to the caller's directory
cd "$(dirname "$0")/.."
mkdir -p "$out"
js=browser/js
if [ ! -e "$js/node_modules/.package-lock.json" ] || [ "$js/package-lock.json" -nt "$js/node_modules/.package-lock.json" ]; then
	(cd "$js" && npm ci --no-audit --no-fund --loglevel=error)
fi
GOOS=js GOARCH=wasm go build -trimpath -ldflags=-s -o "$out/accel.wasm" ./browser/wasm
cp "$(go env GOROOT)/lib/wasm/wasm_exec.js" "$out/"
rm -rf "$out/kernels"
node scripts/build-kernels.mjs "$out/kernels"
# What the runtime's code uses (SIMD, threads), read from its modules, is
# built into the bundle for getCapabilities.
uses=$(node scripts/wasm-uses.mjs "$out/accel.wasm" "$out"/kernels/*.wasm)
"$js/node_modules/.bin/esbuild" "$js/ipfs-accelerate.js" --bundle --format=esm --platform=browser \
	--target=es2022 --minify --sourcemap --legal-comments=external --log-level=warning \
	--define:ACCEL_RUNTIME_USES="$uses" --outfile="$out/ipfs-accelerate.js"
# The worker is a classic worker (importScripts): copied as it is, with
# the scripts it imports; the other modules are in the bundle.
cp "$js/worker.js" "$js/model-cache.js" "$js/cache-writer.js" "$js/leaves.js" "$js/webgpu.js" "$js/kernels.js" "$js/kernel-worker.js" "$js"/*.d.ts "$out/"
# The web UI (playground at /, dashboard at /dashboard) the daemon serves.
if [ -d "$js/ui" ]; then rm -rf "$out/ui" && cp -r "$js/ui" "$out/ui"; fi
wasm=$(stat -c %s "$out/accel.wasm")
gz=$(gzip -9 -c "$out/accel.wasm" | wc -c)
bundle=$(stat -c %s "$out/ipfs-accelerate.js")
bundlegz=$(gzip -9 -c "$out/ipfs-accelerate.js" | wc -c)
echo "sdk: accel.wasm $((wasm / 1024)) KiB ($((gz / 1024)) KiB gzipped), ipfs-accelerate.js $((bundle / 1024)) KiB ($((bundlegz / 1024)) KiB gzipped), in $out"
