#!/usr/bin/env bash
# Packs the transfer benchmark (make bench-transfer) for a machine without
# Go: a stripped accel, the interop test binary and Kubo's ipfs, compressed
# with xz, and run.sh, which unpacks them and runs the benchmark with
# ACCEL_BIN and KUBO_BIN, printing what make bench-transfer prints.
# Usage: scripts/pack-transfer-bench.sh DIR; then, on the other machine,
# in the root of a checkout of the same commit: bash DIR/run.sh
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${1:?usage: scripts/pack-transfer-bench.sh DIR}
kubo=${KUBO_BIN:-$(go env GOPATH)/bin/ipfs}
[ -x "$kubo" ] || { echo "no Kubo at $kubo: run scripts/install-kubo.sh or set KUBO_BIN" >&2; exit 1; }
mkdir -p "$dir"
go build -ldflags "-s -w" -o "$dir/accel" ./cmd/accel
go test -c -ldflags "-s -w" -o "$dir/interop.test" ./interop/
cp "$kubo" "$dir/ipfs"
strip "$dir/ipfs" 2>/dev/null || true
for f in accel interop.test ipfs; do xz -T0 -6 -f "$dir/$f"; done
cat > "$dir/run.sh" <<'RUN'
#!/usr/bin/env bash
# Unpacks the binaries beside this script and runs the transfer benchmark;
# run it from the root of the checkout.
set -euo pipefail
bin=$(cd "$(dirname "$0")" && pwd)
for f in accel interop.test ipfs; do
  [ -x "$bin/$f" ] || { xz -d -k -f "$bin/$f.xz"; chmod +x "$bin/$f"; }
done
cd interop
ACCEL_BIN="$bin/accel" KUBO_BIN="$bin/ipfs" "$bin/interop.test" -test.run '^$' -test.bench TransferVsKubo -test.benchtime 1x
RUN
chmod +x "$dir/run.sh"
du -sh "$dir"
