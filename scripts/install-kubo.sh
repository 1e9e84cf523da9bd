#!/usr/bin/env bash
# Build Kubo's ipfs from its module on the Go module proxy into
# $(go env GOPATH)/bin/ipfs, for the interop tests and the transfer
# benchmark. `go install github.com/ipfs/kubo/cmd/ipfs@VERSION` refuses
# Kubo's module because its go.mod replaces go-libp2p with a fork that the
# module proxy does not serve (go-libp2p v0.49.0 patched for quic-go
# v0.62 and webtransport-go v0.13); this builds the same module source as
# the main module with that replace dropped: upstream go-libp2p v0.49.0
# with the quic-go and webtransport-go versions it was released with.
set -euo pipefail
version="${KUBO_VERSION:-v0.43.1}"
out="${KUBO_OUT:-$(go env GOPATH)/bin/ipfs}"
if [ -x "$out" ] && "$out" version | grep -q "${version#v}"; then
  exit 0
fi
src="$(go mod download -json "github.com/ipfs/kubo@$version" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')"
work="$(mktemp -d)"
trap 'chmod -R u+w "$work"; rm -rf "$work"' EXIT
cp -r "$src/." "$work"
chmod -R u+w "$work"
(cd "$work" && go mod edit -dropreplace github.com/libp2p/go-libp2p \
  -require github.com/quic-go/quic-go@v0.60.0 -require github.com/quic-go/webtransport-go@v0.11.1)
mkdir -p "$(dirname "$out")"
(cd "$work" && GOFLAGS=-mod=mod go build -trimpath -o "$out" ./cmd/ipfs)
"$out" version
